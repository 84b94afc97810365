"""The in-script API (``gitexp.init`` / ``log`` / ``config`` / ``summary`` / ``finish``).

Scripts run as real processes: ``python script.py`` (direct mode: the script records its
own run) or under ``gitexp run`` (joined mode: the wrapper records, the script logs into
its live folder).  Results are read back from git with the real ``git`` binary.  A few
tests that never start a recording run in-process, with the module's current run reset.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import git, requires_torch, run_refs
from conftest import gitexp as gitexp_cli

import gitexp
from gitexp.model import values
from gitexp.sdk import session

# Prepended to scripts that report the warnings they saw: every warning is recorded (not
# only the first per location) and printed as one JSON line at the end.
WARNINGS_PREAMBLE = """\
import atexit as _atexit, json as _json, sys as _sys, warnings as _warnings
_seen = []
_warnings.simplefilter("always")
_warnings.showwarning = lambda message, *args, **kwargs: _seen.append(str(message))
def _report():
    _sys.__stdout__.write("WARNINGS=" + _json.dumps(_seen) + "\\n")
"""


# -- helpers ----------------------------------------------------------------------------------


def run_script(
    repo: Path,
    code: str,
    *,
    name: str = "script.py",
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Write ``code`` into the repository and run it directly: ``python <name>``."""
    (repo / name).write_text(textwrap.dedent(code))
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, name],
        cwd=repo,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def warnings_seen(done: subprocess.CompletedProcess[str]) -> list[str]:
    lines = [line for line in done.stdout.splitlines() if line.startswith("WARNINGS=")]
    assert len(lines) == 1, done.stdout + done.stderr
    return list(json.loads(lines[0][len("WARNINGS=") :]))


def only_run(repo: Path) -> str:
    refs = run_refs(repo)
    assert len(refs) == 1, refs
    return next(iter(refs))


def show(repo: Path, run_id: str, path: str) -> str:
    return git(repo, "show", f"refs/gitexp/runs/{run_id}:.gitexp/{path}")


def meta_json(repo: Path, run_id: str, name: str) -> Any:
    return values.loads(show(repo, run_id, name))


def config_of(repo: Path, run_id: str) -> Any:
    return yaml.safe_load(show(repo, run_id, "config.yaml")) or {}


def chunk_names(repo: Path, run_id: str) -> list[str]:
    out = git(repo, "ls-tree", "--name-only", f"refs/gitexp/runs/{run_id}", ".gitexp/history/")
    return sorted(line.rsplit("/", 1)[1] for line in out.splitlines())


def history(repo: Path, run_id: str) -> list[dict[str, Any]]:
    rows = []
    for name in chunk_names(repo, run_id):
        for line in show(repo, run_id, f"history/{name}").splitlines():
            rows.append(values.loads(line))
    return rows


