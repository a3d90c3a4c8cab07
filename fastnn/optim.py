"""Optimizers and learning-rate decay.

An optimizer updates a list of parameter arrays in place from a list of
gradient arrays of the same shapes, keeping its moving averages per
parameter. Each update is one fused kernel call per array; a fastnn model
keeps all its parameters in one flat array, so a training step makes one
call. The moving averages are exponentially weighted,
``avg = beta * avg + (1 - beta) * new``. There is one class per rule of
``fastnn/kinds.py`` (``SGD``, ``Momentum``, ``RMSprop``, ``Adam``,
``AdamW``...), each with its formula in its docstring; ``OPTIMIZERS``
lists them by name.

``weight_decay`` (every optimizer) is L2 regularization added to the
gradient, ``g + weight_decay * w`` (PyTorch's ``weight_decay=``). It
applies to weight matrices only: in a model, the ``W`` of each ``Dense``,
not biases or batch norm's ``gamma`` and ``beta``; in ``step`` on a list of
arrays, the arrays of two or more dimensions.

Each optimizer is a rule of the update kernel, declared once as a row of
``RULES`` in ``fastnn/kinds.py`` (its class name, formula, state slots,
hyperparameters and defaults); this module makes its class from the row
(``rule``, ``slots``, ``hyper()``), ``fastnn.ops`` its ``<name>_update``
function, and the build its compiled dispatch.

Learning-rate decay maps ``(epoch, lr0)`` to the epoch's learning rate;
any callable of that form works, and these are built in:
``InverseTimeDecay``, ``ExponentialDecay``, ``StepDecay``.
"""

from __future__ import annotations

import inspect
import numbers
from typing import Callable, Sequence

import numpy as np

from fastnn import _kernels, kinds, ops
from fastnn import _validation as V
from fastnn._threads import resolve_n_threads

__all__ = ["Optimizer", "OPTIMIZERS", "optimizer_from_config", "InverseTimeDecay",
           "ExponentialDecay", "StepDecay"]            # and each rule's optimizer class


def _real(value, name, lo=None, hi=None, lo_open=False, hi_open=False) -> float:
    return V.real(value, name, lo=lo, hi=hi, lo_open=lo_open, hi_open=hi_open)


