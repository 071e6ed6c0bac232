"""CSV files a spreadsheet may open: text cells can never become formulas.

Labels, class names, test-set names and method names come from users' datasets and configs. A
cell starting with ``= + - @`` (or a tab or carriage return) is run as a formula by Excel,
LibreOffice and Google Sheets (CSV injection), so every CSV synth2seg writes prefixes such text
cells with a single quote, as OWASP recommends. Numbers (``-0.03``, also when held as text) and a
lone sign (the ``-`` of a sign table) carry no formula and stay as they are.

The prefix is reversible: a name that itself starts with quotes followed by a formula character
gets one more quote, so :func:`read_csv` gives back exactly the names that were written.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
from pandas.api.types import is_object_dtype, is_string_dtype

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _formula(text: str) -> bool:
    if len(text) < 2 or text[0] not in FORMULA_START:
        return False
    try:
        float(text)
    except ValueError:
        return True
    return False


def _needs_quote(text: str) -> bool:
    """A formula, or quotes followed by one (which the reader would otherwise unquote)."""
    return _formula(text.lstrip("'"))


def neutralise(value):
    """``value`` as it goes into a CSV cell: text that a spreadsheet would run gets a quote."""
    if isinstance(value, str) and _needs_quote(value):
        return "'" + value
    return value


def restore(value):
    """The inverse of :func:`neutralise` on a cell read back."""
    if isinstance(value, str) and value[:1] == "'" and _needs_quote(value[1:]):
        return value[1:]
    return value


def _map(frame: pd.DataFrame, cell) -> pd.DataFrame:
    frame = frame.rename(columns=cell, index=cell)
    frame.index.names = [cell(n) for n in frame.index.names]
    frame.columns.names = [cell(n) for n in frame.columns.names]
    for position, dtype in enumerate(frame.dtypes):
        if is_object_dtype(dtype) or is_string_dtype(dtype):
            frame.isetitem(position, frame.iloc[:, position].map(cell))
    return frame


def write_csv(frame: pd.DataFrame | pd.Series, path: Path, index: bool = False,
              float_format: str | None = None) -> Path:
    """``frame.to_csv`` with every text cell (values, header, index) neutralised."""
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    frame = _map(frame.copy(), neutralise)
    returns = []
    _map(frame, lambda v: returns.append(v) if isinstance(v, str) and "\r" in v else v)
    # pandas leaves a carriage return inside a cell unquoted, which splits the row on reading
    quoting = csv.QUOTE_NONNUMERIC if returns else csv.QUOTE_MINIMAL
    frame.to_csv(path, index=index, float_format=float_format, quoting=quoting)
    return Path(path)


def read_csv(path: Path, **kwargs) -> pd.DataFrame:
    """A CSV written by :func:`write_csv` (or any other) with the original text cells."""
    return _map(pd.read_csv(path, **kwargs), restore)
