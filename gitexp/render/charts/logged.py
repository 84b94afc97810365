"""Hooks for what runs log beyond scalars: media (images, tables: ``_type`` references in
history rows) and chart specs logged through ``gitexp.plot.*``.

Their format is defined elsewhere (docs/format.md, once it documents them); readers ignore
``_type``s they do not know, so until then these hooks draw nothing.  Wiring them up is
one function each: :func:`media_panels` returns the report's media panels for the runs,
:func:`draw_logged_chart` turns one logged chart spec into a plotly figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gitexp.render.bundle import RunData


def media_panels(runs: Sequence[RunData]) -> list[dict[str, object]]:
    """Per run and media key, the panel the report draws (an image strip with a step
    slider, a table); none until the media format lands."""
    return []


def draw_logged_chart(spec: dict[str, object]) -> dict[str, object] | None:
    """A chart spec a run logged (``gitexp.plot.line`` and friends) as a plotly figure
    ``{"metric", "data", "layout"}``, or None for a spec this version cannot draw."""
    return None
