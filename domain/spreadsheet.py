"""CSV the product writes, safe to open in a spreadsheet: a cell that starts like a formula
(`=`, `+`, `-`, `@`, tab or CR, OWASP's list) gets a leading single quote, so Excel and its
kin show the text instead of running it. Reading our own file back removes exactly that
quote (`restore_cell`)."""

import csv
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def _needs_quote(text: str) -> bool:
    # A cell that is already quotes before a formula start is quoted once more, so that
    # restoring strips only what was added: "'=x" is written "''=x" and read back "'=x".
    return text.lstrip(QUOTE).startswith(FORMULA_STARTS)


def safe_cell(value: Any) -> str:
    """The cell as written: the text, with a single quote before one that starts a formula."""
    text = "" if value is None else str(value)
    return QUOTE + text if _needs_quote(text) else text


def restore_cell(text: str) -> str:
    """The text `safe_cell` was given: its one added quote removed, anything else unchanged."""
    if text.startswith(QUOTE) and _needs_quote(text[1:]):
        return text[1:]
    return text


class SafeWriter:
    """A `csv.writer` whose every cell goes through `safe_cell`."""

    def __init__(self, out: Any, **options: Any) -> None:
        self._writer = csv.writer(out, **options)

    def writerow(self, row: Iterable[Any]) -> None:
        """Write one row of neutralised cells."""
        self._writer.writerow([safe_cell(cell) for cell in row])


def writer(out: Any, **options: Any) -> SafeWriter:
    """The one CSV writer the product uses (`csv.writer`'s options)."""
    return SafeWriter(out, **options)
