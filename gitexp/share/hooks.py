"""``gitexp install`` / ``uninstall``: plain ``git push`` and ``git fetch`` move runs too.

What install changes, and uninstall takes back exactly:

* for each chosen remote, one more fetch refspec,
  ``+refs/gitexp/runs/*:refs/remotes/<remote>/gitexp/runs/*``: ``git fetch`` mirrors
  the remote's runs in its remote-tracking namespace (so ``--prune`` can never delete a
  local run), and its sweeps' beside it (``.../gitexp/sweeps/*``, made local by the
  sweep commands: share/sweeps.py).  No ``remote.<name>.push`` refspec: it would
  replace ``push.default`` for branches (``git push`` would stop pushing the current
  branch to its upstream);
* one hook, from the template in ``hooks/``: ``pre-push`` uploads the artifacts of runs
  being pushed before their refs arrive (as git-lfs does) and, on a plain ``git push`` to
  a remote set up here, pushes the runs as well.  Runs a fetch mirrored need no hook: the
  next gitexp command brings them in (share/fetched.py).  gitexp 0.2 also installed a
  ``reference-transaction`` hook, which cost a fetch of 1,000 runs 4x plain git's time;
  install and uninstall remove it (putting back a hook of yours it had moved aside).

A hook that is not gitexp's is never overwritten: it is moved aside to
``<hook>.gitexp-previous`` (same bytes, same mode) and gitexp's hook runs it first with
the same arguments and input.  gitexp's own hooks carry the line ``# gitexp-hook:``, so
install recognises and upgrades an older one, and a second install changes nothing.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from importlib import resources

from gitexp.errors import RepositoryStateError
from gitexp.git import binary as gitbin
from gitexp.render.words import plural
from gitexp.share import claims, sweeps
from gitexp.share.aliassync import alias_fetch_refspec
from gitexp.share.remotes import fetch_refspec, tracking_prefix

HOOKS = ("pre-push",)
RETIRED_HOOKS = ("reference-transaction",)  # installed by gitexp 0.2; removed on sight
MARKER = "# gitexp-hook:"
PREVIOUS_SUFFIX = ".gitexp-previous"


@dataclass
class SetupReport:
    hooks_dir: str
    hooks: list[tuple[str, str]] = field(default_factory=list)  # (hook, what happened)
    remotes: list[tuple[str, str]] = field(default_factory=list)  # (remote, what happened)

    def as_json(self) -> dict[str, object]:
        return {
            "hooks_dir": self.hooks_dir,
            "hooks": [{"hook": h, "result": r} for h, r in self.hooks],
            "remotes": [{"remote": n, "result": r} for n, r in self.remotes],
        }

    def lines(self) -> list[str]:
        return [f"hook {hook}: {result}" for hook, result in self.hooks] + [
            f"remote {remote}: {result}" for remote, result in self.remotes
        ]


def template(name: str, python: str | None = None) -> str:
    """A hook's text, pointing at the Python that runs gitexp."""
    text = (resources.files("gitexp.hooks_templates") / name).read_text(encoding="utf-8")
    quoted = (python or sys.executable).replace("'", "'\"'\"'")
    return text.replace("@GITEXP_PYTHON@", quoted)


