"""Train/test split of a dataset, by ratio or by the first test timestamp."""

from __future__ import annotations

import numpy as np
import pandas as pd

from containers.data.config import SplitConfig
from containers.data.market import MarketData
from containers.errors import DataError


def split_index(data: MarketData, split: SplitConfig) -> int:
    """The first bar of the test part; both parts keep at least two bars."""
    if split.train_ratio is not None:
        boundary = round(data.n_bars * split.train_ratio)
        where = f"data.split.train_ratio {split.train_ratio}"
    else:
        boundary = int(np.searchsorted(data.timestamps, np.datetime64(split.test_start, "ns")))
        where = f"data.split.test_start {split.test_start}"
    if boundary < 2 or data.n_bars - boundary < 2:
        raise DataError(
            f"{where} leaves {boundary} train and {data.n_bars - boundary} test bars "
            f"(data runs {pd.Timestamp(data.timestamps[0])} to {pd.Timestamp(data.timestamps[-1])}); "
            "each part needs at least two bars"
        )
    return boundary


def select_part(data: MarketData, split: SplitConfig | None, use: str) -> MarketData:
    """The 'full', 'train' or 'test' part of the data; train ends strictly before test starts."""
    if use == "full" or split is None:
        return data
    boundary = split_index(data, split)
    return data.slice(0, boundary) if use == "train" else data.slice(boundary, data.n_bars)
