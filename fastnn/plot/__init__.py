"""Figures of training and search, and an HTML report (matplotlib: ``pip install matplotlib``).

Each figure function returns a matplotlib ``Figure`` made without pyplot,
so it works headless; save it with ``fig.savefig("slices.svg")``, or let a
notebook show it. matplotlib is imported on the first call, not by
``import fastnn.plot``.

- :func:`learning_curves`: a ``History``, a fitted model, a babysitting run's
  directory, or a study's reported curves;
- :func:`history`, :func:`slices`, :func:`zoom`,
  :func:`parallel_coordinates`, :func:`contour` (two parameters, by default
  the two that matter most), :func:`edf` (the values' empirical
  distribution): a study, each parameter on its own scale;
- :func:`report`: one self-contained HTML file of a study or a babysitting
  run (``fastnn study report study.db -o report.html``).
"""

from fastnn.plot.curves import learning_curves
from fastnn.plot.html_report import report
from fastnn.plot.search import contour, edf, history, parallel_coordinates, slices, zoom

__all__ = ["learning_curves", "history", "slices", "zoom", "parallel_coordinates", "contour",
           "edf", "report"]



