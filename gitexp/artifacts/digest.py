"""What DVC stores of a file or folder, as typed records above the DVC layer."""

from __future__ import annotations

from gitexp.slotted import Slotted

DIR_SUFFIX = ".dir"


class Digest(Slotted):
    """What a DVC pointer records about one file or folder (read-only)."""

    _fields = ("md5", "size", "nfiles", "isexec")
    __slots__ = _fields
    md5: str  # "<hex>" for a file, "<hex>.dir" for a folder (its manifest)
    size: int
    nfiles: int | None  # folders only
    isexec: bool  # files only

    def __init__(self, md5: str, size: int, nfiles: int | None = None, isexec: bool = False):
        self.md5, self.size, self.nfiles, self.isexec = md5, size, nfiles, isexec

    def __hash__(self) -> int:
        return hash((self.md5, self.size, self.nfiles, self.isexec))

    @property
    def isdir(self) -> bool:
        return self.md5.endswith(DIR_SUFFIX)


class TreeEntry(Slotted):
    """One file of a folder artifact, from its ``.dir`` manifest (read-only)."""

    _fields = ("relpath", "md5", "isexec")
    __slots__ = _fields
    relpath: str  # "/"-separated, relative to the folder
    md5: str
    isexec: bool

    def __init__(self, relpath: str, md5: str, isexec: bool) -> None:
        self.relpath, self.md5, self.isexec = relpath, md5, isexec

    def __hash__(self) -> int:
        return hash((self.relpath, self.md5, self.isexec))


class Outcome(Slotted):
    """What a transfer moved, what was there already, and what failed (with why)."""

    _fields = ("moved", "present", "failed", "missing", "messages")
    __slots__ = _fields

    def __init__(self) -> None:
        self.moved: set[str] = set()
        self.present: set[str] = set()
        self.failed: set[str] = set()
        self.missing: set[str] = set()  # neither side has it
        self.messages: list[str] = []
