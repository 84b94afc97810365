"""`gitexp` alone prints a guide; `gitexp --help` has examples; neither loads the commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import gitexp

from gitexp.cli import COMMANDS
from gitexp.guide import FIRST_STEPS


def test_gitexp_alone_prints_the_guide_and_exits_0(tmp_path: Path) -> None:
    done = gitexp(cwd=tmp_path)  # outside any repository: the guide needs none
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    for _name, example, _what in FIRST_STEPS:
        assert example in done.stdout
    assert "gitexp COMMAND --help" in done.stdout and "docs/cli.md" in done.stdout
    assert "gitexp completion bash" in done.stdout
    assert max(len(line) for line in done.stdout.splitlines()) <= 80


def test_the_guide_names_only_real_commands() -> None:
    for name, example, _what in FIRST_STEPS:
        assert name in COMMANDS and example.split()[1] == name


def test_the_guide_imports_no_command_module() -> None:
    code = (
        "import sys\n"
        "from gitexp.cli import main\n"
        "assert main([]) == 0\n"
        "loaded = [m for m in sys.modules if m.startswith('gitexp.commands.')]\n"
        "heavy = [m for m in ('dulwich', 'yaml', 'tabulate', 'dvc') if m in sys.modules]\n"
        "assert not loaded and not heavy, (loaded, heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_top_level_help_has_examples_and_lists_the_new_commands(tmp_path: Path) -> None:
    done = gitexp("--help", cwd=tmp_path)
    assert done.returncode == 0
    assert "examples:" in done.stdout and "gitexp doctor" in done.stdout
    assert "doctor" in done.stdout.split("examples:")[0]  # listed among the commands
