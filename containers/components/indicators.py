"""Indicators: causal functions over whole (bars, symbols) arrays; the value at bar t uses bars <= t only.

Every indicator is named by an IndicatorSpec, so the IndicatorHub can compute each one exactly once
for all its consumers. Warm-up bars are NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from containers.data.market import MarketData

Arrays = dict[str, np.ndarray]


@dataclass(frozen=True, order=True)
class IndicatorSpec:
    """An indicator kind and its parameters, e.g. IndicatorSpec('sma', (20,))."""

    kind: str
    params: tuple[float, ...] = ()

    @property
    def key(self) -> str:
        return "_".join([self.kind, *(_format(value) for value in self.params)])

    def output(self, name: str | None = None) -> str:
        """The hub key of one output (multi-output indicators name theirs, e.g. 'bollinger_20_2.upper')."""
        outputs = INDICATORS[self.kind].outputs
        if name is None:
            if len(outputs) != 1:
                raise ValueError(f"{self.kind} has several outputs {outputs}; name one")
            return self.key
        if name not in outputs:
            raise ValueError(f"{self.kind} has no output '{name}'; outputs: {outputs}")
        return self.key if len(outputs) == 1 else f"{self.key}.{name}"


def _format(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _frame(array: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(array)


def _wilder(array: np.ndarray | pd.DataFrame, period: int) -> pd.DataFrame:
    return _frame(np.asarray(array)).ewm(alpha=1.0 / period, adjust=False, min_periods=period).mean()


def sma(data: MarketData, period: int) -> Arrays:
    return {"value": _frame(data.close).rolling(int(period), min_periods=int(period)).mean().to_numpy()}


def ema(data: MarketData, period: int) -> Arrays:
    smoothed = _frame(data.close).ewm(span=int(period), adjust=False, min_periods=int(period)).mean()
    return {"value": smoothed.to_numpy()}


def rsi(data: MarketData, period: int) -> Arrays:
    """Wilder's RSI in [0, 100]; 100 when there were no losses over the window."""
    change = np.diff(data.close, axis=0, prepend=np.nan)
    gain = _wilder(np.where(np.isnan(change), np.nan, np.clip(change, 0, None)), int(period)).to_numpy()
    loss = _wilder(np.where(np.isnan(change), np.nan, np.clip(-change, 0, None)), int(period)).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(loss == 0, 100.0, 100.0 - 100.0 / (1.0 + gain / loss))
    return {"value": np.where(np.isnan(gain) | np.isnan(loss), np.nan, value)}


def _true_range(data: MarketData) -> np.ndarray:
    previous_close = np.vstack([data.close[:1], data.close[:-1]])
    return np.maximum.reduce([data.high - data.low, np.abs(data.high - previous_close),
                              np.abs(data.low - previous_close)])


def atr(data: MarketData, period: int) -> Arrays:
    return {"value": _wilder(_true_range(data), int(period)).to_numpy()}


def bollinger(data: MarketData, period: int, num_std: float) -> Arrays:
    window = _frame(data.close).rolling(int(period), min_periods=int(period))
    mid, std = window.mean().to_numpy(), window.std(ddof=0).to_numpy()
    return {"mid": mid, "upper": mid + num_std * std, "lower": mid - num_std * std}


def macd(data: MarketData, fast: int, slow: int, signal: int) -> Arrays:
    close = _frame(data.close)
    line = (close.ewm(span=int(fast), adjust=False, min_periods=int(slow)).mean()
            - close.ewm(span=int(slow), adjust=False, min_periods=int(slow)).mean())
    signal_line = line.ewm(span=int(signal), adjust=False, min_periods=int(signal)).mean()
    return {"macd": line.to_numpy(), "signal": signal_line.to_numpy(), "hist": (line - signal_line).to_numpy()}


def adx(data: MarketData, period: int) -> Arrays:
    """Wilder's ADX with +DI and -DI, in [0, 100]."""
    up = np.diff(data.high, axis=0, prepend=np.nan)
    down = -np.diff(data.low, axis=0, prepend=np.nan)
    plus_dm = np.where((up > down) & (up > 0), up, 0.0)
    minus_dm = np.where((down > up) & (down > 0), down, 0.0)
    first = np.isnan(up)
    plus_dm[first], minus_dm[first] = np.nan, np.nan
    true_range = np.where(first, np.nan, _true_range(data))
    smoothed_tr = _wilder(true_range, int(period)).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        plus_di = 100 * _wilder(plus_dm, int(period)).to_numpy() / smoothed_tr
        minus_di = 100 * _wilder(minus_dm, int(period)).to_numpy() / smoothed_tr
        total = plus_di + minus_di
        dx = np.where(total == 0, 0.0, 100 * np.abs(plus_di - minus_di) / total)
    dx = np.where(np.isnan(total), np.nan, dx)
    return {"adx": _wilder(dx, int(period)).to_numpy(), "plus_di": plus_di, "minus_di": minus_di}


def donchian(data: MarketData, period: int) -> Arrays:
    """Highest high and lowest low of the last `period` bars, the current bar included."""
    n = int(period)
    return {"upper": _frame(data.high).rolling(n, min_periods=n).max().to_numpy(),
            "lower": _frame(data.low).rolling(n, min_periods=n).min().to_numpy()}


def roc(data: MarketData, period: int) -> Arrays:
    """Rate of change as a fraction: close[t] / close[t - period] - 1."""
    n = int(period)
    previous = np.vstack([np.full((min(n, data.n_bars), data.n_symbols), np.nan), data.close[:-n]])
    return {"value": data.close / previous[: data.n_bars] - 1.0}


def realized_vol(data: MarketData, period: int) -> Arrays:
    """Standard deviation of one-bar log returns over the last `period` returns (not annualized)."""
    log_returns = np.diff(np.log(data.close), axis=0, prepend=np.nan)
    n = int(period)
    return {"value": _frame(log_returns).rolling(n, min_periods=n).std(ddof=1).to_numpy()}


@dataclass(frozen=True)
class IndicatorKind:
    function: Callable[..., Arrays]
    outputs: tuple[str, ...]
    arity: int


INDICATORS: dict[str, IndicatorKind] = {
    "sma": IndicatorKind(sma, ("value",), 1),
    "ema": IndicatorKind(ema, ("value",), 1),
    "rsi": IndicatorKind(rsi, ("value",), 1),
    "atr": IndicatorKind(atr, ("value",), 1),
    "bollinger": IndicatorKind(bollinger, ("mid", "upper", "lower"), 2),
    "macd": IndicatorKind(macd, ("macd", "signal", "hist"), 3),
    "adx": IndicatorKind(adx, ("adx", "plus_di", "minus_di"), 1),
    "donchian": IndicatorKind(donchian, ("upper", "lower"), 1),
    "roc": IndicatorKind(roc, ("value",), 1),
    "realized_vol": IndicatorKind(realized_vol, ("value",), 1),
}


def compute(spec: IndicatorSpec, data: MarketData) -> Arrays:
    """Every output of one indicator, keyed by hub key; arrays are made read-only."""
    kind = INDICATORS[spec.kind]
    outputs = kind.function(data, *spec.params)
    result = {}
    for name, array in outputs.items():
        array = np.ascontiguousarray(array, dtype=np.float64)
        array.setflags(write=False)
        result[spec.output(name)] = array
    return result


