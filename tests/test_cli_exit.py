"""The ``gitexp`` command exits without interpreter teardown (gitexp.cli.exit_quickly),
but with its exit code, flushed output, exit handlers and live threads honoured."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import gitexp


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)


def test_exit_handlers_run_and_buffered_output_is_flushed() -> None:
    done = _python(
        "import atexit, sys, gitexp.cli\n"
        "atexit.register(lambda: print('handler ran'))\n"
        "sys.stdout.write('buffered, no newline')\n"
        "gitexp.cli.exit_quickly(3)\n"
    )
    assert done.returncode == 3
    assert done.stdout == "buffered, no newlinehandler ran\n"


def test_no_interpreter_teardown_unless_a_tracer_is_attached(tmp_path: Path) -> None:
    """An unflushed file of a dropped object is written by the interpreter's teardown
    only: the quick exit skips it, a traced process (profiler, coverage) gets it."""
    for name, tracer, code in (("quick", "", 0), ("traced", "sys.settrace(lambda *a: None)\n", 5)):
        path = tmp_path / name
        done = _python(
            f"import sys, gitexp.cli\nf = open({str(path)!r}, 'w')\nf.write('teardown')\n"
            f"{tracer}gitexp.cli.exit_quickly({code})\n"
        )
        assert done.returncode == code
        assert path.read_text() == ("teardown" if tracer else ""), name


def test_a_live_non_daemon_thread_is_waited_for() -> None:
    done = _python(
        "import threading, time, gitexp.cli\n"
        "threading.Thread(target=lambda: (time.sleep(0.3), print('thread done'))).start()\n"
        "gitexp.cli.exit_quickly(4)\n"
    )
    assert (done.returncode, done.stdout) == (4, "thread done\n")


def test_output_into_a_closed_pipe_is_quiet(repo: Path) -> None:
    for _ in range(3):
        assert gitexp("run", "--", "true", cwd=repo).returncode == 0
    ls = subprocess.Popen(
        [sys.executable, "-m", "gitexp", "ls", "--all"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert ls.stdout is not None and ls.stderr is not None
    ls.stdout.close()  # the reader went away before gitexp wrote anything
    err = ls.stderr.read().decode()
    assert ls.wait(timeout=30) == 0
    assert "Exception" not in err and "Traceback" not in err


def test_exit_codes_reach_the_shell(repo: Path) -> None:
    assert gitexp("show", "no-such-run", cwd=repo).returncode == 5
    assert gitexp("run", "--", "sh", "-c", "exit 7", cwd=repo).returncode == 7


def test_version_names_the_commit_gitexp_was_built_from(tmp_path: Path) -> None:
    """A regular install names the commit it was built from; a source checkout its HEAD."""
    done = gitexp("--version", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    commit = re.search(r"commit ([0-9a-f]{7,})", done.stdout)
    assert commit, done.stdout
    source = Path(__file__).resolve().parent.parent
    head = subprocess.run(
        ["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    if head:  # the tests run from the checkout gitexp was installed from (as .ci/run does)
        assert head.startswith(commit.group(1)), (done.stdout, head)
