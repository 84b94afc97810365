"""A repository's code somewhere else: the checks before a clone, and the clone itself.

A sweep whose trials run on machines that do not see the repository (a Ray cluster
without a shared filesystem: sweep/rayexec.py) runs each trial in a clone made from a
git remote.  The clone must hold exactly the code the sweep runs, so before any trial
starts the sweep asks here whether the work tree has changes a clone would not hold, and
whether the remote has the commit; on the node, the clone is made at that commit.
Through the ``git`` binary, as every transfer is (git/binary.py): the node's git uses
the user's credentials and transports.
"""

from __future__ import annotations

from gitexp.errors import TransferError
from gitexp.git.binary import run


def work_tree_changes(cwd: str) -> list[str]:
    """Paths with changes a clone would not hold: modified, staged, untracked (not
    ignored); git's ``status --porcelain`` lines, at most a few."""
    lines = run(cwd, ["status", "--porcelain", "--untracked-files=normal"]).stdout.splitlines()
    return [line[3:] for line in lines if line.strip()][:5]


def remote_has(cwd: str, remote: str, commit: str) -> bool:
    """Whether a branch of ``remote``, as this clone last fetched it, contains ``commit``."""
    done = run(
        cwd,
        ["for-each-ref", "--contains", commit, "--format=%(refname)", f"refs/remotes/{remote}/"],
    )
    return done.returncode == 0 and bool(done.stdout.strip())


def clone_at(url: str, dest: str, commit: str, branch: str) -> None:
    """Clone ``url`` into ``dest`` (a new folder) with ``commit`` checked out, on a local
    branch ``branch`` when named (so the runs there record the branch the sweep ran on)."""
    done = run(".", ["clone", "--quiet", "--no-checkout", "--", url, dest])
    if done.returncode != 0:
        raise TransferError(
            f"git clone {url} failed: {done.stderr.strip()}",
            "The remote's address must work from every node of the cluster.",
        )
    args = ["checkout", "--quiet", *(["-B", branch] if branch else ["--detach"]), commit]
    done = run(dest, args)
    if done.returncode != 0:
        raise TransferError(
            f"commit {commit[:12]} is not on {url}: {done.stderr.strip()}",
            "Push the branch the sweep runs (git push) and start the sweep again.",
        )
