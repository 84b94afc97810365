"""The one thing every logged media value shares: it stores itself as files of the run.

``gitexp.log`` tells media from metrics with one ``isinstance`` check against
:class:`Media`, on its slow path only (a float never gets there), so this module stays
tiny: it is imported with ``gitexp`` itself.  numpy, PIL and torch are imported by the
media classes when a value is built, never here.
"""

from __future__ import annotations

from collections.abc import Mapping

from gitexp.model import values
from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from gitexp.media.store import MediaSink


class Media:
    """A value logged as a file under the run's media folder and a reference in history."""

    __slots__ = ()

    def store(self, sink: MediaSink, key: str, step: int) -> dict[str, object]:
        """Write this value's files through ``sink``; return the reference for history."""
        raise NotImplementedError


def plain(value: object) -> object:
    """A nested value (boxes, masks, class labels) as JSON-able Python values.

    Arrays become lists (``tolist``, without importing numpy); keys become strings.
    Raises :class:`values.UnsupportedValue` for what has no faithful JSON form.
    """
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    tolist = getattr(value, "tolist", None)
    if tolist is not None and getattr(value, "ndim", 0) != 0:
        return plain(tolist())
    return values.normalize(value)
