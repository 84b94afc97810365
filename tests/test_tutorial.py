"""docs/tutorial.md works as written.

Every shell command it shows runs, in order, in a fresh folder, as a reader would type it
(real git, real subprocesses; `python` and `gitexp` on PATH run the interpreter running
the tests), and every file it asks the reader to create is created from the page itself.
A command the page says fails on purpose (`# exits N`) must exit N; every other command
must exit 0. Then a few outcomes are checked: three runs recorded, the curves and the
report written, the run's code restored byte for byte in the second clone, and the rerun
reproducing the original.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

TUTORIAL = Path(__file__).resolve().parent.parent / "docs" / "tutorial.md"

# The folders the tutorial makes (checked below, so renaming one in the page fails here).
PROJECT = "lr_project"
CLONE = "lr_project-clone"
SWEEP_LRS = [0.1, 0.01, 0.001]
BEST = "logreg-lr=0.1"

FENCE = re.compile(r"^```(\S*)\s*$")
FILE_MARKER = re.compile(r"^<!--\s*file:\s*(\S+)\s*-->\s*$")
EXPECTED_EXIT = re.compile(r"#\s*exits\s+(\d+)\b")


@dataclass
class Step:
    """One thing the reader does: run a command, or create a file."""

    kind: str  # "command" or "file"
    text: str  # the command line, or the file's content
    path: str = ""  # for a file: its path, relative to the current folder
    expected_exit: int = 0
    line: int = 0  # where in the page (1-based), for messages


def extract_steps(markdown: str) -> list[Step]:
    """The page's ```sh commands and marked files, in the order a reader meets them.

    A command is one line of a ```sh block (lines ending in a backslash continue);
    blank lines and lines that are only a comment are skipped. A file is the fenced block
    right after an `<!-- file: PATH -->` line (blank lines between them allowed).
    """
    steps: list[Step] = []
    lines = markdown.splitlines()
    pending_file = ""
    i = 0
    while i < len(lines):
        marker = FILE_MARKER.match(lines[i])
        if marker:
            pending_file = marker.group(1)
            i += 1
            continue
        fence = FENCE.match(lines[i])
        if not fence:
            if lines[i].strip():
                pending_file = ""
            i += 1
            continue
        lang, start = fence.group(1), i + 1
        end = start
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        assert end < len(lines), f"docs/tutorial.md:{i + 1}: unclosed code block"
        body = lines[start:end]
        if pending_file:
            steps.append(Step("file", "\n".join(body) + "\n", pending_file, line=start))
            pending_file = ""
        elif lang == "sh":
            command, first = "", 0
            for offset, raw in enumerate(body):
                if not command and (not raw.strip() or raw.lstrip().startswith("#")):
                    continue
                if not command:
                    first = start + offset + 1
                command += raw
                if raw.endswith("\\"):
                    command = command[:-1] + " "
                    continue
                expected = EXPECTED_EXIT.search(command)
                steps.append(
                    Step(
                        "command",
                        command.strip(),
                        expected_exit=int(expected.group(1)) if expected else 0,
                        line=first,
                    )
                )
                command = ""
            assert not command, f"docs/tutorial.md:{first}: a continued line never ends"
        i = end + 1
    return steps


def run_tutorial(folder: Path, steps: list[Step]) -> list[tuple[Step, str]]:
    """Run the steps in `folder` as a reader would; return each command's output.

    Each command runs in its own `bash`, from the folder the previous one ended in
    (so `cd` carries over, as in one terminal). `python` and `gitexp` are the Python
    running the tests and its gitexp, first on PATH, whatever else is installed.
    """
    tools = folder.parent / f"{folder.name}-tools"
    tools.mkdir()
    for name, args in (("python", ""), ("gitexp", " -m gitexp")):
        # Scripts, not symbolic links: a link to a virtual environment's python, from
        # outside it, would start Python without the environment.
        (tools / name).write_text(f'#!/bin/sh\nexec "{sys.executable}"{args} "$@"\n')
        (tools / name).chmod(0o755)
    where = tools / "cwd"
    env = dict(os.environ)
    env["PATH"] = f"{tools}{os.pathsep}{env.get('PATH', '')}"
    cwd = folder
    transcript = []
    for step in steps:
        if step.kind == "file":
            target = cwd / step.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(step.text)
            continue
        script = f'{step.text}\nstatus=$?\npwd > "{where}"\nexit $status\n'
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,  # a command that asks a question fails, never hangs
            capture_output=True,
            text=True,
            timeout=120,
        )
        output = done.stdout + done.stderr
        assert done.returncode == step.expected_exit, (
            f"docs/tutorial.md:{step.line}: `{step.text}` exited {done.returncode}, "
            f"expected {step.expected_exit}\n{output}"
        )
        cwd = Path(where.read_text().strip())
        transcript.append((step, output))
    return transcript


def test_extract_steps_reads_commands_files_and_expected_exits() -> None:
    page = (
        "Intro.\n\n<!-- file: a/b.py -->\n```python\nprint(1)\n```\n\n"
        "```sh\n# a comment\ncd x && ls \\\n    -l\n\ngitexp rerun y   # exits 1: differs\n```\n"
        "```text\nnot run\n```\n<!-- file: c.txt -->\ntext between\n```python\nnot a file\n```\n"
    )
    steps = extract_steps(page)
    assert [(s.kind, s.path, s.text, s.expected_exit) for s in steps] == [
        ("file", "a/b.py", "print(1)\n", 0),
        ("command", "", "cd x && ls      -l", 0),
        ("command", "", "gitexp rerun y   # exits 1: differs", 1),
    ]
    assert steps[1].line == 10


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_tutorial_links_resolve() -> None:
    """Every relative link of the page names a file that exists, and a heading in it."""
    links = re.findall(r"\]\(([^)#\s]+)(?:#([^)\s]+))?\)", TUTORIAL.read_text())
    local = [(path, anchor) for path, anchor in links if "://" not in path]
    assert len(local) >= 10
    for path, anchor in local:
        target = (TUTORIAL.parent / path).resolve()
        assert target.exists(), f"docs/tutorial.md links to missing {path}"
        if anchor:
            headings = re.findall(r"^#+ (.*)$", target.read_text(), re.M)
            slugs = {_slug(h) for h in headings}
            assert anchor in slugs, f"docs/tutorial.md links to {path}#{anchor}: no such heading"


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def _gitexp_json(cwd: Path, *args: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "gitexp", *args, "--json"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    runs: list[dict[str, Any]] = json.loads(done.stdout)
    return runs


@pytest.mark.slow
def test_tutorial_runs_as_written(tmp_path: Path) -> None:
    steps = extract_steps(TUTORIAL.read_text())
    commands = [s.text for s in steps if s.kind == "command"]
    files = {s.path: s.text for s in steps if s.kind == "file"}
    assert "train.py" in files, "the tutorial no longer asks for train.py"
    assert any(s.expected_exit for s in steps), "no command fails on purpose any more"
    # The seed story's steps (pushing and fetching runs may also be plain git after
    # `gitexp install`).
    for needed in (
        ("gitexp sweep", "gitexp run"),
        ("gitexp ls",),
        ("gitexp plot",),
        ("gitexp compare",),
        ("gitexp diff",),
        ("gitexp push", "gitexp install"),
        ("gitexp pull", "gitexp install"),
        ("gitexp restore",),
        ("gitexp rerun",),
        ("gitexp report",),
    ):
        assert any(c.startswith(needed) for c in commands), f"no `{needed[0]}` step"

    folder = tmp_path / "tutorial"
    folder.mkdir()
    transcript = run_tutorial(folder, steps)
    assert transcript

    project, clone = folder / PROJECT, folder / CLONE
    assert (project / ".git").is_dir() and (clone / ".git").is_dir()

    # Three runs, one per learning rate, all finished, recorded in the first clone.
    runs = _gitexp_json(project, "ls", "--all")
    assert sorted((r["config"]["lr"], r["status"]) for r in runs) == sorted(
        (lr, "finished") for lr in SWEEP_LRS
    )
    best = next(r for r in runs if r["name"] == BEST)
    ref = f"refs/gitexp/runs/{best['id']}"
    assert best["metrics"]["accuracy"]["last"] == max(
        r["metrics"]["accuracy"]["last"] for r in runs
    )

    # The curves: one offline HTML page with every run in it.
    curves = (project / "curves.html").read_text()
    assert all(r["name"] in curves for r in runs)

    # The second clone got the runs through the bare remote, and the run's code back:
    # train.py exactly as the run had it (never committed in the first clone).
    assert (folder / "remote.git" / "HEAD").is_file()
    assert {r["id"] for r in runs} <= {r["id"] for r in _gitexp_json(clone, "ls", "--all")}
    recorded = subprocess.run(
        ["git", "show", f"{ref}:train.py"], cwd=clone, check=True, capture_output=True
    ).stdout
    assert (clone / "train.py").read_bytes() == recorded == files["train.py"].encode()

    # The rerun reproduced the original exactly (same summary metrics); the rerun with
    # another seed did not (it exited 1, checked above) and its accuracy differs.
    reruns = [
        r
        for r in _gitexp_json(clone, "ls", "--all")
        if json.loads(_git(clone, "show", f"{r['commit']}:.gitexp/run.json")).get("rerun_of")
        == best["id"]
    ]
    same = [r for r in reruns if r["config"] == best["config"]]
    assert len(same) == 1 and same[0]["status"] == "finished"
    assert same[0]["metrics"] == best["metrics"]
    other = [r for r in reruns if r["config"]["seed"] != best["config"]["seed"]]
    assert len(other) == 1
    assert other[0]["metrics"]["accuracy"] != best["metrics"]["accuracy"]

    # The report: one file, naming every run it was asked for.
    report = (clone / "report.html").read_text()
    assert all(r["name"] in report for r in runs)
    assert same[0]["name"] in report

    # The winner's code was committed and pushed on the ordinary branch, and the reruns
    # reached the remote too.
    remote = folder / "remote.git"
    assert _git(remote, "show", "HEAD:train.py") == files["train.py"]
    assert _git(clone, "status", "--porcelain") == ""
    remote_runs = _git(remote, "for-each-ref", "--format=%(refname:lstrip=3)", "refs/gitexp/runs")
    assert {r["id"] for r in [*runs, *reruns]} == set(remote_runs.split())
