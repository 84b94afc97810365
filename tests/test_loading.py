"""Loading histories fast for plot, report and ui: what the fast paths give must be what
the plain ones give, to the last bit (orjson against json, a column at a time against a
row at a time, numpy's thinning against the loop it replaced)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitexp.model import history, validate
from gitexp.model import values as gvalues
from gitexp.model.record import ROW_MARKER, parse_row_bytes, parse_row_text, row_bytes, row_text
from gitexp.render import series
from gitexp.render.series import Series

numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**70), max_value=2**70),
)
values = st.one_of(
    numbers,
    st.none(),
    st.booleans(),
    st.text(max_size=3),
    st.just({"_type": "histogram", "bins": [0.0, 1.0, 2.0], "counts": [3, 4]}),
)
keys = st.sampled_from(["loss", "acc", "lr", "_x", "b"])


@pytest.fixture(autouse=True, scope="module")
def _orjson_from_the_first_byte() -> Iterator[None]:
    """gitexp reads its first ~500 KB through json (importing orjson would cost more);
    here orjson reads from the first byte, so that it is what these tests compare."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gvalues, "ORJSON_AFTER", 0)
        yield


def by_line(chunk: bytes) -> list[Any]:
    rows = []
    for line in chunk.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


line_ends = st.sampled_from([b"\n", b"\n", b"\r\n", b"\r", b"\n\n", b"", b"\n\r\n"])


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.dictionaries(keys, st.one_of(numbers, st.text(max_size=4)), max_size=4)),
    st.lists(line_ends, min_size=1),
    st.booleans(),
)
def test_a_chunk_reads_as_json_reads_it_number_for_number(
    rows: list[dict[str, Any]], ends: list[bytes], leading: bool
) -> None:
    lines = [json.dumps(row).encode() + ends[i % len(ends)] for i, row in enumerate(rows)]
    chunk = (b"\n" if leading else b"") + b"".join(lines)
    assert repr(history.parse_rows(chunk)) == repr(by_line(chunk))


@given(st.lists(st.from_regex(r"-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,30})?([eE][-+]?[0-9]{1,3})?",
                              fullmatch=True), min_size=1, max_size=20))  # fmt: skip
@settings(max_examples=60, deadline=None)
def test_numbers_written_by_other_tools_read_as_json_reads_them(texts: list[str]) -> None:
    chunk = "".join(f'{{"_step": {i}, "v": {t}}}\n' for i, t in enumerate(texts)).encode()
    assert repr(history.parse_rows(chunk)) == repr(by_line(chunk))


def test_long_fractions_are_read_by_orjson_and_long_integers_by_json() -> None:
    # Small metrics have 19 digits after the point and more: no integer, orjson reads them.
    assert history.fast_loads(b'[{"loss": 0.0009990009990009992, "e": 1.5e+300}]')
    for text in (
        b"[1234567890123456789]",
        b'[{"a": -1234567890123456789}]',
        b"[0,10000000000000000000]",
    ):
        assert history.fast_loads(text) is None


def test_what_orjson_reads_otherwise_goes_to_json() -> None:
    chunk = (
        b'{"_step": 0, "big": 18446744073709551616, "neg": -9223372036854775809}\n'
        b'{"_step": 1, "v": 1e400, "s": "\\ud800"}\n'
    )
    rows = history.parse_rows(chunk)
    assert rows == by_line(chunk)
    assert type(rows[0]["big"]) is int and type(rows[0]["neg"]) is int
    assert rows[1]["v"] == math.inf


rows_strategy = st.lists(
    st.fixed_dictionaries(
        {"_step": st.integers(0, 10**6), "_time": numbers, "_runtime": numbers},
        optional={"loss": values, "acc": values, "_x": values, "b": values},
    ),
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(rows_strategy, st.randoms(use_true_random=False))
def test_splitting_by_column_gives_what_splitting_by_row_gives(
    rows: list[dict[str, Any]], random: Any
) -> None:
    for row in rows:  # keys in varied orders, as other tools write them
        items = list(row.items())
        random.shuffle(items)
        row.clear()
        row.update(items)
    by_column = series.split_columns(rows)
    if rows:
        assert by_column is not None
    assert repr(series.split_history(rows)) == repr(series.split_rows(rows))


def test_rows_the_columns_leave_alone_are_split_row_by_row() -> None:
    odd: list[Any] = [{"_step": 0, "a": 1.0}, {"_step": "x", "a": 2.0}]  # no clock, a bad step
    assert series.split_columns(odd) is None
    assert repr(series.split_history(odd)) == repr(series.split_rows(odd))


def thin_by_loop(found: Series, max_points: int) -> Series:
    """The thinning that numpy's replaced, kept here as the reference."""
    n = len(found.step)
    if n <= max_points:
        return found
    buckets = max(1, max_points // 2)
    size = n / buckets
    keep: list[int] = []
    for b in range(buckets):
        lo, hi = int(b * size), min(n, int((b + 1) * size))
        idx = [i for i in range(lo, hi) if found.value[i] is not None]
        if not idx:
            keep.append(lo)
            continue
        low = min(idx, key=lambda i: found.value[i] or 0.0)
        high = max(idx, key=lambda i: found.value[i] or 0.0)
        keep.extend(sorted({low, high}))
    if keep[-1] != n - 1:
        keep.append(n - 1)
    return Series(*([column[i] for i in keep] for column in found.as_json().values()))  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.sampled_from([0.0, -0.0, 1.0, 2.0]), st.floats(-9, 9)),
             max_size=300),
    st.integers(1, 60),
)  # fmt: skip
def test_thinning_keeps_the_points_the_loop_kept(value: list[float | None], budget: int) -> None:
    n = len(value)
    found = Series(list(range(n)), [i / 2 for i in range(n)], [100.0 + i for i in range(n)], value)
    assert repr(series.thin(found, budget)) == repr(thin_by_loop(found, budget))


