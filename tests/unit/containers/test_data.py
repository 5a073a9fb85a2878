"""Loading, validation (each rule names file, row and rule), alignment, synthetic data and splits."""

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from containers.data.config import DataConfig, SplitConfig, SyntheticData
from containers.data.loader import load_market_data
from containers.data.split import select_part
from containers.data.synthetic import generate_synthetic
from containers.errors import DataError

GOOD_ROWS = [
    ["2024-01-01 00:00", 10.0, 11.0, 9.0, 10.5, 100],
    ["2024-01-01 01:00", 10.5, 11.5, 10.0, 11.0, 120],
    ["2024-01-01 02:00", 11.0, 11.2, 10.1, 10.2, 90],
    ["2024-01-01 03:00", 10.2, 10.9, 10.0, 10.8, 80],
]
COLUMNS = ["timestamp", "open", "high", "low", "close", "volume"]


def write_csv(path: Path, rows: list[list], columns: list[str] = COLUMNS) -> Path:
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False)
    return path


def load_one(path: Path) -> object:
    return load_market_data(DataConfig(files={"X": str(path)}), path.parent)


def broken(row: int, column: str, value: object) -> list[list]:
    rows = [list(r) for r in GOOD_ROWS]
    rows[row - 1][COLUMNS.index(column)] = value
    return rows


BAD_CASES = {
    "nan": (broken(2, "close", None), "row 2 (timestamp 2024-01-01 01:00:00): close is NaN or infinite"),
    "inf": (broken(3, "open", float("inf")), "row 3 (timestamp 2024-01-01 02:00:00): open is NaN or infinite"),
    "text": (broken(2, "volume", "lots"), "row 2 (timestamp 2024-01-01 01:00:00): volume 'lots' is not a number"),
    "non_positive": (broken(4, "low", -1.0), "row 4 (timestamp 2024-01-01 03:00:00): low -1.0 is not positive"),
    "high_below_low": (broken(2, "high", 9.5), "row 2 (timestamp 2024-01-01 01:00:00): high is below low"),
    "open_outside": (broken(3, "open", 12.0), "row 3 (timestamp 2024-01-01 02:00:00): open is outside [low, high]"),
    "close_outside": (broken(1, "close", 8.0), "row 1 (timestamp 2024-01-01 00:00:00): close is outside [low, high]"),
    "negative_volume": (broken(4, "volume", -5), "row 4 (timestamp 2024-01-01 03:00:00): volume is negative"),
    "unsorted": (broken(3, "timestamp", "2023-12-31 00:00"), "row 3 (timestamp 2023-12-31 00:00:00): timestamp is "
                 "earlier than the row before (unsorted)"),
    "duplicate": (broken(3, "timestamp", "2024-01-01 01:00"), "row 3 (timestamp 2024-01-01 01:00:00): duplicate"),
    "bad_timestamp": (broken(2, "timestamp", "yesterday"), "row 2: timestamp 'yesterday' is not a date/time"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_each_bad_value_names_file_row_and_rule(tmp_path: Path, case: str) -> None:
    rows, expected = BAD_CASES[case]
    path = write_csv(tmp_path / f"{case}.csv", rows)
    with pytest.raises(DataError) as error:
        load_one(path)
    assert str(error.value).startswith(f"{path}: {expected}")
    assert "\n" not in str(error.value)


def test_missing_column_empty_and_unreadable_files(tmp_path: Path) -> None:
    no_volume = write_csv(tmp_path / "no_volume.csv", [r[:5] for r in GOOD_ROWS], COLUMNS[:5])
    with pytest.raises(DataError, match=r"no_volume.csv: missing column\(s\) volume"):
        load_one(no_volume)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match=r"empty\.csv: the file is empty"):
        load_one(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text(",".join(COLUMNS) + "\n")
    with pytest.raises(DataError, match=r"header\.csv: the file has a header but no rows"):
        load_one(header_only)
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"this is not parquet")
    with pytest.raises(DataError, match=r"garbage\.parquet: unreadable parquet file"):
        load_one(garbage)
    with pytest.raises(DataError, match=r"missing\.csv: file not found"):
        load_one(tmp_path / "missing.csv")


def test_long_file_with_symbol_column_and_parquet(tmp_path: Path) -> None:
    rows = [[*r, s] for s in ("A", "B") for r in GOOD_ROWS]
    frame = pd.DataFrame(rows, columns=[*COLUMNS, "symbol"])
    frame.to_parquet(tmp_path / "long.parquet", index=False)
    data = load_market_data(DataConfig(path="long.parquet"), tmp_path)
    assert data.symbols == ("A", "B") and data.n_bars == 4
    np.testing.assert_array_equal(data.close[:, 1], [10.5, 11.0, 10.2, 10.8])
    with pytest.raises(DataError, match=r"symbol\(s\) C not in the data; available: A, B"):
        load_market_data(DataConfig(path="long.parquet", symbols=("A", "C")), tmp_path)


def test_bad_row_in_a_long_file_names_the_file_row(tmp_path: Path) -> None:
    rows = [[*r, s] for s in ("A", "B") for r in GOOD_ROWS]
    rows[6][COLUMNS.index("high")] = 1.0  # file row 7: symbol B's third bar
    write_csv(tmp_path / "long.csv", rows, [*COLUMNS, "symbol"])
    with pytest.raises(DataError, match=r"long.csv \[symbol B\]: row 7 .*high is below low"):
        load_market_data(DataConfig(path="long.csv"), tmp_path)


def test_symbols_must_share_timestamps_unless_intersection(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", GOOD_ROWS)
    write_csv(tmp_path / "b.csv", GOOD_ROWS[:2] + GOOD_ROWS[3:])
    files = {"A": "a.csv", "B": "b.csv"}
    with pytest.raises(DataError, match="timestamp 2024-01-01 02:00:00 has a bar for A but not for every symbol"):
        load_market_data(DataConfig(files=files), tmp_path)
    data = load_market_data(DataConfig(files=files, align="intersection"), tmp_path)
    assert data.n_bars == 3 and data.symbols == ("A", "B")


def test_synthetic_is_seeded_and_valid() -> None:
    config = SyntheticData(symbols=("A", "B"), bars=2000, seed=9)
    first, second = generate_synthetic(config), generate_synthetic(config)
    np.testing.assert_array_equal(first.close, second.close)
    assert not np.array_equal(first.close, generate_synthetic(config.model_copy(update={"seed": 10})).close)
    assert (first.low <= np.minimum(first.open, first.close)).all()
    assert (first.high >= np.maximum(first.open, first.close)).all()
    assert (first.volume >= 0).all() and (first.low > 0).all()


def test_split_by_ratio_and_by_date() -> None:
    data = generate_synthetic(SyntheticData(bars=100, freq="1D", start=dt.datetime(2024, 1, 1)))
    train = select_part(data, SplitConfig(train_ratio=0.7), "train")
    test = select_part(data, SplitConfig(train_ratio=0.7), "test")
    assert (train.n_bars, test.n_bars) == (70, 30)
    assert train.timestamps[-1] < test.timestamps[0]
    by_date = select_part(data, SplitConfig(test_start=dt.datetime(2024, 3, 1)), "test")
    assert by_date.timestamps[0] == np.datetime64("2024-03-01")
    with pytest.raises(DataError, match="test_start 2030-01-01 00:00:00 leaves 100 train and 0 test bars"):
        select_part(data, SplitConfig(test_start=dt.datetime(2030, 1, 1)), "test")
