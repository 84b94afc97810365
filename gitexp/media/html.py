"""``gitexp.Html``: an HTML fragment or page logged as a file under the run's media folder.

The file is kept as given: gitexp never renders it into its own pages' context (a run
may come from anyone), so a viewer shows it in a sandboxed frame (docs/format.md).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from gitexp.media.base import Media
from gitexp.model.history import HTML_FILE

if TYPE_CHECKING:
    from gitexp.media.store import MediaSink


class Html(Media):
    """HTML, shaped like ``wandb.Html``: a string of HTML, an open text file, or a path
    to an ``.html`` file."""

    __slots__ = ("text",)

    def __init__(self, data: object, inject: bool = True, data_is_not_path: bool = False) -> None:
        if hasattr(data, "read"):
            data = data.read()
        if isinstance(data, os.PathLike) or (
            isinstance(data, str)
            and not data_is_not_path
            and data.lower().endswith((".html", ".htm"))
            and os.path.isfile(data)
        ):
            with open(os.fspath(data), encoding="utf-8", errors="replace") as handle:
                data = handle.read()
        if isinstance(data, bytes):
            data = data.decode("utf-8", "replace")
        if not isinstance(data, str):
            raise TypeError(
                f"gitexp.Html needs a string of HTML or a path, got {type(data).__name__}"
            )
        self.text = data

    def store(self, sink: MediaSink, key: str, step: int) -> dict[str, object]:
        return {"_type": HTML_FILE, **sink.write(key, step, self.text.encode(), "html")}

    def __repr__(self) -> str:
        return f"<gitexp.Html {len(self.text)} characters>"
