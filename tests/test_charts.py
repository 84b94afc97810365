"""Charts across runs: grouping, alignment, bands, thinning, importance — numbers checked
against numpy, on unit inputs and on runs recorded by the command line."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import gitexp, require
from viz_runs import RUNS, loss_points, record_seeds

from gitexp.render.charts import across, align, build, importance, parallel, text
from gitexp.render.series import Series


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_seeds(tmp_path_factory.mktemp("seeds"))


def embedded_bundle(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="gx-data">(.*?)</script>', html, re.S)
    assert match, "the page carries its data"
    return dict(json.loads(match.group(1)))


# -- alignment and bands, against numpy ---------------------------------------------------------


def test_alignment_interpolates_inside_each_run_and_never_extrapolates() -> None:
    a = (np.array([0.0, 2.0, 4.0]), np.array([0.0, 2.0, 8.0]))
    b = (np.array([1.0, 3.0]), np.array([10.0, 30.0]))
    grid, matrix = align.align([a, b])
    assert grid.tolist() == [0, 1, 2, 3, 4]
    assert np.allclose(matrix[0], np.interp(grid, *a))
    assert np.isnan(matrix[1][[0, 4]]).all()  # outside b's range [1, 3]
    assert matrix[1][1:4].tolist() == [10, 20, 30]


def test_alignment_sorts_drops_non_finite_and_keeps_the_last_of_a_repeated_x() -> None:
    x, y = align.clean(np.array([2.0, 0.0, 1.0, 1.0, np.nan]), np.array([2, 0, 5, 1, 9.0]))
    assert x.tolist() == [0, 1, 2] and y.tolist() == [0, 1, 2]


@pytest.mark.parametrize("band", ["std", "sem", "minmax", "none"])
def test_bands_match_numpy(band: str) -> None:
    rng = np.random.default_rng(3)
    matrix = rng.normal(size=(5, 40))
    mean, lower, upper = align.aggregate(matrix, band)
    assert np.allclose(mean, matrix.mean(axis=0))
    if band == "none":
        assert lower is None and upper is None
        return
    assert lower is not None and upper is not None
    spread = {
        "std": matrix.std(axis=0, ddof=1),
        "sem": matrix.std(axis=0, ddof=1) / np.sqrt(5),
    }
    if band == "minmax":
        assert np.allclose(lower, matrix.min(axis=0)) and np.allclose(upper, matrix.max(axis=0))
    else:
        assert np.allclose(upper - mean, spread[band]) and np.allclose(mean - lower, spread[band])


def test_a_column_covered_by_one_run_has_no_spread() -> None:
    matrix = np.array([[1.0, 2.0], [3.0, np.nan]])
    mean, lower, upper = align.aggregate(matrix, "std")
    assert mean.tolist() == [2.0, 2.0]
    assert lower is not None and upper is not None
    assert upper[1] == lower[1] == 2.0


def test_thinning_keeps_spikes_the_ends_and_a_bounded_count() -> None:
    y = np.zeros(1_000_000)
    y[123_457] = 50.0
    y[987_654] = -50.0
    keep = align.thin_indices(y, 4000)
    assert len(keep) <= 4002
    assert {0, 123_457, 987_654, 999_999} <= set(keep.tolist())
    assert (np.diff(keep) > 0).all()


def series_of(x: np.ndarray, y: np.ndarray) -> Series:
    steps = [int(s) for s in x]
    return Series(steps, [float(s) for s in x], [0.0] * len(x), y.tolist())


def test_a_grouped_chart_is_the_mean_and_std_of_its_runs() -> None:
    rng = np.random.default_rng(0)
    xs = [np.arange(0, 50, 1.0), np.arange(0, 50, 2.0), np.arange(0, 40, 1.0)]
    ys = [rng.normal(size=len(x)) for x in xs]
    runs = [build.RunCurves(f"r{i}", "#000000", {"m": series_of(x, y)}, "g") for i, (x, y)
            in enumerate(zip(xs, ys, strict=True))]  # fmt: skip
    runs.append(build.RunCurves("other", "#000000", {"m": series_of(xs[0], ys[0] + 5)}, "h"))
    chart = build.metric_chart("m", runs, band="std")
    assert [t.label for t in chart.traces] == ["g (3 runs)", "h (1 run)"]
    group = chart.traces[0]
    grid = np.arange(0, 50, 1.0)
    matrix = np.array([np.interp(grid, x, y) for x, y in zip(xs, ys, strict=True)])
    matrix[1, grid > 48] = np.nan  # the second run stopped at x=48
    matrix[2, grid > 39] = np.nan  # the third at x=39
    assert np.allclose(group.x, grid)
    assert np.allclose(group.y, np.nanmean(matrix, axis=0))
    assert group.upper is not None
    covered = grid <= 39
    assert np.allclose((group.upper - group.y)[covered], matrix[:, covered].std(axis=0, ddof=1))


def test_a_metric_as_x_pairs_rows_by_step() -> None:
    scalars = {
        "loss": Series([0, 1, 2, 3], [0.0] * 4, [0.0] * 4, [4.0, 3.0, 2.0, 1.0]),
        "epoch": Series([0, 2, 3], [0.0] * 3, [0.0] * 3, [0.0, 0.5, 0.75]),
    }
    x, y = build.xy(scalars, "loss", "epoch")
    assert x.tolist() == [0.0, 0.5, 0.75] and y.tolist() == [4.0, 2.0, 1.0]


def test_step_metric_comes_from_define_metric_names_and_globs() -> None:
    defs = {"loss": {"step_metric": "epoch"}, "val/*": {"step_metric": "val/step"}}
    assert build.step_metric("loss", defs) == "epoch"
    assert build.step_metric("val/acc", defs) == "val/step"
    assert build.step_metric("lr", defs) is None


def test_log_axes_drop_what_they_cannot_draw_and_the_terminal_says_log10() -> None:
    s = series_of(np.arange(0, 5, 1.0), np.array([0.0, 1.0, 10.0, 100.0, 1000.0]))
    chart = build.metric_chart("m", [build.RunCurves("r", "#000000", {"m": s})], log_x=True,
                               log_y=True)  # fmt: skip
    assert chart.traces[0].x.tolist() == [1, 2, 3, 4]  # x=0 has no logarithm
    drawn = text.render(chart, width=60)
    assert drawn.splitlines()[0] == "m (log10)" and "step (log10)" in drawn


# -- the command line, on recorded runs ---------------------------------------------------------


def test_plot_groups_runs_by_config_on_the_declared_step_metric(seeds: Path) -> None:
    done = gitexp("plot", "loss", "--group-by", "lr", cwd=seeds)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "epoch" in lines[-4]  # define_metric(step_metric="epoch") is the default x
    assert "lr=0.5 (2 runs)" in lines[-3] and "lr=0.1 (2 runs)" in lines[-3]
    # the band at the last epoch both lr=0.5 runs reach (1.8), against numpy
    a, b = loss_points(0.5, 0, 20), loss_points(0.5, 1, 20)
    both = np.array([np.interp(1.8, *a), np.interp(1.8, *b)])
    assert lines[-2] == (
        f"  lr=0.5 (2 runs): at epoch 1.8 (2 runs) mean {both.mean():.4g}, band ± std "
        f"{both.mean() - both.std(ddof=1):.4g} to {both.mean() + both.std(ddof=1):.4g}"
    )


def test_grouped_html_carries_the_mean_and_band_numpy_computes(seeds: Path, tmp_path: Path) -> None:
    page = tmp_path / "plot.html"
    done = gitexp("plot", "loss", "--group-by", "lr", "--band", "sem", "-o", str(page), cwd=seeds)
    assert done.returncode == 0, done.stderr
    bundle = embedded_bundle(page.read_text())
    assert bundle["sections"] == ["figures", "histograms"]
    (figure,) = bundle["figures"]
    traces = {t["name"]: t for t in figure["data"]}
    mean = traces["lr=0.1 (2 runs)"]
    upper, lower = traces["lr=0.1 (2 runs) upper"], traces["lr=0.1 (2 runs) lower"]
    a, b = loss_points(0.1, 0, 20), loss_points(0.1, 1, 25)
    grid = np.union1d(a[0], b[0])
    matrix = np.array([np.interp(grid, *a), np.interp(grid, *b)])
    matrix[0, grid > a[0][-1]] = np.nan  # seed 0 stopped at epoch 1.9: no extrapolation
    expected = np.nanmean(matrix, axis=0)
    assert np.allclose(mean["x"], grid)
    assert np.allclose(mean["y"], expected, rtol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # x covered by one run: ddof=1
        std = np.nan_to_num(np.nanstd(matrix, axis=0, ddof=1), nan=0.0)
    sem = std / np.sqrt(np.isfinite(matrix).sum(axis=0))
    assert np.allclose(np.array(upper["y"]) - expected, sem, atol=1e-5)
    assert np.allclose(expected - np.array(lower["y"]), sem, atol=1e-5)
    assert lower["fill"] == "tonexty"


def test_plot_png_with_groups_and_log_axes(seeds: Path, tmp_path: Path) -> None:
    image = tmp_path / "loss.png"
    done = gitexp("plot", "loss", "--group-by", "opt,seed", "--log-y", "--x", "step",
                  "--band", "minmax", "-o", str(image), cwd=seeds)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_group_and_axis_errors(seeds: Path) -> None:
    nokey = gitexp("plot", "loss", "--group-by", "nope", cwd=seeds)
    assert nokey.returncode == 2 and "no chosen run has config key 'nope'" in nokey.stderr
    noaxis = gitexp("plot", "loss", "--x", "nope", cwd=seeds)
    assert noaxis.returncode == 2 and "--x 'nope' is neither" in noaxis.stderr
    assert gitexp("plot", "loss", "--band", "iqr", cwd=seeds).returncode == 2
    assert gitexp("plot", cwd=seeds).returncode == 2


@pytest.mark.parametrize(
    "chunk",
    [
        b'{"_step": 0, "loss": 1.0}\n{"_step": 1, "loss": 0.5}\n',
        b'{"_step": 0, "loss": 1.0}\n\n{"_step": 1, "loss": 0.5}',  # a blank line
        b'{"_step": 0, "loss": 1.0}\n{"_step": 1, "lo',  # torn by a crash
        b'{"_step": 0}, {"_step": 9}\n[1\n2]\n{"_step": 1}\n',  # lines that pair up
        b'{"_step": 0, "loss": {"$float": "NaN"}}\n',  # a tagged value
        b'[1, 2]\n{"_step": 1}\n',  # a line that is no row
    ],
)
def test_reading_a_chunk_at_once_gives_what_reading_line_by_line_gives(chunk: bytes) -> None:
    from gitexp.model import history, values

    by_line = []
    for line in chunk.splitlines():
        try:
            row = values.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            by_line.append(row)
    assert repr(history.parse_rows(chunk)) == repr(by_line)


# -- one value per run: importance, parallel coordinates, scatter -------------------------------


def test_ranks_average_ties_and_spearman_matches_numpy() -> None:
    assert importance.ranks([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]
    rng = np.random.default_rng(1)
    x = rng.integers(0, 5, 30).astype(float)  # many ties
    y = x**2 + rng.normal(size=30)
    rx, ry = importance.ranks(x.tolist()), importance.ranks(y.tolist())
    rho = importance.spearman(x.tolist(), y.tolist())
    assert rho is not None and np.isclose(rho, np.corrcoef(rx, ry)[0, 1])
    assert importance.spearman([1, 2], [3, 4]) is None  # too few runs
    assert importance.spearman([1, 1, 1], [3, 4, 5]) is None  # a constant key


def test_importance_skips_strings_for_spearman_and_orders_by_strength() -> None:
    columns: dict[str, list[object]] = {
        "noise": [3, 1, 2, 5, 4],
        "lr": [0.1, 0.2, 0.3, 0.4, 0.5],
        "opt": ["a", "b", "a", "b", "a"],
    }
    rows = importance.importances(columns, [5.0, 4.0, 3.0, 2.0, 1.0])
    assert [r.key for r in rows][:2] == ["lr", "noise"]
    assert rows[0].spearman == pytest.approx(-1.0)
    assert rows[-1].key == "opt" and rows[-1].spearman is None and rows[-1].runs == 5


@pytest.mark.integration
def test_the_forest_rates_the_key_that_decides_the_metric() -> None:
    require("sklearn")
    rng = np.random.default_rng(0)
    lr, seed = rng.uniform(size=40), rng.integers(0, 1000, 40)
    columns: dict[str, list[object]] = {"lr": lr.tolist(), "seed": seed.tolist()}
    rows = {r.key: r for r in importance.importances(columns, (lr * 10).tolist())}
    assert rows["lr"].forest is not None and rows["seed"].forest is not None
    assert rows["lr"].forest > 0.9 and np.isclose(rows["lr"].forest + rows["seed"].forest, 1)


def test_importance_command_table_and_json(seeds: Path) -> None:
    done = gitexp("importance", "final", "--keys", "lr,seed,opt", "--json", cwd=seeds)
    assert done.returncode == 0, done.stderr
    rows = {r["key"]: r for r in json.loads(done.stdout)["rows"]}
    finals = {(lr, s): 1 / (1 + lr * n) + s * 0.01 for lr, s, n in RUNS}
    lrs = [lr for lr, _, _ in RUNS]
    expected = np.corrcoef(importance.ranks(lrs), importance.ranks(list(finals.values())))
    assert rows["lr"]["spearman"] == pytest.approx(expected[0, 1])
    assert rows["opt"]["spearman"] is None and rows["lr"]["runs"] == 4
    table = gitexp("importance", "final", cwd=seeds)
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split()[:4] == ["config", "key", "runs", "Spearman"]
    assert gitexp("importance", "nope", cwd=seeds).returncode == 2
    assert gitexp("importance", "final", "--keys", "nope", cwd=seeds).returncode == 2


def test_parallel_coordinates_svg_places_every_run_and_escapes_text(
    seeds: Path, tmp_path: Path
) -> None:
    image = tmp_path / "pc.svg"
    args = ("--parallel", "opt,lr,seed,final", "--color", "final", "-n", "0", "-o", str(image))
    done = gitexp("plot", *args, cwd=seeds)
    assert done.returncode == 0, done.stderr
    svg = image.read_text()
    assert svg.startswith("<svg") and svg.count('class="gx-pc-line"') == 4
    axes = re.findall(r'class="gx-pc-axis"[^>]*>([^<]*)<', svg)
    assert axes == ["opt", "lr", "seed", "final"]
    # the string axis has one tick per value: adam and sgd at the bottom and the top
    assert ">adam</text>" in svg and ">sgd</text>" in svg
    table = across.Table(["<b>&"], ["#000000"], {"k": ["x<y"], "<i>": [1]})
    chart = parallel.build(table, ["k", "<i>"], None)
    drawn = parallel.svg(chart)
    assert "<b>" not in drawn and "<i>" not in drawn
    assert "&lt;b&gt;&amp;" in drawn and "x&lt;y" in drawn and "&lt;i&gt;" in drawn


def test_scatter_in_the_terminal_and_as_an_image(seeds: Path, tmp_path: Path) -> None:
    done = gitexp("plot", "--scatter", "lr", "final", "-n", "0", cwd=seeds)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].split() == ["run", "lr", "final"]
    assert "Spearman's rank correlation: -0.894" in done.stdout
    image = tmp_path / "scatter.svg"
    assert gitexp("plot", "--scatter", "opt", "final", "-n", "0", "-o", str(image),
                  cwd=seeds).returncode == 0  # fmt: skip
    assert image.read_text().lstrip().startswith("<?xml")
    both = gitexp("plot", "loss", "--scatter", "lr", "final", cwd=seeds)
    assert both.returncode == 2


# -- the report's panels -----------------------------------------------------------------------


def test_report_holds_the_panels_and_inlines_only_the_basic_plotly_bundle(
    seeds: Path, tmp_path: Path
) -> None:
    intro = tmp_path / "intro.md"
    intro.write_text("Why these runs.\n")
    page = tmp_path / "r.html"
    args = ("report", "-n", "0", "--group-by", "lr", "--intro", str(intro), "--baseline",
            "lr0.1-s0", "-o", str(page))  # fmt: skip
    done = gitexp(*args, cwd=seeds)
    assert done.returncode == 0, done.stderr
    html = page.read_text()
    assert "plotly.js (basic - minified) v4.1.1" in html or "plotly.js v4.1.1" in html
    assert len(html.encode()) < 1_500_000
    bundle = embedded_bundle(html)
    for name in ("intro", "figures", "parallel", "importance", "best"):
        assert name in bundle["sections"], name
    assert bundle["intro"] == "Why these runs.\n"
    best = bundle["best"]
    assert best["metric"] == "loss" and best["goal"] == "minimize"
    names = {r["id"]: r["name"] for r in bundle["runs"]}
    assert names[best["baseline"]] == "lr0.1-s0" and names[best["best"]] == "lr0.5-s0"
    assert {r["key"]: (r["baseline"], r["best"]) for r in best["rows"]} == {
        "lr": (0.1, 0.5),
        "opt": ("adam", "sgd"),
    }
    assert bundle["importance"]["rows"][0]["key"] == "lr"


def test_markdown_report_draws_the_panels_as_files(seeds: Path, tmp_path: Path) -> None:
    page = tmp_path / "r.md"
    done = gitexp("report", "-n", "0", "--group-by", "opt", "-o", str(page), cwd=seeds)
    assert done.returncode == 0, done.stderr
    text = page.read_text()
    for heading in ("Groups of runs", "Parallel coordinates", "Parameter importance"):
        assert f"## {heading}" in text
    assert (tmp_path / "r_files" / "groups.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "r_files" / "parallel.svg").read_text().startswith("<svg")


def test_report_option_errors(seeds: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "r.html")
    missing = gitexp("report", "--intro", str(tmp_path / "nope.md"), "-o", out, cwd=seeds)
    assert missing.returncode == 2 and "cannot read --intro" in missing.stderr
    outside = gitexp("report", "-n", "1", "--baseline", "lr0.1-s0", "-o", out, cwd=seeds)
    assert outside.returncode == 2 and "not among the reported runs" in outside.stderr
    assert gitexp("report", "--metric", "nope", "-o", out, cwd=seeds).returncode == 2


def test_runs_on_one_grid_align_to_it_unchanged() -> None:
    x = np.arange(5.0)
    grid, matrix = align.align([(x, x * 2), (x, x * 3)])
    assert grid.tolist() == x.tolist() and matrix.tolist() == [(x * 2).tolist(), (x * 3).tolist()]


def test_split_history_pairs_each_value_with_its_rows_step_and_times() -> None:
    from gitexp.render.series import split_history

    rows: list[Any] = [
        {"_step": 0, "_time": 100.0, "_runtime": 0.5, "a": 1.0, "b": 2},
        {"_step": "bad", "a": 9.0},  # no integer step: not a row to draw
        {"_step": 1, "_time": 101.0, "a": float("inf"), "b": True, "c": "text"},
        {"_step": 2, "_time": 102.0, "_runtime": 2.5, "b": 3.5},
    ]
    scalars, _ = split_history(rows)
    assert sorted(scalars) == ["a", "b"]
    assert scalars["a"].as_json() == {
        "step": [0, 1], "time": [0.5, 0.0], "wall": [100.0, 101.0], "value": [1.0, None]
    }  # fmt: skip
    assert scalars["b"].step == [0, 2] and scalars["b"].value == [2.0, 3.5]
    assert scalars["b"].time == [0.5, 2.5] and scalars["b"].wall == [100.0, 102.0]
