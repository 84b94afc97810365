"""What `gitexp run -- true` imports: recording only (issue 22).

Every module a command imports is start-up time on every run, so the set is pinned:
a change that brings a new module onto the run path fails here, and whoever makes it
decides (and says in the pin why) whether recording needs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# The gitexp modules recording a run of `true` in a plain repository needs.
RUN_PATH = {
    "gitexp", "gitexp._scm_version", "gitexp._version", "gitexp.cli", "gitexp.cli_support",
    "gitexp.errors", "gitexp.slotted", "gitexp.typecheck",
    # git: refs, the index in any layout, ignore rules, attributes, trees, worktrees, and
    # the git binary for the early answers (ignored files, config)
    "gitexp.git", "gitexp.git.attributes", "gitexp.git.binary", "gitexp.git.config",
    "gitexp.git.files", "gitexp.git.ignore", "gitexp.git.index", "gitexp.git.indexfile",
    "gitexp.git.layout", "gitexp.git.refs", "gitexp.git.repo", "gitexp.git.trees",
    "gitexp.git.worktrees",
    # the run's records and the files of docs/format.md
    "gitexp.model", "gitexp.model.config", "gitexp.model.history", "gitexp.model.ids",
    "gitexp.model.macros", "gitexp.model.output", "gitexp.model.overrides",
    "gitexp.model.plainyaml", "gitexp.model.record", "gitexp.model.redact",
    "gitexp.model.summary", "gitexp.model.values",
    # recording: snapshot, first commit, supervision, live folder, final commit
    "gitexp.record", "gitexp.record.envvars", "gitexp.record.inputs", "gitexp.record.keeper",
    "gitexp.record.live", "gitexp.record.manifest", "gitexp.record.notcode",
    "gitexp.record.recorder", "gitexp.record.secrets", "gitexp.record.sentinel",
    "gitexp.record.snapshot",
    "gitexp.record.starting", "gitexp.record.supervise", "gitexp.record.sysmetrics",
    # the recorder's media folder and its end-of-run check for TensorBoard/DVCLive files
    "gitexp.media", "gitexp.media.store", "gitexp.importers", "gitexp.importers.sync",
    # the run-end line's words and cells
    "gitexp.render", "gitexp.render.cells", "gitexp.render.words",
}  # fmt: skip


def _imported(repo: Path) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gitexp", "run", "--", "true"],
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


def test_gitexp_run_imports_only_what_recording_needs(repo: Path) -> None:
    imported = _imported(repo)
    ours = {name for name in imported if name.split(".")[0] == "gitexp"}
    assert ours == RUN_PATH, (
        f"new on the run path: {sorted(ours - RUN_PATH)}; gone: {sorted(RUN_PATH - ours)}"
    )
    # Nothing but the standard library besides gitexp: no dulwich (the snapshot reads
    # git's files itself), no PyYAML, numpy, DVC, tabulate, tqdm, psutil, the SDK.
    others = {name.split(".")[0] for name in imported if name.split(".")[0] not in ("gitexp", "")}
    third_party = {
        name
        for name in others
        if name not in sys.stdlib_module_names
        and not name.startswith(("__editable__", "_distutils_hack", "sitecustomize"))
        # tried and absent here: NVIDIA's library (the manifest), Jython's (the copy module)
        and name not in ("pynvml", "org")
    }
    assert not third_party, sorted(third_party)
    # typing (~2.5 ms) is for the type checker: the run path takes what it needs at run
    # time from gitexp/typecheck.py.
    assert "typing" not in imported


def test_parsing_a_run_imports_no_shutil() -> None:
    """argparse asks the terminal's width through shutil, which imports bz2 and lzma
    (~1.5 ms of each run): gitexp's parser asks only when it prints (cli.py).  NVIDIA's
    library, where installed, still imports shutil in the manifest thread: only the
    parse and the run path's modules are checked here."""
    code = (
        "import sys\n"
        "from gitexp.cli import build_parser\n"
        "import gitexp.commands.run, gitexp.record.recorder, gitexp.record.supervise\n"
        "build_parser('run').parse_args(['run', '-p', 'lr=1', '--', 'true'])\n"
        "print(sorted({'shutil', 'bz2', 'lzma'} & set(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    # Printed help still fits the terminal: the width is asked for then.
    shown = subprocess.run(
        [sys.executable, "-m", "gitexp", "run", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "60"},
    )
    assert shown.returncode == 0, shown.stderr
    usage = shown.stdout.split("\n\n", 1)[0].splitlines()  # the description is raw text
    assert len(usage) > 1 and max(len(line) for line in usage) <= 60


def test_a_script_recording_itself_imports_neither_psutil_nor_typing(repo: Path) -> None:
    """The seed script's budget (issue 22): psutil (~15 ms) is imported by the sampler's
    own process, and the SDK's run path takes TYPE_CHECKING and cast from typecheck.py."""
    (repo / "train.py").write_text(
        "import sys\n"
        "import gitexp\n"
        "gitexp.init(config={'lr': 0.1})\n"
        "gitexp.log({'loss': 1.0})\n"
        "gitexp.finish()\n"
        "print(sorted({'psutil', 'typing', 'gitexp.record.resume'} & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "train.py"],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, "GITEXP_SYSTEM_INTERVAL": "0.1"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]", done.stdout
