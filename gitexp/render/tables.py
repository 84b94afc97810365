"""Tables that fit the terminal: long cells shortened, the least important columns left out.

A command describes its table as :class:`Column` objects, each with a ``keep`` rank
(higher: kept longer) and optionally a ``group`` (``config``, ``metrics``) named on a line
above its headers.  :func:`render` fits them into a width and draws them with tabulate
(the project's table library), colouring only after the fitting so that widths are
measured on the plain text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gitexp.render.cells import printable
from gitexp.render.terminal import paint, shorten

# tabulate's "simple" format: two spaces between columns, and a header is given two
# characters more than its text (tabulate.MIN_PADDING) before it sets a column's width.
_GAP = 2
_HEADER_PADDING = 2
MAX_CELL = 24  # on a limited width, no cell is wider: one long name must not push out five
MIN_CELL = 6  # a column is never shortened below this (a cell must stay recognisable)
REQUIRED = 1_000_000  # the keep rank of a column that is never left out


class Column:
    """One column of a table.  Plain classes rather than dataclasses: importing
    ``dataclasses`` (and ``inspect`` with it) cost ``gitexp ls`` ~3 ms of start-up."""

    __slots__ = ("cap", "cells", "full_name", "group", "header", "keep", "shrink", "style")

    def __init__(
        self,
        header: str,
        cells: list[str],
        keep: int = REQUIRED,
        group: str = "",
        style: Callable[[str], str | None] | None = None,  # a cell's colour style, by its text
        full_name: str = "",  # how to ask for it with --columns, for the note on what was left out
        shrink: bool = True,
        cap: int = 0,  # on a limited width, its cells are cut to this first (0: MAX_CELL)
    ) -> None:
        # Cells come from runs, which anyone may have written: no control character
        # reaches the terminal (and widths are measured on what is shown).
        self.header = printable(header)
        self.cells = [printable(cell) for cell in cells]
        self.keep = keep
        self.group = group
        self.style = style
        self.full_name = full_name
        self.shrink = shrink
        self.cap = cap

    def __repr__(self) -> str:
        return f"Column({self.header!r}, {len(self.cells)} cells, keep={self.keep})"

    def width(self) -> int:
        return max([len(self.header) + _HEADER_PADDING, *(len(cell) for cell in self.cells)])

    def cut(self, width: int) -> None:
        self.header = shorten(self.header, max(width - _HEADER_PADDING, MIN_CELL))
        self.cells = [shorten(cell, width) for cell in self.cells]


class Fitted:
    """A table fitted into a width: its text, and which columns it kept or left out."""

    __slots__ = ("kept", "left_out", "needed", "text")

    def __init__(
        self,
        text: str,
        kept: list[Column] | None = None,
        left_out: list[str] | None = None,  # full names of the columns left out
        needed: int = 0,  # the width that would show every column in full
    ) -> None:
        self.text = text
        self.kept = kept if kept is not None else []
        self.left_out = left_out if left_out is not None else []
        self.needed = needed


def _total(columns: Sequence[Column]) -> int:
    plain = sum(column.width() for column in columns) + _GAP * max(len(columns) - 1, 0)
    return plain + sum(_group_room(columns).values())


def _group_room(columns: Sequence[Column]) -> dict[int, int]:
    """{index of a group's first column: characters it must gain so the group's name fits
    above the group}; a lone ``lr`` column is narrower than ``config ─``."""
    room: dict[int, int] = {}
    index = 0
    while index < len(columns):
        last = index
        while last + 1 < len(columns) and columns[last + 1].group == columns[index].group:
            last += 1
        group = columns[index].group
        span = sum(c.width() for c in columns[index : last + 1]) + _GAP * (last - index)
        if group and span < len(group) + 2:
            room[index] = len(group) + 2 - span
        index = last + 1
    return room


def _narrow(kept: list[Column], width: int, floor: int) -> None:
    """Cut the widest shrinkable columns until the table fits or every shrinkable column
    is down to ``floor``; the widest is cut to the next widest first, so columns end up
    evenly cut rather than one cut to nothing."""
    while _total(kept) > width:
        shrinkable = sorted((c for c in kept if c.shrink), key=Column.width, reverse=True)
        if not shrinkable or shrinkable[0].width() <= floor:
            return
        top = shrinkable[0].width()
        tied = [c for c in shrinkable if c.width() == top]
        below = max([floor, *(c.width() for c in shrinkable if c.width() < top)])
        step = -(-(_total(kept) - width) // len(tied))  # the excess shared, rounded up
        before = _total(kept)
        for column in tied:
            column.cut(max(top - step, below))
        if _total(kept) >= before:
            return  # headers are not cut below MIN_CELL: nothing more to gain


def fit(
    columns: list[Column], width: int | None, floor: int = 0
) -> tuple[list[Column], list[Column]]:
    """The columns kept within ``width`` (in their order) and those left out.

    A table that fits is left alone.  Otherwise every shrinkable cell longer than its cap
    is shortened first; then, with a ``floor``,
    the widest columns are narrowed down to it (a table of runs side by side would
    rather show every run a little cut); then columns go, lowest ``keep`` first (the
    rightmost among equals); then the widest shrinkable columns are narrowed further.
    """
    if width is None or _total(columns) <= width:
        return columns, []  # what fits is shown in full
    for column in columns:
        if column.shrink and column.width() > (column.cap or MAX_CELL):
            column.cut(column.cap or MAX_CELL)
    full = {id(c): (c.header, c.cells) for c in columns}
    if floor:
        _narrow(columns, width, floor)
    kept = list(columns)
    left_out: list[Column] = []
    order = sorted(
        (c for c in columns if c.keep < REQUIRED),
        key=lambda c: (c.keep, -columns.index(c)),
    )
    for column in order:
        if _total(kept) <= width:
            break
        kept.remove(column)
        left_out.append(column)
    if floor and left_out:  # room was made: the columns kept need not stay cut so far
        for column in kept:
            column.header, column.cells = full[id(column)]
        _narrow(kept, width, floor)
    _narrow(kept, width, MIN_CELL)
    return kept, left_out


def render(
    columns: list[Column], width: int | None, colour: bool = False, floor: int = 0
) -> Fitted:
    """The table of ``columns`` fitted into ``width`` (see :func:`fit`), with a group line
    when any column has a group."""
    from tabulate import tabulate

    needed = _total(columns)
    kept, left_out = fit(columns, width, floor)
    for index, extra in _group_room(kept).items():
        first = kept[index]
        first.header = first.header.ljust(first.width() - _HEADER_PADDING + extra)
    headers = [paint(c.header, "bold", colour) for c in kept]
    body = [
        [
            paint(
                column.cells[row],
                column.style(column.cells[row]) if column.style else None,
                colour,
            )
            for column in kept
        ]
        for row in range(len(kept[0].cells) if kept else 0)
    ]
    text = tabulate(body, headers=headers, tablefmt="simple", disable_numparse=True)
    if any(column.group for column in kept):
        text = group_line(text, kept, colour) + "\n" + text
    return Fitted(text, kept, [column.full_name or column.header for column in left_out], needed)


def group_line(text: str, kept: list[Column], colour: bool) -> str:
    """``config ─────  metrics ─────────`` above the columns of each group.

    The spans come from tabulate's own rule line (the dashes under the headers), so the
    line sits right whatever widths tabulate chose.
    """
    rule = text.splitlines()[1]
    spans: list[tuple[int, int]] = []
    position = 0
    for dashes in rule.split(" " * _GAP):
        spans.append((position, position + len(dashes)))
        position += len(dashes) + _GAP
    parts: list[str] = []
    shown = 0  # visible characters so far (colour codes take none)
    index = 0
    while index < len(kept):
        group = kept[index].group
        last = index
        while last + 1 < len(kept) and kept[last + 1].group == group:
            last += 1
        if group:
            start, end = spans[index][0], spans[last][1]
            label = f"{group} " + "─" * max(end - start - len(group) - 1, 1)
            parts += [" " * (start - shown), paint(label, "dim", colour)]
            shown = start + len(label)
        index = last + 1
    return "".join(parts)
