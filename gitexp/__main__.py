"""``python -m gitexp`` is the ``gitexp`` command."""

from gitexp.cli import run_command

run_command()
