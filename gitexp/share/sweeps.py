"""Sweep refs (``refs/gitexp/sweeps/<id>``) travel with runs: pushed beside them, fetched
into the same mirror, and made local once checked.

A sweep ref is written once and never moves (sweep/ref.py), so push never forces one
and pull only creates: a remote sweep whose id this clone holds with another spec is
reported and left alone, as is a quarantined one (read/trust.py, sweep/ref.py).
"""

from __future__ import annotations

from gitexp.git import binary as gitbin
from gitexp.git.repo import GitRepo
from gitexp.share.remotes import sibling_mirror, tracking_prefix
from gitexp.sweep import ref as sweepref

SOURCE = "refs/gitexp/sweeps/*"


def mirror_prefix(runs_prefix: bytes) -> bytes:
    """Where a fetch mirrors the remote's sweeps, beside its runs' mirror ``runs_prefix``."""
    return sibling_mirror(runs_prefix, "sweeps")


def fetch_refspec(runs_prefix: bytes) -> str:
    return f"+{SOURCE}:{mirror_prefix(runs_prefix).decode()}*"


def adopt(repo: GitRepo, runs_prefix: bytes, remote: str) -> list[str]:
    """Create the local sweep refs the mirror holds and this clone lacks; what happened."""
    lines: list[str] = []
    for name, sha in sorted(repo.list_refs(mirror_prefix(runs_prefix)).items()):
        sweep_id = name.decode("utf-8", "replace")
        spec, problem = sweepref.spec_problem(repo, sweep_id, sha)
        if spec is None:
            lines.append(f"sweep {sweep_id[:80]!r} quarantined (not made local): {problem}")
            continue
        local = repo.read_ref(sweepref.ref_name(sweep_id))
        if local == sha:
            continue
        if local is not None:
            lines.append(
                f"sweep {sweep_id}: kept this clone's spec; {remote} holds another one "
                f"({sha.decode()[:12]})"
            )
        elif repo.create_ref(sweepref.ref_name(sweep_id), sha, f"gitexp pull: {remote}".encode()):
            lines.append(f"sweep {sweep_id}: new")
    return lines


def adopt_mirrored(repo: GitRepo) -> list[str]:
    """:func:`adopt` for every remote's mirror a plain ``git fetch`` filled (gitexp
    install's refspec): the sweep commands call it before they read sweeps."""
    lines: list[str] = []
    for remote in gitbin.remotes(repo.root):
        lines += adopt(repo, tracking_prefix(remote), remote)
    return lines


def drop_mirror(repo: GitRepo, runs_prefix: bytes) -> None:
    if runs_prefix.startswith(b"refs/gitexp/incoming/"):
        prefix = mirror_prefix(runs_prefix)
        for name in repo.list_refs(prefix):
            repo.remove_ref(prefix + name)


def push_sweeps(repo: GitRepo, remote: str, groups: set[str] | None) -> list[str]:
    """Push the sweep refs (those of ``groups``, or all); what did not go, and why."""
    refs = sweepref.sweeps(repo)
    chosen = sorted(name for name in refs if groups is None or name in groups)
    if not chosen:
        return []
    refspecs = [
        f"{sweepref.ref_name(name).decode()}:{sweepref.ref_name(name).decode()}" for name in chosen
    ]
    code, results = gitbin.push(repo.root, remote, refspecs)
    lines = [
        f"sweep {result.dest.rpartition('/')[2]}: not pushed ({result.summary or 'rejected'}; "
        "the remote holds another sweep by this name)"
        for result in results
        if result.flag == "!"
    ]
    if code and not lines:
        lines.append(f"sweeps not pushed: git push exited with {code}")
    lines += [
        f"sweep {result.dest.rpartition('/')[2]}: pushed"
        for result in results
        if result.flag == "*"
    ]
    return lines
