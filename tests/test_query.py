"""``gitexp ls --where / --sort / --columns``: the query language and its use on real runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import gitexp

from gitexp.read import query
from gitexp.read.query import Known, QueryError, compile_where, parse_sort, sort_rows

ROWS: list[dict[str, Any]] = [
    {
        "id": "aaa",
        "name": "lr-small",
        "status": "finished",
        "tags": ["baseline", "sweep"],
        "start": 1_700_000_000.0,
        "end": 1_700_000_090.0,
        "dirty": False,
        "config": {"lr": 0.001, "model.depth": 4, "batch-size": 32},
        "metrics": {
            "accuracy": {"last": 0.95, "min": 0.5, "max": 0.96},
            "train/loss": {"last": 0.1},
        },
    },
    {
        "id": "bbb",
        "name": "lr-big",
        "status": "failed",
        "tags": [],
        "start": 1_700_100_000.0,
        "end": None,
        "dirty": True,
        "config": {"lr": 0.5, "model.depth": 2},
        "metrics": {"accuracy": {"last": 0.4, "min": 0.1, "max": 0.45}},
    },
    {
        "id": "ccc",
        "name": "text-lr",
        "status": "finished",
        "tags": ["sweep"],
        "start": 1_700_200_000.0,
        "end": 1_700_203_600.0,
        "dirty": False,
        "config": {"lr": "auto"},
        "metrics": {"accuracy": {"last": float("nan"), "min": 0.2, "max": 0.92}},
    },
]


def ids(expression: str) -> list[str]:
    predicate = compile_where(expression)
    return [row["id"] for row in ROWS if predicate(row)]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('config.lr < 0.01 and metrics.accuracy.max > 0.9 and status == "finished"', ["aaa"]),
        ("config.model.depth >= 2", ["aaa", "bbb"]),
        ('config["batch-size"] == 32', ["aaa"]),
        ('metrics["train/loss"] < 0.5', ["aaa"]),
        ("metrics.train/loss.last < 0.5", ["aaa"]),  # "/" joins a key's parts
        ("metrics.accuracy.min <= 0.2", ["bbb", "ccc"]),
        ('"sweep" in tags and not dirty', ["aaa", "ccc"]),
        ('"baseline" not in tags', ["bbb", "ccc"]),
        ('status in ["failed", "crashed"] or name == "text-lr"', ["bbb", "ccc"]),
        ('"lr-" in name', ["aaa", "bbb"]),
        ("0.0001 < config.lr < 0.1", ["aaa"]),
        ("config.lr < 1", ["aaa", "bbb"]),  # a string lr is neither smaller nor an error
        ('config.lr == "auto"', ["ccc"]),
        ("end == null", ["bbb"]),
        ("duration > 60 and duration < 3600", ["aaa"]),
        ('duration >= "1h"', ["ccc"]),
        ('duration < "2m"', ["aaa"]),
        ("metrics.accuracy > 0.5", ["aaa"]),  # NaN is never greater
        ("config.missing > 1 or config.missing == 1", []),
        ("config.missing == None", ["aaa", "bbb", "ccc"]),
        ("dirty == true", ["bbb"]),
        ("-1 < config.lr", ["aaa", "bbb"]),
    ],
)
def test_where_selects_rows(expression: str, expected: list[str]) -> None:
    assert ids(expression) == expected


def test_dates_compare_with_start() -> None:
    from datetime import datetime

    middle = datetime.fromtimestamp(1_700_050_000).strftime("%Y-%m-%d %H:%M")
    assert ids(f'start > "{middle}"') == ["bbb", "ccc"]


@pytest.mark.parametrize(
    ("expression", "message", "marked"),
    [
        ("config.lr < 0.1 and lr > 2", "unknown name 'lr'", "lr"),
        ("config.lr < and x", "invalid syntax", "and"),
        ("__import__('os').system('true')", "a function call is not allowed", None),
        ("config.lr * 2 > 1", "arithmetic is not allowed", "config.lr * 2"),
        ("config.lr / 2 > 1", "arithmetic is not allowed", "config.lr / 2"),
        ("config > 1", "config needs a key", "config"),
        ('start > "yesterday"', "not a date", '"yesterday"'),
        ('duration > "fast"', "not a duration", '"fast"'),
        ("config[0] == 1", "must be a string", "0"),
        ("metrics.loss.min.max > 1 or status.lower() == 'x'", "function call", None),
    ],
)
def test_bad_expressions_point_at_the_bad_part(
    expression: str, message: str, marked: str | None
) -> None:
    with pytest.raises(QueryError) as caught:
        compile_where(expression)
    text = caught.value.message
    assert message in text
    lines = text.splitlines()
    assert lines[1].strip() == expression
    caret_line = lines[2]
    start = caret_line.index("^") - 4  # both lines are indented by four spaces
    width = caret_line.count("^")
    if marked is not None:
        assert expression[start : start + width] == marked


def test_sort_keys_put_missing_values_last_in_both_directions() -> None:
    rows = [dict(r) for r in ROWS]
    sort_rows(rows, parse_sort("config.lr"), lambda r: r)
    assert [r["id"] for r in rows] == ["aaa", "bbb", "ccc"]  # numbers, then text
    sort_rows(rows, parse_sort("-metrics.accuracy.max"), lambda r: r)
    assert [r["id"] for r in rows] == ["aaa", "ccc", "bbb"]
    sort_rows(rows, parse_sort("-config.model.depth,name"), lambda r: r)
    assert [r["id"] for r in rows] == ["aaa", "bbb", "ccc"]  # ccc has no depth: last
    with pytest.raises(QueryError, match="unknown name"):
        parse_sort("-loss")


def test_name_labels_round_trip() -> None:
    assert query.parse_name("metrics.acc.max").label == "metrics.acc.max"
    assert query.parse_name('metrics["val/acc"]').label == "metrics.val/acc"
    assert query.parse_name("metrics.train/val/acc.min") == query.Name(
        "metrics", "train/val/acc", "min"
    )
    assert query.parse_name("config.model.depth").label == "config.model.depth"
    assert query.parse_name("duration").label == "duration"


SCRIPT = """\
import gitexp
run = gitexp.init(config={"lr": 0.1, "depth": 2})
for step in range(3):
    gitexp.log({"accuracy": run.config.lr * (step + 1), "loss": 1 - run.config.lr * step})
