"""wandb's surface (issue 18, part 1): every name of a pinned wandb works, warns once, or is
not applicable with a reason; the run's attributes; one summary rule for every reader.

The list is tests/data/wandb_names.txt (written by tests/wandb_names_gen.py); the statuses
are docs/api.md's compatibility table, which must name exactly the listed names.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import git, gitexp, run_refs
from wandb_names_gen import OUT as NAMES_FILE
from wandb_names_gen import PINNED

import gitexp as gx
from gitexp.sdk import session, surface

# Names other branches of issue 18 build (media: part 2; artifacts, save, alert: parts
# 3/4). Until they are merged these may be missing; empty this set once they are.
PENDING_ELSEWHERE: frozenset[str] = frozenset()
SUPPORTED, PENDING = "supported", "supported (issue 18 part 2/3/4)"
WARNS, NOT_APPLICABLE = "warns and does nothing", "not applicable"
API_DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def listed_names() -> list[str]:
    lines = NAMES_FILE.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def documented() -> dict[str, str]:
    """docs/api.md's compatibility table: {name: status}."""
    text = API_DOC.read_text(encoding="utf-8").split("## Compatibility with wandb", 1)[1]
    text = text.split("\n## ", 1)[0]
    table: dict[str, str] = {}
    for line in text.splitlines():
        found = re.match(r"^\| `((?:wandb|run)\.[^`]+)` \| ([^|]+) \|", line)
        if found:
            table[found.group(1)] = found.group(2).strip()
    return table


NAMES = listed_names()
STATUS = documented()


@pytest.fixture
def no_run() -> Iterator[None]:
    """No current run, and every warn-once name unwarned, before and after."""
    saved = session._current
    session._current = None
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(surface, "_warned", set())
        yield
    session._current = saved


# -- the list and its table ---------------------------------------------------------------------


def test_the_list_is_the_pinned_wandbs() -> None:
    header = NAMES_FILE.read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith(f"# wandb {PINNED}:")
    assert len(NAMES) == len(set(NAMES)) > 80
    assert {"wandb.init", "wandb.log", "run.dir", "run.url", "run.mark_preempting"} <= set(NAMES)
    try:
        import wandb  # only where someone installed it to regenerate the list
    except ImportError:
        return
    if wandb.__version__ == PINNED:
        from wandb_names_gen import names

        assert names()[1] == NAMES


def test_the_table_in_docs_lists_exactly_the_names() -> None:
    assert list(STATUS) == NAMES  # same names, same order
    assert set(STATUS.values()) <= {SUPPORTED, PENDING, WARNS, NOT_APPLICABLE}


def test_the_code_and_the_table_agree() -> None:
    assert set(surface.WARN_ONLY) == {n for n, s in STATUS.items() if s == WARNS}
    assert set(surface.NOT_APPLICABLE) == {n for n, s in STATUS.items() if s == NOT_APPLICABLE}
    assert {n for n, s in STATUS.items() if s == PENDING} == PENDING_ELSEWHERE


def _warns_once(call: Any, name: str) -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        call()
        call()
    assert len(seen) == 1, [str(w.message) for w in seen]
    assert seen[0].category is UserWarning
    assert f"{name}() does nothing in gitexp" in str(seen[0].message)


@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith("wandb.")])
def test_each_module_name(name: str, no_run: None) -> None:
    attr = name.split(".", 1)[1]
    status = STATUS[name]
    if status == NOT_APPLICABLE:
        assert not hasattr(gx, attr)
        with pytest.raises(AttributeError, match=re.escape(surface.NOT_APPLICABLE[name])):
            getattr(gx, attr)
    elif status == PENDING and not hasattr(gx, attr):
        assert name in PENDING_ELSEWHERE
    else:
        value = getattr(gx, attr)  # works (gitexp.run is None before init)
        if status == WARNS:
            _warns_once(value, name)


@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith("run.")])
def test_each_run_attribute(name: str, no_run: None) -> None:
    attr = name.split(".", 1)[1]
    status = STATUS[name]
    run = gx.init(mode="disabled")
    try:
        if status == NOT_APPLICABLE:
            assert not hasattr(run, attr)
            with pytest.raises(AttributeError, match=re.escape(surface.NOT_APPLICABLE[name])):
                getattr(run, attr)
        elif status == PENDING and not hasattr(run, attr):
            assert name in PENDING_ELSEWHERE
        else:
            assert hasattr(run, attr)
            if status == WARNS:
                _warns_once(getattr(run, attr), name)
    finally:
        run.finish()


