"""``gitexp doctor``: what in this setup would stop gitexp, each with the command that fixes it.

Read-only: a check looks, it never repairs (a crashed run is reported, not finalized,
so the doctor's verdict is what the user's next command would meet).  Nothing here
contacts another machine: a git remote is checked as configured (a local folder must
exist), never fetched from.

The git gitexp needs: 2.31 or later.  ``git fetch --atomic`` (pull's one ref transaction)
came with 2.31, ``--no-write-fetch-head`` with 2.29, ``git config --fixed-value``
(uninstall) with 2.30; negative refspecs (2.29) only speed pushes up.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
from collections.abc import Callable

from gitexp.artifacts.plugins import missing_plugin
from gitexp.errors import (
    EXIT_NOT_A_REPO,
    EXIT_REPO_STATE,
    GitexpError,
    NotARepositoryError,
    RepositoryStateError,
)
from gitexp.git import binary as gitbin
from gitexp.git.repo import GitRepo
from gitexp.render.words import plural
from gitexp.slotted import Slotted

MIN_GIT = (2, 31)
OK, WARN, FAIL = "ok", "warn", "fail"


class Check(Slotted):
    """One verdict: ``status`` is ok, warn or fail; ``fix`` holds commands to run."""

    _fields = ("name", "status", "message", "fix")
    __slots__ = _fields

    def __init__(self, name: str, status: str, message: str, fix: tuple[str, ...] = ()) -> None:
        self.name = name
        self.status = status
        self.message = message
        self.fix = fix


def exit_code(checks: list[Check]) -> int:
    """0 without failures; 3 when there is no work tree to record in; else 6."""
    if any(c.name == "work tree" and c.status == FAIL for c in checks):
        return EXIT_NOT_A_REPO
    return EXIT_REPO_STATE if any(c.status == FAIL for c in checks) else 0


def diagnose(where: str | None = None) -> list[Check]:
    """Every check, in the order a user would fix things."""
    checks = [_git_version()]
    try:
        repo = GitRepo.discover(where)
    except NotARepositoryError as exc:
        return [*checks, Check("work tree", FAIL, exc.message, (_work_tree_fix(exc, where),))]
    except RepositoryStateError as exc:  # a layout gitexp refuses: SHA-256 objects, reftable
        return [*checks, Check("layout", FAIL, exc.message, (exc.hint,) if exc.hint else ())]
    with repo:
        checks.append(Check("work tree", OK, repo.root))
        checks.extend(
            _guarded(check, repo) for check in (_layout, _commits, _identity, _stale_runs)
        )
    root = repo.root
    checks.extend(_each("dvc", lambda: _dvc(root)))
    checks.extend(_each("git remotes", lambda: _git_remotes(root)))
    checks.extend(_each("hooks", lambda: _hooks(root)))
    return checks


def _work_tree_fix(exc: NotARepositoryError, where: str | None) -> str:
    """The command for each way of being outside a work tree (GitRepo.discover's three)."""
    here = os.path.abspath(where or os.getcwd())
    if "bare" in exc.message:
        work = shlex.quote(f"{here}-work")
        return f"git clone {shlex.quote(here)} {work} && cd {work}"
    if ".git folder" in exc.message and exc.hint and "cd " in exc.hint:  # names the work tree
        return "cd " + shlex.quote(exc.hint.rsplit("cd ", 1)[1])
    return "git init   # or cd into your project's repository"


def _guarded(check: Callable[[GitRepo], Check], repo: GitRepo) -> Check:
    try:
        return check(repo)
    except GitexpError as exc:  # git missing, say: that check fails, the others still run
        return Check(check.__name__.strip("_").replace("_", " "), FAIL, exc.message)


def _each(name: str, checks: Callable[[], list[Check]]) -> list[Check]:
    try:
        return checks()
    except GitexpError as exc:
        return [Check(name, FAIL, exc.message)]


def _git_version() -> Check:
    wanted = ".".join(map(str, MIN_GIT))
    install = f"install git {wanted} or later: https://git-scm.com/downloads"
    try:
        found = gitbin.version()
    except GitexpError:
        return Check("git", FAIL, "the git program is not installed", (install,))
    shown = ".".join(map(str, found)) or "of unknown version"
    if found and found < MIN_GIT:
        return Check("git", FAIL, f"git {shown} is older than {wanted}", (install,))
    return Check("git", OK, f"git {shown} (gitexp needs {wanted} or later)")


def _layout(repo: GitRepo) -> Check:
    """The repository's layout, as gitexp reads it (docs/format.md, "Repository layouts")."""
    return Check("layout", OK, ", ".join(repo.layout.names()))


def _commits(repo: GitRepo) -> Check:
    head = repo.head_commit()
    if head is None:
        return Check(
            "commits",
            WARN,
            "no commit yet: runs are recorded without a baseline commit to compare against",
            ('git add -A && git commit -m "First commit"',),
        )
    return Check("commits", OK, f"HEAD is {head.decode()[:12]}")


def _identity(repo: GitRepo) -> Check:
    missing = [key for key in ("user.name", "user.email") if not gitbin.config_get(repo.root, key)]
    if not missing:
        return Check("identity", OK, repo.identity().decode("utf-8", "replace"))
    examples = {"user.name": '"Your Name"', "user.email": "you@example.com"}
    return Check(
        "identity",
        WARN,
        f"{' and '.join(missing)} not set: runs are recorded as {repo.identity().decode()}",
        tuple(f"git config --global {key} {examples[key]}" for key in missing),
    )


def _stale_runs(repo: GitRepo) -> Check:
    from gitexp.record.live import list_live

    dead = [
        live.run_id
        for live in list_live(repo.commondir)
        if not live.recorder_alive() and not live.child_alive()
    ]
    if dead:
        return Check(
            "runs",
            WARN,
            f"{plural(len(dead), 'run')} whose recorder died, not yet marked crashed: "
            f"{', '.join(dead)}",
            ("gitexp ls   # any gitexp command marks them crashed",),
        )
    return Check("runs", OK, "no crashed run waiting to be finalized")


def _dvc(root: str) -> list[Check]:
    if importlib.util.find_spec("dvc") is None:
        return [Check("dvc", FAIL, "DVC is not installed", ("pip install 'dvc>=3.50'",))]
    from gitexp.artifacts import dvc as store_mod

    if not store_mod.has_project(root):
        return [
            Check(
                "dvc",
                WARN,
                "no DVC project: runs are recorded, but `--out` and artifacts need one",
                ('dvc init && git commit -m "Set up DVC" .dvc .dvcignore',),
            )
        ]
    try:
        with store_mod.ArtifactStore(root) as store:
            default, urls = store.remotes()
    except GitexpError:
        raise
    except Exception as exc:  # DVC's own config errors come in its own types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [Check("dvc", FAIL, f"DVC cannot read this project: {first}", ("dvc doctor",))]
    checks = [Check("dvc", OK, "DVC project found")]
    if default is None:
        checks.append(
            Check(
                "dvc remote",
                WARN,
                "no default DVC remote: artifacts stay in this machine's cache, "
                "and `gitexp push` cannot upload them",
                (
                    "dvc remote add -d storage /path/to/shared/folder  # or s3://bucket/path",
                    'git commit -m "DVC remote" .dvc/config',
                ),
            )
        )
    elif default not in urls:
        checks.append(
            Check(
                "dvc remote",
                FAIL,
                f"the default DVC remote {default!r} is not defined",
                ("dvc remote list", "dvc remote default NAME"),
            )
        )
    for name, url in sorted(urls.items()):
        extra = missing_plugin(url)
        if extra is not None:
            checks.append(
                Check(
                    "dvc remote",
                    FAIL,
                    f"remote {name!r} ({url}) needs DVC's {extra} plugin, not installed",
                    (f"pip install 'gitexp[{extra}]'",),
                )
            )
        elif name == default:
            checks.append(Check("dvc remote", OK, f"{name} ({url}) is the default"))
    return checks


def _git_remotes(root: str) -> list[Check]:
    names = gitbin.remotes(root)
    if not names:
        return [
            Check(
                "git remotes",
                WARN,
                "no git remote: runs stay on this machine until one is added",
                ("git remote add origin URL",),
            )
        ]
    return [_git_remote(root, name) for name in names]


def _git_remote(root: str, name: str) -> Check:
    url = gitbin.config_get(root, f"remote.{name}.url")
    label = f"remote {name}"
    if url is None:
        return Check(label, FAIL, "has no URL", (f"git remote set-url {name} URL",))
    path = _local_path(url)
    if path is None:
        return Check(label, OK, f"{url} (not contacted)")
    where = os.path.join(root, path)
    if not os.path.isdir(where):
        return Check(
            label,
            FAIL,
            f"{url}: no such folder",
            (f"git init --bare {shlex.quote(path)}", f"git remote set-url {name} URL"),
        )
    return Check(label, OK, f"{url} (a folder on this machine)")


def _local_path(url: str) -> str | None:
    """The folder a remote URL names on this machine, or None for a network URL."""
    if url.startswith("file://"):
        return url[len("file://") :]
    if "://" in url:
        return None
    head = url.split("/", 1)[0]
    if ":" in head:  # scp-like `host:path` (git reads a colon before any slash so)
        return None
    return url


def _hooks(root: str) -> list[Check]:
    from gitexp.share import hooks

    where = gitbin.hooks_dir(root)
    ours: dict[str, bool] = {}  # installed hook -> is it what `gitexp install` writes now
    for name in hooks.HOOKS:
        path = os.path.join(where, name)
        if hooks.is_gitexp_hook(path):
            with open(path, encoding="utf-8", errors="replace") as handle:
                ours[name] = handle.read() == hooks.template(name)
    # gitexp 0.2's reference-transaction hook: it made every fetch of many runs slow.
    retired = [n for n in hooks.RETIRED_HOOKS if hooks.is_gitexp_hook(os.path.join(where, n))]
    if not ours and not retired:
        return [
            Check(
                "hooks",
                OK,
                "not installed (optional: then plain `git push` and `git fetch` move runs too)",
            )
        ]
    stale = [name for name in hooks.HOOKS if ours and not ours.get(name)] + retired
    if stale:
        return [
            Check(
                "hooks",
                WARN,
                f"{', '.join(stale)}: missing, or from another gitexp version or Python",
                ("gitexp install",),
            )
        ]
    checks = [Check("hooks", OK, f"{', '.join(hooks.HOOKS)} installed and current")]
    for remote in gitbin.remotes(root):
        if not hooks.installed_for(root, remote):
            checks.append(
                Check(
                    "hooks",
                    WARN,
                    f"`git fetch {remote}` does not fetch runs (set up before this remote?)",
                    (f"gitexp install --remote {remote}",),
                )
            )
    return checks
