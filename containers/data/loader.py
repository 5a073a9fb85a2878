"""Loads bars from CSV or Parquet (one long file with a symbol column, or one file per symbol)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pandas as pd

from containers.data.config import DataConfig
from containers.data.market import PRICE_FIELDS, MarketData
from containers.data.synthetic import generate_synthetic
from containers.data.validate import check_columns, check_header, shown, validate_symbol_frame
from containers.errors import DataError
from containers.memory import available_bytes, gigabytes

READERS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def _check_readable(path: Path) -> None:
    """A DataError saying what is at `path` when it is not a readable, non-empty regular file."""
    if path.is_symlink() and not path.exists():
        raise DataError(f"{path}: a symbolic link that leads nowhere (a loop or a missing target); "
                        "point the config at the data file itself")
    if path.is_dir():
        raise DataError(f"{path}: is a directory; name a .csv or .parquet file")
    if not path.exists():
        raise DataError(f"{path}: file not found; check the path (relative paths start at the config's folder)")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file; name a .csv or .parquet file")
    if not os.access(path, os.R_OK):
        raise DataError(f"{path}: permission denied; make the file readable")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty; supply a header and at least two bars")


CSV_MEMORY_PER_BYTE = 3  # float columns, parsed timestamps and the validation's temporaries, per byte of text
PARQUET_MEMORY_PER_VALUE = 8 * 3  # a float64 per cell, and as much again twice while validating


def _check_fits(path: Path, kind: str) -> None:
    """Refuses up front a file that could not be loaded in the free memory (instead of swapping or dying)."""
    if kind == "csv":
        needed = path.stat().st_size * CSV_MEMORY_PER_BYTE
    else:
        import pyarrow.parquet

        try:
            metadata = pyarrow.parquet.read_metadata(path)
        except Exception:  # not a readable Parquet file: the reader says so below
            return
        needed = metadata.num_rows * metadata.num_columns * PARQUET_MEMORY_PER_VALUE
    if needed > available_bytes() // 2:
        raise DataError(f"{path}: loading it needs about {gigabytes(needed)} of memory, more than half of the "
                        f"{gigabytes(available_bytes())} free here; use a shorter period or fewer symbols per file")


def _csv_header(path: Path) -> list[str]:
    """The header as written (pandas would rename a repeated column to 'close.1')."""
    with open(path, newline="", errors="replace") as stream:
        return next(csv.reader(stream), [])


def read_table(path: Path) -> pd.DataFrame:
    """Reads one CSV or Parquet file; a missing, empty or unreadable file is a DataError."""
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"{path}: unsupported file type '{shown(path.suffix, 20)}'; use .csv or .parquet")
    _check_readable(path)
    _check_fits(path, kind)
    try:
        if kind == "csv":
            check_header(_csv_header(path), str(path))
            frame = pd.read_csv(path)
        else:
            frame = pd.read_parquet(path)
    except DataError:
        raise
    except Exception as error:  # every reader failure means the same thing to the user
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(f"{path}: unreadable {kind} file ({shown(first_line)}); check the file's format") from error
    frame = frame.reset_index(drop=True)
    frame["_row"] = np.arange(1, len(frame) + 1)
    return frame


def _resolve(path: str, base_dir: Path) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else base_dir / candidate


def _frames_by_symbol(config: DataConfig, base_dir: Path) -> dict[str, tuple[str, pd.DataFrame]]:
    if config.files is not None:
        frames: dict[str, tuple[str, pd.DataFrame]] = {}
        seen: dict[str, str] = {}
        for symbol, file in config.files.items():
            path = _resolve(file, base_dir)
            same = seen.setdefault(os.path.realpath(path), symbol)  # never raises, even on a link loop
            if same != symbol:
                raise DataError(f"data.files: {same} and {symbol} name the same file {path}; give each symbol its own")
            frames[symbol] = (str(path), check_columns(read_table(path), str(path)))
        return frames
    path = _resolve(config.path or "", base_dir)
    frame = check_columns(read_table(path), str(path), extra=("symbol",))
    blank = (frame["symbol"].isna() | (frame["symbol"].astype(str).str.strip() == "")).to_numpy()
    if blank.any():
        row = int(frame["_row"].iloc[int(np.flatnonzero(blank)[0])])
        raise DataError(f"{path}: row {row}: the symbol is empty; every row of a long file needs its symbol")
    frame["symbol"] = frame["symbol"].astype(str)
    padded = (frame["symbol"] != frame["symbol"].str.strip()).to_numpy()
    if padded.any():
        at = int(np.flatnonzero(padded)[0])
        raise DataError(f"{path}: row {int(frame['_row'].iloc[at])}: the symbol {shown(frame['symbol'].iloc[at])!r} "
                        "has spaces around it; remove them (it would be another symbol)")
    symbols = list(dict.fromkeys(frame["symbol"]))
    by_case: dict[str, str] = {}
    for symbol in symbols:
        twin = by_case.setdefault(symbol.casefold(), symbol)
        if twin != symbol:
            raise DataError(f"{path}: the symbols '{shown(twin)}' and '{shown(symbol)}' differ only in case; "
                            "write each symbol one way")
    return {symbol: (f"{path} [symbol {symbol}]", part) for symbol, part in frame.groupby("symbol", sort=False)}


def _pick_symbols(frames: dict[str, tuple[str, pd.DataFrame]], wanted: tuple[str, ...] | None,
                  where: str) -> list[str]:
    if not wanted:
        return list(frames)
    missing = [symbol for symbol in wanted if symbol not in frames]
    if missing:
        raise DataError(f"{where}: symbol(s) {', '.join(missing)} not in the data; "
                        f"available: {', '.join(frames)}")
    return list(wanted)


def _align(validated: dict[str, tuple[str, pd.DataFrame]], align: str) -> pd.DatetimeIndex:
    indexes = {symbol: pd.DatetimeIndex(frame["timestamp"]) for symbol, (_, frame) in validated.items()}
    first_symbol, common = next(iter(indexes.items()))
    for symbol, index in indexes.items():
        common = common.intersection(index)
        if align == "strict" and not index.equals(indexes[first_symbol]):
            only_here = index.difference(indexes[first_symbol])
            only_there = indexes[first_symbol].difference(index)
            stamp, holder = (only_here[0], symbol) if len(only_here) else (only_there[0], first_symbol)
            raise DataError(
                f"{validated[holder][0]}: timestamp {stamp} has a bar for {holder} but not for every symbol; "
                "give every symbol the same timestamps, or set data.align: intersection to keep common bars only"
            )
    if len(common) < 2:
        raise DataError("the symbols share fewer than two timestamps; check that the files cover the same period")
    return common


def load_files(config: DataConfig, base_dir: Path) -> MarketData:
    """Reads, validates and aligns file-based data."""
    frames = _frames_by_symbol(config, base_dir)
    where = str(_resolve(config.path, base_dir)) if config.path else "data.files"
    symbols = _pick_symbols(frames, config.symbols, where)
    validated = {symbol: (frames[symbol][0], validate_symbol_frame(frames[symbol][1], frames[symbol][0],
                                                                    config.timestamp_unit))
                 for symbol in symbols}
    index = _align(validated, config.align)
    columns = {name: np.empty((len(index), len(symbols))) for name in PRICE_FIELDS}
    for j, symbol in enumerate(symbols):
        frame = validated[symbol][1].set_index("timestamp").loc[index]
        for name in PRICE_FIELDS:
            columns[name][:, j] = frame[name].to_numpy(dtype=np.float64)
    return MarketData(timestamps=index.to_numpy(dtype="datetime64[ns]"), symbols=tuple(symbols), **columns)


def load_market_data(config: DataConfig, base_dir: Path) -> MarketData:
    """The full dataset a config names, validated and aligned (before any split)."""
    if config.synthetic is not None:
        synthetic = config.synthetic
        # the bars themselves plus the generator's temporaries: about 12 floats per bar and symbol
        needed = synthetic.bars * len(synthetic.symbols) * 12 * 8
        if needed > available_bytes() // 2:
            raise DataError(f"data.synthetic: {synthetic.bars:,} bars x {len(synthetic.symbols)} symbols need about "
                            f"{gigabytes(needed)} of memory, more than half of the {gigabytes(available_bytes())} "
                            "free here; use fewer bars or symbols")
        data = generate_synthetic(synthetic)
        if config.symbols:
            _pick_symbols({symbol: ("", pd.DataFrame()) for symbol in data.symbols}, config.symbols,
                          "data.synthetic")
        return data
    return load_files(config, base_dir)