# -- listing rows (model/values.py loads_bytes): orjson where it reads exactly as json --------

ROW_TEXTS = [
    b'{"a": 1, "b": 2, "a": 3}',  # duplicate keys: the last value, in the first key's place
    b'{"a": NaN, "b": Infinity, "c": -Infinity}',
    b'{"big": 18446744073709551616, "neg": -9223372036854775809, "ok": 123456789012345678}',
    b'{"s": "\\ud800", "t": "\\udc00x"}',  # lone surrogates
    b'{"s": "\xff\xfe caf\xc3\xa9"}',  # invalid UTF-8, replaced as the commit is read
    b'{"v": 1e400, "w": -1e400, "z": 1e-400, "m": -0.0}',
    b'{"f": {"$float": "NaN"}, "d": {"$dict": {"$float": 1}}}',  # gitexp's tags
    b"\xef\xbb\xbf{}",
    b'{"a": 1} x',
    b'{"a": "\t"}',
    b"null",
    b"[1, 2]",
    b"",
    b"[" * 3000 + b"]" * 3000,
    b'{"a": 01}',
]


def _json_reads(data: bytes) -> str:
    """What gitexp read before orjson: json, after decoding as the commit is decoded."""
    try:
        return repr(gvalues.loads(data.decode("utf-8", "replace")))
    except (ValueError, RecursionError) as error:
        return type(error).__name__


def _fast_reads(data: bytes) -> str:
    try:
        return repr(gvalues.loads_bytes(data))
    except (ValueError, RecursionError) as error:
        return type(error).__name__


def test_rows_read_as_json_reads_them_at_every_edge() -> None:
    for data in ROW_TEXTS:
        assert _fast_reads(data) == _json_reads(data), data[:60]
        text = data.decode("utf-8", "replace")
        parsed = parse_row_text(text)
        expected = _json_reads(data)
        assert repr(parsed) == (expected if expected.startswith("{") else "None"), data[:60]
        assert repr(parse_row_bytes(data)) == repr(parsed), data[:60]  # cold `ls`
        for message in (b"x\xe2\n\n" + ROW_MARKER.encode() + data + b"\xff\nmore", data):
            line = row_bytes(message)
            decoded = row_text(message.decode("utf-8", "replace"))
            assert (line if line is None else line.decode("utf-8", "replace")) == decoded


row_values = st.one_of(
    values,
    st.floats(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.lists(numbers, max_size=3),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=4),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(keys, row_values), max_size=6),
    st.lists(st.tuples(st.integers(0, 400), st.binary(min_size=1, max_size=3)), max_size=2),
)
def test_rows_read_as_json_reads_them_even_when_damaged(
    items: list[tuple[str, Any]], damage: list[tuple[int, bytes]]
) -> None:
    # Written by hand so that keys may repeat; json writes NaN and lone surrogates too.
    body = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in items)
    data = ("{" + body + "}").encode("utf-8", "surrogatepass")
    for at, junk in damage:  # a byte or three replaced: what a forged or torn row holds
        at %= len(data)
        data = data[:at] + junk + data[at + len(junk) :]
    assert _fast_reads(data) == _json_reads(data)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=3)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
row_keys = st.sampled_from([*validate.ROW_TYPES, "command_template", "other"])


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(row_keys, json_values, max_size=8))
def test_checking_a_row_at_once_tells_what_walking_its_fields_tells(row: dict[str, Any]) -> None:
    """validate.check_fields passes a record of exact types at once (cold `ls` checks
    every row); whatever it passes or refuses, the field-by-field walk does alike."""
    for types in (validate.ROW_TYPES, validate.RUN_JSON_TYPES):
        try:
            walked: str | None = validate._walk_fields(row, types, "the row's")
        except AttributeError:  # metrics that are no object, in a table without them
            continue
        assert validate.check_fields(row, types, "the row's") == walked


def test_run_files_read_as_json_reads_them_at_every_edge() -> None:
    """A pull's checks read a run's JSON files strictly (invalid UTF-8 is refused, not
    replaced: model/validate.py load_json), through orjson where it reads as json."""
    for data in ROW_TEXTS:
        try:
            expected = repr(gvalues.loads(data))
        except (ValueError, RecursionError) as error:
            expected = type(error).__name__
        try:
            got = repr(gvalues.loads_bytes(data, "strict"))
        except (ValueError, RecursionError) as error:
            got = type(error).__name__
        assert got == expected, data[:60]