class Optimizer:
    """Base class: keeps the state slots of each parameter and names a kernel rule.

    Parameters
    ----------
    lr : float > 0
    weight_decay : float >= 0, default 0
        L2 on the weight matrices, added to their gradient.
    """

    rule: str = ""
    #: names of the rule's state arrays, in the kernel's order
    slots: tuple[str, ...] = ()

    def __init__(self, lr: float, weight_decay: float = 0.0):
        self.lr = _real(lr, "lr", lo=0, lo_open=True)
        self.weight_decay = _real(weight_decay, "weight_decay", lo=0)
        self.t = 0
        self._state: list[dict[str, np.ndarray]] | None = None

    def hyper(self) -> tuple[float, ...]:
        """The rule's hyperparameters, in the kernel's order."""
        return ()

    # -- configuration
    def _hyper_config(self) -> dict:
        return {}

    def get_config(self) -> dict:
        """The optimizer's name and hyperparameters (JSON-serializable)."""
        return {"name": type(self).__name__, "lr": self.lr, **self._hyper_config(),
                "weight_decay": self.weight_decay}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"

    # -- state
    def state_dict(self) -> dict:
        """Step count and moving averages, for checkpoints: ``{"t": int, "slot/i": array}``."""
        out = {"t": self.t}
        for i, slots in enumerate(self._state or []):
            for name, arr in slots.items():
                out[f"{name}/{i}"] = arr.copy()
        return out

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
        t = state.get("t")
        if isinstance(t, bool) or not isinstance(t, numbers.Integral) or t < 0:
            raise ValueError(f"optimizer state needs an integer step count 't' >= 0; got {t!r}")
        slot_keys = [k for k in state if k != "t"]
        n_params = 1 + max((int(k.split("/")[1]) for k in slot_keys), default=-1)
        restored = []
        for i in range(n_params):
            try:
                restored.append({s: np.array(state[f"{s}/{i}"]) for s in self.slots})
            except KeyError as exc:
                raise ValueError(f"optimizer state for {type(self).__name__} lacks {exc}") from None
        self.t = int(t)
        self._state = restored or None

    def slot_arrays(self) -> list[dict[str, np.ndarray]]:
        """The state arrays of each parameter array this optimizer updates ({slot: array};
        empty before its first step). Changing them changes the optimizer's state."""
        return self._state or []

    # -- the update
    def _slots_for(self, params: Sequence[np.ndarray]) -> list[dict[str, np.ndarray]]:
        if self._state is None:
            self._state = [{s: np.zeros_like(p) for s in self.slots} for p in params]
        if len(self._state) != len(params) or any(
                st[s].shape != p.shape or st[s].dtype != p.dtype
                for st, p in zip(self._state, params) for s in self.slots):
            raise ValueError(
                f"{type(self).__name__} was used with other parameters before "
                "(their number, shapes or dtypes differ); use a new optimizer")
        return self._state

    def update_for(self, param: np.ndarray, grad: np.ndarray, lr: float,
                   decay: np.ndarray | None = None, decay_per_weight: float = 0.0):
        """This optimizer's next steps on one flat array, as the kernels take them.

        ``decay`` holds the [start, end) segments of ``param`` that weight
        decay applies to; ``decay_per_weight`` > 0 makes a training epoch's
        weight decay that over each batch's weight, instead of ``weight_decay``. The returned ``Update`` counts its steps from
        ``self.t``; the caller sets ``t`` from it afterwards.
        """
        slots = self._slots_for([param])[0]
        return _kernels.network.Update(self.rule, param, grad, [slots[s] for s in self.slots],
                                       lr, self.hyper(), self.weight_decay, decay, self.t,
                                       decay_per_weight)

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray],
             lr: float | None = None, *, n_threads: int | None = None) -> None:
        """Update ``params`` in place from ``grads``.

        Parameters
        ----------
        params : list of float arrays
            Updated in place (C-contiguous, writeable). Weight decay applies
            to those of two or more dimensions.
        grads : list of arrays
            One per parameter, of the same shape and dtype.
        lr : float, optional
            This step's learning rate (for decay schedules); default ``self.lr``.
        n_threads : int, optional
        """
        if isinstance(params, np.ndarray) or isinstance(grads, np.ndarray):
            raise TypeError("params and grads must be lists of arrays (wrap a single array in [ ])")
        params, grads = list(params), list(grads)
        if len(params) != len(grads):
            raise ValueError(f"got {len(params)} params but {len(grads)} grads")
        lr = self.lr if lr is None else _real(lr, "lr", lo=0)
        checked = []
        for i, (p, g) in enumerate(zip(params, grads)):
            p = ops.check_in_place(p, f"params[{i}]")
            g = ops.check_floats(g, f"grads[{i}]", None, p.dtype, f"params[{i}]")
            ops.check_same_shape(g, f"grads[{i}]", p.shape, f"params[{i}]")
            checked.append((p, g))
        for i, (p, _) in enumerate(checked):     # updated one after another: no overlaps
            V.disjoint(f"params[{i}]", p, [*((f"grads[{j}]", g) for j, (_, g) in enumerate(checked)),
                                           *((f"params[{j}]", q) for j, (q, _) in enumerate(checked[:i]))])
        state = self._slots_for([p for p, _ in checked])
        n_threads = resolve_n_threads(n_threads)
        for (p, g), slots in zip(checked, state):
            decay = self.weight_decay if p.ndim >= 2 else 0.0      # weight matrices only
            _kernels.network.Update(self.rule, p.reshape(-1), g.reshape(-1),
                                    [slots[s].reshape(-1) for s in self.slots], lr, self.hyper(),
                                    decay, None, self.t).step(n_threads)
        self.t += 1


_RANGES = V.RANGES


