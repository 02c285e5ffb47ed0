"""space.py: declarations are validated with pinned messages; every value stays inside."""

from __future__ import annotations

import math

import numpy as np
import pytest

import torchsearch as ts
from torchsearch.space import Space


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ts.Float(1.0, 1.0), r"Float: needs low < high, got low=1.0, high=1.0"),
        (lambda: ts.Float(2.0, 1.0), r"Float: needs low < high, got low=2.0, high=1.0"),
        (lambda: ts.Float(0.0, 1.0, log=True), r"Float: log=True needs low > 0, got low=0.0"),
        (lambda: ts.Float("a", 1.0), r"Float: low must be a real number, got low='a'"),
        (lambda: ts.Float(0.0, math.inf), r"Float: high must be finite, got high=inf"),
        (lambda: ts.Float(True, 2.0), r"Float: low must be a real number, got low=True"),
        (lambda: ts.Int(5, 5), r"Int: needs low < high, got low=5, high=5"),
        (lambda: ts.Int(0, 10, log=True), r"Int: log=True needs low > 0, got low=0"),
        (lambda: ts.Int(0, 10, step=0), r"Int: step must be a positive integer, got step=0"),
        (lambda: ts.Int(0, 10, step=-2), r"Int: step must be a positive integer, got step=-2"),
        (lambda: ts.Int(0, 10, step=3), r"Int: step must divide high - low, got step=3 for low=0, high=10"),
        (lambda: ts.Int(0.5, 10), r"Int: low must be an integer, got low=0.5"),
        (lambda: ts.Int(None, 10), r"Int: low must be a real number, got low=None"),
        (lambda: ts.Int(1, 16, log=True, step=3), r"Int: log=True needs step=1, got step=3"),
        (lambda: ts.PowerOfTwo(3, 64), r"PowerOfTwo: low must be a power of two \(1, 2, 4, ...\), got low=3"),
        (lambda: ts.PowerOfTwo(64, 16), r"PowerOfTwo: needs low < high, got low=64, high=16"),
        (lambda: ts.Choice([]), r"Choice: values must not be empty, got values=\[\]"),
        (lambda: ts.Choice(["a", "b", "a"]), r"Choice: duplicate value 'a' in values=\['a', 'b', 'a'\]"),
        (lambda: ts.Choice("abc"), r"Choice: values must be a list, got values='abc'"),
        (lambda: ts.Choice([[1, 2]]), r"Choice: values must be str, int, float, bool or None, got \[1, 2\]"),
    ],
)
def test_bad_declaration_raises_message_naming_value_and_rule(make, message):
    with pytest.raises(ts.SpaceError, match=message):
        make()


def test_space_errors_name_the_parameter():
    with pytest.raises(ts.SpaceError, match=r"parameter 'lr' must be Float, Int, PowerOfTwo or Choice, got 0.1"):
        Space({"lr": 0.1})
    with pytest.raises(ts.SpaceError, match=r"at least one parameter"):
        Space({})
    space = Space({"lr": ts.Float(1e-3, 1.0, log=True)})
    with pytest.raises(ts.SpaceError, match=r"Float 'lr': 2.0 is not in Float\(low=0.001, high=1.0, log=True\)"):
        space.validate({"lr": 2.0})
    with pytest.raises(ts.SpaceError, match=r"missing \['lr'\], unknown \['x'\]"):
        space.validate({"x": 1})
    with pytest.raises(ts.SpaceError, match=r"parameter 'lr': .*a grid over a Float needs points >= 1, got points=None"):
        list(space.grid())


def test_space_errors_are_value_errors():
    with pytest.raises(ValueError):
        ts.Float(1, 0)


SPACE = Space({
    "lr": ts.Float(1e-4, 1.0, log=True),
    "m": ts.Float(-1.0, 1.0),
    "layers": ts.Int(1, 7, step=2),
    "units": ts.Int(8, 1024, log=True),
    "bs": ts.PowerOfTwo(16, 256),
    "act": ts.Choice(["relu", "tanh", None, 3]),
})


def test_samples_stay_in_bounds_and_respect_kinds():
    rng = np.random.default_rng(0)
    samples = [SPACE.sample(rng) for _ in range(2000)]
    for s in samples:
        SPACE.validate(s)
        assert isinstance(s["layers"], int) and s["layers"] in (1, 3, 5, 7)
        assert isinstance(s["units"], int) and 8 <= s["units"] <= 1024
        assert s["bs"] in (16, 32, 64, 128, 256)
    # log-uniform: about half the lr samples below the geometric midpoint 1e-2
    below = np.mean([s["lr"] < 1e-2 for s in samples])
    assert 0.45 < below < 0.55
    # every integer value, the end points included, is reached about equally often
    counts = np.bincount([s["layers"] for s in samples])[[1, 3, 5, 7]]
    assert counts.min() > 0.8 * counts.max()
    # powers of two are uniform over the exponent, not over the value
    bs = np.bincount([int(math.log2(s["bs"])) for s in samples])[4:9]
    assert bs.min() > 0.7 * bs.max()
    assert {s["act"] for s in samples} == {"relu", "tanh", None, 3}


