"""Per-regime statistics of a backtest: how the total equity and the trades fared in each regime."""

from __future__ import annotations

import math

import numpy as np

from containers.config import BacktestConfig
from containers.results import BacktestResult

REGIME_COLUMNS = ("classifier", "regime", "bars", "return_pct", "sharpe_ratio", "num_trades", "win_rate_pct")


def regime_rows(classifier_equity: np.ndarray, codes: np.ndarray, names: list[str], labels: list[tuple[str, ...]],
                trade_classifier: np.ndarray, trade_code: np.ndarray, trade_pnl: np.ndarray,
                periods_per_year: float) -> list[dict[str, object]]:
    """One row per (classifier, regime) from plain arrays.

    `classifier_equity` is (bars, classifiers): the summed equity of each classifier's own portfolios;
    `codes` is (bars, classifiers) with -1 for unknown. The return of bar t-1 → t counts for the regime
    in force at t-1, when the position was decided. Trades are the closing fills of the classifier's
    own portfolios, each with the regime its position was opened in.
    """
    rows = []
    for c, name in enumerate(names):
        equity = classifier_equity[:, c]
        returns = equity[1:] / equity[:-1] - 1.0
        held_under = codes[:-1, c]
        for code, regime in enumerate(("unknown", *labels[c]), start=-1):
            chosen = returns[held_under == code]
            pnl = trade_pnl[(trade_classifier == c) & (trade_code == code)]
            std = float(np.std(chosen, ddof=1)) if len(chosen) > 1 else 0.0
            rows.append({
                "classifier": name, "regime": regime, "bars": int((codes[:, c] == code).sum()),
                "return_pct": (float(np.prod(1.0 + chosen)) - 1.0) * 100.0,
                "sharpe_ratio": float(np.mean(chosen)) / std * math.sqrt(periods_per_year) if std > 0 else 0.0,
                "num_trades": len(pnl), "win_rate_pct": float((pnl > 0).mean() * 100.0) if len(pnl) else 0.0,
            })
    return rows


def regime_metrics(result: BacktestResult, config: BacktestConfig,
                   periods_per_year: float) -> list[dict[str, object]]:
    """regime_rows for a BacktestResult (either engine)."""
    names = [c.name for c in config.classifiers]
    labels = [c.params.labels for c in config.classifiers]
    codes = np.column_stack([
        np.array([-1 if label == "unknown" else labels[c].index(label) for label in result.regimes[name]])
        for c, name in enumerate(names)])
    owner = {book.name: c for c, classifier in enumerate(config.classifiers) for book in classifier.portfolios}
    equity = np.zeros((len(result.equity), len(names)))
    for book, c in owner.items():  # each classifier's portfolios, added left to right as the fast engine does
        equity[:, c] += result.equity[book].to_numpy()
    trades = result.trades[result.trades["closing"]]
    trade_classifier = trades["portfolio"].map(owner).to_numpy(dtype=np.int64)
    trade_code = np.array([-1 if regime == "unknown" else labels[c].index(regime)
                           for c, regime in zip(trade_classifier, trades["regime"], strict=True)], dtype=np.int64)
    return regime_rows(equity, codes, names, labels, trade_classifier, trade_code,
                       trades["realized_pnl"].to_numpy(), periods_per_year)
