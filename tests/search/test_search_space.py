"""Distributions and spaces: scales, exact unit round trips, conditions, validation."""

import math

import numpy as np
import pytest
from scipy import stats

from fastnn.search import (Choice, Distribution, IntLogUniform, IntUniform, LogUniform,
                           OneMinusLogUniform, Space, Uniform, default_mlp_space, hidden_units)
from fastnn.search.sampling import Sampler

ALL = [Uniform(-5, 5), Uniform(0.1, 0.7), LogUniform(1e-4, 1e-1), LogUniform(1e-8, 1e3),
       OneMinusLogUniform(0.9, 0.999), OneMinusLogUniform(0.5, 0.999999), IntUniform(1, 3),
       IntUniform(-10, 10), IntLogUniform(16, 512), IntLogUniform(1, 2),
       Choice([16, 32, 64]), Choice(["relu", "tanh", None, True, 0.5])]


_UNITS: dict[int, list[float]] = {}     # seed -> the sampler's first unit draws


def draws(dist, n, seed=0):
    """n values of dist through the study's own random sampler."""
    # the unit draws do not depend on dist: made once per seed (each costs a SeedSequence
    # and a Generator), not again for each of the ~20 distributions drawn from
    units = _UNITS.setdefault(seed, [])
    sampler = Sampler("random", seed, 1)
    units += [sampler.raw(i)[0] for i in range(len(units), n)]
    return [dist.from_unit(u) for u in units[:n]]


def test_log10_of_log_uniform_draws_is_uniform():
    x = np.log10(draws(LogUniform(1e-4, 1e-1), 3000))
    assert stats.kstest(x, stats.uniform(loc=-4, scale=3).cdf).pvalue > 0.01
    # as much probability in [1e-4, 1e-3] as in [1e-2, 1e-1]
    assert abs(np.mean(x < -3) - np.mean(x > -2)) < 0.05


def test_one_minus_log_uniform_puts_half_above_0_99():
    x = np.array(draws(OneMinusLogUniform(0.9, 0.999), 4000))
    assert x.min() >= 0.9 and x.max() <= 0.999
    assert 0.46 < np.mean(x > 0.99) < 0.54
    r = np.log10(1 - x)
    assert stats.kstest(r, stats.uniform(loc=-3, scale=2).cdf).pvalue > 0.01


def test_int_log_uniform_is_about_one_over_k():
    x = np.array(draws(IntLogUniform(16, 512), 4000))
    assert set(np.unique(x)) <= set(range(16, 513)) and x.min() == 16 and x.max() > 450
    assert 0.45 < np.mean(x < 90.5) < 0.55   # sqrt(16 * 512) ~ 90.5: the log-scale midpoint


def test_int_uniform_and_choice_are_uniform_and_inclusive():
    x = draws(IntUniform(1, 3), 3000)
    counts = np.bincount(x)[1:]
    assert counts.size == 3 and counts.min() > 900
    c = draws(Choice(["a", "b"]), 1000)
    assert 400 < c.count("a") < 600


@pytest.mark.parametrize("dist", ALL, ids=repr)
def test_unit_round_trip_is_exact_for_drawn_values(dist):
    for v in draws(dist, 2000, seed=3):
        assert dist.contains(v)
        u = dist.to_unit(v)
        assert 0.0 <= u <= 1.0
        assert dist.from_unit(u) == v and type(dist.from_unit(u)) is type(v)


@pytest.mark.parametrize("dist", ALL, ids=repr)
def test_unit_round_trip_is_exact_for_written_values(dist):
    if isinstance(dist, Choice):
        written = list(dist.options)
    elif isinstance(dist, (IntUniform, IntLogUniform)):
        written = list(range(dist.lo, dist.hi + 1))
    else:
        written = [float(f"{m}e{e}") for m in (1, 1.5, 2, 3, 3.3, 5, 7.77) for e in range(-9, 4)]
        written += [round(1 - w, 12) for w in written if 0 < w < 1]
        written += [dist.lo, dist.hi]
    written = [w for w in written if dist.contains(w)]
    assert written
    for v in written:
        assert dist.from_unit(dist.to_unit(v)) == v, v


