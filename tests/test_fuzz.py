"""Property tests (hypothesis), bounded in time and deterministic (``derandomize``).

- Metrics and config: any value logged or configured reads back equal from git (NaN
  included), through the real recorder, history chunks, ``metrics.json``, ``config.yaml``
  and the listing row.
- ``-p KEY=VALUE``: every value has a command-line spelling that parses back to it.
- Run references: ``resolve`` agrees with the documented grammar (full id, ``latest~N``,
  unique id prefix, name) on any text, and never fails other than with exit 5.
- History files: any way of cutting and feeding the bytes gives the same rows.
- ``--where``: any text either compiles or is a usage error (never run, never a crash).

``GITEXP_FUZZ_EXAMPLES`` scales the number of examples (default 1: the CI budget).
"""

from __future__ import annotations

import json
import math
import os
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from reliability_helpers import isolated_env, make_repo

from gitexp.errors import UnknownRunError, UsageError
from gitexp.model import history as historymod
from gitexp.model import values
from gitexp.model.config import flatten_config, parse_override
from gitexp.model.ids import ID_ALPHABET as ALPHABET
from gitexp.read.listing import RunEntry
from gitexp.read.resolve import resolve

SCALE = float(os.environ.get("GITEXP_FUZZ_EXAMPLES", "1"))


