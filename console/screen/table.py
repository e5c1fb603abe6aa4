"""A table of a few hundred rows with a row cursor, for the tabs whose lists stay small
(issues, instructions); the inbox, which can hold millions, has its own windowed list."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.widgets import DataTable

SCROLLBAR = 2  # cells the table's vertical scrollbar takes when the rows overflow


class Rows(DataTable[Any]):
    """A table of rows with a row cursor, moved with j/k as well as the arrows (DataTable has
    no j/k since 0.67.1); :meth:`refill` keeps the cursor on the same row across a re-read."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "下一条", show=False, tooltip="光标移到下一行"),
        Binding("k", "cursor_up", "上一条", show=False, tooltip="光标移到上一行"),
        Binding("g", "scroll_top", "首行", show=False, tooltip="光标移到第一行"),
        Binding("G", "scroll_bottom", "末行", show=False, tooltip="光标移到最后一行"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)

    def current_key(self) -> str | None:
        """The key of the row under the cursor."""
        if not self.row_count:
            return None
        row = min(self.cursor_row, self.row_count - 1)
        return str(self.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value)

    def refill(
        self,
        columns: Sequence[tuple[str, int]],
        rows: Iterable[tuple[str, Sequence[str | Text]]],
        keep: str | None = None,
    ) -> None:
        """Replace the columns (label, width) and rows (key, cells); the cursor stays on the
        row it was on (or on ``keep``) if that row is still there."""
        here = keep or self.current_key()
        index = self.cursor_row
        self.clear(columns=True)
        for n, (label, width) in enumerate(columns):
            self.add_column(label, width=width, key=label or f"_{n}")
        keys: list[str] = []
        for key, cells in rows:
            self.add_row(*cells, key=key)
            keys.append(key)
        if not keys:
            return
        if here in keys:
            index = keys.index(here)
        self.move_cursor(row=max(0, min(index, len(keys) - 1)), animate=False)


def table_width(screen_width: int, fixed: Sequence[int], least: int = 8) -> int:
    """The width left for the last (title) column once the fixed columns, each with a cell
    of padding either side, and the scrollbar are placed."""
    used = sum(fixed) + 2 * (len(fixed) + 1) + SCROLLBAR
    return max(least, screen_width - used)