def test_ends_of_the_unit_interval_map_to_the_bounds():
    for dist in (Uniform(-5, 5), LogUniform(1e-4, 1e-1), OneMinusLogUniform(0.9, 0.999)):
        assert dist.from_unit(0.0) == dist.lo and dist.from_unit(1.0) == dist.hi
        assert dist.from_unit(np.nextafter(1.0, 0)) <= dist.hi
    assert IntUniform(1, 3).from_unit(np.nextafter(1.0, 0)) == 3
    assert IntLogUniform(16, 512).from_unit(0.0) == 16


def test_contains():
    assert LogUniform(1e-4, 1e-1).contains(1e-3) and not LogUniform(1e-4, 1e-1).contains(0.5)
    assert not Uniform(0, 1).contains(float("nan")) and not Uniform(0, 1).contains("0.5")
    assert IntUniform(1, 3).contains(np.int64(2)) and IntUniform(1, 3).contains(2.0)
    assert not IntUniform(1, 3).contains(2.5) and not IntUniform(1, 3).contains(True)
    assert Choice([16, 32]).contains(32) and not Choice([16, 32]).contains(33)
    assert Choice([1, 2]).contains(np.int64(2)) and not Choice([1, 2]).contains(True)
    assert not Choice([1, 2]).contains([1])


@pytest.mark.parametrize("dist", ALL + [IntLogUniform(16, 512, when={"n": (2, 3)})], ids=repr)
def test_to_dict_round_trip_and_repr(dist):
    again = Distribution.from_dict(dist.to_dict())
    assert again == dist and repr(again) == repr(dist)
    assert type(dist).__name__ in repr(dist)


def test_repr_is_readable():
    assert repr(LogUniform(1e-4, 0.1)) == "LogUniform(0.0001, 0.1)"
    assert repr(IntLogUniform(16, 512, when={"n_layers": [2, 3]})) == \
        "IntLogUniform(16, 512, when={'n_layers': (2, 3)})"
    assert repr(Choice([16, 32])) == "Choice([16, 32])"


@pytest.mark.parametrize("make, error, match", [
    (lambda: Uniform(1, 1), ValueError, "lo < hi"),
    (lambda: Uniform(2, 1), ValueError, "lo < hi"),
    (lambda: Uniform(0, float("inf")), ValueError, "finite"),
    (lambda: Uniform("0", 1), ValueError, "finite real"),
    (lambda: LogUniform(0, 1), ValueError, "lo > 0"),
    (lambda: LogUniform(-1, 1), ValueError, "lo > 0"),
    (lambda: OneMinusLogUniform(0.9, 1.0), ValueError, "0 < lo < hi < 1"),
    (lambda: OneMinusLogUniform(0.0, 0.9), ValueError, "0 < lo < hi < 1"),
    (lambda: IntUniform(1, 1), ValueError, "lo < hi"),
    (lambda: IntUniform(1.5, 3), ValueError, "integer"),
    (lambda: IntLogUniform(0, 10), ValueError, "lo >= 1"),
    (lambda: Choice([]), ValueError, "at least one"),
    (lambda: Choice("abc"), TypeError, "list"),
    (lambda: Choice([1, 1.0]), ValueError, "distinct"),
    (lambda: Choice([[1, 2]]), TypeError, "None, bool, int, float or str"),
    (lambda: Choice([float("nan")]), ValueError, "finite"),
    (lambda: Uniform(0, 1, when="n_layers"), TypeError, "when"),
    (lambda: Uniform(0, 1, when={"n": 2}), TypeError, "collection"),
    (lambda: Uniform(0, 1, when={"n": ()}), ValueError, "at least one"),
    (lambda: Uniform(0, 1).from_unit(1.5), ValueError, r"\[0, 1\]"),
    (lambda: LogUniform(1e-4, 1e-1).to_unit(1.0), ValueError, "outside LogUniform"),
    (lambda: Distribution.from_dict({"type": "Normal"}), ValueError, "unknown distribution"),
])
def test_bad_distributions_raise_clearly(make, error, match):
    with pytest.raises(error, match=match):
        make()


# ---------------------------------------------------------------- spaces

def layered_space():
    return Space({"lr": LogUniform(1e-4, 1e-1),
                  "n_layers": IntUniform(1, 3),
                  "units_2": IntLogUniform(16, 512, when={"n_layers": (2, 3)}),
                  "units_3": IntLogUniform(16, 512, when=lambda p: p["n_layers"] >= 3),
                  "act": Choice(["relu", "tanh"])})


