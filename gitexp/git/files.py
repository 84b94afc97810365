"""git's repository layout, refs and pack indexes, read without dulwich.

Every ``gitexp run`` opens the repository, reads HEAD, checks which objects exist and
moves a ref or two.  dulwich's ``Repo`` does all that, but importing it pulls in its
index, object store, pack and delta code (~17 ms), and its object lookup stats every
pack for each object (~15 ms for the trees of an 800-file snapshot): together a fifth
of a whole run of ``true``.  For an ordinary repository layout this module answers
those few questions from the files directly; ``gitexp.git.repo`` uses it where it
can and dulwich for everything else (unusual layouts, extensions, odd files), so
behaviour on anything unexpected stays dulwich's.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import re
import struct
from collections.abc import Callable, Iterator

# Config words that change how refs, objects or the work tree are found: a repository
# mentioning any of them is opened through dulwich (compared lower-cased, as git
# section and key names are case-insensitive).
_UNUSUAL_CONFIG = (b"[extensions", b"worktree", b"sharedrepository", b"[include")
# Environment variables that move the git folder, index or object store.
_UNUSUAL_ENV = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
)
HEX_SHA = re.compile(rb"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")
SYMREF = b"ref: "


def find_repository(start: str) -> tuple[str, str, str] | None:
    """(work tree, git folder, common git folder) of the repository holding ``start``.

    Found as dulwich's ``Repo.discover`` finds it (the same walk up from the resolved
    path, the same tests for ``.git``); None where the answer needs dulwich: a bare
    repository or a git folder on the way, a ``.git`` file it cannot read, or a layout
    this module does not handle (see ``_UNUSUAL_CONFIG`` and ``_UNUSUAL_ENV``).
    """
    if any(name in os.environ for name in _UNUSUAL_ENV):
        return None
    path = os.path.realpath(start)
    while True:
        dotgit = os.path.join(path, ".git")
        if os.path.isfile(dotgit):
            controldir = read_gitfile(path, dotgit)
            if controldir is None:
                return None
            break
        if os.path.isdir(os.path.join(dotgit, "objects")):
            controldir = dotgit
            break
        if os.path.isdir(os.path.join(path, "objects")) and os.path.isdir(
            os.path.join(path, "refs")
        ):
            return None  # a bare repository, or inside a .git folder: dulwich says which
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent
    commondir = controldir
    try:
        with open(os.path.join(controldir, "commondir"), "rb") as handle:
            commondir = os.path.join(controldir, os.fsdecode(handle.read().rstrip(b"\r\n")))
    except FileNotFoundError:
        pass
    except OSError:
        return None
    try:
        with open(os.path.join(commondir, "config"), "rb") as handle:
            config = handle.read().lower()
    except FileNotFoundError:
        config = b""
    except OSError:
        return None
    if any(word in config for word in _UNUSUAL_CONFIG):
        return None
    return path, controldir, commondir


def read_gitfile(root: str, dotgit: str) -> str | None:
    """The folder a ``.git`` file (``gitdir: PATH``) points at, from ``root``; None
    when it cannot be read or says nothing else."""
    try:
        with open(dotgit, "rb") as handle:
            content = handle.read()
    except OSError:
        return None
    if not content.startswith(b"gitdir: "):
        return None
    return os.path.join(root, os.fsdecode(content[len(b"gitdir: ") :].rstrip(b"\r\n")))


# -- refs ------------------------------------------------------------------------------

# Refs this module reads itself: HEAD (per worktree) and shared branch and run refs.
# Anything else (other per-worktree refs, pseudo-refs) is left to dulwich.
_SHARED_PREFIXES = (b"refs/heads/", b"refs/gitexp/")

# Parsed packed-refs files by path, with the (inode, size, mtime) they were read at: git
# replaces the file by a rename, so a new version always has a new inode.
_PACKED_REFS_CACHE: dict[bytes, tuple[tuple[int, int, int], dict[bytes, bytes]]] = {}


class Unanswered(Exception):
    """Raised where a ref or object question needs dulwich's full reader."""


