"""A search space: named distributions in order, some of them conditional.

A point of the unit cube, one coordinate per parameter in declaration
order, maps to a dict of parameters. A parameter with ``when=...`` is
sampled only when its condition holds on the parameters before it, and is
absent from the dict otherwise; it still owns its coordinate, so switching
it on or off never shifts the values of the others.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from fastnn.search.distributions import (Choice, Distribution, IntLogUniform, IntUniform,
                                         LogUniform, OneMinusLogUniform)

__all__ = ["Space", "default_mlp_space", "hidden_units"]


class Space:
    """Named hyperparameter distributions, in order.

    Parameters
    ----------
    params : dict name -> Distribution, or Space
        Order matters: a condition (``when``) may refer only to parameters
        declared before its own.

    Examples
    --------
    >>> space = Space({"lr": LogUniform(1e-4, 1e-1),
    ...                "n_layers": IntUniform(1, 2),
    ...                "units_2": IntLogUniform(16, 512, when={"n_layers": (2,)})})
    >>> sorted(space.from_unit_point([0.5, 0.1, 0.9]))
    ['lr', 'n_layers']
    """

    def __init__(self, params: Mapping[str, Distribution] | Space):
        if isinstance(params, Space):
            params = dict(params.items())
        if not isinstance(params, Mapping) or not params:
            raise TypeError("a space must be a non-empty dict name -> distribution; "
                            f"got {params!r}")
        self._dists: dict[str, Distribution] = {}
        for name, dist in params.items():
            if not isinstance(name, str) or not name:
                raise TypeError(f"parameter names must be non-empty strings; got {name!r}")
            if not isinstance(dist, Distribution):
                raise TypeError(f"{name!r} must be a distribution (Uniform, LogUniform, ...); "
                                f"got {dist!r}")
            if isinstance(dist.when, dict):
                self._check_condition(name, dist.when)
            self._dists[name] = dist

    def _check_condition(self, name: str, when: dict) -> None:
        for other, allowed in when.items():
            if other not in self._dists:
                raise ValueError(f"the condition of {name!r} refers to {other!r}, which is not "
                                 f"declared before it; declared so far: {list(self._dists)}")
            outside = [v for v in allowed if not self._dists[other].contains(v)]
            if outside:
                raise ValueError(f"the condition of {name!r} allows {outside} for {other!r}, "
                                 f"which {self._dists[other]!r} never takes")

    # ------------------------------------------------------------ mapping

    @property
    def names(self) -> list[str]:
        """Parameter names in declaration order (unit-cube coordinate order)."""
        return list(self._dists)

    def __getitem__(self, name: str) -> Distribution:
        return self._dists[name]

    def __iter__(self):
        return iter(self._dists)

    def __len__(self) -> int:
        return len(self._dists)

    def __contains__(self, name) -> bool:
        return name in self._dists

    def items(self):
        return self._dists.items()

    # ------------------------------------------------------------ conditions

    def is_active(self, name: str, params: Mapping) -> bool:
        """Whether ``name`` is sampled, given the parameters declared before it."""
        when = self._dists[name].when
        if when is None:
            return True
        if callable(when):
            try:
                return bool(when(dict(params)))
            except KeyError as exc:
                raise ValueError(f"the condition of {name!r} looked up {exc}, which is not among "
                                 f"the parameters set before it: {sorted(params)}") from None
        return all(other in params and params[other] in allowed for other, allowed in when.items())

    # ------------------------------------------------------------ unit cube

    def from_unit_point(self, u) -> dict:
        """Parameters of the unit point ``u``.

        Parameters
        ----------
        u : array of shape (n_params,)
            Coordinates in [0, 1], in the order of :attr:`names`.

        Returns
        -------
        dict
            Active parameters only.
        """
        u = np.asarray(u, dtype=float)
        if u.shape != (len(self),):
            raise ValueError(f"u must have shape ({len(self)},), one coordinate per parameter; "
                             f"got {u.shape}")
        params: dict = {}
        for (name, dist), coord in zip(self._dists.items(), u.tolist()):
            if self.is_active(name, params):
                params[name] = dist.from_unit(coord)
        return params

    def to_unit_point(self, params: Mapping) -> np.ndarray:
        """Unit coordinates of valid ``params``: array of shape (n_params,), NaN where inactive."""
        params = self.validate(params)
        return np.array([self._dists[n].to_unit(params[n]) if n in params else np.nan
                         for n in self._dists])

    def canonical(self, units) -> np.ndarray:
        """Many unit points at once, each as its parameters map back: an integer or an
        option at the centre of its cell, an inactive parameter NaN (as
        ``to_unit_point(from_unit_point(u))`` row by row, up to the rounding of continuous
        values to 12 significant digits).

        Parameters
        ----------
        units : array of shape (m, n_params)

        Returns
        -------
        array of shape (m, n_params)
        """
        units = np.asarray(units, dtype=float)
        if units.ndim != 2 or units.shape[1] != len(self):
            raise ValueError(f"units must have shape (m, {len(self)}); got {units.shape}")
        dists = list(self._dists.values())
        names = self.names
        # conditions on options or integers are taken for all rows at once; any other
        # condition (a callable, or one on a continuous value) row by row
        if any(d.when is not None and (callable(d.when) or not all(
                hasattr(self._dists[o], "cells") for o in d.when)) for d in dists):
            return np.array([self.to_unit_point(self.from_unit_point(u)) for u in units])
        out = np.empty_like(units)
        active = np.ones(units.shape, dtype=bool)
        cells: dict[str, np.ndarray] = {}
        for j, (name, dist) in enumerate(self._dists.items()):
            if hasattr(dist, "cells"):
                cells[name] = dist.cells(units[:, j])
                out[:, j] = dist.centres(cells[name])
            else:
                out[:, j] = dist.unit_centres(units[:, j])
            for other, allowed in (dist.when or {}).items():
                positions = [self._dists[other].position(v) for v in allowed]
                active[:, j] &= active[:, names.index(other)] & np.isin(cells[other], positions)
        return np.where(active, out, np.nan)

    def validate(self, params: Mapping) -> dict:
        """Check ``params`` against the space; return them as plain Python values.

        Raises ValueError naming the first problem: an unknown name, a
        missing active parameter, a value out of range, or a parameter
        given whose condition does not hold.
        """
        if not isinstance(params, Mapping):
            raise TypeError(f"params must be a dict name -> value; got {params!r}")
        unknown = [n for n in params if n not in self._dists]
        if unknown:
            raise ValueError(f"unknown parameters {unknown}; the space has {self.names}")
        out: dict = {}
        for name, dist in self._dists.items():
            active = self.is_active(name, out)
            if active and name not in params:
                raise ValueError(f"missing parameter {name!r} ({dist!r})")
            if not active and name in params:
                raise ValueError(f"{name!r} is given but its condition {dist.when!r} does not "
                                 f"hold for {out}; leave it out")
            if active:
                if not dist.contains(params[name]):
                    raise ValueError(f"{name}={params[name]!r} is outside {dist!r}")
                out[name] = dist.normalize(params[name])
        return out

    # ------------------------------------------------------------ boxes

    def snap_box(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Widen a unit box to whole cells of integer parameters; Choice keeps all options."""
        pairs = [d.snap(a, b) for d, a, b in zip(self._dists.values(), lo.tolist(), hi.tolist())]
        return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])

    def real_box(self, lo: np.ndarray, hi: np.ndarray) -> dict:
        """A unit box in real units: name -> (low, high), or the tuple of options for Choice."""
        return {n: d.real_range(a, b)
                for (n, d), a, b in zip(self._dists.items(), lo.tolist(), hi.tolist())}

    # ------------------------------------------------------------ description

    def to_dict(self) -> dict:
        """A JSON-ready description; :meth:`Space.from_dict` rebuilds it."""
        return {"params": [[name, dist.to_dict()] for name, dist in self._dists.items()]}

    @classmethod
    def from_dict(cls, data: Mapping) -> Space:
        """Rebuild a space from :meth:`to_dict`'s description."""
        return cls({name: Distribution.from_dict(d) for name, d in data["params"]})

    def __eq__(self, other) -> bool:
        return isinstance(other, Space) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        inner = ",\n".join(f"    {name!r}: {dist!r}" for name, dist in self._dists.items())
        return f"Space({{\n{inner},\n}})"