gitexp.finish()
"""


@pytest.fixture
def three_runs(repo: Path) -> Path:
    (repo / "train.py").write_text(SCRIPT)
    for lr in ("0.1", "0.3", "0.2"):
        done = gitexp(
            "run",
            "--name",
            f"lr-{lr}",
            "-p",
            f"lr={lr}",
            "--",
            sys.executable,
            "train.py",
            cwd=repo,
        )
        assert done.returncode == 0, done.stderr
    return repo


def test_ls_where_sort_and_columns(three_runs: Path) -> None:
    done = gitexp(
        "ls",
        "--where",
        'config.lr >= 0.2 and status == "finished"',
        "--sort",
        "-metrics.accuracy.max",
        "--columns",
        "name,config.lr,metrics.accuracy.max,status",
        cwd=three_runs,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["name", "config.lr", "metrics.accuracy.max", "status"]
    assert [line.split()[0] for line in lines[2:]] == ["lr-0.3", "lr-0.2"]
    assert lines[2].split()[1:3] == ["0.3", "0.9"]

    ascending = gitexp("ls", "--sort", "config.lr", "--json", cwd=three_runs)
    assert [row["name"] for row in json.loads(ascending.stdout)] == ["lr-0.1", "lr-0.2", "lr-0.3"]

    none = gitexp("ls", "--where", "config.lr > 5", cwd=three_runs)
    assert none.returncode == 0
    assert "No run matches --where (of 3 runs)" in none.stdout


def test_ls_where_error_exits_2_with_a_caret(three_runs: Path) -> None:
    done = gitexp("ls", "--where", "config.lr < 0.1 and acc > 2", cwd=three_runs)
    assert done.returncode == 2
    assert "unknown name 'acc': no config key or metric of these runs is called that" in done.stderr
    expression_line = next(line for line in done.stderr.splitlines() if "and acc" in line)
    caret_line = done.stderr.splitlines()[done.stderr.splitlines().index(expression_line) + 1]
    assert caret_line.index("^") == expression_line.index("acc > 2")
    assert done.stdout == ""


KNOWN = query.Known.from_rows(lambda: ROWS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("accuracy", query.Name("metrics", "accuracy")),
        ("accuracy.max", query.Name("metrics", "accuracy", "max")),
        ("train/loss.min", query.Name("metrics", "train/loss", "min")),
        ("model.depth", query.Name("config", "model.depth")),  # a nested config key
        ('config["batch-size"]', query.Name("config", "batch-size")),
        ("name", query.Name("field", "name")),  # a run field is never a bare config key
    ],
)
def test_bare_names_resolve_against_the_runs(text: str, expected: query.Name) -> None:
    assert query.parse_name(text, known=KNOWN) == expected


def test_bare_names_filter_and_sort_as_the_qualified_ones() -> None:
    assert [r["id"] for r in ROWS if compile_where("accuracy.max > 0.9", KNOWN)(r)] == [
        "aaa",
        "ccc",
    ]
    rows = [dict(r) for r in ROWS]
    sort_rows(rows, parse_sort("-accuracy.min", KNOWN), lambda r: r)
    assert [r["id"] for r in rows] == ["aaa", "ccc", "bbb"]


def test_a_name_that_is_config_and_metric_is_ambiguous() -> None:
    known = query.Known(frozenset({"lr"}), frozenset({"lr", "loss"}))
    with pytest.raises(QueryError) as caught:
        parse_sort("-lr", known)
    assert "'lr' is ambiguous" in caught.value.message
    assert caught.value.hint == "Write the qualified name: config.lr or metrics.lr."
    assert caught.value.exit_code == 2
    with pytest.raises(QueryError, match="unknown name 'lr'"):
        parse_sort("lr")  # without the runs' names, a bare name means nothing


def test_an_unknown_bare_name_suggests_the_keys_it_may_mean() -> None:
    known = Known(frozenset({"lr", "epochs"}), frozenset({"train/loss", "val/loss", "val/acc"}))
    with pytest.raises(QueryError) as caught:
        parse_sort("loss", known)
    assert "did you mean metrics.train/loss or metrics.val/loss?" in str(caught.value)
    with pytest.raises(QueryError) as caught:
        parse_sort("val/acx", known)
    assert "metrics.val/acc" in str(caught.value)
    with pytest.raises(QueryError) as caught:
        parse_sort("zzz", known)
    assert "no config key or metric of these runs is called that" in str(caught.value)