def is_gitexp_hook(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return MARKER.encode() in head


def _write_hook(path: str, text: str) -> None:
    tmp = f"{path}.gitexp-{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)


def install(root: str, remotes: list[str]) -> SetupReport:
    """Install the hooks and the fetch refspecs of ``remotes`` (idempotent)."""
    known = gitbin.remotes(root)
    for remote in remotes:
        if remote not in known:
            raise RepositoryStateError(
                f"there is no git remote named {remote!r}",
                "See them with `git remote -v`; add one with `git remote add NAME URL`.",
            )
    report = SetupReport(gitbin.hooks_dir(root))
    tracked = gitbin.tracked_under(root, report.hooks_dir)
    if tracked:
        # core.hooksPath names a folder the project commits (a hook manager such as husky
        # or pre-commit's): installing there would change the team's tracked files.
        folder = os.path.relpath(report.hooks_dir, root)
        raise RepositoryStateError(
            f"core.hooksPath points at {folder}/, a folder git tracks "
            f"({plural(len(tracked), 'file')}): "
            "gitexp will not change your tracked files",
            "Share runs with `gitexp push` and `gitexp pull`, which need no hooks, or call "
            "gitexp from your own pre-push hook: "
            '`python -m gitexp.commands.hook_impl pre-push "$@"` (docs/sharing.md).',
        )
    os.makedirs(report.hooks_dir, exist_ok=True)
    for name in HOOKS:
        path = os.path.join(report.hooks_dir, name)
        previous = path + PREVIOUS_SUFFIX
        text = template(name)
        if not os.path.lexists(path):
            _write_hook(path, text)
            report.hooks.append((name, "installed"))
        elif is_gitexp_hook(path) and not os.path.islink(path):
            with open(path, encoding="utf-8", errors="replace") as handle:
                same = handle.read() == text
            if not same:
                _write_hook(path, text)
            report.hooks.append((name, "already installed" if same else "upgraded"))
        elif os.path.lexists(previous):
            raise RepositoryStateError(
                f"both {path} and {previous} exist, and the first is not gitexp's",
                "gitexp keeps one hook of yours aside; merge the two by hand, then install.",
            )
        else:
            os.rename(path, previous)  # the same file: bytes, mode and times kept
            _write_hook(path, text)
            report.hooks.append((name, f"installed; yours moved to {os.path.basename(previous)}"))
    for name in RETIRED_HOOKS:
        result = _remove_ours(report.hooks_dir, name)
        if result in ("removed", "removed; yours put back"):
            report.hooks.append((name, f"{result} (no longer needed: docs/sharing.md)"))
    for remote in remotes:
        key = f"remote.{remote}.fetch"
        have = gitbin.config_get_all(root, key)
        added = [spec for spec in _refspecs(remote) if spec not in have]
        for refspec in added:
            gitbin.config_add(root, key, refspec)
        if added:
            report.remotes.append((remote, f"fetch += {' '.join(added)}"))
        else:
            report.remotes.append((remote, "already fetches runs"))
    return report


def _refspecs(remote: str) -> list[str]:
    """The runs' fetch refspec, and (added in 0.3) the sweeps', the agents' claims' and
    the artifact registry's aliases' beside it."""
    return [
        fetch_refspec(remote),
        sweeps.fetch_refspec(tracking_prefix(remote)),
        claims.fetch_refspec(tracking_prefix(remote)),
        alias_fetch_refspec(remote),
    ]


def uninstall(root: str) -> SetupReport:
    """Remove gitexp's hooks (putting back the ones they replaced) and fetch refspecs."""
    report = SetupReport(gitbin.hooks_dir(root))
    for name in HOOKS:
        report.hooks.append((name, _remove_ours(report.hooks_dir, name)))
    for name in RETIRED_HOOKS:
        result = _remove_ours(report.hooks_dir, name)
        if result != "not installed":
            report.hooks.append((name, result))
    for remote in gitbin.remotes(root):
        key = f"remote.{remote}.fetch"
        have = gitbin.config_get_all(root, key)
        for refspec in _refspecs(remote):
            if refspec in have:
                gitbin.config_unset(root, key, refspec)
                report.remotes.append((remote, f"fetch -= {refspec}"))
    return report


def _remove_ours(hooks_dir: str, name: str) -> str:
    """Remove gitexp's hook ``name``, putting back the one it moved aside."""
    path = os.path.join(hooks_dir, name)
    previous = path + PREVIOUS_SUFFIX
    ours = os.path.lexists(path) and is_gitexp_hook(path) and not os.path.islink(path)
    if os.path.lexists(path) and not ours:
        return "not gitexp's: left alone"
    if ours:
        os.unlink(path)
    if os.path.lexists(previous):
        os.rename(previous, path)
        return "removed; yours put back"
    return "removed" if ours else "not installed"


def installed_for(root: str, remote: str) -> bool:
    """Whether ``gitexp install`` set ``remote`` up (plain pushes to it push runs)."""
    return fetch_refspec(remote) in gitbin.config_get_all(root, f"remote.{remote}.fetch")
