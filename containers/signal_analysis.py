"""Signal analysis (the SIGNAL_GENERATION pattern's engine): how good each strategy's signals are on their
own, before any risk manager, order or portfolio.

A signal is a bar where a strategy's standing signal asks for a new side: non-zero, and not the side
it held the bar before. For each one, from the close at that bar (the signal's price) and signed by
its direction:
- forward returns after 1, 5, 10 and 20 bars (close to close); missing past the data's end;
- MAE and MFE over the next 20 bars (fewer at the data's end): the worst and best move to a bar's low
  or high (a long's worst is the lowest low, its best the highest high; a short's the other way
  round), with the bars to the first bar that reaches it. They are not clamped at 0: a MAE above 0
  means even the worst bar was a gain.
The strategy's own rule is measured, without its `regimes:` filter, so that each regime's rows say how
it would do there; prices are closes (FULL fills at the next open by default).
Per strategy and per regime of its classifier (at the signal's bar), and for all regimes together:
the count, the 1-bar win rate (share of 1-bar returns above 0), expectancy (p·average win + (1−p)·average
loss over the 1-bar returns, a loss being a return ≤ 0), the average forward returns, MAE, MFE, bars to
them and MFE/|MAE|, and the mean and (population) standard deviation of strength. Across all
strategies: the MAE and MFE distribution, and the correlation matrix of the standing signals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from containers.aggregation import hold
from containers.data.market import MarketData

HORIZONS = (1, 5, 10, 20)
WINDOW = 20  # bars over which MAE and MFE are measured
ALL = "all"


def signal_bars(standing: np.ndarray) -> np.ndarray:
    """Bars where the standing signal asks for a new side (non-zero, unlike the bar before)."""
    side = np.sign(np.nan_to_num(standing))
    before = np.concatenate(([0.0], side[:-1]))
    return np.flatnonzero((side != 0) & (side != before))


def forward_returns(close: np.ndarray, bars: np.ndarray, direction: np.ndarray, horizon: int) -> np.ndarray:
    later = bars + horizon
    out = np.full(len(bars), np.nan)
    inside = later < len(close)
    out[inside] = direction[inside] * (close[later[inside]] / close[bars[inside]] - 1.0)
    return out


def excursions(high: np.ndarray, low: np.ndarray, close: np.ndarray, bars: np.ndarray, direction: np.ndarray,
               window: int = WINDOW) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(MAE, MFE, bars to MAE, bars to MFE) per signal, over the `window` bars after it (NaN if none)."""
    mae, mfe, mae_bars, mfe_bars = (np.full(len(bars), np.nan) for _ in range(4))
    for i, (t, side) in enumerate(zip(bars, direction, strict=True)):
        highs, lows = high[t + 1:t + 1 + window], low[t + 1:t + 1 + window]
        if not len(highs):
            continue
        price = close[t]
        top, bottom = int(np.argmax(highs)), int(np.argmin(lows))
        up, down = highs[top] / price - 1.0, lows[bottom] / price - 1.0
        if side > 0:
            mfe[i], mfe_bars[i], mae[i], mae_bars[i] = up, top + 1, down, bottom + 1
        else:
            mfe[i], mfe_bars[i], mae[i], mae_bars[i] = -down, bottom + 1, -up, top + 1
    return mae, mfe, mae_bars, mfe_bars


@dataclass(frozen=True)
class StrategySignals:
    """One strategy's standing signal per symbol it trades, and its classifier's regime labels per bar."""

    name: str  # portfolio.strategy
    standing: dict[str, np.ndarray]  # symbol -> standing signal (NaN: none yet)
    regimes: np.ndarray  # label per bar


