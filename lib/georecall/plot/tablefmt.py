"""Tables for readers: human headers with units, sensible rounding, thousands separators, no index.

``show(df, {"column": Col("header", digits=2, unit="s")})`` returns a pandas ``Styler`` that renders as an HTML
table (myst-nb puts it in the page; the book's stylesheet lets a wide table scroll inside its own box instead of
widening the page). Only the listed columns appear, in the listed order. The data frame itself is not changed, so
hidden checks keep reading exact numbers.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Col", "show", "format_value"]


@dataclass(frozen=True, kw_only=True)
class Col:
    """How one column is shown."""

    header: str  # what the reader sees, e.g. "lower bound on d"
    digits: int | None = None  # decimals for non-integer numbers; None: 3 significant digits
    unit: str = ""  # appended to the header in parentheses, e.g. "s"
    percent: bool = False  # show a share in [0, 1] as a percentage

    def __post_init__(self) -> None:
        if not isinstance(self.header, str) or not self.header:
            raise ValueError("header must be a non-empty string")
        if self.digits is not None and not (isinstance(self.digits, int) and 0 <= self.digits <= 12):
            raise ValueError(f"digits must be an int in [0, 12] or None, got {self.digits!r}")

    @property
    def title(self) -> str:
        return f"{self.header} ({self.unit})" if self.unit else self.header


def format_value(value, col: Col) -> str:
    """One cell as text: integers with thousands separators, other numbers rounded, booleans as yes/no.

    >>> format_value(65536, Col(header="facts")), format_value(3.918755, Col(header="t", digits=1))
    ('65,536', '3.9')
    >>> format_value(0.166667, Col(header="2/k")), format_value(0.995, Col(header="acc", percent=True, digits=1))
    ('0.167', '99.5%')
    """
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "yes" if value else "no"
    if not isinstance(value, numbers.Number):
        return str(value)
    if isinstance(value, numbers.Integral) and not col.percent:
        return f"{int(value):,}"
    x = float(value)
    if math.isnan(x):
        return "–"
    if col.percent:
        return f"{100 * x:.{1 if col.digits is None else col.digits}f}%"
    if col.digits is not None:
        return f"{x:,.{col.digits}f}"
    if x == int(x) and abs(x) < 1e15:
        return f"{int(x):,}"
    return f"{x:,.3g}" if abs(x) >= 1e-3 else f"{x:.2e}"


def show(df, columns: Mapping[str, str | Col]):
    """A styled view of ``df`` with only ``columns`` (name -> header or :class:`Col`), in that order, no index.

    Raises ``ValueError`` naming any column that ``df`` lacks, or ``df`` itself when it has no rows.
    """
    if not columns:
        raise ValueError("columns must name at least one column of the table")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"columns {missing} are not in the table (it has {list(df.columns)})")
    if len(df) == 0:
        raise ValueError("df must not be empty (a table with no rows would show only its headers)")
    cols = {name: spec if isinstance(spec, Col) else Col(header=str(spec)) for name, spec in columns.items()}
    shown = df[list(cols)].copy()
    shown.columns = [c.title for c in cols.values()]
    formats = {c.title: (lambda v, c=c: format_value(v, c)) for c in cols.values()}
    # class "dataframe": the page styles it like a plain pandas table (and lets it scroll in its own box)
    return shown.style.format(formats).hide(axis="index").set_table_attributes('class="dataframe"')
