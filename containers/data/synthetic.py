"""A seeded regime-switching random walk with volume: realistic enough bars for examples and tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from containers.data.config import SyntheticData
from containers.data.market import MarketData
from containers.errors import DataError

# Per regime: drift and volatility of log returns per bar, and the volume multiplier.
REGIME_DRIFT = np.array([0.0, 0.0006, -0.0006, 0.0])
REGIME_VOL = np.array([0.004, 0.006, 0.007, 0.016])
REGIME_VOLUME = np.array([1.0, 1.3, 1.4, 2.5])
STAY_PROBABILITY = 0.99


def _regime_path(rng: np.random.Generator, bars: int) -> np.ndarray:
    """A Markov chain over four regimes (calm, up-trend, down-trend, turbulent) that mostly stays put."""
    switches = rng.random(bars) > STAY_PROBABILITY
    jumps = rng.integers(1, len(REGIME_VOL), size=bars)
    steps = np.where(switches, jumps, 0)
    return np.cumsum(steps) % len(REGIME_VOL)


def generate_synthetic(config: SyntheticData) -> MarketData:
    """Bars for every symbol on one timestamp index; the same config always gives the same bars."""
    try:
        index = pd.date_range(config.start, periods=config.bars, freq=config.freq)
    except ValueError as error:
        raise DataError(f"data.synthetic.freq: '{config.freq}' is not a pandas frequency ({error}); "
                        "use e.g. 1min, 5min, 1h, 1D") from error
    rng = np.random.default_rng(config.seed)
    market = rng.standard_normal(config.bars)
    shape = (config.bars, len(config.symbols))
    fields = {name: np.empty(shape) for name in ("open", "high", "low", "close", "volume")}
    for j in range(len(config.symbols)):
        regimes = _regime_path(rng, config.bars)
        noise = 0.6 * market + 0.8 * rng.standard_normal(config.bars)
        log_returns = REGIME_DRIFT[regimes] + REGIME_VOL[regimes] * noise
        close = config.initial_price * (1 + 0.5 * j) * np.exp(np.cumsum(log_returns))
        gap = np.exp(0.2 * REGIME_VOL[regimes] * rng.standard_normal(config.bars))
        open_ = np.concatenate([[config.initial_price * (1 + 0.5 * j)], close[:-1]]) * gap
        wick = REGIME_VOL[regimes] * np.abs(rng.standard_normal((2, config.bars)))
        fields["open"][:, j] = open_
        fields["close"][:, j] = close
        fields["high"][:, j] = np.maximum(open_, close) * (1 + wick[0])
        fields["low"][:, j] = np.minimum(open_, close) * (1 - wick[1])
        fields["volume"][:, j] = np.round(1e5 * REGIME_VOLUME[regimes] * rng.lognormal(0.0, 0.3, config.bars))
    return MarketData(timestamps=index.to_numpy(dtype="datetime64[ns]"), symbols=config.symbols, **fields)
