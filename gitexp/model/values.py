"""Metric and config values: normalization, flattening and the JSON encoding of gitexp files.

``normalize`` runs on every value passed to ``gitexp.log``, so its common case (a Python
``float`` or ``int``) is a single type lookup.  numpy and torch are never imported here: their
scalars are recognised by duck typing (a 0-dimensional object with ``.item()``), which also keeps
``import gitexp`` fast and free of optional dependencies.

Every JSON file gitexp writes is strict JSON (RFC 8259) so that ``jq``, JavaScript and other
strict parsers can read it.  Strict JSON has no NaN or infinities, yet losses do diverge, so
non-finite floats are written as tagged objects::

    {"$float": "NaN"}   {"$float": "Infinity"}   {"$float": "-Infinity"}

Logged values are never dicts, so a tag cannot collide with a metric.  A *config* dict whose only
key is ``"$float"`` (or ``"$dict"``) would be ambiguous; :func:`dumps` escapes such a dict as
``{"$dict": {...}}`` and :func:`loads` unwraps it, so every JSON-able value round-trips exactly.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterable, Mapping

from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, NoReturn, SupportsFloat, TypeGuard

__all__ = [
    "UnsupportedValue",
    "dumps",
    "exact_loads",
    "flatten",
    "is_number",
    "loads",
    "loads_bytes",
    "normalize",
]

_FLOAT_TAG = "$float"
_DICT_TAG = "$dict"
_TAGS = (_FLOAT_TAG, _DICT_TAG)
_NONFINITE_NAMES = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

# Types returned unchanged by ``normalize``.  A set lookup on ``type(value)`` is the cheapest
# check that is exact: subclasses (IntEnum, numpy.float64, ...) take the slow path.
_PASSTHROUGH = frozenset({float, int, str, bool, type(None)})


# Keys gitexp adds to every history row; a user metric may not use them.
RESERVED_KEYS = frozenset({"_step", "_time", "_runtime"})
HISTOGRAM_TYPE = "histogram"  # the "_type" of a logged gitexp.Histogram in history rows


class UnsupportedValue(Exception):
    """Raised by :func:`normalize` for a value that has no faithful JSON form."""


def normalize(value: object) -> object:
    """Return ``value`` as a JSON-able Python value, or raise :class:`UnsupportedValue`.

    bool, int, float, str and None pass through (bool stays bool; NaN and infinities stay
    floats, :func:`dumps` encodes them).  numpy scalars, 0-d numpy arrays and 0-dim torch
    tensors become Python scalars via ``.item()``.  Lists and tuples become lists, recursively.
    Anything else (a 1-D or larger array, an image, a dict, an arbitrary object) is rejected:
    callers flatten dicts before normalizing, and guessing a lossy form would hide mistakes.
    """
    if type(value) in _PASSTHROUGH:
        return value
    return _normalize_slow(value)


def _normalize_slow(value: object) -> object:
    if isinstance(value, (list, tuple)):
        return [normalize(v) for v in value]
    # numpy scalars and 0-d arrays, torch/jax 0-dim tensors: all have ``ndim`` and ``item``.
    # Only 0-dim is accepted: a 1-element vector is usually a shape bug worth surfacing.
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "ndim", None) == 0:
        try:
            scalar = item()
        except Exception as exc:  # e.g. a meta tensor; report it as unsupported
            raise UnsupportedValue(f"cannot convert {type(value).__name__} to a scalar") from exc
        if type(scalar) in _PASSTHROUGH:
            return scalar
        if isinstance(scalar, (int, float)):
            return normalize(scalar)
        # numpy.datetime64 -> datetime, complex64 -> complex, ...: no faithful JSON form
        raise UnsupportedValue(f"{type(value).__name__} holds a {type(scalar).__name__}")
    # Subclasses of the builtins (IntEnum, str subclasses, ...) become the plain builtin so that
    # the value's repr in files does not depend on user classes.
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if _is_exact_number(value):
        return float(value)
    raise UnsupportedValue(
        f"unsupported value of type {type(value).__module__}.{type(value).__qualname__}: "
        "expected a number, bool, str, None, a 0-d numpy array / tensor, or a list of these"
    )


def _is_exact_number(value: object) -> TypeGuard[SupportsFloat]:
    """Decimal or Fraction, checked without importing either (they cost ~3 ms at start-up)."""
    for module, name in (("decimal", "Decimal"), ("fractions", "Fraction")):
        cls = getattr(sys.modules.get(module), name, None)
        if cls is not None and isinstance(value, cls):
            return True
    return False


def is_number(value: object) -> TypeGuard[int | float]:
    """True for int and float values (including float subclasses such as numpy.float64).

    bool is excluded although it subclasses int: ``True`` is a flag, not a metric to plot.
    """
    t = type(value)
    if t is float or t is int:
        return True
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def flatten(d: Mapping[Any, object], sep: str = "/") -> dict[str, object]:
    """Flatten nested mappings: ``{"a": {"b": 1}}`` -> ``{"a/b": 1}``.

    Keys that are not strings are converted with ``str()`` (``{1: x}`` -> ``{"1": x}``) because
    every gitexp file needs string keys.  An empty nested mapping contributes no key (there is
    no value to record).  If two paths flatten to the same key (``{"a/b": 1, "a": {"b": 2}}``)
    the later one wins, as in a dict literal.
    """
    out: dict[str, object] = {}
    _flatten_into(out, "", d, sep)
    return out


def _flatten_into(out: dict[str, object], prefix: str, d: Mapping[Any, object], sep: str) -> None:
    for key, value in d.items():
        name = key if type(key) is str else str(key)
        if prefix:
            name = prefix + sep + name
        if isinstance(value, Mapping):
            _flatten_into(out, name, value, sep)
        else:
            out[name] = value


def _make_c_encoder() -> Callable[[object, int], Iterable[str]] | None:
    """The C encoder behind ``json.dumps``, built once: ``json.dumps`` with non-default options
    builds a new ``JSONEncoder`` per call, which costs more than encoding a metrics row.
    Without a circular-reference check (``markers=None``) a cyclic value raises RecursionError
    instead of ValueError; logged values cannot be cyclic.  None on Pythons without it (PyPy).
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    try:
        enc = make(None, _unsupported, json.encoder.encode_basestring_ascii, None, ":", ",",
                   False, False, False)  # fmt: skip
        return enc if "".join(enc({"a": [1.5, None]}, 0)) == '{"a":[1.5,null]}' else None
    except Exception:  # a CPython whose private signature changed: use the public path
        return None