def test_unit_round_trip_and_clip():
    rng = np.random.default_rng(1)
    for _ in range(200):
        s = SPACE.sample(rng)
        assert SPACE.key(SPACE.from_unit(SPACE.to_unit(s))) == SPACE.key(s)
    u = SPACE.from_unit(np.full(len(SPACE), 1.7))  # outside the cube: clipped
    SPACE.validate(u)
    assert u["lr"] == 1.0 and u["layers"] == 7 and u["bs"] == 256
    clipped = SPACE.clip({"lr": 5.0, "m": -3.0, "layers": 4.2, "units": 0, "bs": 100, "act": "tanh"})
    assert clipped == {"lr": 1.0, "m": -1.0, "layers": 5, "units": 8, "bs": 128, "act": "tanh"}
    # rounding, never truncating
    assert ts.Int(0, 10).clip(6.7) == 7
    with pytest.raises(ts.SpaceError, match="'act'.*'gelu' is not one of the values"):
        SPACE.clip({**clipped, "act": "gelu"})


def test_grid_points_respect_log_int_step_and_power_of_two():
    assert ts.Float(1e-3, 1e-1, log=True).grid(3) == pytest.approx([1e-3, 1e-2, 1e-1])
    assert ts.Float(0, 1).grid(3) == [0.0, 0.5, 1.0]
    assert ts.Int(1, 7, step=2).grid(None) == [1, 3, 5, 7]
    assert ts.Int(1, 100).grid(3) == [1, 51, 100]  # 50.5 rounds up
    assert ts.Int(1, 100, log=True).grid(3) == [1, 10, 100]
    assert ts.PowerOfTwo(16, 256).grid(None) == [16, 32, 64, 128, 256]
    assert ts.Choice(["a", "b"]).grid(2) == ["a", "b"]
    grid = list(Space({"x": ts.Float(0, 1), "c": ts.Choice(["a", "b"])}).grid({"x": 3}))
    assert len(grid) == 6 and grid[0] == {"x": 0.0, "c": "a"}


def test_space_json_round_trip():
    assert Space.from_dict(SPACE.to_dict()) == SPACE


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ts.Int(0, 10**400), r"Int: high=1\.000e\+400 \(401 digits\) is too large: bounds must fit in a float"),
        (lambda: ts.Int(-(10**400), 0), r"Int: low=-1\.000e\+400 \(401 digits\) is too large"),
        (lambda: ts.PowerOfTwo(1, 2**2000), r"PowerOfTwo: high=1\.148e\+602 \(603 digits\) is too large"),
        (lambda: ts.Float(0, 2**1100), r"Float: high=1\.358e\+331 \(332 digits\) is too large"),
        (lambda: ts.Float(-1e308, 1e308),
         r"Float: the width high - low must fit in a float \(at most 1\.798e\+308\), got low=-1e\+308, high=1e\+308"),
        (lambda: ts.Float(0.0, math.nan), r"Float: high must be finite, got high=nan"),
        (lambda: ts.Float(0.1, 1, log="yes"), r"Float: log must be True or False, got log='yes'"),
        (lambda: ts.Float(0.1, 1, log=1), r"Float: log must be True or False, got log=1"),
        (lambda: ts.Int(1, 10, log="no"), r"Int: log must be True or False, got log='no'"),
        (lambda: ts.Int(1, 10, log=None), r"Int: log must be True or False, got log=None"),
    ],
)
def test_declarations_beyond_float_range_or_with_non_bool_flags_are_refused(make, message):
    with pytest.raises(ts.SpaceError, match=message):
        make()


def test_declarations_from_json_get_the_same_checks():
    with pytest.raises(ts.SpaceError, match=r"Float: log must be True or False, got log='true'"):
        Space.from_dict({"lr": {"type": "Float", "low": 0.1, "high": 1.0, "log": "true"}})


def test_widest_accepted_float_decodes_every_unit_point_to_a_finite_value_inside():
    p = ts.Float(-8e307, 8e307)  # width 1.6e308: the widest kind of declaration still accepted
    for u in (0.0, 1e-300, 0.25, 0.5, 1.0):
        v = p.from_unit(u)
        assert math.isfinite(v) and p.contains(v), (u, v)
    assert p.from_unit(0.0) == -8e307 and p.from_unit(1.0) == 8e307
    assert p.to_unit(0.0) == 0.5
    big = ts.Int(-(10**300), 10**300)
    assert big.contains(big.from_unit(0.0)) and big.from_unit(0.0) == -(10**300)


def test_from_unit_refuses_nan_instead_of_decoding_it():
    for p in (ts.Float(0, 1), ts.Int(0, 3), ts.PowerOfTwo(2, 8), ts.Choice(["a", "b"])):
        with pytest.raises(ts.SpaceError, match=r"from_unit needs a number in \[0, 1\], got nan"):
            p.from_unit(math.nan)
