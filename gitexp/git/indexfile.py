"""git's index file read without dulwich's per-entry overhead.

The index is read at every run start (dulwich's reader costs ~8 us per entry: 160 ms
for 20,000 files). Pure format parsing, no dulwich: ``gitexp.git.repo`` calls this
first and falls back to dulwich for anything it does not expect, so behaviour on
unusual or damaged files stays dulwich's.
"""

from __future__ import annotations

import binascii
import struct
from collections.abc import Callable

from gitexp.slotted import Slotted
from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

ObjectId = bytes  # 40 hex digits, as dulwich uses them

FLAG_ASSUME_UNCHANGED = 0x8000  # index entry flags, as git defines them
FLAG_SKIP_WORKTREE = 0x4000  # extended flags (sparse checkout)


class IndexRecord(Slotted):
    """One stage-0 entry of the git index: what ``git status`` compares against (read-only)."""

    _fields = ("path", "mode", "sha", "size", "mtime_ns", "ctime_ns", "ino", "trust_index")
    __slots__ = _fields
    path: bytes
    mode: int
    sha: ObjectId
    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int
    trust_index: bool  # skip-worktree or assume-unchanged: git does not look at the file

    def __init__(
        self,
        path: bytes,
        mode: int,
        sha: ObjectId,
        size: int,
        mtime_ns: int,
        ctime_ns: int,
        ino: int,
        trust_index: bool,
    ) -> None:
        self.path, self.mode, self.sha, self.size = path, mode, sha, size
        self.mtime_ns, self.ctime_ns, self.ino, self.trust_index = (
            mtime_ns,
            ctime_ns,
            ino,
            trust_index,
        )

    def __hash__(self) -> int:
        return hash((self.path, self.sha, self.mode))


_INDEX_ENTRY = struct.Struct(">10I20sH")  # ctime s/ns, mtime s/ns, dev, ino, mode, uid,
# gid, size, sha, flags: the fixed part of an index entry, version 2 to 4
_FLAG_EXTENDED = 0x4000
_NAME_MASK = 0x0FFF
_STAGE_MASK = 0x3000
# Setting a record's fields through the slot descriptors skips its __init__: a third of
# the parse time.
_RECORD_SETTERS: tuple[Callable[[Any, Any], None], ...] = tuple(
    getattr(IndexRecord, name).__set__ for name in IndexRecord._fields
)


class IndexFormatError(ValueError):
    """An index this parser leaves to dulwich (an old version, a truncated file)."""


def parse_index(data: bytes, extensions: list[bytes] | None = None) -> dict[bytes, IndexRecord]:
    """Stage-0 entries of an index file's bytes (versions 2, 3 and 4), as git reads them.

    ``extensions``, when given, receives the signature of each extension after the
    entries (``link`` for a split index, ``sdir`` for a sparse one, ``UNTR``, ``FSMN``,
    ...): two of them change what the entries mean (see ``gitexp.git.index``).

    Two details follow git where dulwich 1.2 does not: a name of 0xFFF bytes or more is
    NUL-terminated (the length field saturates), and version 4's prefix-compression
    length is git's offset varint (dulwich reads it as LEB128, which differs from 128
    bytes on).  Extensions are only named, never read.
    """
    if len(data) < 12 or data[:4] != b"DIRC":
        raise IndexFormatError("not an index file")
    version, count = struct.unpack_from(">LL", data, 4)
    if version not in (2, 3, 4):
        raise IndexFormatError(f"index version {version}")
    unpack = _INDEX_ENTRY.unpack_from
    hexlify = binascii.hexlify
    find = data.find
    new = object.__new__
    set_path, set_mode, set_sha, set_size, set_mtime, set_ctime, set_ino, set_trust = (
        _RECORD_SETTERS
    )
    records: dict[bytes, IndexRecord] = {}
    pos = 12
    previous = b""
    for _ in range(count):
        start = pos
        cs, cns, ms, mns, _dev, ino, mode, _uid, _gid, size, sha, flags = unpack(data, pos)
        pos += 62
        extended = 0
        if flags & _FLAG_EXTENDED:
            if version < 3:
                raise IndexFormatError("extended flags in a version 2 index")
            extended = (data[pos] << 8) | data[pos + 1]
            pos += 2
        if version < 4:
            length = flags & _NAME_MASK
            end = find(b"\0", pos) if length == _NAME_MASK else pos + length
            if end < 0 or end > len(data):
                raise IndexFormatError("truncated entry")
            name = data[pos:end]
            pos = start + ((end - start + 8) & ~7)  # 1 to 8 NULs pad the entry to 8 bytes
        else:
            byte = data[pos]
            pos += 1
            strip = byte & 0x7F
            while byte & 0x80:  # git's varint.c: each continuation adds one, then shifts
                byte = data[pos]
                pos += 1
                strip = ((strip + 1) << 7) | (byte & 0x7F)
            end = find(b"\0", pos)
            if end < 0 or strip > len(previous):
                raise IndexFormatError("bad compressed path")
            name = previous[: len(previous) - strip] + data[pos:end]
            pos = end + 1
            previous = name
        if flags & _STAGE_MASK:
            continue
        record = new(IndexRecord)
        set_path(record, name)
        set_mode(record, mode)
        set_sha(record, hexlify(sha))
        set_size(record, size)
        set_mtime(record, ms * 1_000_000_000 + mns)
        set_ctime(record, cs * 1_000_000_000 + cns)
        set_ino(record, ino)
        set_trust(
            record,
            bool(flags & FLAG_ASSUME_UNCHANGED) or bool(extended & FLAG_SKIP_WORKTREE),
        )
        records[name] = record
    if extensions is not None:
        _name_extensions(data, pos, extensions)
    return records


_CHECKSUM_SIZE = 20  # SHA-1; a SHA-256 repository is refused before its index is read


def _name_extensions(data: bytes, pos: int, into: list[bytes]) -> None:
    """Signatures of the extensions between ``pos`` (the end of the entries) and the checksum."""
    end = len(data) - _CHECKSUM_SIZE
    while pos + 8 <= end:
        (size,) = struct.unpack_from(">L", data, pos + 4)
        into.append(data[pos : pos + 4])
        pos += 8 + size


# A ref name tail made only of these characters passes every rule of
# git-check-ref-format; anything else is checked by dulwich's full implementation.
