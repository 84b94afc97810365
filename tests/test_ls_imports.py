"""What `gitexp ls` imports: listing only (issue 21, part 4).

Over 1,000 runs `gitexp ls -n 20` is mostly Python's start-up and imports, so the set is
pinned as tests/test_run_imports.py pins the run path's: a change that brings a module
onto the listing path fails here, and whoever makes it decides (and says in the pin
why) whether listing needs it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import gitexp

# The gitexp modules `gitexp ls` over a few runs needs, as a table or as JSON.
LS_PATH = {
    "gitexp", "gitexp._scm_version", "gitexp._version", "gitexp.cli", "gitexp.cli_support",
    "gitexp.errors", "gitexp.slotted", "gitexp.typecheck",
    # git: refs and commits read from git's own files; GitRepo's mixins come with it
    "gitexp.git", "gitexp.git.attributes", "gitexp.git.binary", "gitexp.git.config",
    "gitexp.git.files", "gitexp.git.ignore", "gitexp.git.index", "gitexp.git.indexfile",
    "gitexp.git.layout", "gitexp.git.refs", "gitexp.git.repo", "gitexp.git.trees",
    "gitexp.git.worktrees",
    # the listing row and the checks of rows read from git
    "gitexp.model", "gitexp.model.config", "gitexp.model.history", "gitexp.model.ids",
    "gitexp.model.overrides", "gitexp.model.record", "gitexp.model.summary",
    "gitexp.model.validate", "gitexp.model.values",
    # the listing, its cache and the verdicts of whole-run checks; --where and --sort
    # (read/query.py) only when given
    "gitexp.read", "gitexp.read.listing", "gitexp.read.projects", "gitexp.read.resolve",
    "gitexp.read.selection", "gitexp.read.verdicts",
    # dead runs finalized and fetched runs brought in first (cli_support.open_repo)
    "gitexp.record", "gitexp.record.keeper", "gitexp.record.live",
    "gitexp.share", "gitexp.share.fetched",
    # the table
    "gitexp.render", "gitexp.render.cells", "gitexp.render.runs_table",
    "gitexp.render.tables", "gitexp.render.terminal", "gitexp.render.words",
}  # fmt: skip


def _imported(repo: Path, *args: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gitexp", "ls", *args],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return {
        line.rsplit("|", 1)[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line and "imported package" not in line
    }


def _third_party(imported: set[str]) -> set[str]:
    tops = {name.split(".")[0] for name in imported} - {"gitexp", ""}
    return {
        name
        for name in tops
        if name not in sys.stdlib_module_names
        and not name.startswith(("__editable__", "_distutils_hack", "sitecustomize"))
        and name != "org"  # Jython's, tried and absent (the copy module)
    }


def test_gitexp_ls_imports_only_what_listing_needs(repo: Path) -> None:
    for config in ("lr=0.1", "lr=0.01"):
        assert gitexp("run", "-p", config, "--", "true", cwd=repo).returncode == 0
    # The first listing reads the rows the cache lacks through one `git cat-file`
    # (not dulwich, whose import alone costs ~30 ms); the next ones read the cache.
    for args, cold in (
        (["-n", "20"], True),
        (["-n", "20"], False),
        (["-n", "20", "--json"], False),
    ):
        imported = _imported(repo, *args)
        ours = {name for name in imported if name.split(".")[0] == "gitexp"}
        expected = LS_PATH | ({"gitexp.git.catfile"} if cold else set())
        assert ours == expected, (
            f"new on the ls path: {sorted(ours - expected)}; gone: {sorted(expected - ours)}"
        )
        # No dulwich (git answers the config questions: git/config.py ask_git_config),
        # no orjson for a few rows (its import costs more than it saves), no DVC, PyYAML.
        table = {"tabulate", "wcwidth"} if "--json" not in args else set()
        assert _third_party(imported) == table, args
    # As JSON nothing of the query language or the type checker's: typing, dataclasses,
    # ast (tabulate imports typing and dataclasses itself, for the table).
    assert not {"typing", "dataclasses", "ast", "shutil"} & imported
