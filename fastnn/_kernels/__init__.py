"""Compiled kernels. They trust their inputs: call them through fastnn.ops."""