def read_ref(
    controldir: str, commondir: str, name: bytes, valid: Callable[[bytes], bool]
) -> bytes | None:
    """The object id ``name`` (HEAD, ``refs/heads/*``, ``refs/gitexp/*``) points at.

    Symbolic refs are followed (HEAD -> its branch); None when the ref does not exist
    (an unborn branch).  ``valid`` checks ref names in packed-refs.  Raises
    :class:`Unanswered` for anything unusual.
    """
    for _ in range(5):  # git follows at most 5 levels of symbolic refs
        if name == b"HEAD":
            base = controldir
        elif name.startswith(_SHARED_PREFIXES):
            base = commondir
        else:
            raise Unanswered(name)
        content = read_loose_ref(os.path.join(os.fsencode(base), name))
        if content is None or content == b"":
            packed = read_packed_refs(os.fsencode(commondir), valid)
            if packed is None:
                raise Unanswered(name)
            return packed.get(name)
        if content.startswith(SYMREF):
            name = content[len(SYMREF) :].strip()
            continue
        if HEX_SHA.fullmatch(content):
            return content
        raise Unanswered(name)
    raise Unanswered(name)


def ref_names(commondir: str, prefix: bytes, valid: Callable[[bytes], bool]) -> set[bytes]:
    """Names of the shared refs under ``prefix`` (loose or packed), after the prefix.

    Only the names: no ref file is opened (10,000 loose refs: a folder listing instead
    of 10,000 reads).  A name may point at nothing (an empty file); read it to know.
    Raises :class:`Unanswered` for anything unusual.
    """
    if not prefix.startswith(_SHARED_PREFIXES) or not prefix.endswith(b"/"):
        raise Unanswered(prefix)
    packed = read_packed_refs(os.fsencode(commondir), valid)
    if packed is None:
        raise Unanswered(prefix)
    cut = len(prefix)
    names = {name[cut:] for name in packed if name.startswith(prefix)}
    base = os.path.join(os.fsencode(commondir), prefix)
    for entry in loose_ref_files(base):
        if not entry.name.endswith(b".lock"):
            names.add(entry.path[len(base) :])
    return names


def list_refs(
    commondir: str,
    prefix: bytes,
    valid: Callable[[bytes], bool],
    follow: Callable[[bytes], bytes | None],
) -> dict[bytes, bytes]:
    """Shared refs under ``prefix`` by their name after it, reading each loose ref once.

    As dulwich answers: loose refs (valid names only) override packed ones, an empty or
    unreadable loose ref falls back to its packed value, a symbolic ref is resolved by
    ``follow`` (None: left out).  Raises :class:`Unanswered` where dulwich must answer
    (a per-worktree prefix, an odd ``packed-refs`` or ref file).
    """
    if os.sep != "/" or not prefix.endswith(b"/") or per_worktree(prefix):
        raise Unanswered(prefix)
    if not valid(prefix + b"x"):
        raise Unanswered(prefix)
    packed = read_packed_refs(os.fsencode(commondir), valid)
    if packed is None:
        raise Unanswered(prefix)
    cut = len(prefix)
    base = os.path.join(os.fsencode(commondir), prefix)  # ends in "/"
    found: dict[bytes, bytes] = {}
    for entry in loose_ref_files(base):
        name = prefix + entry.path[len(base) :]
        if not valid(name):
            continue
        line = read_loose_ref(entry.path) or b""
        if line.startswith(SYMREF):  # rare (origin/HEAD)
            target = follow(name)
            if target:
                found[name[cut:]] = target
            continue
        sha = line or packed.get(name)
        if sha:
            found[name[cut:]] = sha
    for name, sha in packed.items():
        if name.startswith(prefix) and name[cut:] not in found:
            found[name[cut:]] = sha
    return found


def loose_ref_files(base: bytes) -> Iterator[os.DirEntry[bytes]]:
    """The files under the ref folder ``base`` (ending in '/'), at any depth.

    As ``os.walk``: a linked folder is not entered (nor listed).
    """
    folders = [base]
    while folders:
        folder = folders.pop()
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if entry.is_dir():
                if not entry.is_symlink():
                    folders.append(entry.path)
                continue
            yield entry


