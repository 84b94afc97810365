"""A submodule as ``git add -A`` in its superproject sees it: the commit its HEAD is at.

The superproject's index holds the commit a submodule had when it was last staged; git
records the submodule's current HEAD instead, and nothing of its work tree.  Whether
that work tree has changes (which a run would then not hold) only ``git status`` in
the submodule can tell, so it is asked only for repositories that have submodules.
"""

from __future__ import annotations

import contextlib
import os

from gitexp.git import binary
from gitexp.git import files as gitfiles
from gitexp.git.refs import ObjectId, valid_ref_tail


def submodule_head(path: str) -> ObjectId | None:
    """The commit the submodule checked out at ``path`` is at; None where it is not
    checked out (no ``.git`` in it) or its HEAD cannot be read."""
    dotgit = os.path.join(path, ".git")
    if os.path.isfile(dotgit):
        controldir = gitfiles.read_gitfile(path, dotgit)
        if controldir is None:
            return None
    elif os.path.isdir(dotgit):
        controldir = dotgit
    else:
        return None
    commondir = controldir
    with contextlib.suppress(OSError), open(os.path.join(controldir, "commondir"), "rb") as handle:
        commondir = os.path.join(controldir, os.fsdecode(handle.read().rstrip(b"\r\n")))
    try:
        return gitfiles.read_ref(controldir, commondir, b"HEAD", valid_ref_tail)
    except gitfiles.Unanswered:
        done = binary.run(path, ["rev-parse", "--verify", "--quiet", "HEAD"])
        sha = done.stdout.strip().encode("ascii", "replace")
        return sha if done.returncode == 0 and gitfiles.HEX_SHA.fullmatch(sha) else None


def submodule_dirty(path: str) -> bool:
    """Whether the submodule at ``path`` has changes its HEAD does not hold: modified or
    untracked files (not ignored ones), as ``git status`` in it lists them."""
    done = binary.run(path, ["status", "--porcelain", "--untracked-files=normal"])
    return done.returncode != 0 or bool(done.stdout.strip())
