"""The ``git`` binary: talking to remotes as the user's git does, and answers asked early.

``gitexp run`` asks git, as it starts, what is ignored and what the config says
(:class:`GitAnswers`): git answers in C on another core while the snapshot begins.

Pushes and fetches go through ``git`` itself so that every transport (a path, ssh,
http(s), git://) works exactly as ``git push`` does for the user: credential helpers,
ssh-agent, ``~/.ssh/config``, proxies, ``insteadOf`` rewrites.  git's progress goes
straight to the user's terminal (stderr); the machine-readable answer (``--porcelain``)
is parsed from stdout.  Local refs and objects stay dulwich's (``git/repo.py``).

Every git started here carries ``GITEXP_IN_COMMAND=1``: gitexp's own hooks then leave the
work to the gitexp command that started it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import subprocess
from collections.abc import Callable

from gitexp.errors import RepositoryStateError, TransferError
from gitexp.slotted import Slotted
from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypeVar

    _Answer = TypeVar("_Answer")

ENV_IN_COMMAND = "GITEXP_IN_COMMAND"
ZERO = "0" * 40


class RefResult(Slotted):
    """One line of ``git push --porcelain``."""

    _fields = ("flag", "source", "dest", "summary")
    __slots__ = _fields
    flag: str  # " " fast-forward, "*" new, "-" deleted, "=" up to date, "!" rejected, "+" forced
    source: str
    dest: str
    summary: str

    def __init__(self, flag: str, source: str, dest: str, summary: str) -> None:
        self.flag, self.source, self.dest, self.summary = flag, source, dest, summary

    def __hash__(self) -> int:
        return hash((self.flag, self.source, self.dest, self.summary))

    @property
    def ok(self) -> bool:
        return self.flag != "!"


class GitOutput(Slotted):
    _fields = ("returncode", "stdout", "stderr")
    __slots__ = _fields
    returncode: int
    stdout: str
    stderr: str

    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def git_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env[ENV_IN_COMMAND] = "1"
    if extra:
        env.update(extra)
    return env


def no_git_error() -> RepositoryStateError:
    return RepositoryStateError(
        "the git program is not installed (gitexp hands pushes and fetches to it)",
        "Install git (https://git-scm.com/downloads) and try again.",
    )


def run(
    cwd: str,
    args: list[str],
    *,
    show_progress: bool = False,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
) -> GitOutput:
    """Run ``git ARGS`` in ``cwd``; stderr goes to the terminal when ``show_progress``."""
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=git_env(env),
            input=stdin,
            stdout=subprocess.PIPE,
            stderr=None if show_progress else subprocess.PIPE,
            text=True,
            errors="replace",
        )
    except FileNotFoundError:
        raise no_git_error() from None
    return GitOutput(done.returncode, done.stdout, done.stderr or "")


def whole_index(cwd: str, index_path: str) -> bytes:
    """The bytes of a split index made whole: git reads it with its shared index and
    writes one self-contained copy (stat data kept) to a temporary file beside it.

    The user's index is never written: the copy is made first, and git works on it.
    """
    temporary = f"{index_path}.gitexp-{os.getpid()}"
    try:
        with open(index_path, "rb") as source, open(temporary, "wb") as copy:
            copy.write(source.read())
        done = run(cwd, ["update-index", "--no-split-index"], env={"GIT_INDEX_FILE": temporary})
        if done.returncode:
            raise RepositoryStateError(
                f"git could not read the split index: {done.stderr.strip()}",
                "Check the repository with `git status`; `git update-index "
                "--no-split-index` turns the split index off.",
            )
        with open(temporary, "rb") as whole:
            return whole.read()
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def ignored_untracked(cwd: str, exclude_files: list[str]) -> Callable[[], list[str] | None]:
    """Start asking git for the ignored entries where it stops looking, as ``git status
    --ignored`` sees them; the function returned waits for the answer: untracked ignored
    files, and ignored folders (not entered) with a trailing '/', relative to ``cwd``,
    the work tree's root.  ``exclude_files`` add gitignore-syntax files read as
    ``info/exclude`` is.  The answer is None when git is missing or fails (the caller has
    a slower way).

    Started early, git answers in C on another core while the run starts.
    """
    args = ["ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory"]
    args += [f"--exclude-from={path}" for path in exclude_files]

    def parse(out: bytes) -> list[str]:
        return [path for path in out.decode("utf-8", "surrogateescape").split("\0") if path]

    return _start(cwd, args, parse)


class ConfigListing(dict[str, str]):
    """``git config --list``: the last value of each key, and in ``every`` all of them."""

    def __init__(self) -> None:
        super().__init__()
        self.every: dict[str, list[str]] = {}


def config_list(cwd: str) -> Callable[[], dict[str, str] | None]:
    """Start reading the git config that applies in ``cwd`` (every file git reads, its
    includes, ``GIT_CONFIG_*``), as ``git config --list`` gives it; the function returned
    waits: ``{"section.key": value}`` (section and key lower-case, the last value of a
    key wins; :attr:`ConfigListing.every` keeps all of them), or None when git is missing
    or fails."""

    def parse(out: bytes) -> dict[str, str]:
        values = ConfigListing()
        for item in out.decode("utf-8", "replace").split("\0"):
            key, newline, value = item.partition("\n")
            if key:
                values[key] = value if newline else "true"  # `[core] bare`: a true flag
                values.every.setdefault(key, []).append(values[key])
        return values

    return _start(cwd, ["config", "--list", "-z"], parse)


def _start(
    cwd: str, args: list[str], parse: Callable[[bytes], _Answer]
) -> Callable[[], _Answer | None]:
    """Start ``git ARGS``; the function returned waits for it once and gives its stdout
    parsed, remembered (None when git is missing or failed)."""
    try:
        process = subprocess.Popen(
            ["git", *args],
            cwd=cwd,
            env=git_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        return lambda: None
    kept: list[_Answer | None] = []

    def answer() -> _Answer | None:
        if not kept:
            out, _ = process.communicate()
            kept.append(None if process.returncode else parse(out))
        return kept[0]

    return answer


@functools.cache
def version() -> tuple[int, ...]:
    """git's version, ``(2, 39, 5)``; ``()`` when it does not say."""
    text = run(".", ["version"]).stdout  # "git version 2.39.5" (vendors add suffixes)
    found = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(part) for part in found.groups() if part) if found else ()


