"""Issue 20: what runs log beyond scalars, drawn by ``gitexp report`` and ``gitexp ui``:
image strips with a step slider, tables, html, audio, and the charts of ``gitexp.plot``.

One run logs an image at 3 steps, a table with a crafted cell, an html page, audio, a
confusion matrix and a ROC curve; the report's embedded data is checked against the
files the git binary reads from the run's ref, and the curves against numpy."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import git, gitexp, pin_environment, run_refs

pytest.importorskip("PIL.Image")  # the test extra installs pillow

CRAFTED = "<script>window.__pwned=1</script><img src=x onerror=window.__pwned=2>"
Y_TRUE = [0, 0, 1, 1, 0, 1, 1, 0, 1, 0]
SCORES = [0.1, 0.4, 0.35, 0.8, 0.2, 0.7, 0.9, 0.3, 0.35, 0.6]
CM_TRUE = [0, 1, 2, 2, 1, 0, 2, 1, 1, 0]
CM_PRED = [0, 2, 2, 2, 1, 0, 1, 1, 0, 0]

SCRIPT = f"""
import numpy as np
import gitexp

gitexp.init(config={{"lr": 0.1}})
for step in range(3):
    pixels = (np.arange(8 * 10).reshape(8, 10) * (step + 1) % 256).astype(np.uint8)
    gitexp.log({{"loss": 1.0 / (step + 1), "samples": gitexp.Image(pixels, caption=f"s{{step}}")}},
               step=step)
gitexp.log({{
    "preds": gitexp.Table(columns=["id", "text"], data=[[1, {CRAFTED!r}], [2, "a & b"]]),
    "page": gitexp.Html("<h1>hi</h1><script>parent.__pwned = 3</script>"),
    "sound": gitexp.Audio(np.sin(np.linspace(0, 100, 800)) * 0.3, sample_rate=8000),
    "cm": gitexp.plot.confusion_matrix(y_true={CM_TRUE!r}, preds={CM_PRED!r},
                                       class_names=["cat", "dog", "<b>eel</b>"]),
    "roc": gitexp.plot.roc_curve({Y_TRUE!r}, {SCORES!r}),
}}, step=3)
gitexp.finish()
"""


def embedded_bundle(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="gx-data">(.*?)</script>', html, re.S)
    assert match, "the page carries its data"
    return dict(json.loads(match.group(1)))


@pytest.fixture(scope="module")
def media_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with pytest.MonkeyPatch.context() as patch:
        pin_environment(patch, tmp_path_factory.mktemp("home"))
        repo = tmp_path_factory.mktemp("panels") / "project"
        repo.mkdir()
        git(repo, "init", "-q")
        (repo / "train.py").write_text(SCRIPT)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "initial")
        done = gitexp("run", sys.executable, "train.py", cwd=repo, timeout=180)
        assert done.returncode == 0, done.stderr
        (run_id,) = run_refs(repo)
        report = repo.parent / "report.html"
        made = gitexp("report", "-o", str(report), cwd=repo, timeout=180)
        assert made.returncode == 0, made.stderr
        markdown = repo.parent / "report.md"
        made = gitexp("report", "-o", str(markdown), cwd=repo, timeout=180)
        assert made.returncode == 0, made.stderr
        html = report.read_text()
        yield {
            "repo": repo,
            "id": run_id,
            "report": report,
            "html": html,
            "bundle": embedded_bundle(html),
            "markdown": markdown.read_text(),
        }


def blob(run: dict[str, Any], path: str) -> bytes:
    return subprocess.run(
        ["git", "cat-file", "blob", f"refs/gitexp/runs/{run['id']}:{path}"],
        cwd=run["repo"],
        capture_output=True,
        check=True,
    ).stdout


def history(run: dict[str, Any]) -> list[dict[str, Any]]:
    text = blob(run, ".gitexp/history/000000.jsonl").decode()
    return [json.loads(line) for line in text.splitlines()]


def panel(run: dict[str, Any], key: str) -> dict[str, Any]:
    (found,) = [p for p in run["bundle"]["media"] if p["key"] == key]
    return dict(found)


def test_image_strip_embeds_the_logged_pngs_of_every_step(media_run: dict[str, Any]) -> None:
    assert "media" in media_run["bundle"]["sections"]
    strip = panel(media_run, "samples")
    assert strip["type"] == "image" and strip["count"] == 3 and strip["left_out"] == ""
    refs = [row["samples"] for row in history(media_run) if "samples" in row]
    assert [item["step"] for item in strip["items"]] == [0, 1, 2]
    assert [item["caption"] for item in strip["items"]] == ["s0", "s1", "s2"]
    for item, ref in zip(strip["items"], refs, strict=True):
        prefix = "data:image/png;base64,"
        assert item["src"].startswith(prefix)
        data = base64.b64decode(item["src"][len(prefix) :])
        assert data == blob(media_run, ref["path"])
        assert hashlib.sha256(data).hexdigest() == ref["sha256"]


def test_table_cells_are_shown_as_text_and_never_as_markup(media_run: dict[str, Any]) -> None:
    table = panel(media_run, "preds")
    assert table["type"] == "table" and table["columns"] == ["id", "text"]
    assert table["rows"] == [[1, CRAFTED], [2, "a & b"]]
    # The page carries the crafted cell as JSON with < > & escaped: nothing parses it.
    assert "<script>window" not in media_run["html"] and "<img src=x" not in media_run["html"]
    page = panel(media_run, "page")
    assert page["type"] == "html" and page["html"].startswith("<h1>hi</h1>")
    sound = panel(media_run, "sound")
    assert sound["type"] == "audio" and sound["src"].startswith("data:audio/wav;base64,")


def _numpy_roc(truth: list[int], scores: list[float]) -> tuple[list[float], list[float]]:
    """One point per distinct score, from (0, 0): the format's ROC, computed afresh."""
    y, s = np.array(truth) == 1, np.array(scores)
    fpr, tpr = [0.0], [0.0]
    for threshold in np.unique(s)[::-1]:
        chosen = s >= threshold
        tpr.append(float((chosen & y).sum() / y.sum()))
        fpr.append(float((chosen & ~y).sum() / (~y).sum()))
    return fpr, tpr