class RefLocked(Exception):
    """Another writer holds the ref's lock file (``<ref>.lock``)."""


def per_worktree(ref: bytes) -> bool:
    """Whether ``ref`` lives in a worktree's own git folder rather than the common one."""
    return (
        ref == b"HEAD"
        or not ref.startswith(b"refs/")
        or ref.startswith((b"refs/bisect/", b"refs/worktree/", b"refs/rewritten/"))
    )


def update_ref(
    commondir: str,
    name: bytes,
    new: bytes,
    expected: bytes | None,
    valid: Callable[[bytes], bool],
    sync: bool = False,
) -> bool:
    """Point the shared ref ``name`` at ``new`` as git does, compare-and-swap.

    Under ``<ref>.lock``, created exclusively (git's own lock: git and gitexp never write
    a ref at once), the ref must hold ``expected`` now (loose, else packed), or not exist
    when ``expected`` is None; then the new value is written to the lock file (synced to
    disk when ``sync``: :func:`refs_synced`) and renamed over the ref.  False when the
    ref holds something else.  Raises :class:`RefLocked` when the lock is taken,
    :class:`Unanswered` for anything unusual (a symbolic ref, an odd ``packed-refs``).
    """
    if not name.startswith(_SHARED_PREFIXES):
        raise Unanswered(name)
    path = os.path.join(os.fsencode(commondir), name)
    lock = path + b".lock"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise RefLocked(name) from None
    renamed = False
    try:
        current = read_loose_ref(path)
        if current is not None and current.startswith(SYMREF):
            raise Unanswered(name)
        if not current:  # absent, or an empty file: the packed value counts
            packed = read_packed_refs(os.fsencode(commondir), valid)
            if packed is None:
                raise Unanswered(name)
            current = packed.get(name)
        if current != expected:
            return False
        os.write(fd, new + b"\n")
        if sync:
            os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(lock, path)
        renamed = True
        return True
    finally:
        if fd >= 0:
            os.close(fd)
        if not renamed:
            with contextlib.suppress(OSError):
                os.unlink(lock)


def refs_synced(core_fsync: str | None) -> bool:
    """Whether git's ``core.fsync`` asks for refs to be synced to disk as they are written.

    git (2.36 and later) syncs what ``core.fsync`` names -- by default pack files and the
    index, not refs (nor loose objects) -- and gitexp writes refs as git would: a killed
    process never leaves a torn ref either way (lock file, then rename), and what only a
    power cut could lose, the user chooses to protect with ``core.fsync=reference``
    (or ``committed``, ``added``, ``all``).  The last token naming refs wins.
    """
    wanted = False
    for token in (core_fsync or "").lower().split(","):
        token = token.strip()
        name = token.removeprefix("-")
        if name in ("reference", "committed", "added", "all"):
            wanted = not token.startswith("-")
    return wanted


def reflog_line(old: bytes, new: bytes, committer: bytes, when: int, message: bytes) -> bytes:
    """One line of a reflog as git writes it (time zone +0000, as dulwich writes it)."""
    return b"%s %s %s %d +0000\t%s\n" % (old, new, committer, when, message.replace(b"\n", b" "))


