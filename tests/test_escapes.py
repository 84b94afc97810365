"""Terminal and page safety (issue 16, point 5): what a run says (name, tags, notes,
config, metric keys, output, code) reaches a terminal, a markdown file, a chart or an
HTML page as text, never as a command.

The crafted runs are recorded as a teammate could record them; the terminal tests run
gitexp under a real pseudo-terminal (the ``pty`` module), where colour is on, so that
gitexp's own escapes are there and the run's must not be.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import git, gitexp
from hypothesis import given
from hypothesis import strategies as st

from gitexp.render.cells import printable, printable_lines
from gitexp.render.staticplot import plain

# Each one a different attack: an OSC 8 link, a screen clear, an OSC 52 clipboard write,
# a bidi override, HTML that runs script, and matplotlib mathtext that does not parse.
NAME = 'n\x1b]8;;http://evil\x07click\x1b]8;;\x07<img src=x onerror="window.__pwned=1">'
TAG = "t\x1b[2J\u202e"
NOTE = "note\x1b]52;c;aGk=\x07 <script>window.__pwned=2</script>"
METRIC = 'loss\x1b[2J<a href="javascript:alert(1)">$\\frac{$</a>'
SCRIPT = f"""\
import gitexp, sys
run = gitexp.init(config={{"opt": "adam\\x1b[2J"}})
for step in range(3):
    gitexp.log({{{METRIC!r}: 1.0 / (step + 1), "acc": step / 3}})
print("out\\x1b]52;c;aGk=\\x07put")
gitexp.finish()
"""
# gitexp's own colour (SGR) sequences; anything else starting with ESC came from a run.
SGR = re.compile(r"\x1b\[[0-9;]*m")
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture
def crafted(repo: Path) -> Path:
    """Two runs named, tagged and noted with escapes, the second with changed code."""
    (repo / "train.py").write_text(SCRIPT)
    git(repo, "add", "train.py")
    git(repo, "commit", "-qm", "crafted")
    for index in (1, 2):
        if index == 2:
            (repo / "train.py").write_text(SCRIPT + "# \x1b]52;c;aGk=\x07 changed\n")
        done = gitexp(
            "run",
            "--name",
            f"{NAME}{index}",
            "--tag",
            TAG,
            "--note",
            NOTE,
            "--",
            sys.executable,
            "train.py",
            cwd=repo,
        )
        assert done.returncode == 0, done.stderr
    return repo


def under_pty(repo: Path, *args: str, code: int = 0) -> str:
    """gitexp's output as a terminal receives it (stdout and stderr on one pty)."""
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "200", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "gitexp", *args],
        cwd=repo,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=60) == code, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode("utf-8", "replace")


def assert_defused(text: str, what: object) -> None:
    left = SGR.sub("", text)
    assert "\x1b" not in left and "\x07" not in left and "\u202e" not in left, (what, left)


@pytest.mark.slow
def test_no_escape_from_a_run_reaches_a_terminal(crafted: Path) -> None:
    commands = [
        ["ls", "--columns", "name,tags,config.opt"],
        ["show", "latest"],
        ["diff", "latest~1", "latest", "--code"],
        ["compare", "latest~1", "latest"],
        ["plot", "acc", METRIC],
        ["tag", "latest", "+x"],
        ["note", "latest", "still there"],
    ]
    seen = {}
    for args in commands:
        text = under_pty(crafted, *args)
        assert_defused(text, args)
        seen[args[0]] = text
    assert SGR.search(seen["ls"])  # a terminal: gitexp's own colour is on
    assert "\\x1b]8;;http://evil\\x07click" in seen["ls"]
    assert "\\x1b]52;c;aGk=\\x07 changed" in seen["diff"]
    assert "loss\\x1b[2J" in seen["plot"]


def test_printable_keeps_lines_and_tabs_only_where_asked() -> None:
    assert printable("a\tb\nc") == "a\\x09b\\x0ac"
    assert printable_lines("a\tb\nc\x1b[2J\r") == "a\tb\nc\\x1b[2J\\x0d"


