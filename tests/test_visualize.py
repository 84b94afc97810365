"""``gitexp compare``, ``plot`` and ``report`` on real recorded runs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import gitexp
from viz_runs import RUN_NAMES, record_sweep

from gitexp.read.compare import default_goal
from gitexp.render import series, textchart


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_sweep(tmp_path_factory.mktemp("sweep"))


def embedded_bundle(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="gx-data">(.*?)</script>', html, re.S)
    assert match, "the report carries its data"
    return dict(json.loads(match.group(1)))


# -- compare -----------------------------------------------------------------------------------


def test_compare_marks_the_best_value_of_each_metric(sweep: Path) -> None:
    done = gitexp("compare", *RUN_NAMES, cwd=sweep)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[::2] == list(RUN_NAMES)
    rows = {line.split()[0]: line for line in lines[2:] if line and not line.startswith("*")}
    assert rows["config.lr"].split()[1:] == ["0.01", "0.05", "0.2"]
    # loss: minimize (declared); accuracy: maximize (from its name); lr: no goal
    assert rows["metrics.loss"].split()[1:3] == ["[min]", "0.786628"]
    assert rows["metrics.loss"].rstrip().endswith("*")
    assert rows["metrics.accuracy"].split()[1] == "[max]"
    assert rows["metrics.accuracy"].split()[-1] == "*"
    assert "*" not in rows["metrics.lr"]
    assert "config.steps" not in rows  # the same in all runs
    assert "metrics.weights/fc1" not in rows  # histograms have no single best value
    assert "* best value" in done.stdout


def test_compare_all_and_json(sweep: Path) -> None:
    done = gitexp("compare", "latest~2", "latest", "--all", "--json", cwd=sweep)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert [r["name"] for r in data["runs"]] == ["lr-0.01", "lr-0.2"]
    rows = {(r["section"], r["key"]): r for r in data["rows"]}
    assert rows[("config", "steps")] == {
        "section": "config",
        "key": "steps",
        "values": [25, 25],
        "differs": False,
        "goal": None,
        "goal_source": None,
        "best": [],
    }
    assert rows[("config", "model.width")]["values"] == [8, 8]
    loss = rows[("metrics", "loss")]
    assert (loss["goal"], loss["goal_source"], loss["best"]) == ("minimize", "declared", [1])
    accuracy = rows[("metrics", "accuracy")]
    assert (accuracy["goal"], accuracy["goal_source"], accuracy["best"]) == (
        "maximize",
        "default",
        [1],
    )
    assert rows[("run", "tags")]["values"] == [[], ["best-guess"]]
    assert rows[("run", "notes")]["values"] == [None, "accuracy formula changed"]


def test_compare_errors(sweep: Path) -> None:
    done = gitexp("compare", "lr-0.01", "nope", cwd=sweep)
    assert done.returncode == 5 and "no run matches 'nope'" in done.stderr
    twice = gitexp("compare", "lr-0.01", "latest~2", cwd=sweep)
    assert twice.returncode == 2 and "given twice" in twice.stderr


@pytest.mark.parametrize(
    ("name", "goal"),
    [
        ("val/loss", "minimize"),
        ("train_mse", "minimize"),
        ("test/top5_acc", "maximize"),
        ("f1", "maximize"),
        ("lr", None),
        ("acc_loss", None),
        ("epoch", None),
    ],
)
def test_default_goals_follow_the_name(name: str, goal: str | None) -> None:
    assert default_goal(name) == goal


# -- plot --------------------------------------------------------------------------------------


def test_plot_in_the_terminal_draws_one_line_per_run(sweep: Path) -> None:
    done = gitexp("plot", "loss", "acc*", cwd=sweep)
    assert done.returncode == 0, done.stderr
    charts = done.stdout.split("\n\n")
    assert [c.splitlines()[0] for c in charts] == ["loss", "accuracy"]
    loss = charts[0].splitlines()
    # Without --runs: the runs ls shows first, newest first; each with its own marker.
    assert loss[-1].split() == ["*", "lr-0.2", "o", "lr-0.05", "+", "lr-0.01"]
    assert loss[1].split()[0] == "1"  # the largest loss on top
    assert loss[-2].split() == ["0", "step", "24"]
    body = "\n".join(loss[1:-3])
    assert all(marker in body for marker in "*o+")
    assert "\033[" not in done.stdout  # no colour codes when piped


def test_plot_chooses_runs_like_ls(sweep: Path) -> None:
    done = gitexp("plot", "loss", "--where", "config.lr < 0.1", "--sort", "config.lr", cwd=sweep)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].split() == ["*", "lr-0.01", "o", "lr-0.05"]
    one = gitexp("plot", "loss", "-n", "1", "--x", "time", cwd=sweep)
    assert one.stdout.splitlines()[-1].split() == ["*", "lr-0.2"]
    assert "seconds since start" in one.stdout


def test_plot_errors(sweep: Path) -> None:
    missing = gitexp("plot", "nope", cwd=sweep)
    assert missing.returncode == 2
    assert "no metric 'nope'" in missing.stderr and "loss, accuracy, lr" in missing.stderr
    assert gitexp("plot", "loss", "-o", "x.pdf", cwd=sweep).returncode == 2
    assert gitexp("plot", "loss", "--smooth", "1", cwd=sweep).returncode == 2
    both = gitexp("plot", "loss", "--runs", "lr-0.2", "--where", "status == 'x'", cwd=sweep)
    assert both.returncode == 2
    mixed = gitexp("plot", "loss", "weights/fc1", "-o", "x.png", cwd=sweep)
    assert mixed.returncode == 2 and "one histogram metric" in mixed.stderr


@pytest.mark.slow
def test_plot_writes_png_svg_and_html(sweep: Path, tmp_path: Path) -> None:
    png, svg, hist, page = (tmp_path / n for n in ("c.png", "c.svg", "h.png", "c.html"))
    for args in (
        ("loss", "accuracy", "--runs", "lr-0.01", "lr-0.2", "--smooth", "0.6", "-o", str(png)),
        ("loss", "--x", "wall", "-o", str(svg)),
        ("weights/*", "-o", str(hist)),
        ("loss", "weights/fc1", "--runs", *RUN_NAMES, "-o", str(page)),
    ):
        done = gitexp("plot", *args, cwd=sweep, timeout=120)
        assert done.returncode == 0, done.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert hist.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    bundle = embedded_bundle(page.read_text())
    assert bundle["sections"] == ["charts", "histograms"]
    assert bundle["scalars"] == ["loss"]
    assert [h["metric"] for h in bundle["histograms"]] == ["weights/fc1"]
    assert [r["name"] for r in bundle["runs"]] == list(RUN_NAMES)


# -- report ------------------------------------------------------------------------------------


def test_html_report_is_one_self_contained_file(sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "report.html"
    done = gitexp("report", *RUN_NAMES, "-o", str(out), "--title", "LR sweep", cwd=sweep)
    assert done.returncode == 0, done.stderr
    html = out.read_text()
    assert "<title>LR sweep</title>" in html
    assert (
        "Plotly" in html
        and "<script src" not in html
        and "http://" not in html.split("<body>")[1][:2000]
    )
    bundle = embedded_bundle(html)
    assert [r["name"] for r in bundle["runs"]] == list(RUN_NAMES)
    assert bundle["scalars"] == ["loss", "accuracy", "lr"]
    ids = [r["id"] for r in bundle["runs"]]
    loss = bundle["series"][ids[0]]["loss"]
    assert loss["step"] == list(range(25)) and loss["value"][0] == 1.0
    (hist,) = bundle["histograms"]
    assert hist["metric"] == "weights/fc1" and len(hist["centres"]) == series.HISTOGRAM_GRID
    grid = hist["runs"][ids[2]]
    assert grid["steps"] == [0, 5, 10, 15, 20]
    assert sum(row[0] for row in grid["z"]) == pytest.approx(500)
    compare = {(r["section"], r["key"]): r for r in bundle["compare"]}
    assert compare[("metrics", "loss")]["best"] == [2]
    (first, second) = bundle["code"]
    assert first["files"] == [] and second["files"][0]["path"] == "train.py"
    assert "+" in second["patch"] and "1 - loss / 3" in second["patch"]
    assert bundle["runs"][2]["tags"] == ["best-guess"]
    assert bundle["environment"]["machines"][0]["python"]


def test_markdown_report_links_its_images(sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    done = gitexp("report", "-o", str(out), cwd=sweep, timeout=120)
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert images == [
        "report_files/loss.png",
        "report_files/accuracy.png",
        "report_files/lr.png",
        "report_files/parallel.svg",  # lr against loss, the metric ranked by
        "report_files/hist-weights_fc1.png",
    ]
    for image in images:
        if image.endswith(".png"):
            assert (tmp_path / image).read_bytes()[:4] == b"\x89PNG"
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("|")
    ]
    assert [
        "metrics.loss (lower is better)",
        "**0.00822975** ★",
        "0.301194",
        "0.786628",
    ] in rows
    assert "```diff" in text and "+    row = {" in text
    assert "- **lr-0.2** `best-guess`" in text and "accuracy formula changed" in text
    assert gitexp("report", "-o", "r.pdf", cwd=sweep).returncode == 2


# -- pieces --------------------------------------------------------------------------------------


def test_smoothing_thinning_and_regridding() -> None:
    assert series.smooth([1.0, None, 1.0], 0.9) == pytest.approx([1.0, None, 1.0])
    smoothed = series.smooth([0.0, 10.0], 0.5)
    assert smoothed[0] == 0 and 0 < (smoothed[1] or 0) < 10
    long = series.Series(list(range(10_000)), [0.0] * 10_000, [0.0] * 10_000, [0.0] * 10_000)
    long.value[5000] = 99.0  # a spike survives thinning
    thin = series.thin(long, 100)
    assert len(thin.step) <= 102 and 99.0 in thin.value and thin.step[-1] == 9999
    hist = series.RunHistograms([0], [[0.0, 1.0, 2.0]], [[4.0, 6.0]])
    steps, grid = series.regrid(hist, 0.0, 2.0, bins=4)
    assert steps == [0] and [row[0] for row in grid] == [2.0, 2.0, 3.0, 3.0]


def test_text_chart_draws_gaps_and_colour() -> None:
    line = textchart.Line("run", [0, 1, 2, 3], [1.0, None, 3.0, 4.0])
    plain = textchart.render("m", [line], width=40, height=6)
    assert plain.splitlines()[0] == "m" and "*" in plain
    coloured = textchart.render("m", [line], width=40, height=6, colour=True)
    assert "\033[34m" in coloured and any(0x2800 < ord(c) < 0x2900 for c in coloured)
    assert textchart.render("m", [textchart.Line("r", [0], [None])]) == "m: no values to draw"
