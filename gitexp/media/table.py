"""``gitexp.Table``: rows and columns logged as one JSON file under the run's media folder.

The file is ``{"columns": [names], "data": [[cells]]}`` (wandb's ``table.json`` keeps
the same two fields); a cell is a number, string, bool, null, a list or object of
these, or the reference of a media value (an Image in a cell is stored as its own file
beside the table).  Cells are checked when they are added, so a value with no JSON form
fails at the user's line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gitexp.media.base import Media, plain
from gitexp.model import values
from gitexp.model.history import TABLE_FILE

if TYPE_CHECKING:
    from gitexp.media.store import MediaSink

DEFAULT_COLUMNS = ("Input", "Output", "Expected")  # wandb's, for Table() with nothing


def _cell(value: object) -> object:
    if isinstance(value, Media):
        return value  # stored with the table
    try:
        return plain(value)
    except values.UnsupportedValue as exc:
        raise TypeError(
            f"gitexp.Table cannot hold a {type(value).__name__}: {exc}; "
            "use numbers, strings, lists or gitexp.Image"
        ) from None


class Table(Media):
    """A table of results, shaped like ``wandb.Table``.

    Args:
        columns: the column names.
        data: rows, each a sequence with one cell per column (or a 2-D array).
        dataframe: a pandas DataFrame instead of ``columns`` and ``data``.
    """

    __slots__ = ("columns", "data")

    def __init__(
        self,
        columns: Sequence[object] | None = None,
        data: Iterable[Sequence[object]] | None = None,
        rows: Iterable[Sequence[object]] | None = None,
        dataframe: Any = None,
        dtype: object = None,
        optional: object = True,
        allow_mixed_types: bool = False,
    ) -> None:
        if dataframe is not None:
            columns = [str(name) for name in dataframe.columns]
            data = dataframe.itertuples(index=False, name=None)
        data = data if data is not None else rows
        if data is not None and hasattr(data, "tolist"):  # a 2-D numpy array
            data = data.tolist()
        rows_given = [list(row) for row in data] if data is not None else []
        if columns is None:
            width = len(rows_given[0]) if rows_given else 0
            columns = [f"Column{i + 1}" for i in range(width)] or list(DEFAULT_COLUMNS)
        self.columns: list[str] = [str(name) for name in columns]
        if len(set(self.columns)) != len(self.columns):
            raise ValueError(f"gitexp.Table: column names repeat: {self.columns}")
        self.data: list[list[object]] = []
        for row in rows_given:
            self.add_data(*row)

    def add_data(self, *data: object) -> None:
        """Append one row: one cell per column."""
        if len(data) != len(self.columns):
            raise ValueError(
                f"gitexp.Table.add_data: got {len(data)} cells for {len(self.columns)} "
                f"columns {self.columns}"
            )
        self.data.append([_cell(value) for value in data])

    def add_column(self, name: str, data: Sequence[object], optional: bool = False) -> None:
        """Add a column with one cell per existing row (or the first cells of an empty table)."""
        name = str(name)
        if name in self.columns:
            raise ValueError(f"gitexp.Table.add_column: there is a column {name!r} already")
        cells = [_cell(value) for value in data]
        if self.data and len(cells) != len(self.data):
            raise ValueError(
                f"gitexp.Table.add_column: {name!r} has {len(cells)} cells "
                f"for {len(self.data)} rows"
            )
        if not self.data and self.columns:
            raise ValueError("gitexp.Table.add_column: add rows to the other columns first")
        self.columns.append(name)
        if not self.data:
            self.data = [[cell] for cell in cells]
        else:
            for row, cell in zip(self.data, cells, strict=True):
                row.append(cell)

    def get_column(self, name: str, convert_to: str | None = None) -> Any:
        """The cells of one column, as a list (``convert_to="numpy"``: an array)."""
        if name not in self.columns:
            raise KeyError(f"gitexp.Table has no column {name!r}; columns: {self.columns}")
        index = self.columns.index(name)
        cells = [row[index] for row in self.data]
        if convert_to == "numpy":
            import numpy as np

            return np.array(cells)
        return cells

    def add_row(self, *data: object) -> None:
        self.add_data(*data)

    def __len__(self) -> int:
        return len(self.data)

    def as_json(self, sink: MediaSink, key: str, step: int) -> dict[str, object]:
        """The table file's content, media cells stored beside it through ``sink``."""
        data = [
            [cell.store(sink, key, step) if isinstance(cell, Media) else cell for cell in row]
            for row in self.data
        ]
        return {"columns": list(self.columns), "data": data}

    def store(self, sink: MediaSink, key: str, step: int) -> dict[str, object]:
        text = values.dumps(self.as_json(sink, key, step))
        written = sink.write(key, step, text.encode(), "table.json")
        return {
            "_type": TABLE_FILE,
            **written,
            "ncols": len(self.columns),
            "nrows": len(self.data),
        }

    def __repr__(self) -> str:
        return f"<gitexp.Table {len(self.data)} rows × {len(self.columns)} columns>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Table):
            return NotImplemented
        return self.columns == other.columns and self.data == other.data

    __hash__ = None  # type: ignore[assignment]


def from_mapping(columns: Mapping[str, Sequence[object]]) -> Table:
    """A table whose columns are given as ``{name: cells}`` (the plots build these)."""
    names = list(columns)
    rows = zip(*(columns[name] for name in names), strict=True)
    return Table(columns=names, data=[list(row) for row in rows])