def test_roc_points_equal_numpys(media_run: dict[str, Any]) -> None:
    roc = panel(media_run, "roc")
    assert roc["type"] == "chart"
    (trace,) = roc["figure"]["data"]
    assert trace["type"] == "scatter" and trace["name"] == "1"
    fpr, tpr = _numpy_roc(Y_TRUE, SCORES)
    np.testing.assert_allclose(trace["x"], fpr)
    np.testing.assert_allclose(trace["y"], tpr)


def test_confusion_matrix_is_a_grid_of_numpys_counts(media_run: dict[str, Any]) -> None:
    cm = panel(media_run, "cm")
    (trace,) = cm["figure"]["data"]
    # no heatmap in the basic plotly bundle: square markers labelled with their count
    assert trace["type"] == "scatter" and trace["marker"]["symbol"] == "square"
    names = ["cat", "dog", "&lt;b&gt;eel&lt;/b&gt;"]  # plotly reads names as markup
    counts = np.zeros((3, 3), dtype=int)
    np.add.at(counts, (CM_TRUE, CM_PRED), 1)
    cells = {(a, p): int(t) for a, p, t in zip(trace["y"], trace["x"], trace["text"], strict=True)}
    assert cells == {(names[a], names[p]): counts[a, p] for a in range(3) for p in range(3)}


def test_markdown_report_lists_media_keys_with_counts(media_run: dict[str, Any]) -> None:
    text = media_run["markdown"]
    assert "## Media" in text and "data:image" not in text
    assert re.search(r"`samples` \(image-file\): 3 files at 3 steps \(steps 0–2\)", text)
    assert re.search(r"`roc` \(roc\\_curve\): 1 file at 1 step", text)