def test_conditional_params_appear_only_when_their_condition_holds():
    space, sampler = layered_space(), Sampler("random", 0, 5)
    seen = set()
    for i in range(300):
        p = space.from_unit_point(sampler.raw(i))
        n = p["n_layers"]
        assert ("units_2" in p) == (n >= 2) and ("units_3" in p) == (n >= 3)
        assert {"lr", "act"} <= set(p)
        seen.add(n)
    assert seen == {1, 2, 3}


def test_inactive_params_keep_their_coordinate():
    space = layered_space()
    u = np.array([0.3, 0.1, 0.5, 0.5, 0.9])     # n_layers = 1
    p1 = space.from_unit_point(u)
    u[1] = 0.9                                    # n_layers = 3
    p3 = space.from_unit_point(u)
    assert "units_2" not in p1 and p3["units_2"] == p3["units_3"]
    assert p1["lr"] == p3["lr"] and p1["act"] == p3["act"] == "tanh"


def test_space_unit_point_round_trip():
    space, sampler = layered_space(), Sampler("random", 5, 5)
    for i in range(200):
        p = space.from_unit_point(sampler.raw(i))
        u = space.to_unit_point(p)
        assert np.isnan(u).sum() == 3 - p["n_layers"]
        assert space.from_unit_point(np.nan_to_num(u, nan=0.5)) == p


def test_space_validate_normalizes_and_explains():
    space = layered_space()
    good = space.validate({"lr": 1e-3, "n_layers": np.int64(2), "units_2": 64.0, "act": "relu"})
    assert good == {"lr": 1e-3, "n_layers": 2, "units_2": 64, "act": "relu"}
    assert type(good["n_layers"]) is int and type(good["units_2"]) is int
    with pytest.raises(ValueError, match=r"unknown parameters \['momentum'\]"):
        space.validate({**good, "momentum": 0.9})
    with pytest.raises(ValueError, match="missing parameter 'units_2'"):
        space.validate({"lr": 1e-3, "n_layers": 2, "act": "relu"})
    with pytest.raises(ValueError, match="'units_3' is given but its condition"):
        space.validate({**good, "units_3": 32})
    with pytest.raises(ValueError, match=r"lr=0.5 is outside LogUniform\(0.0001, 0.1\)"):
        space.validate({**good, "lr": 0.5})


def test_conditions_may_only_refer_to_earlier_params():
    with pytest.raises(ValueError, match="'n_layers', which is not declared before it"):
        Space({"units_2": IntUniform(1, 4, when={"n_layers": (2,)}), "n_layers": IntUniform(1, 2)})
    with pytest.raises(ValueError, match=r"allows \[5\] for 'n'"):
        Space({"n": IntUniform(1, 2), "u": Uniform(0, 1, when={"n": (5,)})})
    bad = Space({"a": Uniform(0, 1, when=lambda p: p["b"] > 0), "b": Uniform(0, 1)})
    with pytest.raises(ValueError, match="looked up 'b'"):
        bad.from_unit_point([0.5, 0.5])


@pytest.mark.parametrize("params, error, match", [
    ({}, TypeError, "non-empty dict"),
    ([("lr", LogUniform(1e-4, 1e-1))], TypeError, "non-empty dict"),
    ({"lr": (1e-4, 1e-1)}, TypeError, "'lr' must be a distribution"),
    ({"": Uniform(0, 1)}, TypeError, "non-empty strings"),
])
def test_bad_spaces_raise(params, error, match):
    with pytest.raises(error, match=match):
        Space(params)


def test_space_description_round_trip():
    space = default_mlp_space()
    assert Space.from_dict(space.to_dict()) == space
    with pytest.raises(ValueError, match="callable"):
        Space.from_dict(layered_space().to_dict())


def test_default_mlp_space_names_and_order():
    space = default_mlp_space()
    assert space.names == ["lr", "beta1", "units_1", "batch_size", "n_layers", "units_2",
                           "units_3", "lr_decay"]
    assert space["lr"] == LogUniform(1e-4, 1e-1)
    assert space["beta1"] == OneMinusLogUniform(0.8, 0.999)
    assert space["batch_size"].options == (16, 32, 64, 128, 256)
    assert 0.0 in space["lr_decay"].options
    sampler = Sampler("random", 0, len(space))
    for i in range(100):
        p = space.from_unit_point(sampler.raw(i))
        hidden = hidden_units(p)
        assert len(hidden) == p["n_layers"] and all(16 <= h <= 512 for h in hidden)
        assert math.isfinite(p["lr"]) and set(p) <= set(space.names)
