"""Events: frozen dataclasses, one per step of the per-bar flow.

BAR → INDICATOR → CLASSIFICATION → SIGNAL → ORDER (or REJECT) → FILL → PORTFOLIO_UPDATE
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Bar:
    """All symbols' bar at one timestamp (prices are read-only rows of the shared arrays)."""

    bar_index: int
    timestamp: np.datetime64
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


@dataclass(frozen=True)
class Indicator:
    """Every hub indicator's value at this bar, per key, as one value per symbol."""

    bar_index: int
    values: Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Classification:
    bar_index: int
    classifier: str
    regime: str
    changed: bool


@dataclass(frozen=True)
class Signal:
    """A strategy's opinion: direction +1/-1/0 (0 = flat) and strength in [0, 1]. It stands until the
    strategy signals again or leaves its regimes."""

    bar_index: int
    portfolio: str
    strategy: str
    symbol: str
    direction: int
    strength: float
    regime: str


@dataclass(frozen=True)
class Order:
    """A market order for `quantity` shares (signed: + buys, - sells) placed by one portfolio.

    `strategy` names the strategies credited with the position ('a+b') and `regime` the regime of its
    entry. A `liquidation` (close_at_end) fills at the bar's own close.
    """

    order_id: int
    bar_index: int
    portfolio: str
    strategy: str
    symbol: str
    quantity: float
    regime: str
    liquidation: bool = False


@dataclass(frozen=True)
class Reject:
    bar_index: int
    portfolio: str
    strategy: str
    symbol: str
    quantity: float
    reason: str


@dataclass(frozen=True)
class Fill:
    order_id: int
    bar_index: int
    portfolio: str
    strategy: str
    symbol: str
    quantity: float
    price: float
    commission: float
    slippage_cost: float
    regime: str


@dataclass(frozen=True)
class PortfolioUpdate:
    bar_index: int
    portfolio: str
    cash: float
    equity: float