def user_keys(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")}


def commit_subjects(repo: Path, run_id: str) -> list[str]:
    return git(repo, "log", "--format=%s", f"refs/gitexp/runs/{run_id}").splitlines()


def assert_fsck_clean(repo: Path) -> None:
    done = subprocess.run(["git", "fsck", "--no-dangling"], cwd=repo, capture_output=True)
    assert done.returncode == 0, done.stderr


def fake_gpu_tool(tmp_path: Path, body: str) -> dict[str, str]:
    """An ``nvidia-smi`` on PATH whose behaviour the test controls (to order threads)."""
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    tool = bindir / "nvidia-smi"
    tool.write_text("#!/bin/sh\n" + body + '\necho "No devices were found" >&2\nexit 6\n')
    tool.chmod(0o755)
    return {"PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}


@pytest.fixture
def fresh_session() -> Any:
    """No current run before or after an in-process test; the excepthook restored."""
    hook = sys.excepthook
    session._current = None
    yield
    run = session._current
    if run is not None and not run._finished:
        run.finish(quiet=True)
    session._current = None
    sys.excepthook = hook


# -- direct mode: python script.py --------------------------------------------------------------


def test_direct_mode_records_a_finished_run(repo: Path) -> None:
    done = subprocess.run(
        [sys.executable, "train.py"], cwd=repo, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "trained" in done.stdout  # output still reaches the terminal
    run_id = only_run(repo)
    info = meta_json(repo, run_id, "run.json")
    assert info["id"] == run_id
    assert info["status"] == "finished"
    assert info["exit_code"] == 0
    assert info["source"] == "script"
    assert info["command"][-1] == "train.py"
    assert info["baseline"] == git(repo, "rev-parse", "HEAD").strip()
    assert config_of(repo, run_id) == {"lr": 0.1, "epochs": 3}
    rows = history(repo, run_id)
    assert [row["_step"] for row in rows] == [0, 1, 2]
    assert [row["loss"] for row in rows] == [1.0, 0.5, 1.0 / 3]
    metrics = meta_json(repo, run_id, "metrics.json")
    assert metrics["steps"] == 3
    assert metrics["summary"] == {"loss": 1.0 / 3, "acc": 0.2}
    assert "trained" in show(repo, run_id, "output.log")
    # The ref's history: started ... finished, the first commit's parent is the baseline.
    head = git(repo, "rev-parse", "HEAD").strip()
    subjects = git(repo, "log", "--format=%s", f"{head}..refs/gitexp/runs/{run_id}").splitlines()
    assert subjects[0].endswith("finished (finished)")
    assert subjects[-1].endswith("started (running)")
    first_commit = git(repo, "rev-list", "--reverse", f"{head}..refs/gitexp/runs/{run_id}").split()[
        0
    ]
    assert git(repo, "rev-parse", f"{first_commit}^").strip() == head
    assert_fsck_clean(repo)


def test_direct_mode_without_finish_is_finalized_at_exit(repo: Path) -> None:
    done = run_script(
        repo,
        """
        import gitexp
        gitexp.init(config={"lr": 0.3})
        for i in range(4):
            gitexp.log({"loss": float(i)})
        print("no finish call")
        """,
    )
    assert done.returncode == 0, done.stderr
    run_id = only_run(repo)
    info = meta_json(repo, run_id, "run.json")
    assert info["status"] == "finished"
    assert info["exit_code"] == 0
    assert [row["loss"] for row in history(repo, run_id)] == [0.0, 1.0, 2.0, 3.0]
    assert "no finish call" in show(repo, run_id, "output.log")
    assert not list((repo / ".git" / "gitexp" / "live").glob("*"))


def test_uncaught_exception_marks_the_run_failed(repo: Path) -> None:
    done = run_script(
        repo,
        """
        import gitexp
        gitexp.init()
        gitexp.log({"loss": 1.0})
        print("before the crash")
        raise ValueError("boom-4711")
        """,
    )
    assert done.returncode == 1
    run_id = only_run(repo)
    info = meta_json(repo, run_id, "run.json")
    assert info["status"] == "failed"
    assert info["exit_code"] == 1
    log = show(repo, run_id, "output.log")
    assert "before the crash" in log
    assert "Traceback (most recent call last)" in log
    assert "ValueError: boom-4711" in log
    assert [row["loss"] for row in history(repo, run_id)] == [1.0]


def test_keyboard_interrupt_marks_the_run_interrupted(repo: Path) -> None:
    done = run_script(
        repo,
        """
        import gitexp
        gitexp.init()
        gitexp.log({"loss": 1.0})
        raise KeyboardInterrupt
        """,
    )
    assert done.returncode != 0
    run_id = only_run(repo)
    info = meta_json(repo, run_id, "run.json")
    assert info["status"] == "interrupted"
    assert info["exit_code"] == 130
    assert "KeyboardInterrupt" in show(repo, run_id, "output.log")


def test_context_manager_finishes_the_run_at_the_end_of_the_block(repo: Path) -> None:
    # After each block the script reads its own ref with git: the run is final already,
    # before the interpreter exits.  An exception inside a block marks that run failed.
    done = run_script(
        repo,
        """
        import json, subprocess, gitexp

        def status(run):
            text = subprocess.check_output(
                ["git", "show", f"refs/gitexp/runs/{run.id}:.gitexp/run.json"], text=True)
            return json.loads(text)["status"]

        with gitexp.init(name="ctx-ok") as run:
            gitexp.log({"x": 1})
        print("STATUS1", status(run))
        try:
            with gitexp.init(name="ctx-fail", reinit=True) as run2:
                gitexp.log({"x": 2})
                raise RuntimeError("inside the block")
        except RuntimeError:
            pass
        print("STATUS2", status(run2))
        """,
    )
    assert done.returncode == 0, done.stderr
    assert "STATUS1 finished" in done.stdout
    assert "STATUS2 failed" in done.stdout
    refs = run_refs(repo)
    assert len(refs) == 2
    by_name = {meta_json(repo, r, "run.json")["name"]: r for r in refs}
    assert meta_json(repo, by_name["ctx-ok"], "run.json")["status"] == "finished"
    assert meta_json(repo, by_name["ctx-fail"], "run.json")["status"] == "failed"


def test_second_init_returns_the_active_run(repo: Path) -> None:
    done = run_script(
        repo,
        """
        import gitexp
        first = gitexp.init(name="one")
        gitexp.log({"a": 1})
        second = gitexp.init(name="two")
        gitexp.log({"a": 2})
        print("SAME", first is second, first.id == second.id)
        gitexp.finish()
        """,
    )
    assert done.returncode == 0, done.stderr
    assert "SAME True True" in done.stdout
    run_id = only_run(repo)
    assert meta_json(repo, run_id, "run.json")["name"] == "one"
    assert [row["a"] for row in history(repo, run_id)] == [1, 2]


def test_reinit_starts_a_new_run(repo: Path) -> None:
    done = run_script(
        repo,
        """
        import gitexp
        first = gitexp.init(name="first")
        gitexp.log({"a": 1})
        second = gitexp.init(name="second", reinit=True)
        gitexp.log({"b": 2})
        gitexp.log({"b": 3})
        print("IDS", first.id, second.id)
        gitexp.finish()
        """,
    )
    assert done.returncode == 0, done.stderr
    first_id, second_id = next(
        line.split()[1:] for line in done.stdout.splitlines() if line.startswith("IDS")
    )
    assert first_id != second_id
    assert set(run_refs(repo)) == {first_id, second_id}
    assert meta_json(repo, first_id, "run.json")["status"] == "finished"
    assert meta_json(repo, second_id, "run.json")["status"] == "finished"
    assert [user_keys(r) for r in history(repo, first_id)] == [{"a": 1}]
    assert [user_keys(r) for r in history(repo, second_id)] == [{"b": 2}, {"b": 3}]


def test_print_and_stderr_are_captured_in_output_log(repo: Path) -> None:
    done = run_script(
        repo,
        """
        import sys, gitexp
        print("printed before init")
        gitexp.init()
        print("stdout line 1")
        print("stderr line 2", file=sys.stderr)
        sys.stdout.write("written directly\\n")
        gitexp.finish()
        print("printed after finish")
        """,
    )
    assert done.returncode == 0, done.stderr
    assert "stdout line 1" in done.stdout and "stderr line 2" in done.stderr
    log = show(repo, only_run(repo), "output.log")
    assert "stdout line 1" in log
    assert "stderr line 2" in log
    assert "written directly" in log
    assert "printed before init" not in log
    assert "printed after finish" not in log


def test_script_started_from_outside_the_repository_and_finish_exit_code(
    repo: Path, tmp_path: Path
) -> None:
    # The repository is the one holding the script when the current folder is in none.
    (repo / "sub").mkdir()
    (repo / "sub" / "job.py").write_text(
        "import gitexp\n"
        "gitexp.init(name='outside')\n"
        "gitexp.log({'a': 1})\n"
        "gitexp.finish(exit_code=2)\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run(
        [sys.executable, str(repo / "sub" / "job.py")],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    info = meta_json(repo, only_run(repo), "run.json")
    assert info["name"] == "outside"
    assert info["status"] == "failed"
    assert info["exit_code"] == 2


def test_direct_mode_records_project_and_job_type_fields(repo: Path) -> None:
    done = run_script(
        repo,
        """
        import gitexp
        gitexp.init(project="proj", job_type="train", group="g")
        gitexp.finish()
        """,
    )
    assert done.returncode == 0, done.stderr
    info = meta_json(repo, only_run(repo), "run.json")
    assert info["group"] == "g"
    assert info["project"] == "proj"
    assert info["job_type"] == "train"


def test_short_direct_run_records_gpu_and_packages(repo: Path, tmp_path: Path) -> None:
    # A GPU query that takes a second, as nvidia-smi can; the script itself is instant.
    env = fake_gpu_tool(tmp_path, "sleep 1")
    done = run_script(
        repo,
        """
        import gitexp
        gitexp.init()
        gitexp.log({"x": 1})
        gitexp.finish()
        """,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    run_id = only_run(repo)
    hardware = meta_json(repo, run_id, "hardware.json")
    assert hardware["gpu"] is not None
    assert "numpy==" in show(repo, run_id, "packages.txt")


# -- joined mode: gitexp run -- python script.py ------------------------------------------------

JOINED_SCRIPT = """
import json, gitexp
run = gitexp.init(name="from-script", tags=["s1", "s2"], notes="script note",
                  project="proj", config={"lr": 0.1, "layers": 2})
print("CONFIG " + json.dumps(dict(run.config.items()), sort_keys=True))
for i in range(3):
    gitexp.log({"loss": 1.0 / (i + 1)})
gitexp.finish()
"""


def test_joined_mode_records_exactly_one_run_with_the_script_fields(repo: Path) -> None:
    (repo / "script.py").write_text(JOINED_SCRIPT)
    done = gitexp_cli("run", "-p", "lr=0.5", "--", sys.executable, "script.py", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert 'CONFIG {"layers": 2, "lr": 0.5}' in done.stdout  # -p wins over init(config=)
    run_id = only_run(repo)  # the script's init joined the wrapper's run
    info = meta_json(repo, run_id, "run.json")
    assert info["source"] == "cli"
    assert info["status"] == "finished"
    assert info["name"] == "from-script"
    assert info["tags"] == ["s1", "s2"]
    assert info["notes"] == "script note"
    assert info["project"] == "proj"
    assert config_of(repo, run_id) == {"lr": 0.5, "layers": 2}
    assert [row["loss"] for row in history(repo, run_id)] == [1.0, 0.5, 1.0 / 3]
    assert "CONFIG" in show(repo, run_id, "output.log")
    assert not list((repo / ".git" / "gitexp" / "live").glob("*"))


def test_joined_mode_cli_fields_win_over_the_script(repo: Path) -> None:
    (repo / "script.py").write_text(JOINED_SCRIPT)
    done = gitexp_cli(
        "run", "--name", "cli-name", "--tag", "cli-tag", "--", sys.executable, "script.py", cwd=repo
    )
    assert done.returncode == 0, done.stderr
    info = meta_json(repo, only_run(repo), "run.json")
    assert info["name"] == "cli-name"
    assert info["tags"] == ["cli-tag"]
    assert info["notes"] == "script note"  # not set on the command line: the script's
    assert info["project"] == "proj"
    assert "cli-name" in done.stderr


def test_joined_mode_records_config_updates_and_summary(repo: Path) -> None:
    (repo / "script.py").write_text(
        "import gitexp\n"
        "run = gitexp.init(config={'lr': 0.1})\n"
        "run.config.update({'extra': 1})\n"
        "run.config.depth = 4\n"
        "gitexp.log({'loss': 0.5})\n"
        "run.summary['best'] = 0.9\n"
        "gitexp.finish()\n"
    )
    done = gitexp_cli("run", "--", sys.executable, "script.py", cwd=repo)
    assert done.returncode == 0, done.stderr
    run_id = only_run(repo)
    assert config_of(repo, run_id) == {"lr": 0.1, "extra": 1, "depth": 4}
    assert meta_json(repo, run_id, "metrics.json")["summary"] == {"loss": 0.5, "best": 0.9}


def test_joined_mode_reinit_loses_no_data(repo: Path) -> None:
    (repo / "script.py").write_text(
        "import gitexp\n"
        "for lr in (0.1, 0.2):\n"
        "    run = gitexp.init(config={'lr': lr}, reinit=True)\n"
        "    for i in range(3):\n"
        "        gitexp.log({f'loss_{lr}': lr * i})\n"
        "    run.finish()\n"
    )
    done = gitexp_cli("run", "--", sys.executable, "script.py", cwd=repo)
    assert done.returncode == 0, done.stderr
    run_id = only_run(repo)
    logged = [key for row in history(repo, run_id) for key in user_keys(row)]
    assert logged.count("loss_0.1") == 3
    assert logged.count("loss_0.2") == 3


# -- import gitexp as wandb -------------------------------------------------------------------


def test_typical_wandb_script(repo: Path) -> None:
    done = run_script(
        repo,
        WARNINGS_PREAMBLE
        + """
import gitexp as wandb
print("LOGIN", wandb.login())
wandb.init(project="p", entity="me", config={"lr": 0.1, "epochs": 2}, group="g",
           job_type="train", mode="online", settings=None, dir="/tmp", magic=True)
print("LR", wandb.config.lr, wandb.config["lr"], wandb.config.epochs)
wandb.config.update({"x": 1})
for epoch in range(wandb.config.epochs):
    wandb.log({"loss": 1.0 / (epoch + 1), "epoch": epoch})
wandb.run.summary["best"] = 0.9
print("RUNID", wandb.run.id)
wandb.finish()
_report()
""",
    )
    assert done.returncode == 0, done.stderr
    assert "LOGIN True" in done.stdout
    assert "LR 0.1 0.1 2" in done.stdout
    run_id = only_run(repo)
    assert f"RUNID {run_id}" in done.stdout
    info = meta_json(repo, run_id, "run.json")
    assert info["status"] == "finished"
    assert info["group"] == "g"
    assert info["extra"]["entity"] == "me"
    assert config_of(repo, run_id) == {"lr": 0.1, "epochs": 2, "x": 1}
    metrics = meta_json(repo, run_id, "metrics.json")
    assert metrics["summary"]["best"] == 0.9
    assert metrics["summary"]["loss"] == 0.5
    assert [row["epoch"] for row in history(repo, run_id)] == [0, 1]
    # Exactly one warning, naming the wandb argument gitexp does not know (init's own
    # arguments, settings and dir among them, are accepted: docs/api.md).
    seen = warnings_seen(done)
    assert len(seen) == 1, seen
    assert "magic" in seen[0]
    for used in ("entity", "project", "group", "job_type", "mode", "settings", "dir"):
        assert used not in seen[0]


# -- log semantics ------------------------------------------------------------------------------


def test_log_merges_rows_and_never_goes_back(repo: Path) -> None:
    done = run_script(
        repo,
        WARNINGS_PREAMBLE
        + """
import gitexp
gitexp.init()
gitexp.log({"a": 1}, commit=False)
gitexp.log({"b": 2}, commit=False)
gitexp.log({"c": 3})
gitexp.log({"d": 4}, step=5)
gitexp.log({"e": 5}, step=5)
gitexp.log({"late": 1}, step=3)
gitexp.log({"f": 6}, step=7)
gitexp.log({"g": 7}, step=8)
gitexp.finish()
_report()
""",
    )
    assert done.returncode == 0, done.stderr
    run_id = only_run(repo)
    rows = history(repo, run_id)
    assert [(row["_step"], user_keys(row)) for row in rows] == [
        (0, {"a": 1, "b": 2, "c": 3}),
        (5, {"d": 4, "e": 5}),
        (7, {"f": 6}),
        (8, {"g": 7}),
    ]
    steps = [row["_step"] for row in rows]
    assert steps == sorted(set(steps))
    back = [w for w in warnings_seen(done) if "step 3" in w]
    assert len(back) == 1, warnings_seen(done)
    metrics = meta_json(repo, run_id, "metrics.json")
    assert "late" not in metrics["summary"]
    assert metrics["steps"] == 4 and metrics["last_step"] == 8


@requires_torch
def test_log_value_types(repo: Path) -> None:
    done = run_script(
        repo,
        WARNINGS_PREAMBLE
        + """
import numpy as np, torch, gitexp
gitexp.init()
gitexp.log({"nested": {"x": 1, "y": {"z": 2.5}}, "f32": np.float32(0.5),
            "i64": np.int64(7), "t": torch.tensor(1.5), "nan": float("nan"),
            "inf": float("inf"), "ninf": float("-inf")})
gitexp.log({"obj": object(), "arr": np.zeros((2, 2)), "keep": 1.0})
gitexp.log({"obj": object(), "keep": 2.0})
for bad in (5, [1]):
    try:
        gitexp.log(bad)
    except TypeError as exc:
        print("TYPEERROR", exc)
gitexp.finish()
_report()
""",
    )
    assert done.returncode == 0, done.stderr
    run_id = only_run(repo)
    rows = history(repo, run_id)
    assert len(rows) == 3
    first = rows[0]
    assert first["nested/x"] == 1 and first["nested/y/z"] == 2.5
    assert "nested" not in first
    assert type(first["f32"]) is float and first["f32"] == 0.5
    assert type(first["i64"]) is int and first["i64"] == 7
    assert type(first["t"]) is float and first["t"] == 1.5
    assert math.isnan(first["nan"])
    assert math.isinf(first["inf"]) and first["inf"] > 0
    assert math.isinf(first["ninf"]) and first["ninf"] < 0
    assert user_keys(rows[1]) == {"keep": 1.0}
    assert user_keys(rows[2]) == {"keep": 2.0}
    # The files in git are strict JSON: non-finite floats are tagged, never bare NaN.
    raw = show(repo, run_id, "history/000000.jsonl").splitlines()[0]

    def no_constants(name: str) -> None:
        raise AssertionError(f"bare {name} in {raw}")

    json.loads(raw, parse_constant=no_constants)
    summary = meta_json(repo, run_id, "metrics.json")["summary"]
    assert math.isnan(summary["nan"]) and summary["inf"] == math.inf
    # One warning per dropped key, however often it is logged.
    seen = warnings_seen(done)
    assert len([w for w in seen if "'obj'" in w]) == 1, seen
    assert len([w for w in seen if "'arr'" in w]) == 1, seen
    errors = [line for line in done.stdout.splitlines() if line.startswith("TYPEERROR")]
    assert len(errors) == 2
    assert "dict" in errors[0] and "int" in errors[0]
    assert "dict" in errors[1] and "list" in errors[1]


def test_summary_statistics_per_key(repo: Path) -> None:
    done = run_script(
        repo,
        """
        import gitexp
        run = gitexp.init()
        for value in (3.0, 1.0, 2.0, 5.0, 4.0):
            gitexp.log({"loss": value, "phase": "train"})
        gitexp.log({"only_last": 1})
        run.summary["best"] = 0.9
        run.summary["loss"] = 0.5
        gitexp.finish()
        """,
    )
    assert done.returncode == 0, done.stderr
    run_id = only_run(repo)
    metrics = meta_json(repo, run_id, "metrics.json")
    loss = metrics["metrics"]["loss"]
    assert loss["last"] == 4.0 and loss["last_step"] == 4
    assert loss["min"] == 1.0 and loss["min_step"] == 1
    assert loss["max"] == 5.0 and loss["max_step"] == 3
    assert loss["count"] == 5
    phase = metrics["metrics"]["phase"]
    assert phase["last"] == "train" and "min" not in phase and "max" not in phase
    assert metrics["metrics"]["only_last"]["last_step"] == 5
    # An explicit run.summary value wins over the last logged one.
    assert metrics["summary"] == {"loss": 0.5, "phase": "train", "only_last": 1, "best": 0.9}
    # The listing row in the commit message carries the same numbers.
    message = git(repo, "log", "-1", "--format=%B", f"refs/gitexp/runs/{run_id}")
    row = values.loads(message.rsplit("gitexp-run: ", 1)[1])
    assert row["metrics"]["best"]["last"] == 0.9
    assert row["metrics"]["loss"]["min"] == 1.0 and row["metrics"]["loss"]["max"] == 5.0


# -- processes -----------------------------------------------------------------------------------


def test_forked_child_never_writes_the_parents_run(repo: Path) -> None:
    done = run_script(
        repo,
        """
        import os, sys, gitexp
        run = gitexp.init(name="forky")
        gitexp.log({"parent": 0})
        pid = os.fork()
        if pid == 0:
            gitexp.log({"child": 1})
            gitexp.log({"child": 2})
            gitexp.finish()
            sys.exit(0)  # runs the atexit handlers too
        _, status = os.waitpid(pid, 0)
        print("CHILD", os.waitstatus_to_exitcode(status))
        gitexp.log({"parent": 1})
        gitexp.log({"parent": 2})
        gitexp.finish()
        """,
    )
    assert done.returncode == 0, done.stderr
    assert "CHILD 0" in done.stdout
    run_id = only_run(repo)
    rows = history(repo, run_id)
    assert [user_keys(row) for row in rows] == [{"parent": 0}, {"parent": 1}, {"parent": 2}]
    info = meta_json(repo, run_id, "run.json")
    assert info["status"] == "finished"
    finals = [s for s in commit_subjects(repo, run_id) if s.endswith("(finished)")]
    assert len(finals) == 1
    assert_fsck_clean(repo)


DDP_SCRIPT = """
import gitexp
run = gitexp.init(name="ddp", config={"lr": 0.1})
print("DISABLED", run.disabled)
gitexp.log({"x": 1})
run.summary["s"] = 1
print("LR", gitexp.config.lr)
gitexp.finish()
"""


@pytest.mark.parametrize("variable", ["RANK", "LOCAL_RANK"])
def test_nonzero_ddp_rank_records_nothing(repo: Path, variable: str) -> None:
    done = run_script(repo, DDP_SCRIPT, env={variable: "1"})
    assert done.returncode == 0, done.stderr
    assert "DISABLED True" in done.stdout
    assert "LR 0.1" in done.stdout
    assert run_refs(repo) == {}
    assert not list((repo / ".git" / "gitexp" / "live").glob("*"))


def test_every_rank_records_with_gitexp_all_ranks(repo: Path) -> None:
    done = run_script(repo, DDP_SCRIPT, env={"RANK": "1", "GITEXP_ALL_RANKS": "1"})
    assert done.returncode == 0, done.stderr
    assert "DISABLED False" in done.stdout
    run_id = only_run(repo)
    assert [row["x"] for row in history(repo, run_id)] == [1]


def test_tracking_failure_never_kills_training(repo: Path, tmp_path: Path) -> None:
    # The live folder disappears while the script runs; training goes on with a warning.
    gate = tmp_path / "gate"
    env = fake_gpu_tool(tmp_path, f'while [ ! -e "{gate}" ]; do sleep 0.01; done')
    done = run_script(
        repo,
        """
        import os, shutil, threading, gitexp
        run = gitexp.init(name="gone")
        gitexp.log({"x": 0})
        os.rename(os.path.join(".git", "gitexp", "live", run.id), ".git/gone")  # atomic
        shutil.rmtree(".git/gone", ignore_errors=True)
        for i in range(1, 100):
            gitexp.log({"x": i})
        run.summary["s"] = 1
        run.config.update({"late": 1})
        open(os.environ["GATE"], "w").close()  # let the background GPU query finish
        for thread in threading.enumerate():
            if thread.name == "gitexp-manifest":
                thread.join(10)
        gitexp.finish()
        print("training survived")
        """,
        env={**env, "GATE": str(gate)},
    )
    assert done.returncode == 0, done.stderr
    assert "training survived" in done.stdout
    assert "training goes on" in done.stderr
    run_id = only_run(repo)
    assert meta_json(repo, run_id, "run.json")["status"] == "finished"
    assert_fsck_clean(repo)


def test_tracking_failure_in_background_thread_only_warns(repo: Path, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    env = fake_gpu_tool(tmp_path, f'while [ ! -e "{gate}" ]; do sleep 0.01; done')
    done = run_script(
        repo,
        """
        import os, shutil, threading, gitexp
        run = gitexp.init(name="gone")
        os.rename(os.path.join(".git", "gitexp", "live", run.id), ".git/gone")  # atomic
        shutil.rmtree(".git/gone", ignore_errors=True)
        gitexp.log({"x": 1})
        open(os.environ["GATE"], "w").close()
        for thread in threading.enumerate():
            if thread.name == "gitexp-manifest":
                thread.join(10)
        gitexp.finish()
        """,
        env={**env, "GATE": str(gate)},
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_hot_path_100k_rows_all_reach_git(repo: Path) -> None:
    done = run_script(
        repo,
        """
        import gitexp
        gitexp.init(name="hot")
        log = gitexp.log
        for _ in range(100_000):
            log({"a": 1.0, "b": 2})
        gitexp.finish()
        """,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    run_id = only_run(repo)
    names = chunk_names(repo, run_id)
    assert names == [f"{i:06d}.jsonl" for i in range(10)]
    total = 0
    for index, name in enumerate(names):
        lines = show(repo, run_id, f"history/{name}").splitlines()
        assert len(lines) == 10_000
        first = values.loads(lines[0])
        assert first["_step"] == index * 10_000 and first["a"] == 1.0 and first["b"] == 2
        total += len(lines)
    assert total == 100_000
    metrics = meta_json(repo, run_id, "metrics.json")
    assert metrics["steps"] == 100_000
    assert metrics["last_step"] == 99_999
    assert metrics["metrics"]["b"]["count"] == 100_000


# -- in-process: no run, disabled runs ---------------------------------------------------------


@pytest.mark.usefixtures("fresh_session")
def test_log_before_init_raises_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match=r"gitexp\.init\(\)"):
        gitexp.log({"loss": 1.0})
    assert gitexp.run is None
    assert len(gitexp.config.keys()) == 0


@pytest.mark.usefixtures("fresh_session")
def test_login_returns_true(capsys: pytest.CaptureFixture[str]) -> None:
    assert gitexp.login() is True
    assert gitexp.login(key="abc", relogin=True) is True
    assert "no login needed" in capsys.readouterr().err


@pytest.mark.usefixtures("fresh_session")
def test_disabled_mode_records_nothing(in_repo: Path) -> None:
    run = gitexp.init(mode="disabled", config={"lr": 0.1})
    assert run.disabled
    assert gitexp.run is run
    gitexp.log({"loss": 1.0})
    gitexp.log({"loss": 0.5}, step=3)
    run.summary["best"] = 1.0
    assert gitexp.config.lr == 0.1
    with pytest.raises(TypeError):
        gitexp.log(5)  # type: ignore[arg-type]
    gitexp.finish()
    assert run_refs(in_repo) == {}
    assert not (in_repo / ".git" / "gitexp" / "live").exists() or not list(
        (in_repo / ".git" / "gitexp" / "live").iterdir()
    )


def test_after_finish_run_is_none_and_log_raises(repo: Path) -> None:
    """As wandb: a log after finish() is an error, never a silent drop (issue 18, part 1)."""
    script = (
        "import gitexp\n"
        "run = gitexp.init(config={'lr': 0.1})\n"
        "gitexp.log({'loss': 1.0})\n"
        "gitexp.finish()\n"
        "assert gitexp.run is None, gitexp.run\n"
        "for call in (lambda: gitexp.log({'loss': 2.0}), lambda: run.log({'loss': 2.0})):\n"
        "    try:\n"
        "        call()\n"
        "    except RuntimeError as exc:\n"
        "        print('refused:', exc)\n"
        "run2 = gitexp.init()\n"
        "assert gitexp.run is run2\n"
        "gitexp.log({'loss': 3.0})\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    refused = [line for line in done.stdout.splitlines() if line.startswith("refused:")]
    assert len(refused) == 2
    assert all("after the run finished" in line and "gitexp.init()" in line for line in refused)
