"""Config models for market data: where bars come from, how symbols align, how to split."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, model_validator

from containers.strict import StrictModel


class SyntheticData(StrictModel):
    """A seeded regime-switching random walk with volume (no download needed)."""

    symbols: tuple[str, ...] = Field(default=("SYN",), min_length=1)
    bars: int = Field(default=5000, ge=2, le=50_000_000)
    seed: int = 7
    freq: str = "1h"
    start: dt.datetime = dt.datetime(2020, 1, 1)
    initial_price: float = Field(default=100.0, gt=0)


class SplitConfig(StrictModel):
    """Train/test split by the share of bars in train, or by the first timestamp of test."""

    train_ratio: float | None = Field(default=None, gt=0, lt=1)
    test_start: dt.datetime | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SplitConfig:
        if (self.train_ratio is None) == (self.test_start is None):
            raise ValueError("give exactly one of 'train_ratio' or 'test_start'")
        return self


class DataConfig(StrictModel):
    """One of: `synthetic`, `path` (one long file with a symbol column) or `files` (one per symbol)."""

    synthetic: SyntheticData | None = None
    path: str | None = None
    files: dict[str, str] | None = None
    symbols: tuple[str, ...] | None = None
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
        return self