def read_loose_ref(path: bytes) -> bytes | None:
    """The first line of a loose ref file; None when there is no such file."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    except OSError:
        raise Unanswered(path) from None
    try:
        content = os.read(fd, 256)
    except OSError:  # a folder of that name (refs/heads/a when a/b exists)
        return None
    finally:
        os.close(fd)
    if len(content) == 256 and b"\n" not in content:
        raise Unanswered(path)
    return content.split(b"\n", 1)[0].rstrip(b"\r")


def read_packed_refs(commondir: bytes, valid: Callable[[bytes], bool]) -> dict[bytes, bytes] | None:
    """The packed-refs file as {name: sha}; None when dulwich should read it (odd lines)."""
    path = os.path.join(commondir, b"packed-refs")
    try:
        with open(path, "rb") as handle:
            st = os.fstat(handle.fileno())
            key = (st.st_ino, st.st_size, st.st_mtime_ns)
            cached = _PACKED_REFS_CACHE.get(path)
            if cached is not None and cached[0] == key:
                return cached[1]
            text = handle.read()
    except FileNotFoundError:
        return {}
    refs = parse_packed_refs(text, valid)
    if refs is not None:
        _PACKED_REFS_CACHE[path] = (key, refs)
    return refs


def parse_packed_refs(text: bytes, valid: Callable[[bytes], bool]) -> dict[bytes, bytes] | None:
    """``packed-refs`` as {name: sha}; None for lines this parser leaves to dulwich.

    ``valid`` says whether a name is one git accepts (a bad one: dulwich decides).
    """
    lines = text.splitlines()
    if not lines:
        return None
    peeled = lines[0].startswith(b"# pack-refs") and b" peeled" in lines[0]
    refs: dict[bytes, bytes] = {}
    last = False
    for line in lines:
        if line.startswith(b"#"):
            continue
        if line.startswith(b"^"):
            if not (peeled and last and HEX_SHA.fullmatch(line, 1)):
                return None
            last = False
            continue
        sha, space, name = line.rstrip(b"\r").partition(b" ")
        if not space or b" " in name or not HEX_SHA.fullmatch(sha) or not valid(name):
            return None
        refs[name] = sha
        last = True
    return refs


# -- objects ---------------------------------------------------------------------------

_IDX_MAGIC = b"\xfftOc"
_FANOUT = struct.Struct(">256I")
_IDX_HEADER = 8  # magic + version
_IDX_NAMES = _IDX_HEADER + _FANOUT.size  # where the sorted 20-byte names start


class ObjectPresence:
    """Whether an object is in a repository's store: a loose file or a pack entry.

    Answers from the files: one ``stat`` for a loose object, a binary search of each
    pack's ``.idx`` (version 2, SHA-1) otherwise.  Packs are listed once; a pack that
    appears later is not seen, which only means an object is written loose once more
    (harmless: git itself may hold an object both ways).  Raises :class:`Unanswered`
    for stores it does not read (alternates, other index versions).
    """

    def __init__(self, objects_dir: str) -> None:
        self.objects_dir = objects_dir
        self._packs: list[tuple[mmap.mmap | bytes, tuple[int, ...]]] | None = None

    def contains(self, sha: bytes) -> bool:
        hexsha = sha.decode("ascii")
        if os.path.exists(os.path.join(self.objects_dir, hexsha[:2], hexsha[2:])):
            return True
        binsha = bytes.fromhex(hexsha)
        first = binsha[0]
        for names, fanout in self._pack_indexes():
            lo = fanout[first - 1] if first else 0
            hi = fanout[first]
            while lo < hi:
                mid = (lo + hi) // 2
                at = _IDX_NAMES + 20 * mid
                found = names[at : at + 20]
                if found == binsha:
                    return True
                if found < binsha:
                    lo = mid + 1
                else:
                    hi = mid
        return False

    def _pack_indexes(self) -> list[tuple[mmap.mmap | bytes, tuple[int, ...]]]:
        if self._packs is not None:
            return self._packs
        if os.path.exists(os.path.join(self.objects_dir, "info", "alternates")):
            raise Unanswered("alternates")
        packs: list[tuple[mmap.mmap | bytes, tuple[int, ...]]] = []
        folder = os.path.join(self.objects_dir, "pack")
        try:
            names = sorted(os.listdir(folder))
        except FileNotFoundError:
            names = []
        for name in names:
            if not name.endswith(".idx"):
                continue
            with open(os.path.join(folder, name), "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size < _IDX_NAMES:
                    raise Unanswered(name)
                data: mmap.mmap | bytes = (
                    mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
                    if size > 1 << 16
                    else handle.read()
                )
            if data[:4] != _IDX_MAGIC or data[4:8] != b"\x00\x00\x00\x02":
                raise Unanswered(name)
            packs.append((data, _FANOUT.unpack_from(data, _IDX_HEADER)))
        self._packs = packs
        return packs