def _unsupported(obj: object) -> NoReturn:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


_C_ENCODER = _make_c_encoder()


def dumps(obj: object, *, indent: int | None = None) -> str:
    """Encode ``obj`` as strict JSON, tagging non-finite floats (see the module docstring).

    The fast path is a single C-level encode; the Python walk only runs when the value holds a
    non-finite float (``ValueError``) or the output contains ``"$`` (a possible tag collision,
    checked with one substring scan).
    """
    separators = (",", ":") if indent is None else None
    try:
        if indent is None and _C_ENCODER is not None:
            text = "".join(_C_ENCODER(obj, 0))
        else:
            text = json.dumps(obj, allow_nan=False, separators=separators, indent=indent)
    except ValueError:
        pass
    else:
        if '"$' not in text:
            return text
    return json.dumps(_encode(obj), allow_nan=False, separators=separators, indent=indent)


def _encode(obj: object) -> object:
    if isinstance(obj, float):
        if math.isfinite(obj):
            return obj
        return {_FLOAT_TAG: "NaN" if obj != obj else ("Infinity" if obj > 0 else "-Infinity")}
    if isinstance(obj, dict):
        encoded = {k: _encode(v) for k, v in obj.items()}
        if len(obj) == 1 and next(iter(obj)) in _TAGS:
            return {_DICT_TAG: encoded}
        return encoded
    if isinstance(obj, (list, tuple)):
        return [_encode(v) for v in obj]
    return obj