def _optimizer_class(row: kinds.Rule, base: type) -> type:
    """The optimizer class of rule ``row`` of fastnn/kinds.py: its parameters are ``lr``,
    the rule's hyperparameters in order, then ``weight_decay``."""
    names = [name for name, _, _ in row.hyper]
    signature = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default)
           for name, default in (("lr", row.lr), *((n, d) for n, d, _ in row.hyper),
                                 ("weight_decay", row.weight_decay))])

    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        values = bound.arguments
        Optimizer.__init__(self, values["lr"], values["weight_decay"])
        for name, _, kind in row.hyper:
            setattr(self, name, _real(values[name], name, **_RANGES[kind][1]))

    def _hyper_config(self):
        return {name: getattr(self, name) for name in names}

    def hyper(self):
        return tuple(getattr(self, name) for name in names)

    __init__.__signature__ = signature
    __init__.__qualname__ = f"{row.optimizer}.__init__"
    lines = [f"{row.optimizer}: ``{row.formula}``.", "", "Parameters", "----------",
             f"lr : float > 0, default {row.lr}"]
    lines += [f"{name} : float {_RANGES[kind][0]}, default {default}"
              for name, default, kind in row.hyper]
    lines += [f"weight_decay : float >= 0, default {row.weight_decay}",
              "    L2 on the weight matrices" + (", decoupled (subtracted from the weights "
                                                  "before each step)" if row.name == "adamw"
                                                  else ", added to their gradient")]
    return type(row.optimizer, (base,), {
        "__init__": __init__, "_hyper_config": _hyper_config, "hyper": hyper, "row": row,
        "rule": row.name, "slots": tuple(row.slots), "__module__": __name__,
        "__qualname__": row.optimizer, "__doc__": "\n    ".join(lines) + "\n    "})


#: the optimizers by name (lower case), for configurations and the command line: one per
#: rule of fastnn/kinds.py (SGD, Momentum, RMSprop, Adam, AdamW...)
OPTIMIZERS: dict[str, type] = {}
_BY_CLASS_NAME: dict[str, type] = {"Optimizer": Optimizer}
for _row in kinds.RULES:
    _cls = _optimizer_class(_row, _BY_CLASS_NAME[_row.base])
    OPTIMIZERS[_row.optimizer.lower()] = _BY_CLASS_NAME[_row.optimizer] = _cls
    globals()[_row.optimizer] = _cls
    __all__.append(_row.optimizer)
del _row, _cls
del _BY_CLASS_NAME["Optimizer"]



def optimizer_from_config(config: dict | str) -> Optimizer:
    """Build an optimizer from :meth:`Optimizer.get_config` output, or from a name."""
    if isinstance(config, str):
        config = {"name": config}
    config = dict(config)
    name = config.pop("name", None)
    cls = _BY_CLASS_NAME.get(name) or OPTIMIZERS.get(name)
    if cls is None:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(OPTIMIZERS)}")
    return cls(**config)


# ---------------------------------------------------------------- learning-rate decay

class _Decay:
    def get_config(self) -> dict:
        return {"name": type(self).__name__, **vars(self)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


class InverseTimeDecay(_Decay):
    """``lr = lr0 / (1 + decay_rate * epoch)``.

    Parameters
    ----------
    decay_rate : float >= 0
    """

    def __init__(self, decay_rate: float):
        self.decay_rate = _real(decay_rate, "decay_rate", lo=0)

    def __call__(self, epoch: int, lr0: float) -> float:
        return lr0 / (1.0 + self.decay_rate * epoch)


class ExponentialDecay(_Decay):
    """``lr = lr0 * base**epoch``.

    Parameters
    ----------
    base : float in (0, 1], e.g. 0.95
    """

    def __init__(self, base: float):
        self.base = _real(base, "base", lo=0, hi=1, lo_open=True)

    def __call__(self, epoch: int, lr0: float) -> float:
        return lr0 * self.base ** epoch


class StepDecay(_Decay):
    """``lr = lr0 * factor**(epoch // step_size)``: cut by ``factor`` every ``step_size`` epochs.

    Parameters
    ----------
    step_size : int >= 1
    factor : float in (0, 1], default 0.5
    """

    def __init__(self, step_size: int, factor: float = 0.5):
        if isinstance(step_size, bool) or not isinstance(step_size, numbers.Integral) or step_size < 1:
            raise ValueError(f"step_size must be an integer >= 1; got {step_size!r}")
        self.step_size = int(step_size)
        self.factor = _real(factor, "factor", lo=0, hi=1, lo_open=True)

    def __call__(self, epoch: int, lr0: float) -> float:
        return lr0 * self.factor ** (epoch // self.step_size)


def check_decay(lr_decay) -> Callable[[int, float], float] | None:
    """``lr_decay`` as given to ``fit``: None, a schedule, or any callable (epoch, lr0) -> lr."""
    if lr_decay is None or callable(lr_decay):
        return lr_decay
    raise TypeError("lr_decay must be None or a callable (epoch, lr0) -> lr, e.g. "
                    f"InverseTimeDecay(0.1); got {type(lr_decay).__name__}")