@pytest.mark.parametrize("attr", ["Imag", "lgo", "finsh", "define_metrics", "Summary"])
def test_a_name_not_on_the_list_is_an_ordinary_attribute_error(attr: str, no_run: None) -> None:
    assert not hasattr(gx, attr)
    with pytest.raises(AttributeError, match=f"^module 'gitexp' has no attribute '{attr}'$"):
        getattr(gx, attr)
    run = gx.init(mode="disabled")
    assert not hasattr(run, attr)
    with pytest.raises(AttributeError, match=f"^'Run' object has no attribute '{attr}'$"):
        getattr(run, attr)
    run.finish()


# -- the run's surface, in a recorded run -------------------------------------------------------

EVERY_ARGUMENT = """\
import json, os, sys, warnings
warnings.simplefilter("ignore")
import gitexp as wandb

run = wandb.init(
    project="lr_project", entity="team", name="all-args", id="surface-run-1",
    config={"lr": 0.1}, tags=["a"], notes="first", group="g1", job_type="train",
    dir="/tmp", mode="offline", reinit="finish_previous", resume=None, save_code=True,
    settings=wandb.Settings(console="off"), sync_tensorboard=False,
)
seen = {name: getattr(run, name) for name in (
    "id", "name", "project", "entity", "path", "tags", "notes", "group", "job_type",
    "url", "project_url", "offline", "disabled", "starting_step", "step", "resumed",
    "sweep_id",
)}
seen["dir_is_folder"] = os.path.isdir(run.dir)
seen["settings"] = run.settings.console
seen["config"] = dict(run.config)
seen["has"] = [hasattr(run, n) for n in (
    "summary", "log", "finish", "define_metric", "watch", "mark_preempting", "start_time",
)]
with open(os.path.join(run.dir, "notes.txt"), "w") as handle:
    handle.write("kept with the run\\n")
os.makedirs(os.path.join(run.dir, "sub"))
with open(os.path.join(run.dir, "sub", "more.json"), "w") as handle:
    handle.write("{}\\n")
run.tags = ["b", "c"]
run.notes = "changed"
run.group = "g2"
run.job_type = "eval"
run.name = "renamed"
wandb.define_metric("loss", step_metric="epoch", summary="min", hidden=False)
for epoch, loss in enumerate((0.5, 0.2, 0.3)):
    run.log({"loss": loss, "epoch": epoch})
run.mark_preempting()
run.log_code()
print("SEEN=" + json.dumps(seen))
run.finish()
"""


def _seen(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("SEEN=")]
    return dict(json.loads(line[len("SEEN=") :]))


def _show(repo: Path, run_id: str, path: str) -> str:
    return git(repo, "show", f"refs/gitexp/runs/{run_id}:.gitexp/{path}")


