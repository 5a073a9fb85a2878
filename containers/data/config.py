"""Config models for market data: where bars come from, how symbols align, how to split."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import pandas as pd
from pydantic import Field, field_validator, model_validator

from containers.strict import StrictModel

Symbol = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.\-^=/]+$")]


def _unique(symbols: tuple[str, ...] | None, where: str) -> None:
    repeated = sorted({symbol for symbol in symbols or () if (symbols or ()).count(symbol) > 1})
    if repeated:
        raise ValueError(f"{where}: symbol(s) {', '.join(repeated)} listed more than once; list each once")


class SyntheticData(StrictModel):
    """A seeded regime-switching random walk with volume (no download needed)."""

    symbols: tuple[Symbol, ...] = Field(default=("SYN",), min_length=1, max_length=1000)
    bars: int = Field(default=5000, ge=2, le=50_000_000)
    seed: int = 7
    freq: str = "1h"
    start: dt.datetime = dt.datetime(2020, 1, 1)
    initial_price: float = Field(default=100.0, gt=0, le=1e12)

    @field_validator("start")
    @classmethod
    def _utc(cls, value: dt.datetime) -> dt.datetime:
        return naive_utc(value)

    @model_validator(mode="after")
    def _valid_calendar(self) -> SyntheticData:
        _unique(self.symbols, "symbols")
        try:
            step = pd.Timedelta(pd.tseries.frequencies.to_offset(self.freq))
        except (ValueError, TypeError):
            raise ValueError(f"freq '{self.freq}' is not a fixed pandas frequency; use one such as 1min, 5min, "
                             "1h or 1D") from None
        if step <= pd.Timedelta(0):
            raise ValueError(f"freq '{self.freq}' must be a positive step, such as 1min, 1h or 1D")
        if self.start < PANDAS_FIRST_DAY:
            raise ValueError(f"start {self.start} is before {PANDAS_FIRST_DAY.date()}, the first whole day pandas "
                             "can hold; start later")
        start = pd.Timestamp(self.start)
        if (pd.Timestamp.max - start) / step < self.bars:
            raise ValueError(f"{self.bars} bars of {self.freq} from {self.start} run past {pd.Timestamp.max.date()}, "
                             "the last date pandas can hold; start earlier, use fewer bars or a shorter freq")
        return self


PANDAS_FIRST_DAY = dt.datetime(1677, 9, 22)  # pd.Timestamp.min is 1677-09-21 00:12:43


def naive_utc(value: dt.datetime) -> dt.datetime:
    """A config time as the data's timestamps are held: naive, in UTC (an offset is converted)."""
    return value if value.tzinfo is None else value.astimezone(dt.UTC).replace(tzinfo=None)


class SplitConfig(StrictModel):
    """Train/test split by the share of bars in train, or by the first timestamp of test."""

    train_ratio: float | None = Field(default=None, gt=0, lt=1)
    test_start: dt.datetime | None = None

    @field_validator("test_start")
    @classmethod
    def _utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        return None if value is None else naive_utc(value)

    @model_validator(mode="after")
    def _exactly_one(self) -> SplitConfig:
        if (self.train_ratio is None) == (self.test_start is None):
            raise ValueError("give exactly one of 'train_ratio' or 'test_start'")
        return self


class DataConfig(StrictModel):
    """One of: `synthetic`, `path` (one long file with a symbol column) or `files` (one per symbol)."""

    synthetic: SyntheticData | None = None
    path: str | None = Field(default=None, min_length=1)
    files: dict[Symbol, Annotated[str, Field(min_length=1)]] | None = Field(default=None, min_length=1)
    symbols: tuple[Symbol, ...] | None = Field(default=None, min_length=1)
    timestamp_unit: Literal["s", "ms", "us", "ns"] | None = None
    align: Literal["strict", "intersection"] = "strict"
    split: SplitConfig | None = None
    use: Literal["full", "train", "test"] = "full"

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        given = [name for name in ("synthetic", "path", "files") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one data source: 'synthetic', 'path' (one file with a 'symbol' column) "
                f"or 'files' (symbol: file); got {given or 'none'}"
            )
        if self.use != "full" and self.split is None:
            raise ValueError(f"use: {self.use} needs a 'split' (train_ratio or test_start)")
        _unique(self.symbols, "symbols")
        if self.timestamp_unit is not None and self.synthetic is not None:
            raise ValueError("timestamp_unit applies to files with epoch timestamps, not to synthetic data")
        return self
