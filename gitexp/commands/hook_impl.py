"""What gitexp's installed git hooks run: ``python -m gitexp.commands.hook_impl HOOK ARGS``.

Not a user command (the hooks in hooks/ call it, see share/hooks.py).  ``pre-push``
reads git's ``<local ref> <local sha> <remote ref> <remote sha>`` lines: runs being
pushed get their artifacts uploaded first (a failure refuses the push, so no run ever
reaches a remote without its files); a push without runs, to a remote that
``gitexp install`` set up, pushes the runs as well.

``reference-transaction`` and ``drain-fetched`` are what the reference-transaction hook
of gitexp 0.2 called (versions 1 and 2 of that hook); gitexp no longer installs it, since
the next gitexp command brings fetched runs in (share/fetched.py), and ``gitexp install``
removes it.  Until then they still answer: version 1 brings the runs in, version 2's
drainer has nothing left to do.
"""

from __future__ import annotations

import sys

from gitexp.cli_support import say
from gitexp.errors import GitexpError
from gitexp.git.binary import ZERO


def pre_push(remote: str, lines: list[str]) -> int:
    from gitexp.git.repo import GitRepo
    from gitexp.share import hooks
    from gitexp.share.aliassync import push_aliases
    from gitexp.share.push import push_runs, upload_artifacts
    from gitexp.share.remotes import FAILURES, describe, summary_line
    from gitexp.share.sweeps import push_sweeps

    runs: dict[str, bytes] = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 4 and parts[2].startswith("refs/gitexp/runs/") and parts[1] != ZERO:
            runs[parts[2].rsplit("/", 1)[1]] = parts[1].encode()
    with GitRepo.discover() as repo:
        if runs:
            report = upload_artifacts(repo, runs, say=say)
            verb = "artifacts uploaded for"
        elif hooks.installed_for(repo.root, remote):
            say(f"pushing runs to {remote} too (gitexp install; GITEXP_SKIP_HOOKS=1 skips)")
            report = push_runs(repo, remote, no_verify=True, say=say)
            report.sweeps = push_sweeps(repo, remote, None)
            report.aliases = push_aliases(repo, remote)
            verb = "pushed"
        else:
            return 0
    for item in report.runs:
        if item.action not in ("up to date",) and (item.error or not runs):
            print(describe(item), file=sys.stderr)
    for line in report.sweeps:
        say(line)
    for alias in report.aliases:
        if alias.action != "up to date":
            print(f"  {alias.action:<11}alias {alias.id}  {alias.error or ''}", file=sys.stderr)
    if report.failed or any(alias.action in FAILURES for alias in report.aliases):
        say(f"push refused: {summary_line(report, verb)}")
        say("  Fix the cause above, or push without gitexp's part: GITEXP_SKIP_HOOKS=1 git push")
        return 1
    return 0


def reference_transaction(state: str, lines: list[str]) -> int:
    """What version 1 of the hook ran for every committed transaction: still answered, for
    clones whose hooks predate the queue (``gitexp install`` replaces them)."""
    from gitexp.git.repo import GitRepo
    from gitexp.share.fetched import bring_here, parse

    fetched = parse(lines) if state == "committed" else {}
    if fetched:
        with GitRepo.discover() as repo:
            bring_here(repo, fetched, say)
    return 0


def main(argv: list[str]) -> int:
    lines = [] if argv[:1] == ["drain-fetched"] else sys.stdin.read().splitlines()
    try:
        if argv[:1] == ["pre-push"] and len(argv) >= 2:
            return pre_push(argv[1], lines)
        if argv[:1] == ["reference-transaction"] and len(argv) >= 2:
            return reference_transaction(argv[1], lines)
        if argv[:1] == ["drain-fetched"] and len(argv) == 3:
            return 0  # the next gitexp command brings the fetched runs in
    except GitexpError as exc:
        say(f"error: {exc.message}")
        if exc.hint:
            say(f"  {exc.hint}")
        return 1
    except Exception as exc:  # a hook must say what went wrong, never dump a traceback
        say(f"error in the {argv[0]} hook: {type(exc).__name__}: {exc}")
        return 1
    print(f"gitexp: unknown hook invocation {argv!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