def config_get(cwd: str, key: str) -> str | None:
    done = run(cwd, ["config", "--get", key])
    value = done.stdout.strip()
    return value if done.returncode == 0 and value else None


def config_get_all(cwd: str, key: str) -> list[str]:
    done = run(cwd, ["config", "--get-all", key])
    return [line for line in done.stdout.splitlines() if line] if done.returncode == 0 else []


def config_add(cwd: str, key: str, value: str) -> None:
    done = run(cwd, ["config", "--add", key, value])
    if done.returncode:
        raise RepositoryStateError(f"git config --add {key} failed: {done.stderr.strip()}")


def config_unset(cwd: str, key: str, value: str) -> None:
    done = run(cwd, ["config", "--fixed-value", "--unset-all", key, value])
    if done.returncode not in (0, 5):  # 5: nothing to unset
        raise RepositoryStateError(f"git config --unset {key} failed: {done.stderr.strip()}")


def current_branch(cwd: str) -> str:
    """The branch HEAD is on ("" on a detached HEAD)."""
    return run(cwd, ["symbolic-ref", "--quiet", "--short", "HEAD"]).stdout.strip()


def init_with_commit(where: str, name: str, email: str, message: str) -> None:
    """``git init`` in ``where``, a local identity, and one commit of everything there
    (the demo's scratch repository)."""
    for args in (
        ["init", "-q"],
        ["config", "user.name", name],
        ["config", "user.email", email],
        ["add", "-A"],
        ["commit", "-q", "-m", message],
    ):
        done = run(where, args)
        if done.returncode != 0:
            raise RepositoryStateError(
                f"git {args[0]} failed in {where}: {done.stderr.strip()}",
                "Check that git works there (`git status`), then try again.",
            )


def remotes(cwd: str) -> list[str]:
    return run(cwd, ["remote"]).stdout.split()


def hooks_dir(cwd: str) -> str:
    """Where git looks for hooks here (``core.hooksPath`` honoured), as an absolute path."""
    done = run(cwd, ["rev-parse", "--git-path", "hooks"])
    if done.returncode:
        raise RepositoryStateError(f"git rev-parse failed: {done.stderr.strip()}")
    return os.path.abspath(os.path.join(cwd, done.stdout.strip()))


