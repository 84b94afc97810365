"""``gitexp.Api()``: reading runs from Python as wandb's public API does (issue 18, part 5)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import git, gitexp

import gitexp as gx
from gitexp.errors import UsageError

SCRIPT = """\
import sys, gitexp
lr, project, tag = float(sys.argv[1]), sys.argv[2] or None, sys.argv[3]
run = gitexp.init(project=project, config={"lr": lr, "model": {"depth": 2}}, tags=[tag])
for step in range(4):
    gitexp.log({"loss": lr * (4 - step), "acc": 0.5 + lr * step})
run.summary["best"] = lr * 10
gitexp.finish()
"""


@pytest.fixture(scope="module")
def runs_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four finished runs: three in lr_project, one in the repository's default project."""
    repo = tmp_path_factory.mktemp("api") / "analysis"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.name", "Test User")
    git(repo, "config", "user.email", "test@example.invalid")
    (repo / "train.py").write_text(SCRIPT)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "script")
    for lr, project, tag in (
        ("0.1", "lr_project", "small"),
        ("0.01", "lr_project", "small"),
        ("0.001", "lr_project", "tiny"),
        ("0.5", "", "big"),
    ):
        done = gitexp("run", "--", sys.executable, "train.py", lr, project, tag, cwd=repo)
        assert done.returncode == 0, done.stderr
    return repo


def ls_json(repo: Path) -> list[dict[str, Any]]:
    done = gitexp("ls", "--json", "--all", cwd=repo)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def test_runs_and_ls_json_agree(runs_repo: Path) -> None:
    api = gx.Api(runs_repo)
    runs = api.runs()
    listed = ls_json(runs_repo)
    assert [r.id for r in runs] == [row["id"] for row in listed]  # newest first, as ls
    for run, row in zip(runs, listed, strict=True):
        assert run.name == row["name"]
        assert run.state == row["status"] == "finished"
        assert run.project == row["project"]
        assert run.tags == row["tags"]
        assert run.flat_config() == row["config"]
        for key, value in run.summary.items():
            if key in row["metrics"]:
                assert row["metrics"][key]["last"] == value
    assert {r.project for r in runs} == {"lr_project", "analysis"}  # the folder's name


def test_runs_of_a_project_with_filters_and_order(runs_repo: Path) -> None:
    api = gx.Api(runs_repo)
    assert len(api.runs("lr_project")) == 3
    assert len(api.runs("someone/lr_project")) == 3  # wandb's entity/project
    assert [r.project for r in api.runs("analysis")] == ["analysis"]
    small = api.runs("lr_project", filters="config.lr < 0.05", order="-metrics.acc")
    assert [r.config["lr"] for r in small] == [0.01, 0.001]
    wandb_style = api.runs(
        "lr_project",
        filters={"$or": [{"config.lr": {"$lt": 0.005}}, {"tags": "small"}]},
        order="+summary_metrics.best",
    )
    assert [r.config["lr"] for r in wandb_style] == [0.001, 0.01, 0.1]
    assert [r.name for r in api.runs(filters={"config.lr": {"$in": [0.5, 0.1]}})] == [
        r.name for r in api.runs() if r.config["lr"] in (0.5, 0.1)
    ]
    assert len(api.runs(filters={"display_name": {"$regex": "."}, "state": "finished"})) == 4
    assert len(api.runs(filters={"config.lr": {"$not": {"$gte": 0.01}}})) == 1


def test_bad_filters_name_the_problem(runs_repo: Path) -> None:
    api = gx.Api(runs_repo)
    with pytest.raises(UsageError, match=r"\$near"):
        len(api.runs(filters={"config.lr": {"$near": 1}}))
    with pytest.raises(UsageError, match="list"):
        len(api.runs(filters={"$or": {"config.lr": 1}}))
    with pytest.raises(UsageError):
        len(api.runs(filters="config.lr <"))


def test_one_run_config_summary_and_history(runs_repo: Path) -> None:
    api = gx.Api(runs_repo)
    newest = api.runs()[0]
    run = api.run(newest.id[:6])
    assert run.id == newest.id
    assert run.config == {"lr": 0.5, "model": {"depth": 2}}
    assert run.summary["best"] == 5.0 and run.summary["loss"] == 0.5
    assert run.created_at[:4].isdigit() and "T" in run.created_at
    frame = run.history()
    pandas = pytest.importorskip("pandas")
    assert isinstance(frame, pandas.DataFrame)
    assert list(frame["_step"]) == [0, 1, 2, 3]
    assert list(frame["loss"]) == [2.0, 1.5, 1.0, 0.5]
    rows = run.history(keys=["acc"], pandas=False)
    assert rows == [{"_step": s, "acc": 0.5 + 0.5 * s} for s in range(4)]
    assert [r["_step"] for r in run.history(samples=2, pandas=False)] == [0, 3]
    assert len(list(run.scan_history())) == 4
    assert "train.py" in run.files() and ".gitexp/run.json" in run.files()
    assert run.logged_artifacts() == []
    assert run.path == ["analysis", run.id]


