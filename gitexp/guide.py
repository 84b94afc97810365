"""What ``gitexp`` alone prints, and the examples under ``gitexp --help``.

Plain text on purpose: printing the guide must not import a command module (each pulls
in dulwich, PyYAML or DVC), so ``gitexp`` answers as fast as ``gitexp --version``.
tests/test_guide.py checks that every command named here exists.
"""

from __future__ import annotations

# (command, example, what it does): the commands a newcomer needs, in the order of a day's work.
FIRST_STEPS = (
    ("demo", "gitexp demo", "try it in a scratch repository"),
    ("run", "gitexp run -p lr=0.01 -- python train.py", "record a run of any command"),
    ("ls", "gitexp ls", "list runs, newest first"),
    ("show", "gitexp show latest", "one run: config, metrics, machine"),
    ("diff", "gitexp diff latest~1 latest", "what changed between two runs"),
    ("compare", "gitexp compare latest~2 latest~1 latest", "several runs side by side"),
    ("plot", "gitexp plot loss", "metric curves in the terminal"),
    ("restore", "gitexp restore latest", "put a run's code back"),
    ("push", "gitexp push origin", "share runs through a git remote"),
    ("pull", "gitexp pull origin", "fetch your teammates' runs"),
    ("doctor", "gitexp doctor", "check the setup; prints fixes"),
)

MORE = """\
more:
  gitexp COMMAND --help          every option of a command, with examples
  gitexp --help                  every command
  gitexp completion bash         tab completion (also zsh, fish)
  docs/cli.md                    the reference (docs/workflow.md: a day of use)"""


def guide() -> str:
    """The short guide ``gitexp`` prints when given no command."""
    width = max(len(example) for _name, example, _what in FIRST_STEPS)
    lines = [
        "gitexp records every training run as a git commit on a hidden ref.",
        "",
        "first steps:",
        *(f"  {example:<{width}}  {what}" for _name, example, what in FIRST_STEPS),
        "",
        MORE,
    ]
    return "\n".join(lines)


EPILOG = """\
examples:
  gitexp demo                                   three runs in a scratch repository
  gitexp run -p lr=0.01 -- python train.py      record a run
  gitexp ls --sort -metrics.acc.max             list runs, best first
  gitexp diff latest~1 latest                   compare the last two runs
  gitexp doctor                                 check the setup, with fixes

`gitexp` alone prints a short guide; `gitexp COMMAND --help` has each command's
options and examples; docs/cli.md is the reference."""
