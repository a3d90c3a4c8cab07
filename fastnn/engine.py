"""The engine: a built model's arrays, its compiled network, and the calls that train it.

An :class:`Engine` is what a :class:`fastnn.Sequential` becomes once it
knows its input width. It owns:

- the flat parameter array, the flat gradient array and the flat state array
  (batch-norm running averages); each layer holds views into them, so one
  optimizer call updates every parameter;
- the segments of the parameter array weight decay applies to (the weight
  matrices, ``Layer.decayed``);
- the compiled network (``fastnn._kernels._network.Network``), which runs a
  training step, a whole epoch or an inference pass in one call without the
  GIL;
- the training workspaces (the batch, each op's output and output gradient),
  made once per batch size and reused, so a training step allocates nothing;
- the thread choice: a fixed count, or a ``ThreadChooser`` that times
  training on 1 thread and on fastnn's count and keeps the faster.

Two callers train through its public methods: the fit loop of
``fastnn.train`` and the scikit-learn estimators of ``fastnn.estimators``.
Prediction allocates its own buffers, so one engine serves predictions from
several threads at once.
"""

from __future__ import annotations

import math
import os
import time
from typing import NamedTuple

import numpy as np

from fastnn import _kernels
from fastnn import layers as L
from fastnn._threads import (BLAS_THREADING_MIN, ThreadChooser, blas_held, chooser_for,
                             default_is_fixed, get_num_threads, resolve_n_threads)

__all__ = ["Engine", "EpochResult", "array_sizes", "DONE", "DIVERGED", "NO_WORKSPACE"]

MAX_WORKSPACES = 4             # batch sizes whose training buffers are kept


#: how a training epoch ended (:meth:`Engine.run_epoch`)
DONE, DIVERGED, NO_WORKSPACE = "done", "diverged", "no workspace"


class EpochResult(NamedTuple):
    """What :meth:`Engine.run_epoch` returns.

    Attributes
    ----------
    status : str
        ``DONE``, ``DIVERGED`` (a batch's loss was NaN or infinite) or ``NO_WORKSPACE``.
    loss_sum : float
        Sum over the batches of the batch loss times the batch's weight.
    hits : float
        Weighted rows predicted right.
    stop : int
        The batch that stopped the epoch, or -1.
    stop_loss : float
        Its loss.
    loss_rows : float
        Sum over the batches of the batch loss times the batch's rows.
    """

    status: str
    loss_sum: float
    hits: float
    stop: int
    stop_loss: float
    loss_rows: float


def array_sizes(layers, plan) -> tuple[int, int]:
    """The (parameter, state) element counts of built ``layers`` placed by ``plan``."""
    counts = [0, 0]
    for layer, place in zip(layers, plan):
        for i, shapes in enumerate((layer.param_shapes(place), layer.state_shapes(place))):
            counts[i] += sum(math.prod(s) for s in shapes.values())
    return counts[0], counts[1]


def physical_memory() -> int | None:
    """Bytes of memory this machine has, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _too_large(layers, plan, n_params: int, need: int, dtype: np.dtype) -> str:
    """Why a model's arrays cannot be allocated, naming its largest parameter array."""
    shapes = [(math.prod(shape), type(layer).__name__, name, shape)
              for layer, place in zip(layers, plan)
              for name, shape in layer.param_shapes(place).items()]
    _, kind, name, shape = max(shapes, default=(0, "", "", ()))
    largest = (f"; the largest, a {kind} layer's {name}, has shape "
               f"({', '.join(f'{d:,}' for d in shape)})" if shapes else "")
    have = physical_memory()
    where = (f"more than this machine's {have / 2**30:,.1f} GiB of memory" if have and need > have
             else "more than could be allocated")
    return (f"the model has {n_params:,} parameters: with their gradients they need "
            f"{need / 2**30:,.1f} GiB as {dtype.name}, {where}{largest}. Use narrower "
            f"layers (hidden widths, units) or fewer features")