def signal_table(strategies: Sequence[StrategySignals], data: MarketData) -> pd.DataFrame:
    """One row per signal, with its forward returns and excursions."""
    frames = []
    for strategy in strategies:
        for symbol, standing in strategy.standing.items():
            j = data.symbols.index(symbol)
            bars = signal_bars(standing)
            value = standing[bars]
            direction = np.sign(value)
            row: dict[str, Any] = {"strategy": strategy.name, "symbol": symbol, "bar": bars,
                                   "timestamp": data.timestamps[bars], "regime": strategy.regimes[bars],
                                   "direction": direction.astype(np.int64), "strength": np.abs(value),
                                   "price": data.close[bars, j]}
            for horizon in HORIZONS:
                row[f"forward_{horizon}"] = forward_returns(data.close[:, j], bars, direction, horizon)
            row["mae"], row["mfe"], row["mae_bars"], row["mfe_bars"] = excursions(
                data.high[:, j], data.low[:, j], data.close[:, j], bars, direction)
            frames.append(pd.DataFrame(row))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _summary(rows: pd.DataFrame) -> dict[str, float]:
    first = rows["forward_1"].dropna()
    wins, losses = first[first > 0], first[first <= 0]
    p = len(wins) / len(first) if len(first) else np.nan
    average_win = wins.mean() if len(wins) else 0.0
    average_loss = losses.mean() if len(losses) else 0.0
    mae, mfe = rows["mae"].mean(), rows["mfe"].mean()
    summary = {"signals": float(len(rows)), "win_rate_1": p,
               "expectancy_1": p * average_win + (1 - p) * average_loss if len(first) else np.nan}
    summary.update({f"average_forward_{h}": rows[f"forward_{h}"].mean() for h in HORIZONS})
    summary.update({"average_mae": mae, "average_mfe": mfe, "average_mae_bars": rows["mae_bars"].mean(),
                    "average_mfe_bars": rows["mfe_bars"].mean(),
                    "mfe_mae_ratio": mfe / abs(mae) if mae and not np.isnan(mae) else np.nan,
                    "strength_mean": rows["strength"].mean(), "strength_std": rows["strength"].std(ddof=0)})
    return summary


def summarize(table: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Per strategy, per regime and for all regimes ("all"): the signal-quality figures."""
    rows = []
    for name in names:
        mine = table[table["strategy"] == name] if len(table) else table
        groups = [(ALL, mine)] + ([(str(regime), part) for regime, part in mine.groupby("regime", sort=True)]
                                  if len(mine) else [])
        for regime, part in groups:
            rows.append({"strategy": name, "regime": regime,
                         **(_summary(part) if len(part) else {"signals": 0.0})})
    return pd.DataFrame(rows)


def distribution(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    """MAE and MFE over every signal: mean, std, min, quartiles, max."""
    out = {}
    for column in ("mae", "mfe"):
        values = table[column].dropna() if len(table) else pd.Series(dtype=float)
        out[column] = {"mean": values.mean(), "std": values.std(ddof=0), "min": values.min(),
                       "p25": values.quantile(0.25), "median": values.median(), "p75": values.quantile(0.75),
                       "max": values.max()} if len(values) else {}
    return out


def correlation(strategies: Sequence[StrategySignals], data: MarketData) -> pd.DataFrame:
    """Pearson correlation of the strategies' standing signals (0 where a strategy asks for nothing, or
    does not trade the symbol), every symbol's bars one after another."""
    columns = {}
    for strategy in strategies:
        stacked = np.zeros(data.n_bars * data.n_symbols)
        for symbol, standing in strategy.standing.items():
            j = data.symbols.index(symbol)
            stacked[j * data.n_bars:(j + 1) * data.n_bars] = np.nan_to_num(standing)
        columns[strategy.name] = stacked
    frame = pd.DataFrame(columns)
    return frame.corr() if len(columns) else frame


def standing_of(raw: np.ndarray) -> np.ndarray:
    """A rule's standing signal with no regime filter: the last value it gave."""
    return hold(np.ascontiguousarray(raw), np.ones(len(raw), dtype=np.bool_), np.empty(len(raw)))