def test_images_past_the_cap_are_left_out_and_said(
    media_run: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitexp.errors import FormatError
    from gitexp.git.repo import GitRepo
    from gitexp.read.listing import list_runs
    from gitexp.read.media import media_file
    from gitexp.render.bundle import RunData, load_data
    from gitexp.render.charts import logged

    monkeypatch.setattr(logged, "MAX_IMAGES", 2)
    with GitRepo.discover(str(media_run["repo"])) as repo:
        (entry,) = list_runs(repo)
        data = load_data(repo, entry)

        def read(run: RunData, ref: object) -> bytes:
            return media_file(repo, run.view.entry.commit, ref)

        panels = {p["key"]: p for p in logged.media_panels([data], read)}
        strip = panels["samples"]
        assert [i["step"] for i in strip["items"]] == [0, 2]  # spread, the last kept
        assert strip["left_out"].startswith("1 of 3 images left out")
        monkeypatch.setattr(logged, "MAX_PANEL_BYTES", 10)
        panels = {p["key"]: p for p in logged.media_panels([data], read)}
        assert panels["samples"]["items"] == []
        assert "over the size budget" in panels["samples"]["left_out"]
        assert "over the report's size budget" in panels["sound"]["left_out"]
        monkeypatch.setattr(logged, "MAX_PANEL_BYTES", 1 << 20)
        first = data.media["samples"][0][1]

        def flaky(run: RunData, ref: object) -> bytes:
            if ref == first:  # as a live run's newest file, not committed yet
                raise FormatError("the run has no media file", "wait for a checkpoint")
            return read(run, ref)

        panels = {p["key"]: p for p in logged.media_panels([data], flaky)}
        assert [i["step"] for i in panels["samples"]["items"]] == [2]
        assert "1 that could not be read" in panels["samples"]["left_out"]
        assert panels["preds"]["type"] == "table"  # the other panels draw as before


def test_a_chart_kind_this_version_does_not_know_is_its_table() -> None:
    from gitexp.render.charts.logged import draw_logged_chart

    table = {"columns": ["a", "b"], "data": [[1, 2.0], [3, float("nan")]]}
    assert draw_logged_chart({"chart": "sunburst", "fields": {}}, table) is None
    bar = draw_logged_chart({"chart": "bar", "fields": {"label": "a", "value": "b"}}, table)
    assert bar is not None and bar["data"] == [{"type": "bar", "x": ["1", "3"], "y": [2.0, None]}]
    hist = draw_logged_chart({"chart": "histogram", "fields": {"value": "a"}}, table)
    assert hist is not None and sum(hist["data"][0]["y"]) == 2  # type: ignore[index]


def test_runs_without_media_have_no_media_panel(repo: Path, tmp_path: Path) -> None:
    assert gitexp("run", sys.executable, "train.py", cwd=repo).returncode == 0
    out = tmp_path / "plain.html"
    assert gitexp("report", "-o", str(out), cwd=repo).returncode == 0
    bundle = embedded_bundle(out.read_text())
    assert "media" not in bundle and "media" not in bundle["sections"]


@pytest.fixture
def ui(media_run: dict[str, Any]) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "gitexp", "ui", "--port", "0"],
        cwd=media_run["repo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "serving http://127.0.0.1:" in line, process.stderr.read() if process.stderr else ""
        yield line.split("serving ")[1].split()[0]
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_ui_serves_a_runs_own_media_files_and_refuses_crafted_paths(
    media_run: dict[str, Any], ui: str
) -> None:
    with urllib.request.urlopen(ui + "api/bundle?runs=" + media_run["id"]) as response:
        bundle = json.load(response)
    strip = next(p for p in bundle["media"] if p["key"] == "samples")
    refs = [row["samples"] for row in history(media_run) if "samples" in row]
    for item, ref in zip(strip["items"], refs, strict=True):
        assert item["src"].startswith("/api/media?")
        with urllib.request.urlopen(ui + item["src"][1:]) as response:
            assert response.headers["Content-Type"] == "image/png"
            assert response.headers["Content-Security-Policy"] == "sandbox"
            assert response.read() == blob(media_run, ref["path"])
    table = next(p for p in bundle["media"] if p["key"] == "preds")
    assert table["rows"][0][1] == CRAFTED  # tables and charts come inline, as text
    real = refs[0]["path"]
    for path in (
        real.replace("samples/", "samples/../../"),
        ".gitexp/run.json",
        "../../../etc/passwd",
        str(media_run["repo"] / "train.py"),
        real + "x",
    ):
        query = urllib.parse.urlencode({"run": media_run["id"], "path": path})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(ui + "api/media?" + query)
        assert refused.value.code == 404
    query = urllib.parse.urlencode({"run": "nope", "path": real})
    with pytest.raises(urllib.error.HTTPError) as unknown:
        urllib.request.urlopen(ui + "api/media?" + query)
    assert unknown.value.code == 404


def test_a_second_report_draws_its_media_from_the_series_cache(
    media_run: dict[str, Any], tmp_path: Path
) -> None:
    cache = media_run["repo"] / ".git" / "gitexp" / "cache" / "series"
    assert any(cache.glob("*.json")), "the first report cached the run's curves and media"
    again = tmp_path / "again.html"
    made = gitexp("report", "-o", str(again), cwd=media_run["repo"], timeout=180)
    assert made.returncode == 0, made.stderr
    first, second = dict(media_run["bundle"]), embedded_bundle(again.read_text())
    first.pop("generated")
    second.pop("generated")
    assert second["media"] and second == first
