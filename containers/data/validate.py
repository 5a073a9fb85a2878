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
    return f"row {row}" + (f" (timestamp {stamp})" if stamp is not None and not pd.isna(stamp) else "")


def _first_bad(frame: pd.DataFrame, mask: np.ndarray, source: str, rule: str, fix: str) -> None:
    if mask.any():
        position = int(np.flatnonzero(mask)[0])
        raise DataError(f"{source}: {_row_label(frame, position)}: {rule}; {fix}")


def check_columns(frame: pd.DataFrame, source: str, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """Lower-cases the header and checks every required column is there."""
    frame = frame.rename(columns={column: str(column).strip().lower() for column in frame.columns})
    missing = [column for column in (*REQUIRED_COLUMNS, *extra) if column not in frame.columns]
    if missing:
        raise DataError(
            f"{source}: missing column(s) {', '.join(missing)}; found {', '.join(map(str, frame.columns))}; "
            f"a price file needs columns {', '.join((*REQUIRED_COLUMNS, *extra))}"
        )
    if frame.empty:
        raise DataError(f"{source}: the file has a header but no rows; supply at least two bars")
    return frame


def parse_timestamps(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Parses the timestamp column (naive = UTC); an unparsable value names its row."""
    parsed = pd.to_datetime(frame["timestamp"], errors="coerce", utc=True, format="mixed")
    bad = parsed.isna().to_numpy()
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{source}: row {int(frame['_row'].iloc[position])}: timestamp "
            f"'{frame['timestamp'].iloc[position]}' is not a date/time; use ISO 8601 such as 2024-01-31 09:30:00"
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
    return frame[column].iloc[int(np.flatnonzero(mask)[0])] if mask.any() else None


def validate_symbol_frame(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Every rule for one symbol's bars, in the order a user would fix them."""
    frame = parse_timestamps(frame, source)
    check_values(frame, source)
    check_order(frame, source)
    return frame
