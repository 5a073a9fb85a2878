"""Bar validation: every rule a price file must follow, each failure a DataError naming file, row and rule.

Nothing is sorted, filled or dropped: the first broken row stops the load with a message saying how to fix it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from containers.data.market import PRICE_FIELDS
from containers.errors import DataError

REQUIRED_COLUMNS = ("timestamp", *PRICE_FIELDS)


def _row_label(frame: pd.DataFrame, position: int) -> str:
    """'row N (timestamp T)' with N counted from 1 over data rows, as a spreadsheet user would."""
    row = int(frame["_row"].iloc[position])
    stamp = frame["timestamp"].iloc[position] if "timestamp" in frame else None
    return f"row {row}" + (f" (timestamp {shown(stamp)})" if stamp is not None and not pd.isna(stamp) else "")


def _first_bad(frame: pd.DataFrame, mask: np.ndarray, source: str, rule: str, fix: str) -> None:
    if mask.any():
        position = int(np.flatnonzero(mask)[0])
        raise DataError(f"{source}: {_row_label(frame, position)}: {rule}; {fix}")


def shown(value: object, limit: int = 80) -> str:
    """A cell's value for a message, cut to `limit` characters (a cell may hold megabytes)."""
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit - 3]}..."


def check_header(names: list[str], source: str) -> None:
    """No column named twice, counting names that differ only in case or surrounding spaces as the same."""
    seen: dict[str, str] = {}
    for name in names:
        key = str(name).strip().lower()
        if key in seen:
            same = "are the same column" if seen[key] == name else "differ only in case or spaces"
            raise DataError(f"{source}: columns '{shown(seen[key], 40)}' and '{shown(name, 40)}' {same}; "
                            "keep one of them")
        seen[key] = name


def check_columns(frame: pd.DataFrame, source: str, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """Lower-cases the header and checks every required column is there, each once."""
    check_header([column for column in frame.columns if column != "_row"], source)
    frame = frame.rename(columns={column: str(column).strip().lower() for column in frame.columns})
    missing = [column for column in (*REQUIRED_COLUMNS, *extra) if column not in frame.columns]
    if missing:
        found = [shown(column, 40) for column in frame.columns if column != "_row"]
        raise DataError(
            f"{source}: missing column(s) {', '.join(missing)}; found {', '.join(found) or 'none'}; "
            f"a price file needs columns {', '.join((*REQUIRED_COLUMNS, *extra))}"
        )
    if frame.empty:
        raise DataError(f"{source}: the file has a header but no rows; supply at least two bars")
    return frame


def parse_timestamps(frame: pd.DataFrame, source: str, unit: str | None = None) -> pd.DataFrame:
    """Parses the timestamp column (naive = UTC); an unparsable value names its row.

    Numbers are epoch times only with an explicit `unit` (data.timestamp_unit): read as they are, a
    count of seconds would silently become nanoseconds in 1970.
    """
    column = frame["timestamp"]
    numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    if numeric and unit is None:
        raise DataError(
            f"{source}: {_row_label(frame, 0)}: timestamp {shown(column.iloc[0])} is a number; set "
            "data.timestamp_unit (s, ms, us or ns) if it counts time since 1970-01-01, or write ISO 8601 dates")
    if unit is not None and not numeric:
        raise DataError(f"{source}: data.timestamp_unit is {unit} but the timestamps are not numbers; "
                        "remove timestamp_unit, or write epoch numbers")
    with np.errstate(all="ignore"):
        parsed = (pd.to_datetime(column, errors="coerce", utc=True, unit=unit) if numeric
                  else pd.to_datetime(column, errors="coerce", utc=True, format="mixed"))
    bad = parsed.isna().to_numpy()
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{source}: row {int(frame['_row'].iloc[position])}: timestamp "
            f"'{shown(column.iloc[position])}' is not a date/time; use ISO 8601 such as 2024-01-31 09:30:00"
        )
    frame = frame.copy()
    frame["timestamp"] = parsed.dt.tz_localize(None)
    return frame


def check_values(frame: pd.DataFrame, source: str) -> None:
    """Numeric, finite, positive prices; low <= open, close <= high; volume >= 0."""
    for column in PRICE_FIELDS:
        numeric = pd.to_numeric(frame[column], errors="coerce")
        not_number = (numeric.isna() & frame[column].notna()).to_numpy()
        _first_bad(frame, not_number, source, f"{column} '{_value(frame, column, not_number)}' is not a number",
                   "fix or remove the value")
        values = numeric.to_numpy(dtype=np.float64)
        _first_bad(frame, ~np.isfinite(values), source, f"{column} is NaN or infinite",
                   "fill the gap in the source data or cut the range; admf never fills it for you")
        frame[column] = values
    o, h, low, c, v = (frame[c].to_numpy() for c in PRICE_FIELDS)
    for column, values in (("open", o), ("high", h), ("low", low), ("close", c)):
        _first_bad(frame, values <= 0, source, f"{column} {_value(frame, column, values <= 0)} is not positive",
                   "prices must be > 0")
    _first_bad(frame, h < low, source, "high is below low", "check the high and low columns")
    for column, values in (("open", o), ("close", c)):
        outside = (values < low) | (values > h)
        _first_bad(frame, outside, source, f"{column} is outside [low, high]", "check the bar's prices")
    _first_bad(frame, v < 0, source, "volume is negative", "volume must be >= 0")


def check_order(frame: pd.DataFrame, source: str) -> None:
    """Strictly increasing timestamps: an unsorted or repeated stamp names its row."""
    stamps = frame["timestamp"].to_numpy()
    if len(stamps) < 2:
        return
    step = stamps[1:] - stamps[:-1]
    duplicate = np.concatenate([[False], step == np.timedelta64(0)])
    _first_bad(frame, duplicate, source, "duplicate timestamp",
               "each symbol needs one bar per timestamp; remove the repeated row")
    backwards = np.concatenate([[False], step < np.timedelta64(0)])
    _first_bad(frame, backwards, source, "timestamp is earlier than the row before (unsorted)",
               "sort the file by timestamp; admf never reorders data for you")


def _value(frame: pd.DataFrame, column: str, mask: np.ndarray) -> object:
    return shown(frame[column].iloc[int(np.flatnonzero(mask)[0])]) if mask.any() else None


def validate_symbol_frame(frame: pd.DataFrame, source: str, timestamp_unit: str | None = None) -> pd.DataFrame:
    """Every rule for one symbol's bars, in the order a user would fix them."""
    frame = parse_timestamps(frame, source, timestamp_unit)
    check_values(frame, source)
    check_order(frame, source)
    return frame
