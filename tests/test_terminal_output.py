"""What a person sees at a terminal: tables that fit, grouped headers, a legend, colour
under the no-color.org rules, plurals that agree, and bare names in queries.

Colour and the legend depend on whether stdout is a terminal, so those tests run gitexp
under a real pseudo-terminal (the ``pty`` module) as well as piped.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git, gitexp

from gitexp.render.words import plural

ANSI = re.compile(r"\x1b\[[0-9;]*m")
LONG_NAME = "a-rather-long-run-name-that-describes-the-whole-experiment-in-words"

SCRIPT = """\
import gitexp
run = gitexp.init(config={"lr": 0.1, "epochs": 2})
for step in range(3):
    gitexp.log({"loss": 1 - run.config.lr * step, "accuracy": run.config.lr * step,
                "lr": run.config.lr / (step + 1), "train/throughput": 1000 + step})
gitexp.finish()
"""


@pytest.fixture
def runs(repo: Path) -> Path:
    """Three finished runs: lr 0.1, 0.2 and (after an uncommitted edit) 0.3, the last with
    a long name; config has lr, and so do the metrics."""
    (repo / "train.py").write_text(SCRIPT)
    git(repo, "commit", "-qam", "train script")
    for lr, name in (("0.1", "first"), ("0.2", "second"), ("0.3", LONG_NAME)):
        if lr == "0.3":
            (repo / "train.py").write_text(SCRIPT + "# an uncommitted edit\n")
        done = gitexp("run", "--name", name, "-p", f"lr={lr}", "--", sys.executable, "train.py",
                      cwd=repo)  # fmt: skip
        assert done.returncode == 0, done.stderr
    return repo


def in_terminal(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """gitexp's stdout and stderr as a terminal receives them (a real pseudo-terminal)."""
    primary, secondary = pty.openpty()
    full_env = {**os.environ, "TERM": "xterm", **(env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "gitexp", *args],
        cwd=cwd,
        env=full_env,
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        close_fds=True,
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    assert process.wait(timeout=60) == 0
    return b"".join(chunks).decode().replace("\r\n", "\n")


# -- 1. tables fit ---------------------------------------------------------------------------


@pytest.mark.parametrize("width", [80, 120])
def test_ls_fits_columns_and_says_what_it_left_out(runs: Path, width: int) -> None:
    done = gitexp("ls", cwd=runs, env={"COLUMNS": str(width)})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= width, done.stdout
    assert sum(line.startswith(("first", "second")) for line in lines) == 0  # id first
    assert len([line for line in lines if re.match(r"^[0-9a-z]{7}  ", line)]) == 3
    assert "…" in done.stdout  # the long name is shortened, not wrapped
    assert LONG_NAME not in done.stdout
    note = re.search(r"(\d+) columns? left out to fit (\d+) characters \((.*)\)", done.stderr)
    assert note, done.stderr
    assert note[2] == str(width)
    assert "baseline" in note[3]  # the least important goes first
    assert "--columns" in done.stderr and "--json" in done.stderr


def test_ls_piped_without_columns_keeps_every_column(runs: Path) -> None:
    done = gitexp("ls", cwd=runs)
    assert done.returncode == 0, done.stderr
    assert LONG_NAME in done.stdout
    assert "baseline" in done.stdout and "start" in done.stdout
    assert "left out" not in done.stderr


def test_ls_columns_are_dropped_from_the_right_when_named(runs: Path) -> None:
    done = gitexp("ls", "--columns", "id,name,loss,accuracy,start,command", cwd=runs,
                  env={"COLUMNS": "60"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    header = done.stdout.splitlines()[0].split()
    assert header[:3] == ["id", "name", "metrics.loss"]
    assert "command" not in header
    assert max(len(line) for line in done.stdout.splitlines()) <= 60
    assert "command" in done.stderr


# -- 2. config and metrics under their own names -------------------------------------------


def test_config_and_metric_columns_sit_under_group_names(runs: Path) -> None:
    lines = gitexp("ls", cwd=runs).stdout.splitlines()
    groups, headers, rule = lines[0], lines[1], lines[2]
    assert rule.startswith("-------")
    config, metrics = groups.index("config ─"), groups.index("metrics ─")
    assert config < metrics
    # lr is both a config key and a metric: once under each group name
    positions = [m.start() for m in re.finditer(r"\blr\b", headers)]
    assert len(positions) == 2
    assert config <= positions[0] < metrics <= positions[1]
    assert headers.index("loss") >= metrics


# -- 3. a legend for the markers shown -------------------------------------------------------


def test_legend_explains_the_dirty_marker_on_a_terminal_only(runs: Path) -> None:
    wide = {"COLUMNS": "250"}
    shown = ANSI.sub("", in_terminal(runs, "ls", env=wide))
    assert "+ after a baseline: the run started with uncommitted changes" in shown
    piped = gitexp("ls", cwd=runs, env=wide)
    assert "+" in piped.stdout and "uncommitted" not in piped.stdout + piped.stderr


def test_no_legend_for_a_marker_that_is_not_shown(runs: Path) -> None:
    shown = ANSI.sub("", in_terminal(runs, "ls", env={"COLUMNS": "80"}))
    assert "baseline" not in shown.split("\n")[1]  # the column went first ...
    assert "uncommitted" not in shown  # ... and its marker's meaning with it


# -- 4. plurals ------------------------------------------------------------------------------


def test_plural_agrees_with_the_count() -> None:
    assert plural(1, "file") == "1 file"
    assert [plural(n, "run") for n in (0, 2)] == ["0 runs", "2 runs"]
    assert plural(3, "artifact object") == "3 artifact objects"


def test_diff_says_1_file_changed(runs: Path) -> None:
    done = gitexp("diff", "latest~1", "latest", cwd=runs)
    assert done.returncode == 0, done.stderr
    assert "code (1 file changed)" in done.stdout


def test_no_message_counts_with_a_parenthesised_plural() -> None:
    package = Path(__file__).resolve().parent.parent / "gitexp"
    offenders = [
        f"{path.relative_to(package)}:{number}"
        for path in package.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\}\s?[a-z ]*\w\(s\)", line)
    ]
    assert offenders == [], "use gitexp.render.words.plural"


# -- 5. colour -------------------------------------------------------------------------------


def test_colour_on_a_terminal_and_never_piped(runs: Path) -> None:
    coloured = in_terminal(runs, "ls")
    assert "\x1b[32mfinished\x1b[0m" in coloured  # status in green
    assert "\x1b[1mid\x1b[0m" in coloured  # bold headers
    piped = gitexp("ls", cwd=runs)
    assert "\x1b[" not in piped.stdout + piped.stderr


def test_no_color_wins_and_force_color_colours_a_pipe(runs: Path) -> None:
    plain = in_terminal(runs, "ls", env={"NO_COLOR": "1"})
    assert "\x1b[" not in plain and "finished" in plain
    assert "\x1b[" not in in_terminal(runs, "ls", env={"TERM": "dumb"})
    forced = gitexp("ls", cwd=runs, env={"FORCE_COLOR": "1"})
    assert "\x1b[32mfinished" in forced.stdout
    both = gitexp("ls", cwd=runs, env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert "\x1b[" not in both.stdout


def test_compare_marks_the_best_value_in_colour_on_a_terminal(runs: Path) -> None:
    coloured = in_terminal(runs, "compare", "first", "second")
    assert re.search(r"\x1b\[1;32m[0-9.]+ \*\x1b\[0m", coloured), coloured
    assert "\x1b[" not in gitexp("compare", "first", "second", cwd=runs).stdout


# -- 6. bare names ---------------------------------------------------------------------------


def test_bare_names_resolve_when_only_one_thing_has_the_name(runs: Path) -> None:
    done = gitexp("ls", "--sort", "-loss", "--columns", "name,loss,epochs,accuracy.max",
                  "--where", "accuracy.max > 0.3", cwd=runs)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["name", "metrics.loss", "config.epochs", "metrics.accuracy.max"]
    assert [line.split()[0] for line in lines[2:]] == ["second", LONG_NAME]
    chart = gitexp("plot", "loss", "--sort", "loss", "-n", "1", cwd=runs)
    assert chart.returncode == 0, chart.stderr
    assert "third" not in chart.stdout and LONG_NAME in chart.stdout


@pytest.mark.parametrize(
    "args",
    [["ls", "--sort", "lr"], ["ls", "--where", "lr > 0.1"], ["ls", "--columns", "name,lr"],
     ["plot", "loss", "--sort", "-lr"]],
)  # fmt: skip
def test_a_name_both_config_and_metric_is_a_usage_error(runs: Path, args: list[str]) -> None:
    done = gitexp(*args, cwd=runs)
    assert done.returncode == 2
    assert "'lr' is ambiguous" in done.stderr
    assert "config.lr" in done.stderr and "metrics.lr" in done.stderr
    assert done.stdout == ""
    assert gitexp(*[a.replace("lr", "config.lr") for a in args], cwd=runs).returncode == 0


def test_compare_cuts_run_columns_then_leaves_out_the_last_runs(runs: Path) -> None:
    names = ("first", "second", "latest")
    done = gitexp("compare", *names, cwd=runs, env={"COLUMNS": "60"})
    assert done.returncode == 0, done.stderr
    table = done.stdout.split("\n* best value")[0].splitlines()
    assert max(len(line) for line in table) <= 60
    assert "metrics.accuracy [max]" in done.stdout  # labels are never cut to fit
    assert "1 run left out to fit 60 characters" in done.stderr
    wide = gitexp("compare", *names, cwd=runs, env={"COLUMNS": "300"})
    assert "left out" not in wide.stderr and LONG_NAME in wide.stdout


def test_import_gitexp_loads_no_table_or_colour_code() -> None:
    # A training script imports gitexp; what only the command line needs stays unloaded.
    code = (
        "import sys, gitexp\n"
        "light = {'tabulate', 'gitexp.render.terminal', 'gitexp.render.tables'}\n"
        "loaded = light & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("width", ["1", "12"])
def test_a_terminal_narrower_than_any_table_still_shows_the_runs(runs: Path, width: str) -> None:
    listed = gitexp("ls", cwd=runs, env={"COLUMNS": width}, timeout=30)
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()[2:]] == [
        *(line.split()[0] for line in gitexp("ls", cwd=runs).stdout.splitlines()[3:])
    ]
    compared = gitexp("compare", "first", "second", cwd=runs, env={"COLUMNS": width})
    assert compared.returncode == 0, compared.stderr
    assert "first" in compared.stdout.splitlines()[0]  # the first run is never left out
    assert f"1 run left out to fit {width} character" in compared.stderr


def test_control_characters_from_a_run_never_reach_the_terminal(repo: Path) -> None:
    """A run's name and config come from whoever recorded it: an ESC in them (a screen
    clear, an OSC 52 clipboard write) is shown as an escape in tables, show and messages."""
    evil_name = "evil\x1b]52;c;aGk=\x07x"
    done = gitexp(
        "run",
        "--name",
        evil_name,
        "-p",
        "note=a\x1b[2Jb",
        "--",
        sys.executable,
        "-c",
        "pass",
        cwd=repo,
    )
    assert done.returncode == 0, done.stderr
    for args in (
        ["ls", "--columns", "name,config.note"],
        ["show", "latest"],
        ["compare", "latest"],
    ):
        shown = gitexp(*args, cwd=repo, env={"FORCE_COLOR": "1"})
        assert shown.returncode == 0, shown.stderr
        text = shown.stdout + shown.stderr
        # Colour codes of gitexp's own stay (FORCE_COLOR); the run's sequences are defused.
        assert "\x1b]52" not in text and "\x07" not in text and "\x1b[2J" not in text, args
        assert "evil\\x1b]52;c;aGk=\\x07x" in text, (args, text)