def tracked_under(cwd: str, folder: str) -> list[str]:
    """The files git tracks under ``folder`` (empty when it is outside the work tree)."""
    root = os.path.abspath(cwd)
    where = os.path.abspath(folder)
    if os.path.commonpath([root, where]) != root:
        return []
    done = run(cwd, ["ls-files", "-z", "--", os.path.relpath(where, root)])
    return [path for path in done.stdout.split("\0") if path] if done.returncode == 0 else []


def ls_remote(cwd: str, remote: str, pattern: str) -> dict[str, str]:
    """``{ref: sha}`` of the remote's refs matching ``pattern``."""
    done = run(cwd, ["ls-remote", "--refs", remote, pattern], show_progress=True)
    return _ls_remote_answer(remote, done.returncode, done.stdout)


class RemoteRefs:
    """``git ls-remote`` started now, answered later (:meth:`wait`), so that local work
    overlaps the round trip to the remote.  A context manager: leaving it early stops git."""

    def __init__(self, cwd: str, remote: str, pattern: str) -> None:
        self.remote = remote
        try:
            self._process = subprocess.Popen(
                ["git", "ls-remote", "--refs", remote, pattern],
                cwd=cwd,
                env=git_env(),
                stdout=subprocess.PIPE,
                text=True,
                errors="replace",
            )
        except FileNotFoundError:
            raise no_git_error() from None

    def wait(self) -> dict[str, str]:
        """``{ref: sha}`` of the remote's refs matching the pattern."""
        stdout, _ = self._process.communicate()
        return _ls_remote_answer(self.remote, self._process.returncode, stdout)

    def __enter__(self) -> RemoteRefs:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process.poll() is None:  # left before wait(): an error, Ctrl-C
            self._process.kill()
            self._process.communicate()


def _ls_remote_answer(remote: str, code: int, stdout: str) -> dict[str, str]:
    if code:
        raise TransferError(
            f"could not list the refs of remote {remote!r} (git ls-remote exited with "
            f"{code}; see git's message above)",
            "Check the remote's address and your access (`git ls-remote REMOTE` must work).",
        )
    out: dict[str, str] = {}
    for line in stdout.splitlines():
        sha, _, ref = line.partition("\t")
        if ref:
            out[ref] = sha
    return out


def push(
    cwd: str, remote: str, refspecs: list[str], no_verify: bool = False
) -> tuple[int, list[RefResult]]:
    """``git push --porcelain`` (never forced); the exit code and one result per ref."""
    args = ["push", "--porcelain"]
    if no_verify:
        args.append("--no-verify")
    done = run(cwd, [*args, remote, *refspecs], show_progress=True)
    return done.returncode, parse_porcelain(done.stdout)


def push_quietly(cwd: str, remote: str, refspecs: list[str]) -> tuple[int, list[RefResult], str]:
    """``git push --porcelain`` (never forced) with nothing on the terminal: a push made
    while a run trains (share/livepush.py) must not print into its output; git's error
    text is returned instead, for one line of warning."""
    done = run(cwd, ["push", "--porcelain", remote, *refspecs])
    return done.returncode, parse_porcelain(done.stdout), done.stderr


def push_lease(cwd: str, remote: str, source: str, ref: str, expect: str | None) -> str | None:
    """Compare-and-swap of one remote ref: point ``ref`` at ``source`` (a commit; "" deletes
    it) only while the remote holds ``expect`` there (None: only while it does not exist).

    ``--force-with-lease=<ref>:<expect>`` (an empty expect: "must not exist") is checked by
    the client, and the remote's receive-pack locks the ref and checks its old value again,
    so of two agents pushing the same new ref at once exactly one wins.  None when the
    remote took it, else why not (one line).
    """
    lease = f"--force-with-lease={ref}:{expect or ''}"
    args = ["push", "--porcelain", "--no-verify", lease, remote, f"{source}:{ref}"]
    done = run(cwd, args)
    results = parse_porcelain(done.stdout)
    if done.returncode == 0 and results and all(result.ok for result in results):
        return None
    why = next((result.summary for result in results if not result.ok), "")
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    return why or (lines[-1][:200] if lines else f"git push exited with {done.returncode}")


def set_refs(cwd: str, refs: dict[str, str], message: str) -> bool:
    """Point each ref at its commit, whatever it held, in one ``git update-ref --stdin``.

    One transaction: all or nothing (False when git refused any, a ref locked by another
    writer say).  1,000 mirror refs take git 0.2 s where one dulwich update each takes 0.8 s.
    """
    if not refs:
        return True
    lines = "".join(f"update {ref} {sha}\n" for ref, sha in refs.items())
    return run(cwd, ["update-ref", "-m", message, "--stdin"], stdin=lines).returncode == 0


