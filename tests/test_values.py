"""Tests for gitexp.model.values: normalization, flattening and the strict-JSON encoding."""

from __future__ import annotations

import enum
import json
import math
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitexp.model.values import UnsupportedValue, dumps, flatten, is_number, loads, normalize


def same(a: Any, b: Any) -> bool:
    """Structural equality where NaN equals NaN, -0.0 differs from 0.0 and types must match."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


# --- normalize -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -5, 10**40, 0.5, math.inf, "", "x", True, False, None])
def test_normalize_passes_builtins_through(value: Any) -> None:
    out = normalize(value)
    assert out is value


def test_normalize_keeps_nan() -> None:
    assert math.isnan(normalize(math.nan))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.float32(0.5), 0.5),
        (np.float64(0.25), 0.25),
        (np.float16(1.5), 1.5),
        (np.int64(3), 3),
        (np.int8(-2), -2),
        (np.uint64(2**63), 2**63),
        (np.bool_(True), True),
        (np.bool_(False), False),
        (np.array(2.5), 2.5),
        (np.array(7, dtype=np.int32), 7),
        (np.array(True), True),
        (np.str_("abc"), "abc"),
    ],
)
def test_normalize_numpy_scalars(value: Any, expected: Any) -> None:
    out = normalize(value)
    assert out == expected
    assert type(out) is type(expected)


def test_normalize_numpy_nan_stays_float() -> None:
    out = normalize(np.float32("nan"))
    assert type(out) is float and math.isnan(out)


def test_normalize_lists_and_tuples_recursively() -> None:
    out = normalize((1, np.float32(0.5), [np.int64(2), "a", None], ()))
    assert out == [1, 0.5, [2, "a", None], []]
    assert type(out[1]) is float and type(out[2][0]) is int


def test_normalize_subclasses_become_builtins() -> None:
    class Color(enum.IntEnum):
        RED = 1

    class MyStr(str):
        pass

    assert type(normalize(Color.RED)) is int
    assert type(normalize(MyStr("x"))) is str
    assert normalize(Decimal("0.5")) == 0.5
    assert normalize(Fraction(1, 4)) == 0.25


@pytest.mark.parametrize(
    "value",
    [
        np.zeros((2, 2)),
        np.zeros(1),  # only 0-d arrays: a 1-element vector is usually a shape bug
        {"a": 1},
        object(),
        b"bytes",
        1 + 2j,
        np.complex64(1 + 1j),
        np.datetime64("2020-01-01"),
        [1, object()],
        {1, 2},
    ],
)
def test_normalize_rejects_unsupported(value: Any) -> None:
    with pytest.raises(UnsupportedValue):
        normalize(value)


def test_normalize_torch_tensors() -> None:
    torch = pytest.importorskip("torch")
    assert normalize(torch.tensor(0.5)) == 0.5
    assert type(normalize(torch.tensor(3))) is int
    assert normalize(torch.tensor(True)) is True
    assert normalize(torch.tensor(2.0, requires_grad=True) * 2) == 4.0
    with pytest.raises(UnsupportedValue):
        normalize(torch.tensor([1.0]))
    with pytest.raises(UnsupportedValue):
        normalize(torch.zeros(2, 2))


# --- is_number -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, True),
        (1.5, True),
        (math.nan, True),
        (np.float64(1), True),
        (True, False),
        (None, False),
        ("1", False),
        ([1], False),
    ],
)
def test_is_number(value: Any, expected: bool) -> None:
    assert is_number(value) is expected


# --- flatten ---------------------------------------------------------------------------------


def test_flatten_nested() -> None:
    d = {"a": {"b": 1, "c": {"d": [1, 2]}}, "e": "x", "empty": {}, "f": {"g": {}}}
    assert flatten(d) == {"a/b": 1, "a/c/d": [1, 2], "e": "x"}
    assert flatten(d, sep=".") == {"a.b": 1, "a.c.d": [1, 2], "e": "x"}


def test_flatten_converts_non_string_keys() -> None:
    assert flatten({1: {2: "x"}, None: 3, (1, 2): 4}) == {"1/2": "x", "None": 3, "(1, 2)": 4}


def test_flatten_does_not_mutate_input() -> None:
    d = {"a": {"b": 1}}
    flatten(d)
    assert d == {"a": {"b": 1}}


# --- dumps / loads ---------------------------------------------------------------------------


def test_dumps_fast_path_is_compact_strict_json() -> None:
    text = dumps({"_step": 1, "loss": 0.5, "name": "é"})
    assert text == '{"_step":1,"loss":0.5,"name":"\\u00e9"}'
    assert json.loads(text, parse_constant=_reject) == {"_step": 1, "loss": 0.5, "name": "é"}


def _reject(name: str) -> Any:
    raise AssertionError(f"non-strict JSON constant {name}")


@pytest.mark.parametrize(
    ("value", "tag"),
    [(math.nan, "NaN"), (math.inf, "Infinity"), (-math.inf, "-Infinity")],
)
def test_non_finite_floats_are_tagged(value: float, tag: str) -> None:
    text = dumps({"loss": value, "xs": [1.0, value]})
    # strict parsers (parse_constant rejects NaN/Infinity literals) accept it
    raw = json.loads(text, parse_constant=_reject)
    assert raw == {"loss": {"$float": tag}, "xs": [1.0, {"$float": tag}]}
    assert same(loads(text), {"loss": value, "xs": [1.0, value]})


def test_dumps_indent() -> None:
    text = dumps({"a": [1, math.nan]}, indent=2)
    assert "\n" in text and '"$float": "NaN"' in text
    assert same(loads(text), {"a": [1, math.nan]})


@pytest.mark.parametrize(
    "value",
    [
        {"$float": "NaN"},
        {"$float": "bogus"},
        {"$dict": {"a": 1}},
        {"$dict": {"$float": "Infinity"}},
        {"$dict": {"$dict": {}}},
        {"x": {"$float": "NaN", "other": 1}},
        [{"$float": "-Infinity"}],
        'a string with "$float',
    ],
)
def test_user_dicts_that_look_like_tags_round_trip(value: Any) -> None:
    assert same(loads(dumps(value)), value)


def test_loads_accepts_bytes_and_bare_nan() -> None:
    assert loads(b'{"a": 1}') == {"a": 1}
    assert math.isnan(loads('{"a": NaN}')["a"])


def test_dumps_rejects_unsupported() -> None:
    with pytest.raises(TypeError):
        dumps({"a": object()})


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_json_round_trip(value: Any) -> None:
    text = dumps(value)
    json.loads(text, parse_constant=_reject)  # always strict JSON
    assert same(loads(text), value)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["$float", "$dict", "a"]), json_values, max_size=2))
def test_json_round_trip_tag_like_keys(value: Any) -> None:
    assert same(loads(dumps(value)), value)
    assert same(loads(dumps(value, indent=1)), value)


def test_dumps_without_c_encoder_is_identical(monkeypatch: pytest.MonkeyPatch) -> None:
    from gitexp.model import values

    samples = [{"_step": 1, "loss": 0.5, "s": "é"}, {"x": [math.nan, -math.inf]}, {"$float": 1}]
    fast = [dumps(v) for v in samples]
    monkeypatch.setattr(values, "_C_ENCODER", None)
    assert [dumps(v) for v in samples] == fast