@given(st.text())
def test_printable_never_lets_a_control_or_bidi_character_through(text: str) -> None:
    assert not CONTROL.search(printable(text))
    assert not CONTROL.search(printable_lines(text).replace("\n", "").replace("\t", ""))


@given(st.text(st.characters(blacklist_categories=("Cc", "Cf", "Cs"))))
def test_printable_leaves_ordinary_text_alone(text: str) -> None:
    assert printable(text) == text == printable_lines(text)


@given(st.text())
def test_matplotlib_text_has_no_unescaped_dollar(text: str) -> None:
    assert not re.search(r"(?<!\\)\$", plain(text))


class Elements(HTMLParser):
    """Every element and attribute of a page, and the text of its scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data


@pytest.mark.slow
def test_report_page_and_markdown_carry_run_data_as_text(crafted: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    done = gitexp("report", "-o", str(page), "--title", "<b>t</b>", cwd=crafted, timeout=120)
    assert done.returncode == 0, done.stderr
    parsed = Elements()
    parsed.feed(page.read_text(encoding="utf-8"))
    tags = [tag for tag, _attrs in parsed.tags]
    assert "img" not in tags and "a" not in tags and "b" not in tags
    assert tags.count("script") == 3  # plotly.js, the data, gitexp's own script
    assert not [
        (tag, name) for tag, attrs in parsed.tags for name in attrs if name.startswith("on")
    ]
    data = next(s for s in parsed.scripts if s.startswith('{"'))
    assert "<" not in data and "\\u003cimg src=x onerror" in data  # JSON, escaped

    markdown = tmp_path / "report.md"
    done = gitexp("report", "-o", str(markdown), cwd=crafted, timeout=120)
    assert done.returncode == 0, done.stderr  # $\frac{$ did not break matplotlib
    text = markdown.read_text(encoding="utf-8")
    assert "\x1b" not in text and "\u202e" not in text
    prose = re.sub(r"(`{3,})diff\n.*?\n\1\n", "", text, flags=re.DOTALL)  # code stays code
    assert "```diff" in text and "```" not in prose
    assert not re.search(r"(?<!\\)<", prose)  # no raw HTML: every < is escaped
    assert "\\<img src=x onerror=" in text
    assert "](javascript" not in text
    assert "`t\\x1b[2J\\u202e`" in text  # a tag is a code span: literal inside

    png = tmp_path / "chart.png"
    done = gitexp("plot", METRIC, "-o", str(png), cwd=crafted, timeout=120)
    assert done.returncode == 0, done.stderr
    assert png.read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_the_rerun_question_shows_a_pulled_runs_fields_as_text(
    crafted: Path, tmp_path: Path
) -> None:
    """The consent question quotes what the run claims (name, command, host, author):
    all of it written by the teammate who recorded it."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(crafted, "push", "-q", str(remote), "HEAD:refs/heads/main")
    author = {"GIT_AUTHOR_NAME": "Eve\x1b]52;c;aGk=\x07", "GIT_COMMITTER_NAME": "Eve"}
    done = gitexp("run", "--name", NAME, "--", sys.executable, "train.py", cwd=crafted, env=author)
    assert done.returncode == 0, done.stderr
    git(crafted, "push", "-q", str(remote), "refs/gitexp/runs/*:refs/gitexp/runs/*")
    mine = tmp_path / "mine"
    git(tmp_path, "clone", "-q", str(remote), str(mine))
    assert gitexp("pull", str(remote), cwd=mine).returncode == 0
    # No terminal on stdin: the question is shown, nothing runs (exit 6).
    text = under_pty(mine, "rerun", "latest", code=6)
    assert_defused(text, "rerun")
    assert "was not recorded in this clone" in text
    assert "Eve\\x1b]52;c;aGk=\\x07" in text and "\\x1b]8;;http://evil" in text
