"""What gitexp's installed git hooks run: ``python -m gitexp.commands.hook_impl HOOK ARGS``.

Not a user command (the hooks in hooks/ call it, see share/hooks.py).  ``pre-push``
reads git's ``<local ref> <local sha> <remote ref> <remote sha>`` lines: runs being
pushed get their artifacts uploaded first (a failure refuses the push, so no run ever
reaches a remote without its files); a push without runs, to a remote that
``gitexp install`` set up, pushes the runs as well.  ``reference-transaction``
(``committed``) reads ``<old> <new> <ref>`` lines and brings fetched runs here.
"""

from __future__ import annotations

import re
import sys

from gitexp.cli_support import say
from gitexp.errors import GitexpError
from gitexp.git.binary import ZERO
from gitexp.render.words import plural

_MIRROR = re.compile(r"^refs/remotes/(.+)/gitexp/runs/([^/]+)$")


def pre_push(remote: str, lines: list[str]) -> int:
    from gitexp.git.repo import GitRepo
    from gitexp.share import hooks
    from gitexp.share.push import push_runs, upload_artifacts
    from gitexp.share.remotes import describe, summary_line

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
            verb = "pushed"
        else:
            return 0
    for item in report.runs:
        if item.action not in ("up to date",) and (item.error or not runs):
            print(describe(item), file=sys.stderr)
    if report.failed:
        say(f"push refused: {summary_line(report, verb)}")
        say("  Fix the cause above, or push without gitexp's part: GITEXP_SKIP_HOOKS=1 git push")
        return 1
    return 0


def reference_transaction(state: str, lines: list[str]) -> int:
    from gitexp.git.repo import GitRepo
    from gitexp.share.remotes import DIVERGED, NEW, UPDATED, fast_forward

    if state != "committed":
        return 0
    fetched: dict[str, tuple[str, bytes]] = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 3 or parts[1] == ZERO:
            continue  # a deleted mirror (fetch --prune) never deletes a local run
        match = _MIRROR.match(parts[2])
        if match:
            fetched[match.group(2)] = (match.group(1), parts[1].encode())
    if not fetched:
        return 0
    counts = {NEW: 0, UPDATED: 0}
    with GitRepo.discover() as repo:
        for run_id, (remote, sha) in sorted(fetched.items()):
            action = fast_forward(repo, run_id, sha)
            if action in counts:
                counts[action] += 1
            elif action == DIVERGED:
                say(
                    f"run {run_id[:7]} diverged: kept this clone's history; the remote's is "
                    f"refs/remotes/{remote}/gitexp/runs/{run_id} (docs/sharing.md)"
                )
    if counts[NEW] or counts[UPDATED]:
        say(
            f"{plural(counts[NEW], 'new run')}, {counts[UPDATED]} updated "
            "(artifacts: `gitexp pull`)"
        )
    return 0


def main(argv: list[str]) -> int:
    lines = sys.stdin.read().splitlines()
    try:
        if argv[:1] == ["pre-push"] and len(argv) >= 2:
            return pre_push(argv[1], lines)
        if argv[:1] == ["reference-transaction"] and len(argv) >= 2:
            return reference_transaction(argv[1], lines)
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
