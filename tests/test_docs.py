"""docs/ is part of the product: every command, option, exit code and written file is documented."""

from __future__ import annotations

import argparse
import itertools
import re
import shlex
import sys
from pathlib import Path

import pytest
from conftest import git, gitexp

from gitexp import errors
from gitexp.cli import COMMANDS, _glue_dash_values, build_parser
from gitexp.model.record import RunInfo

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_and_option_is_in_cli_md(command: str) -> None:
    text = (DOCS / "cli.md").read_text()
    assert f"## gitexp {command}" in text
    sub = _subparsers()[command]
    for action in sub._actions:
        for flag in action.option_strings:
            if flag in ("-h", "--help"):
                continue
            assert f"`{flag}" in text or f"{flag} " in text, f"{command} {flag} undocumented"


def test_every_exit_code_is_in_cli_md() -> None:
    text = (DOCS / "cli.md").read_text()
    codes = [value for name, value in vars(errors).items() if name.startswith("EXIT_")]
    for code in codes:
        assert re.search(rf"^\| {code} \|", text, re.M), f"exit code {code} undocumented"


def test_every_help_has_an_example() -> None:
    for name, sub in _subparsers().items():
        assert "example" in (sub.epilog or ""), f"gitexp {name} --help has no example"


# The commands a newcomer meets first (the guide `gitexp` prints): two realistic uses each.
MAIN_COMMANDS = ("run", "sweep", "ls", "show", "diff", "compare", "plot", "restore", "push")
MAIN_COMMANDS += ("pull", "demo", "doctor", "completion")


@pytest.mark.parametrize("command", MAIN_COMMANDS)
def test_main_commands_have_two_examples_that_parse(command: str) -> None:
    sub = _subparsers()[command]
    examples = [
        line.strip() for line in (sub.epilog or "").splitlines() if line.startswith("  gitexp ")
    ]
    assert len(examples) >= 2, f"gitexp {command} --help has {len(examples)} example(s)"
    for example in examples:  # an example that no longer parses teaches the wrong thing
        lexer = shlex.shlex(example, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(itertools.takewhile(lambda w: w not in ("&&", "|", ">", ";"), lexer))
        assert words[1] == command
        build_parser(command).parse_args(_glue_dash_values(words[1:]))


def test_format_md_names_every_file_and_run_field(repo: Path) -> None:
    done = gitexp("run", "--", sys.executable, "train.py", cwd=repo)
    assert done.returncode == 0, done.stderr
    ref = git(repo, "for-each-ref", "--format=%(refname)", "refs/gitexp/runs").split()[0]
    files = git(repo, "ls-tree", "-r", "--name-only", ref, ".gitexp").split()
    text = (DOCS / "format.md").read_text()
    assert len(files) >= 7
    for path in files:
        name = path.removeprefix(".gitexp/")
        if name.startswith(("history/", "system/")):  # system/: a run slow enough to sample
            name = name.split("/")[0] + "/NNNNNN.jsonl"
        assert f"`{name}`" in text, f"{path} is written but not in docs/format.md"
    for field in [*RunInfo._fields, "duration"]:
        assert f"`{field}`" in text, f"run.json field {field} not in docs/format.md"