def test_update_edits_the_run_as_tag_and_note_do(runs_repo: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(runs_repo), str(clone))
    git(clone, "fetch", "-q", "origin", "refs/gitexp/runs/*:refs/gitexp/runs/*")
    api = gx.Api(clone)
    run = api.runs("lr_project", filters={"config.lr": 0.1})[0]
    run.update(tags=["small", "chosen"], notes="the one", name="final")
    shown = gitexp("show", run.id, "--json", cwd=clone)
    info = json.loads(shown.stdout)["run"]
    assert sorted(info["tags"]) == ["chosen", "small"]
    assert info["notes"] == "the one" and info["name"] == "final"
    assert gx.Api(clone).run(run.id).name == "final"
    # The clone's default project is named after origin's repository, not its folder.
    assert {r.project for r in gx.Api(clone).runs()} == {"lr_project", "analysis"}
    git(clone, "config", "gitexp.project", "renamed")
    assert "renamed" in {r.project for r in gx.Api(clone).runs()}


def test_api_is_not_imported_by_import_gitexp() -> None:
    code = "import sys, gitexp; print('gitexp.sdk.api' in sys.modules)"
    done = __import__("subprocess").run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"


# -- projects on the command line (issue 18, part 6) ---------------------------------------


def test_projects_lists_each_with_its_run_count(runs_repo: Path) -> None:
    done = gitexp("projects", "--json", cwd=runs_repo)
    assert done.returncode == 0, done.stderr
    listed = {p["project"]: (p["runs"], p["default"]) for p in json.loads(done.stdout)}
    assert listed == {"lr_project": (3, False), "analysis": (1, True)}
    table = gitexp("projects", cwd=runs_repo).stdout
    assert "analysis (default)" in table and "lr_project" in table


def test_project_option_and_field_select_the_same_runs(runs_repo: Path) -> None:
    api = gx.Api(runs_repo)
    wanted = [r.id for r in api.runs("lr_project")]

    def ids(*args: str) -> list[str]:
        done = gitexp("ls", "--json", "--all", *args, cwd=runs_repo)
        assert done.returncode == 0, done.stderr
        return [row["id"] for row in json.loads(done.stdout)]

    assert ids("--project", "lr_project") == wanted
    assert ids("--where", "project == 'lr_project'") == wanted
    assert ids("--where", "project == 'analysis'") == [r.id for r in api.runs("analysis")]
    shown = gitexp("ls", cwd=runs_repo).stdout
    header = next(line for line in shown.splitlines() if line.split()[:2] == ["id", "name"])
    assert "project" in header.split()  # a column, since the runs belong to two projects
    newest = wanted[0][:7]
    other = api.runs("analysis")[0].id[:7]
    compared = gitexp("compare", "--project", "lr_project", newest, other, cwd=runs_repo)
    assert compared.returncode == 5, compared.stderr  # not a run of that project
    report = runs_repo / "p.md"
    done = gitexp("report", "--project", "analysis", "-o", str(report), cwd=runs_repo)
    assert done.returncode == 0, done.stderr
    assert other in report.read_text() or api.runs("analysis")[0].name in report.read_text()


# -- short ids (issue 18, part 7) ----------------------------------------------------------


def test_short_ids_grow_until_unique_and_user_ids_stay_whole() -> None:
    from gitexp.model.ids import short_id, short_ids

    generated = ["abcdefg1234k", "abcdefg9876m", "zzzzzzz00000"]
    shown = short_ids(generated)
    assert shown == {
        "abcdefg1234k": "abcdefg1",
        "abcdefg9876m": "abcdefg9",
        "zzzzzzz00000": "zzzzzzz",
    }
    assert short_id("exp-2024-01-a") == "exp-2024-01-a"
    assert short_ids(["exp-2024-01-a", "exp-2024-01-b"]) == {
        "exp-2024-01-a": "exp-2024-01-a",
        "exp-2024-01-b": "exp-2024-01-b",
    }
    assert short_ids(["run", "run-2"]) == {"run": "run", "run-2": "run-2"}


def test_user_chosen_ids_are_shown_whole_in_ls_and_messages(tmp_path: Path) -> None:
    repo = tmp_path / "ids"
    repo.mkdir()
    git(repo, "init", "-q")
    for suffix in ("a", "b"):
        script = f"import gitexp\ngitexp.init(id='exp-2024-01-{suffix}')\ngitexp.log({{'x': 1}})\n"
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert f"(exp-2024-01-{suffix})" in done.stderr  # the finished line names it whole
    listing = gitexp("ls", cwd=repo).stdout
    assert "exp-2024-01-a" in listing and "exp-2024-01-b" in listing
    tagged = gitexp("tag", "exp-2024-01-b", "+kept", cwd=repo)
    assert tagged.returncode == 0, tagged.stderr
    assert tagged.stdout.startswith("exp-2024-01-b ")