def default_mlp_space(max_layers: int = 3) -> Space:
    """The usual MLP search space, parameters in order of importance.

    ========== ======================================= =============================
    name       distribution                            meaning
    ========== ======================================= =============================
    lr         LogUniform(1e-4, 1e-1)                  Adam's learning rate
    beta1      OneMinusLogUniform(0.8, 0.999)          Adam's beta1
    units_1    IntLogUniform(16, 512)                  units of hidden layer 1
    batch_size Choice([16, 32, 64, 128, 256])          mini-batch size
    n_layers   IntUniform(1, max_layers)               number of hidden layers
    units_k    IntLogUniform(16, 512), n_layers >= k   units of hidden layer k >= 2
    lr_decay   Choice([0.0, 0.01, 0.03, 0.1, 0.3, 1])  decay rate of InverseTimeDecay
    ========== ======================================= =============================

    ``lr_decay`` is a Choice so that 0 (a constant learning rate) keeps a
    fair share of the trials, which a log scale cannot give it. An
    objective builds ``MLP(hidden=hidden_units(params))``,
    ``Adam(lr=params["lr"], beta1=params["beta1"])`` and fits with
    ``batch_size=params["batch_size"]`` and
    ``lr_decay=InverseTimeDecay(params["lr_decay"])``.

    Parameters
    ----------
    max_layers : int, default 3

    Returns
    -------
    Space
    """
    if isinstance(max_layers, bool) or not isinstance(max_layers, int) or max_layers < 2:
        raise ValueError(f"max_layers must be an integer >= 2; got {max_layers!r}")
    params: dict[str, Distribution] = {
        "lr": LogUniform(1e-4, 1e-1),
        "beta1": OneMinusLogUniform(0.8, 0.999),
        "units_1": IntLogUniform(16, 512),
        "batch_size": Choice([16, 32, 64, 128, 256]),
        "n_layers": IntUniform(1, max_layers),
    }
    for k in range(2, max_layers + 1):
        deep_enough = tuple(range(k, max_layers + 1))
        params[f"units_{k}"] = IntLogUniform(16, 512, when={"n_layers": deep_enough})
    params["lr_decay"] = Choice([0.0, 0.01, 0.03, 0.1, 0.3, 1.0])
    return Space(params)


def hidden_units(params: Mapping) -> tuple[int, ...]:
    """The hidden layer sizes ``(units_1, ..., units_n)`` of :func:`default_mlp_space` params."""
    return tuple(int(params[f"units_{k}"]) for k in range(1, int(params["n_layers"]) + 1))