@pytest.mark.parametrize("wrapped", [False, True], ids=["direct", "under-gitexp-run"])
def test_init_with_every_argument_and_every_attribute(repo: Path, wrapped: bool) -> None:
    (repo / "surface.py").write_text(EVERY_ARGUMENT)
    if wrapped:
        done = gitexp("run", "--", sys.executable, "surface.py", cwd=repo)
    else:
        done = subprocess.run(
            [sys.executable, "surface.py"], cwd=repo, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 0, done.stderr
    (run_id,) = run_refs(repo)
    seen = _seen(done)
    # Under `gitexp run` the wrapper's run is the run: its id, not the one init asked for.
    assert seen["id"] == run_id == (run_id if wrapped else "surface-run-1")
    assert seen["name"] == "all-args" and seen["project"] == "lr_project"
    assert seen["entity"] == "team" and seen["path"] == f"team/lr_project/{run_id}"
    assert seen["tags"] == ["a"] and seen["notes"] == "first"
    assert (seen["group"], seen["job_type"]) == ("g1", "train")
    assert seen["url"] == f"http://127.0.0.1:8765/#runs={run_id}"
    assert seen["project_url"] == "http://127.0.0.1:8765/"
    assert seen["offline"] is True and seen["disabled"] is False
    assert (seen["starting_step"], seen["step"], seen["resumed"]) == (0, 0, False)
    assert seen["sweep_id"] is None and seen["dir_is_folder"] is True
    assert seen["settings"] == "off" and seen["config"] == {"lr": 0.1}
    assert all(seen["has"])
    # What was set on the run after init is in run.json, as git shows it.
    info = json.loads(_show(repo, run_id, "run.json"))
    assert info["name"] == "renamed" and info["tags"] == ["b", "c"]
    assert (info["notes"], info["group"], info["job_type"]) == ("changed", "g2", "eval")
    assert info["project"] == "lr_project"
    assert info["extra"]["entity"] == "team" and info["extra"]["preempting"] is True
    assert info["extra"]["metric_definitions"]["loss"] == {
        "goal": None,
        "step_metric": "epoch",
        "summary": "min",
        "hidden": False,
    }
    # run.dir's files are kept in the run's commit.
    assert _show(repo, run_id, "files/notes.txt") == "kept with the run\n"
    assert _show(repo, run_id, "files/sub/more.json") == "{}\n"
    assert json.loads(_show(repo, run_id, "metrics.json"))["summary"]["loss"] == 0.2


def test_disabled_mode_records_nothing_and_takes_every_call(repo: Path) -> None:
    script = EVERY_ARGUMENT.replace('mode="offline"', 'mode="disabled"')
    (repo / "surface.py").write_text(script)
    done = subprocess.run(
        [sys.executable, "surface.py"], cwd=repo, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert run_refs(repo) == {}
    seen = _seen(done)
    assert seen["disabled"] is True and seen["dir_is_folder"] is True
    assert seen["tags"] == ["a"] and seen["entity"] == "team"
    assert not (repo / ".git" / "gitexp" / "live").exists() or not os.listdir(
        repo / ".git" / "gitexp" / "live"
    )


SEED = """\
import gitexp as wandb

wandb.login()
config = {"lr": 0.05, "epochs": 3}
run = wandb.init(project="lr_project", config=config)
for epoch in range(wandb.config.epochs):
    loss = 1.0 / (epoch + 1) * wandb.config.lr
    wandb.log({"epoch": epoch, "loss": loss, "acc": 1 - loss})
wandb.run.summary["best_acc"] = 1 - loss
wandb.finish()
"""


def test_the_seed_style_script_still_works(repo: Path) -> None:
    (repo / "seed.py").write_text(SEED)
    done = gitexp("run", "-p", "lr=0.1", "--", sys.executable, "seed.py", cwd=repo)
    assert done.returncode == 0, done.stderr
    (run_id,) = run_refs(repo)
    info = json.loads(_show(repo, run_id, "run.json"))
    assert info["status"] == "finished" and info["project"] == "lr_project"
    summary = json.loads(_show(repo, run_id, "metrics.json"))["summary"]
    assert summary["loss"] == pytest.approx(0.1 / 3) and summary["best_acc"] == summary["acc"]


# -- one summary rule ---------------------------------------------------------------------------

DECLARED = """\
import gitexp
gitexp.init(name="declared")
gitexp.define_metric("loss", summary="min")
gitexp.define_metric("acc", summary="mean")
gitexp.define_metric("val/*", goal="maximize", summary="best")
gitexp.define_metric("lr", summary="none")
for loss, acc, val in ((0.5, 0.2, 0.1), (0.2, 0.4, 0.7), (0.4, 0.9, 0.6)):
    gitexp.log({"loss": loss, "acc": acc, "val/acc": val, "lr": 0.1})
gitexp.finish()
"""
SET = """\
import gitexp
run = gitexp.init(name="set")
gitexp.define_metric("acc", summary="max")
for loss, acc, val in ((0.3, 0.5, 0.2), (0.25, 0.6, 0.3), (0.35, 0.1, 0.4)):
    gitexp.log({"loss": loss, "acc": acc, "val/acc": val, "lr": 0.2})
run.summary["loss"] = 0.1
run.summary["acc"] = 0.55
gitexp.finish()
"""
# What the rule gives: the declared statistic, else the value set, else the last value.
EXPECTED = {
    "declared": {"loss": 0.2, "acc": (0.2 + 0.4 + 0.9) / 3, "val/acc": 0.7},
    "set": {"loss": 0.1, "acc": 0.55, "val/acc": 0.4, "lr": 0.2},
}


@pytest.mark.slow
def test_ls_compare_report_and_api_show_the_same_summary(repo: Path) -> None:
    for name, script in (("declared.py", DECLARED), ("set.py", SET)):
        (repo / name).write_text(script)
        done = subprocess.run(
            [sys.executable, name], cwd=repo, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
    ids = {}
    for row in json.loads(gitexp("ls", "--json", cwd=repo).stdout):
        ids[row["name"]] = row["id"]
        shown = {k: v.get("summary", v.get("last")) for k, v in row["metrics"].items()}
        expected = EXPECTED[row["name"]]
        assert {k: shown[k] for k in expected} == pytest.approx(expected)
        if row["name"] == "declared":
            assert shown["lr"] is None  # summary="none": no summary value
    api = gx.Api(repo)
    for name, expected in EXPECTED.items():
        summary = api.run(ids[name]).summary
        assert {k: summary[k] for k in expected} == pytest.approx(expected)
        assert ("lr" in summary) is (name == "set")
    done = gitexp("compare", "declared", "set", "--all", "--json", cwd=repo)
    assert done.returncode == 0, done.stderr
    rows = {r["key"]: r["values"] for r in json.loads(done.stdout)["rows"]}
    for key in ("loss", "acc", "val/acc"):
        assert rows[key] == pytest.approx([EXPECTED["declared"][key], EXPECTED["set"][key]])
    assert rows["lr"] == [None, 0.2]
    done = gitexp("report", "declared", "set", "-o", "report.md", cwd=repo, timeout=120)
    assert done.returncode == 0, done.stderr
    report = (repo / "report.md").read_text()
    loss_row = next(line for line in report.splitlines() if line.startswith("| metrics.loss"))
    assert [c.strip(" *★") for c in loss_row.split("|")[2:4]] == ["0.2", "0.1"]
    acc_row = next(line for line in report.splitlines() if line.startswith("| metrics.acc"))
    assert [c.strip(" *★") for c in acc_row.split("|")[2:4]] == ["0.5", "0.55"]


RESUMABLE = """\
import sys, gitexp
run = gitexp.init(id="resumable-1", resume="allow")
gitexp.define_metric("loss", summary="min")
for value in map(float, sys.argv[1:]):
    gitexp.log({"loss": value})
if not run.resumed:
    run.summary["kept"] = 1
gitexp.finish()
"""


def test_a_resumed_run_keeps_what_the_script_set_and_recomputes_the_statistic(
    repo: Path,
) -> None:
    (repo / "resumable.py").write_text(RESUMABLE)
    for values in (["0.5", "0.2", "0.4"], ["0.1", "0.3"]):
        done = subprocess.run(
            [sys.executable, "resumable.py", *values],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
    metrics = json.loads(_show(repo, "resumable-1", "metrics.json"))
    # The min of both lives (0.2 before would have stuck had it passed for a value set).
    assert metrics["summary"] == {"loss": 0.1, "kept": 1}
    assert metrics["explicit"] == ["kept"]


FIXED = """\
import json, gitexp
run = gitexp.init(name="script-name", tags=["script"], notes="script notes")
run.tags = ["changed"]
run.notes = "changed notes"
print("SEEN=" + json.dumps({"name": run.name, "tags": run.tags, "notes": run.notes}))
gitexp.finish()
"""


def test_what_the_command_line_set_stays_on_the_run(repo: Path) -> None:
    (repo / "fixed.py").write_text(FIXED)
    done = gitexp(
        "run", "--name", "cli-name", "--tag", "cli", "--", sys.executable, "fixed.py", cwd=repo
    )
    assert done.returncode == 0, done.stderr
    (run_id,) = run_refs(repo)
    # --name and --tag win, in run.json and on the run; notes, not set there, follow the script.
    assert _seen(done) == {"name": "cli-name", "tags": ["cli"], "notes": "changed notes"}
    info = json.loads(_show(repo, run_id, "run.json"))
    assert (info["name"], info["tags"], info["notes"]) == ("cli-name", ["cli"], "changed notes")