def loads(text: str | bytes) -> Any:
    """Decode JSON written by :func:`dumps`, turning tags back into floats and dicts.

    Tag decoding only runs when the text contains ``"$``, so ordinary metric lines cost one
    ``json.loads``.  Bare ``NaN``/``Infinity`` literals (written by other tools) are accepted.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    value = json.loads(text)
    if '"$' not in text:
        return value
    return _decode(value)


def _decode(obj: object) -> object:
    # Top-down on purpose: json's object_hook runs bottom-up, so it would decode the tag inside
    # an escaped {"$dict": {"$float": ...}} before seeing the escape.
    if isinstance(obj, dict):
        if len(obj) == 1:
            key, inner = next(iter(obj.items()))
            if key == _FLOAT_TAG and isinstance(inner, str) and inner in _NONFINITE_NAMES:
                return _NONFINITE_NAMES[inner]
            if key == _DICT_TAG and isinstance(inner, dict):
                return {k: _decode(v) for k, v in inner.items()}
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    return obj


# An integer of 19 digits or more, found in two passes of C: every digit becomes "0" and
# whatever may stand before an integer in JSON (":", ",", "[", a space, "-") an "S", then
# "S" and 19 zeros is looked for.  A fraction's digits follow "." (0.0009990009990009992
# is no integer, and common in metrics).  A regular expression takes ten times as long,
# and a search per starting character four times.
_INTEGER_MARKS = bytes(
    0x30 if 0x30 <= i <= 0x39 else 0x53 if i in b":,[ -\t\r\n" else i for i in range(256)
)
_LONG_INTEGER = b"S" + b"0" * 19
_orjson: Any = None  # the module once imported; False where it is missing
# Importing orjson costs ~4.5 ms, what it saves on ~500 KB of rows: until this many bytes
# went through json, json reads (`ls -n 20` decodes 20 rows; a history chunk is larger).
ORJSON_AFTER = 1 << 19
_json_bytes = 0


def exact_loads(data: bytes) -> object:
    """``data`` parsed by orjson, or None where orjson is missing, refuses it, or may read
    it otherwise than ``json.loads`` does, or is not worth importing yet (None: ask json,
    which then gives the answer).

    orjson parses in about a third of json's time (docs/benchmarks.md).  What it refuses
    or reads otherwise goes to json, so what is read is json's in every case
    (tests/test_loading.py): integers of 19 digits or more (which it may turn into
    floats) are looked for first; what it refuses (lone surrogates, the NaN and Infinity
    literals, numbers past a float, invalid UTF-8, nesting past its limit) is refused
    here.  Duplicate keys read alike: the last value, in the first key's place.
    """
    global _orjson, _json_bytes
    if _orjson is None and _json_bytes + len(data) < ORJSON_AFTER:
        _json_bytes += len(data)
        return None
    if _LONG_INTEGER in data.translate(_INTEGER_MARKS):
        return None  # maybe an integer past 64 bits, which orjson reads as a float
    if _orjson is None:
        try:
            import orjson
        except ImportError:  # PyPy: DVC's data layer does not require orjson there
            _orjson = False
        else:
            _orjson = orjson
    if _orjson is False:
        return None
    try:
        return _orjson.loads(data)
    except _orjson.JSONDecodeError:
        return None


def loads_bytes(data: bytes, errors: str = "replace") -> Any:
    """:func:`loads` of ``data`` decoded as UTF-8 (``errors``: what invalid bytes do, as
    ``bytes.decode`` takes it), through orjson where it reads exactly as json
    (:func:`exact_loads`, which refuses invalid UTF-8): a listing row read by ``gitexp
    ls`` is one of 100,000, and a pull checks four files of each run."""
    if b'"$' not in data:  # a tag (NaN, infinities, an escaped dict) needs loads
        parsed = exact_loads(data)
        if parsed is not None:
            return parsed
    return loads(data.decode("utf-8", errors))
