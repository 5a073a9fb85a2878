"""MarketData: time-aligned OHLCV arrays for several symbols, shape (bars, symbols)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

PRICE_FIELDS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class MarketData:
    """Bars of several symbols on one shared, strictly increasing timestamp index.

    Every array is read-only so that one dataset can be shared by any number of backtests.
    """

    timestamps: np.ndarray  # datetime64[ns], shape (bars,)
    symbols: tuple[str, ...]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __post_init__(self) -> None:
        for name in ("timestamps", *PRICE_FIELDS):
            array = getattr(self, name)
            array.setflags(write=False)

    @property
    def n_bars(self) -> int:
        return len(self.timestamps)

    @property
    def n_symbols(self) -> int:
        return len(self.symbols)

    def field(self, name: str) -> np.ndarray:
        return getattr(self, name)

    def slice(self, start: int, stop: int) -> MarketData:
        """Bars [start, stop) as a new MarketData (views of the same memory)."""
        return MarketData(
            timestamps=self.timestamps[start:stop],
            symbols=self.symbols,
            **{name: getattr(self, name)[start:stop] for name in PRICE_FIELDS},
        )

    def content_hash(self) -> str:
        """A digest of every value, so a run can tell whether its data changed."""
        digest = hashlib.sha256()
        digest.update("|".join(self.symbols).encode())
        digest.update(np.ascontiguousarray(self.timestamps).tobytes())
        for name in PRICE_FIELDS:
            digest.update(np.ascontiguousarray(getattr(self, name)).tobytes())
        return digest.hexdigest()

    def periods_per_year(self) -> float:
        """Bars per year of the whole run: (bars - 1) / the years between the first and last timestamp.

        For reporting only (metrics); what decides a trade reads `periods_per_year_so_far` instead.
        """
        return float(periods_per_year_so_far(self.timestamps)[-1]) if self.n_bars > 1 else DEFAULT_PERIODS_PER_YEAR

    def periods_per_year_so_far(self) -> np.ndarray:
        return periods_per_year_so_far(self.timestamps)


DEFAULT_PERIODS_PER_YEAR = 252.0  # a single bar spans no time; nothing is annualized from it anyway
_NS_PER_YEAR = 365.25 * 86400e9


def periods_per_year_so_far(timestamps: np.ndarray) -> np.ndarray:
    """Per bar t, the bars-per-year estimate from bars <= t: t / years from the first bar to bar t
    (NaN at bar 0, where no time has passed)."""
    elapsed = (timestamps - timestamps[0]).astype("timedelta64[ns]").astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        estimate = np.arange(len(timestamps), dtype=np.float64) / (elapsed / _NS_PER_YEAR)
    estimate[:1] = np.nan
    estimate.setflags(write=False)
    return estimate
