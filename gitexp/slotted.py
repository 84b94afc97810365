"""A base for the small record classes every run creates, without ``dataclasses``.

``import dataclasses`` imports ``inspect``, ``ast``, ``dis`` and ``tokenize`` (~9 ms), and
each dataclass costs ~0.35 ms to create: together an eighth of a whole ``gitexp run --
true`` (docs/benchmarks.md).  The classes on the run path derive from :class:`Slotted`
instead: their fields are listed in ``_fields`` and kept in ``__slots__``, and equality
and ``repr`` go field by field as a dataclass's do.  Classes off the run path stay dataclasses.
"""

from __future__ import annotations

from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import ClassVar


class Slotted:
    """Fields named in ``_fields`` (in order) and kept in ``__slots__``; ``==`` and ``repr``
    go by field.  Defining ``__eq__`` makes instances unhashable, as a mutable dataclass's
    are; a read-only record defines ``__hash__``."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self._fields)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({shown})"

    def fields(self) -> dict[str, object]:
        """``{field: value}`` in order (``dataclasses.asdict`` without the deep copy)."""
        return {name: getattr(self, name) for name in self._fields}