def create_refs(cwd: str, refs: dict[str, str], message: str) -> bool:
    """Create each ref, none of which may exist yet, in one ``git update-ref --stdin``,
    each with a reflog whose first line is ``message``.

    One transaction: all or nothing (False when git refused any: a ref that appeared
    meanwhile, or one locked by another writer).  A pull of 10,000 new runs: one git
    process instead of 10,000 locked, fsynced updates.
    """
    if not refs:
        return True
    lines = "".join(f"create {ref} {sha}\n" for ref, sha in refs.items())
    args = ["update-ref", "--create-reflog", "-m", message, "--stdin"]
    return run(cwd, args, stdin=lines).returncode == 0


def parse_porcelain(text: str) -> list[RefResult]:
    results: list[RefResult] = []
    for line in text.splitlines():
        if "\t" not in line or line.startswith("To "):
            continue
        flag, refs, *rest = line.split("\t")
        source, _, dest = refs.partition(":")
        results.append(RefResult(flag[:1] or " ", source, dest, rest[0] if rest else ""))
    return results


def fetch(
    cwd: str, remote: str, refspecs: list[str], prune: bool, quiet: bool = False
) -> GitOutput:
    """``git fetch`` without tags; git's progress and errors reach the terminal (not when
    ``quiet``: an agent's fetch every turn would bury what it says; its stderr is then in
    the result, for the caller's message).

    ``--atomic``: one ref transaction for all refs, so a reference-transaction hook of
    the user's runs twice per fetch instead of twice per run (git 2.39 runs a fetch as
    one transaction per ref otherwise)."""
    args = ["fetch", "--atomic", "--no-tags", "--no-write-fetch-head"]
    if prune:
        args.append("--prune")
    return run(cwd, [*args, remote, *refspecs], show_progress=not quiet)


class IgnoredEntries:
    """What ``git ls-files --others --ignored --directory`` listed: ignored untracked
    files, and folders git did not enter (everything in them is ignored)."""

    def __init__(self, listed: list[str]) -> None:
        self.files = {path for path in listed if not path.endswith("/")}
        self.folders = {path[:-1] for path in listed if path.endswith("/")}

    def covers(self, relpath: str) -> bool:
        path = relpath.rstrip("/")
        if path in self.folders or (path in self.files and not relpath.endswith("/")):
            return True
        return self._in_folder(path)

    def covers_folder(self, reldir: str) -> bool:
        path = reldir.rstrip("/")
        return path in self.folders or self._in_folder(path)

    def _in_folder(self, path: str) -> bool:
        while "/" in path:
            path = path.rsplit("/", 1)[0]
            if path in self.folders:
                return True
        return False


# File systems stamp changes with a coarse clock: a kernel tick (1-10 ms) where stamps
# have sub-second parts, whole seconds (or two) where they do not.  An entry stamped up
# to this long before the question may be newer than git's listing of it, so dulwich
# decides about it.
_TICK_SLACK_NS = 50_000_000
_SECONDS_SLACK_NS = 2_000_000_000


def _changed_after(changed_ns: int, asked_ns: int) -> bool:
    slack = _TICK_SLACK_NS if changed_ns % 1_000_000_000 else _SECONDS_SLACK_NS
    return changed_ns >= asked_ns - slack


class GitAnswers:
    """Answers of git itself, asked before they are needed (:meth:`GitRepo.use_git_answers`).

    ``asked_ns``: when the questions were started; an entry changed after it may be
    newer than git's listing, so it is left to dulwich's rules.
    """

    def __init__(
        self,
        asked_ns: int,
        config: Callable[[], dict[str, str] | None],
        ignored: Callable[[], list[str] | None],
    ) -> None:
        self.asked_ns = asked_ns
        self._config = config
        self._ignored = ignored
        self._entries: IgnoredEntries | None = None

    def config(self) -> dict[str, str] | None:
        return self._config()

    def ignored(self, changed_ns: int | None) -> IgnoredEntries | None:
        if changed_ns is not None and _changed_after(changed_ns, self.asked_ns):
            return None
        if self._entries is None:
            listed = self._ignored()
            if listed is None:
                return None
            self._entries = IgnoredEntries(listed)
        return self._entries