class Engine:
    """The arrays and compiled network of built layers, and the calls that run them.

    Parameters
    ----------
    layers : list of Layer
        Built (each knows its widths).
    plan : list of Placement
        ``fastnn.layers.plan`` of the layers.
    n_features : int
    dtype : numpy dtype (float32 or float64)
    loss : str
        The loss's name (a kind of the compiled network).
    n_threads : int or None
        A fixed thread count; None: fastnn's count, with training timing
        itself (see :meth:`threads_for_training`).
    dropout_seed : int, default 0
    loss_settings : tuple of float, default ()
        The loss's settings in its row's order (``fastnn.losses.Loss.values``).

    Attributes
    ----------
    params, grads, state : 1-d arrays
        The flat parameter, gradient and state arrays the layers view.
    decay : int64 array of shape (2 * n_segments,)
        ``[start, end)`` pairs of ``params`` weight decay applies to.
    n_out : int
        Width of the network's output.
    """

    def __init__(self, layers, plan, n_features: int, dtype, loss: str,
                 n_threads: int | None = None, dropout_seed: int = 0,
                 loss_settings: tuple = ()):
        self.dtype = np.dtype(dtype)
        self.n_threads = n_threads
        self.n_features = n_features
        n_params, n_state = array_sizes(layers, plan)
        need = (2 * n_params + n_state) * self.dtype.itemsize
        if need > (physical_memory() or need):
            raise MemoryError(_too_large(layers, plan, n_params, need, self.dtype))
        try:
            self.params = np.zeros(n_params, self.dtype)
            self.grads = np.zeros(n_params, self.dtype)
            self.state = np.zeros(n_state, self.dtype)
        except MemoryError:
            raise MemoryError(_too_large(layers, plan, n_params, need, self.dtype)) from None
        decay = []
        p_at = s_at = 0
        for layer, place in zip(layers, plan):
            params, grads, state = {}, {}, {}
            for name, shape in layer.param_shapes(place).items():
                size = math.prod(shape)
                params[name] = self.params[p_at:p_at + size].reshape(shape)
                grads[name] = self.grads[p_at:p_at + size].reshape(shape)
                if name in layer.decayed:
                    decay += [p_at, p_at + size]
                p_at += size
            for name, shape in layer.state_shapes(place).items():
                size = math.prod(shape)
                state[name] = self.state[s_at:s_at + size].reshape(shape)
                s_at += size
            layer.bind(params, grads, state)
        self.decay = np.array(decay, dtype=np.int64)
        specs = [layer.spec(place) for layer, place in zip(layers, plan) if not place.absorbed]
        if not specs:
            raise ValueError("the model has no layer that computes anything")
        self._net = _kernels.network.Network(specs, n_features, self.dtype, loss, dropout_seed,
                                             tuple(loss_settings))
        self.gemm_per_row = max((x.n_in * x.n_out for x in layers if isinstance(x, L.Dense)),
                                default=0)
        self._workspaces: dict = {}

    # ------------------------------------------------------------ description
    @property
    def n_out(self) -> int:
        return self._net.n_out

    @property
    def int_target(self) -> bool:
        """Whether the loss takes int64 labels (else float targets of shape (n, n_out))."""
        return bool(self._net.int_target)

    def decayed_segments(self) -> list[tuple[int, int]]:
        """The ``[start, end)`` ranges of ``params`` weight decay applies to."""
        return [(int(lo), int(hi)) for lo, hi in self.decay.reshape(-1, 2)]

    @property
    def fuse_updates(self) -> bool:
        """Whether a training epoch updates each op's parameters right after its backward."""
        return self._net.fuse_updates

    @fuse_updates.setter
    def fuse_updates(self, value: bool) -> None:
        self._net.fuse_updates = bool(value)

    @property
    def last_fused(self) -> bool:
        """Whether the last training epoch fused its updates."""
        return self._net.last_fused

    def set_dropout_seed(self, seed: int) -> None:
        """The seed the dropout masks are drawn from."""
        self._net.set_seed(seed)

    # ------------------------------------------------------------ training
    def workspace(self, n: int, weighted: bool = False):
        """The training buffers for batches of ``n`` rows (made once, kept): a
        ``Workspace`` with arrays ``x``, ``target`` and (``weighted``) ``weight`` to fill."""
        ws = self._workspaces.get((n, weighted))
        if ws is None:
            if len(self._workspaces) >= MAX_WORKSPACES:
                self._workspaces.pop(next(iter(self._workspaces)))
            ws = self._workspaces[(n, weighted)] = self._net.workspace(n, weighted)
        return ws

    def train_step(self, ws, n_threads: int, step: int = 1) -> tuple[float, float]:
        """Forward, fused loss, backward over the batch in ``ws``; return (mean loss,
        rows right). Gradients land in ``grads``; nothing is updated. ``step`` numbers
        the step for the dropout masks."""
        return self._net.train_step(ws, n_threads, step)

    def threads_for_training(self, batch_size: int | None = None):
        """A fixed thread count, or a ThreadChooser when the count is fastnn's detected
        default (then training times itself and picks; see ThreadChooser)."""
        if self.n_threads is not None or default_is_fixed() or get_num_threads() == 1:
            return resolve_n_threads(self.n_threads)
        return chooser_for((self.gemm_per_row, self.params.size, self.dtype.str), batch_size)

    def update_for(self, optimizer, lr: float, decay_per_weight: float = 0.0):
        """The compiled update of ``optimizer``'s rule on the flat arrays, at ``lr``;
        ``decay_per_weight`` > 0: each batch's weight decay is that over its weight."""
        return optimizer.update_for(self.params, self.grads, lr, self.decay, decay_per_weight)

    def run_epoch(self, workspaces, X, targets, weight, order, bounds, optimizer, lr: float,
                  threads, decay_per_weight: float = 0.0) -> EpochResult:
        """One compiled epoch over the batches ``order[bounds[k]:bounds[k + 1]]``; the
        optimizer's step count follows. ``workspaces``: {rows: workspace} for every batch
        size; ``threads``: a count, or a ThreadChooser (the epoch then runs in timed
        segments); ``decay_per_weight`` > 0: each batch's weight decay is that over the
        batch's weight (scikit-learn's L2 of weighted batches), not the optimizer's.
        Returns an :class:`EpochResult`."""
        network = _kernels.network
        update = self.update_for(optimizer, lr, decay_per_weight)
        n_batches = len(bounds) - 1
        chooser = threads if isinstance(threads, ThreadChooser) else None
        if chooser is not None:
            size = chooser.segment_batches(int(bounds[1] - bounds[0]))
        else:
            size = n_batches
        loss_sum = hits = loss_rows = 0.0
        status, stop, stop_loss = network.EPOCH_DONE, -1, 0.0
        try:
            for k0 in range(0, n_batches, size):
                k1 = min(n_batches, k0 + size)
                n = chooser.next() if chooser is not None else threads
                start = time.perf_counter()
                status, part_loss, part_hits, _, stop, stop_loss, part_rows = \
                    self._net.train_epoch(workspaces, X, targets, weight, order,
                                          bounds[k0:k1 + 1], update, n)
                if chooser is not None:
                    chooser.record(n, int(bounds[k1] - bounds[k0]), time.perf_counter() - start,
                                   int(bounds[k0 + 1] - bounds[k0]))
                loss_sum, hits = loss_sum + part_loss, hits + part_hits
                loss_rows += part_rows
                if status != network.EPOCH_DONE:
                    stop += k0
                    break
        finally:
            optimizer.t = update.t
        status = {network.EPOCH_DONE: DONE, network.EPOCH_DIVERGED: DIVERGED,
                  network.EPOCH_NO_WORKSPACE: NO_WORKSPACE}[status]
        return EpochResult(status, loss_sum, hits, stop, stop_loss, loss_rows)

    # ------------------------------------------------------------ inference
    def forward(self, X: np.ndarray, output: bool, n_threads: int | None = None,
                check_finite: bool = False) -> np.ndarray | None:
        """The network's outputs on checked ``X`` (C-contiguous, the engine's dtype), with
        test-time batch norm; with ``output``, the loss's output map (softmax or sigmoid
        probabilities, poisson's means). With ``check_finite``: None if X holds NaN or an
        infinity. ``n_threads`` None: the engine's count."""
        if n_threads is None:
            n_threads = resolve_n_threads(self.n_threads)
        out = np.empty((X.shape[0], self._net.n_out), self.dtype)
        if X.shape[0] * self.gemm_per_row < BLAS_THREADING_MIN:   # no BLAS threads to hold
            done = self._net.forward(X, out, output, n_threads, check_finite)
        else:
            with blas_held:
                done = self._net.forward(X, out, output, n_threads, check_finite)
        return out if done else None

    def output(self, z: np.ndarray, n_threads: int) -> None:
        """Apply the loss's output map to network outputs ``z`` in place."""
        self._net.output(z, n_threads)

    def loss_value(self, z: np.ndarray, targets: np.ndarray, weight, n_threads: int) -> float:
        """The (weighted) mean loss of network outputs ``z`` on kernel targets."""
        total = float(len(z)) if weight is None else float(weight.sum())
        return float(self._net.loss_value(z, targets, weight, total, n_threads))
