"""The report's cache of thinned curves (render/charts/seriescache.py): a second report
reads it instead of the history and draws the same numbers; a damaged or foreign cache
file is ignored and written anew; runs are cached by commit, per number of points."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import git, gitexp
from viz_runs import isolated_env, record_sweep

LONG = """\
import math, gitexp
gitexp.init(name="long", config={"lr": 0.3})
for step in range(3000):
    row = {"loss": 1 / (1 + 0.01 * step) + (5.0 if step == 1234 else 0.0)}
    if step % 10 == 0:
        row["system/probe"] = math.sin(step)  # a system metric: cached whole
    gitexp.log(row)
gitexp.finish()
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cache")
    repo = record_sweep(root)
    (repo / "long.py").write_text(LONG)
    env = isolated_env(root / "home")
    subprocess.run([sys.executable, "long.py"], cwd=repo, env=env, check=True, timeout=120)
    return repo


def bundle_of(page: Path) -> dict[str, Any]:
    html = page.read_text()
    match = re.search(r'<script type="application/json" id="gx-data">(.*?)</script>', html, re.S)
    assert match, "the page carries its data"
    data = dict(json.loads(match.group(1)))
    data.pop("generated")
    return data


def report(repo: Path, out: Path, *args: str) -> dict[str, Any]:
    done = gitexp("report", "-n", "0", *args, "-o", str(out), cwd=repo)
    assert done.returncode == 0, done.stderr
    return bundle_of(out)


def cache_files(repo: Path) -> dict[str, Path]:
    commits = git(repo, "for-each-ref", "--format=%(objectname)", "refs/gitexp/runs").split()
    folder = repo / ".git" / "gitexp" / "cache" / "series"
    return {sha: folder / f"{sha}.json" for sha in commits}


@pytest.mark.slow
def test_a_second_report_reads_the_cache_and_draws_the_same(runs: Path, tmp_path: Path) -> None:
    for path in cache_files(runs).values():
        path.unlink(missing_ok=True)
    cold = report(runs, tmp_path / "cold.html")
    files = cache_files(runs)
    assert len(files) == 4 and all(path.exists() for path in files.values())
    for sha, path in files.items():
        content = json.loads(path.read_text())
        assert content["commit"] == sha and content["format"] == 1
    warm = report(runs, tmp_path / "warm.html")
    assert warm == cold
    # The grouped report reads every row (its means need them): its curves are the same.
    grouped = report(runs, tmp_path / "grouped.html", "--group-by", "lr")
    assert grouped["series"] == cold["series"]
    long_id = next(r["id"] for r in cold["runs"] if r["name"] == "long")
    loss = cold["series"][long_id]["loss"]
    assert 100 <= len(loss["step"]) < 3000 and 1234 in loss["step"]  # thinned, spike kept
    assert "system" in cold["sections"] and cold["histograms"]
    # The warm report drew from the cache, not from the rows: a value changed there shows.
    path = files[git(runs, "rev-parse", f"refs/gitexp/runs/{long_id}").strip()]
    content = json.loads(path.read_text())
    for curves in content["thinned"].values():
        curves["loss"][3][0] = 42.0
    path.write_text(json.dumps(content))
    assert report(runs, tmp_path / "edited.html")["series"][long_id]["loss"]["value"][0] == 42.0
    path.unlink()


@pytest.mark.slow
def test_a_damaged_or_foreign_cache_file_is_ignored_and_rewritten(
    runs: Path, tmp_path: Path
) -> None:
    expected = report(runs, tmp_path / "first.html")
    files = list(cache_files(runs).items())
    (sha_a, path_a), (sha_b, path_b), (sha_c, path_c) = files[:3]
    path_a.write_bytes(b'{"format": 1, "commit": "' + sha_a.encode() + b'", "scal')  # torn
    path_b.write_bytes(path_c.read_bytes())  # another run's curves under this run's name
    content = json.loads(path_c.read_text())
    content["thinned"] = {k: {} for k in content["thinned"]}  # right commit, wrong shape
    path_c.write_text(json.dumps(content))
    assert report(runs, tmp_path / "again.html") == expected
    for sha, path in ((sha_a, path_a), (sha_b, path_b), (sha_c, path_c)):
        rewritten = json.loads(path.read_text())
        assert rewritten["commit"] == sha and all(rewritten["thinned"].values())


@pytest.mark.slow
def test_each_number_of_points_is_cached_beside_the_others(runs: Path, tmp_path: Path) -> None:
    long_sha = git(runs, "rev-parse", "refs/gitexp/runs/" + _long_id(runs)).strip()
    path = cache_files(runs)[long_sha]
    report(runs, tmp_path / "all.html")
    one = gitexp("report", "long", "-o", str(tmp_path / "one.html"), cwd=runs)
    assert one.returncode == 0, one.stderr
    budgets = json.loads(path.read_text())["thinned"]
    assert len(budgets) == 2  # four runs' points per curve, and one run's
    again = gitexp("report", "long", "-o", str(tmp_path / "two.html"), cwd=runs)
    assert again.returncode == 0 and bundle_of(tmp_path / "two.html") == bundle_of(
        tmp_path / "one.html"
    )


def _long_id(repo: Path) -> str:
    done = gitexp("ls", "--json", "-n", "0", cwd=repo)
    assert done.returncode == 0, done.stderr
    return next(r["id"] for r in json.loads(done.stdout) if r["name"] == "long")


@pytest.mark.slow
def test_the_files_of_commits_no_run_points_to_are_removed(runs: Path, tmp_path: Path) -> None:
    report(runs, tmp_path / "first.html")
    files = cache_files(runs)
    stale = next(iter(files.values())).parent / ("0" * 40 + ".json")
    stale.write_text("{}")
    report(runs, tmp_path / "second.html")
    assert not stale.exists() and all(path.exists() for path in files.values())