def bounded(examples: int) -> Any:
    return settings(
        max_examples=max(1, int(examples * SCALE)),
        deadline=None,
        derandomize=True,  # the same examples on every run: no flaky CI
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def same(a: Any, b: Any) -> bool:
    """Equality where NaN equals NaN and types matter (1 is not 1.0, True is not 1)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


# -- values ------------------------------------------------------------------------------------

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | texts
)
metric_values = scalars | st.lists(scalars, max_size=4)
metric_keys = texts.filter(lambda k: k not in values.RESERVED_KEYS and k != "")
metric_rows = st.dictionaries(metric_keys, metric_values, min_size=1, max_size=5)
config_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=12,
)
configs = st.dictionaries(texts, config_values, max_size=5)


@pytest.fixture(scope="module")
def fuzz_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with isolated_env(tmp_path_factory.mktemp("home")):
        yield make_repo(tmp_path_factory.mktemp("fuzz") / "repo")


@bounded(40)
@given(rows=st.lists(metric_rows, min_size=1, max_size=6), config=configs)
@example(
    rows=[{"$float": "NaN"}, {"$dict": {}.get("x"), "nan": math.nan, "l": [math.inf, None]}],
    config={"a": {"$float": "NaN"}, "b": {"$dict": {"c": -math.inf}}, "yes": "no", "": [[]]},
)
@pytest.mark.slow
def test_any_metric_and_config_reads_back_equal_from_git(
    fuzz_repo: Path, rows: list[dict[str, Any]], config: dict[str, Any]
) -> None:
    """Logged through the real logger and recorder, read back with the real readers."""
    from gitexp.git.repo import GitRepo
    from gitexp.read.listing import list_runs
    from gitexp.read.runview import load_run, read_history
    from gitexp.record.starting import start_run
    from gitexp.sdk.logger import Logger

    with GitRepo.discover(str(fuzz_repo)) as repo:
        recorder, _ = start_run(repo, command=["fuzz"], config=config, source="script")
        logger = Logger(recorder.live.file("history.jsonl"), recorder.info.start)
        for row in rows:
            logger.log(row)
        logger.flush(final=True)
        recorder.finalize("finished", 0)
        entry = next(e for e in list_runs(repo) if e.id == recorder.info.id)
        view = load_run(repo, entry)
        history = read_history(repo, view)

    assert [r["_step"] for r in history] == list(range(len(rows)))
    for logged, stored in zip(rows, history, strict=True):
        assert same({k: v for k, v in stored.items() if k not in values.RESERVED_KEYS}, logged)
    last: dict[str, Any] = {}
    for row in rows:
        last.update(row)
    assert same(view.summary, last)
    for key, value in last.items():
        assert same(entry.row["metrics"][key]["last"], value)
        numbers = [r[key] for r in rows if key in r and values.is_number(r[key])]
        finite = [v for v in numbers if not (isinstance(v, float) and math.isnan(v))]
        if finite:
            assert same(view.metrics["metrics"][key]["min"], min(finite))
            assert same(view.metrics["metrics"][key]["max"], max(finite))
    assert same(view.config, config)
    flat = {k: v for k, v in flatten_config(config).items() if not isinstance(v, (list, dict))}
    assert same(entry.row["config"], flat)


# -- -p KEY=VALUE ------------------------------------------------------------------------------

_UNQUOTABLE = {"\\": "\\\\", '"': '\\"'}


def quoted(text: str) -> str:
    """A YAML double-quoted string: escapes for what YAML cannot hold raw."""
    out = []
    for char in text:
        code = ord(char)
        if char in _UNQUOTABLE:
            out.append(_UNQUOTABLE[char])
        elif code < 0x20 or 0x7F <= code <= 0x9F or code in (0xFFFE, 0xFFFF):
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def flow(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return quoted(value)
    if isinstance(value, list):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    return "{" + ", ".join(f"{quoted(k)}: {flow(v)}" for k, v in value.items()) + "}"


def spelled(value: Any) -> str:
    """How a user would type ``value`` after ``-p key=``: plain when that is unambiguous."""
    if isinstance(value, str):
        plain = value.strip() == value and parse_override(f"k={value}")[1] == value
        return value if plain else quoted(value)
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return flow(value)


@bounded(300)
@given(key=st.lists(st.text(string.ascii_letters + "_-", min_size=1, max_size=5), min_size=1,
                    max_size=3), value=config_values)  # fmt: skip
def test_every_value_has_a_command_line_spelling(key: list[str], value: Any) -> None:
    text = ".".join(key) + "=" + spelled(value)
    keys, parsed = parse_override(text)
    assert keys == key
    assert same(parsed, value), (text, parsed)


@bounded(200)
@given(text=st.text(max_size=30))
def test_any_override_text_parses_or_is_a_usage_error(text: str) -> None:
    try:
        keys, value = parse_override(text)
    except UsageError as exc:
        assert exc.exit_code == 2
        return
    assert keys and all(keys)
    values.dumps(value)  # whatever parses can be stored


# -- run references ----------------------------------------------------------------------------

run_ids = st.text(ALPHABET, min_size=12, max_size=12)
names = st.sampled_from(["alpha", "beta", "latest", "latest~1", "gamma"]) | st.text(
    ALPHABET[:4], min_size=1, max_size=3
)


@st.composite
def run_lists(draw: Any) -> list[RunEntry]:
    ids = draw(st.lists(run_ids, min_size=1, max_size=8, unique=True))
    if draw(st.booleans()):  # some ids share a long prefix
        ids.append(ids[0][:10] + draw(st.text(ALPHABET, min_size=2, max_size=2)))
        ids = list(dict.fromkeys(ids))
    entries = []
    for start, run_id in enumerate(ids):
        name = draw(names | st.sampled_from(ids))  # a name may even be another run's id
        entries.append(RunEntry(run_id, b"0" * 40, {"name": name, "start": float(start)}))
    return sorted(entries, key=lambda e: e.start, reverse=True)


def model(text: str, runs: list[RunEntry]) -> RunEntry | None:
    """docs/cli.md: full id; latest or latest~N; unique id prefix; unique name."""
    text = text.strip()
    if not text:
        return None
    for run in runs:
        if run.id == text:
            return run
    if text == "latest" or (
        text.startswith("latest~") and text[7:].isdigit() and text[7:].isascii()
    ):
        back = int(text[7:] or 0)
        return runs[back] if back < len(runs) else None
    prefixed = [run for run in runs if run.id.startswith(text)]
    if prefixed:
        return prefixed[0] if len(prefixed) == 1 else None
    named = [run for run in runs if run.name == text]
    return named[0] if len(named) == 1 else None


@st.composite
def references(draw: Any, runs: list[RunEntry]) -> str:
    run = draw(st.sampled_from(runs))
    return str(
        draw(
            st.sampled_from([run.id, run.name, "latest", ""])
            | st.builds(lambda n: run.id[:n], st.integers(1, 12))
            | st.builds(lambda n: f"latest~{n}", st.integers(0, 10))
            | st.builds(lambda t: f"  {t}\t", st.sampled_from([run.id, run.name]))
            | st.text(max_size=14)
        )
    )


@pytest.mark.slow
@bounded(400)
@given(data=st.data())
def test_run_references_follow_the_documented_grammar(data: Any) -> None:
    runs = data.draw(run_lists())
    text = data.draw(references(runs))
    expected = model(text, runs)
    try:
        found = resolve(text, runs)
    except UnknownRunError as exc:
        assert exc.exit_code == 5
        assert expected is None, (text, expected)
        return
    assert found is expected, (text, found, expected)


# -- history files -----------------------------------------------------------------------------


@bounded(150)
@given(
    rows=st.lists(metric_rows, min_size=1, max_size=6),
    cuts=st.lists(st.integers(0, 10_000), max_size=6),
    garbage=st.binary(max_size=20),
)
def test_history_reads_the_same_however_it_is_cut(
    rows: list[dict[str, Any]], cuts: list[int], garbage: bytes
) -> None:
    data = "".join(values.dumps({**r, "_step": i}) + "\n" for i, r in enumerate(rows)).encode()
    torn = data + garbage.replace(b"\n", b"")  # a crash mid-write: no newline at the end
    whole = historymod.History()
    whole.feed(torn, final=True)
    pieces = historymod.History()
    offset = 0
    for cut in sorted(c % (len(torn) + 1) for c in cuts):
        if cut > offset:
            offset += pieces.feed(torn[offset:cut])
    pieces.feed(torn[offset:], final=True)
    assert whole.rows == pieces.rows == len(rows)
    assert whole.current_chunk() == pieces.current_chunk()
    assert same(whole.summary_json({}), pieces.summary_json({}))
    parsed = historymod.parse_rows(data)
    assert all(
        same(a, {**b, "_step": i}) for i, (a, b) in enumerate(zip(parsed, rows, strict=True))
    )
    json.loads(values.dumps(whole.summary_json({})), parse_constant=_strict)


def _strict(name: str) -> None:
    raise AssertionError(f"non-strict JSON constant {name}")


# -- the --where language ----------------------------------------------------------------------

where_words = st.sampled_from(
    ["config.lr", "metrics.loss.min", "status", "tags", "name", "start", "duration", "and",
     "or", "not", "in", "==", "<", ">=", "(", ")", "[", "]", ",", "'a'", '"2024-05-01"',
     "1e-3", "-1", "true", "null", "__import__", "os", ".", "lambda", "x", "*", "**", "if",
     "'5m'", "metrics['val-loss']", "config[0]", "~", "@"]
)  # fmt: skip


@bounded(300)
@given(
    text=st.lists(where_words, max_size=8).map(" ".join) | st.text(max_size=20),
    row=st.fixed_dictionaries(
        {"status": st.sampled_from(["finished", "running"]), "tags": st.lists(texts, max_size=2)},
        optional={"config": st.dictionaries(texts, scalars, max_size=2), "start": st.floats()},
    ),
)
def test_any_where_text_compiles_or_is_a_usage_error(text: str, row: dict[str, Any]) -> None:
    from gitexp.read.query import compile_where

    try:
        predicate = compile_where(text)
    except UsageError as exc:
        assert exc.exit_code == 2
        return
    assert predicate(row) in (True, False)
