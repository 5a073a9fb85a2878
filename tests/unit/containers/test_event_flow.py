"""Event order per bar, who emits what, and isolation between risk & portfolio containers."""

import sys
from typing import Any

import numpy as np
import pandas as pd

from containers.bus import Dispatcher, ScopedEventBus
from containers.events import Bar, Classification, Fill, Indicator, Order, PortfolioUpdate, Signal
from containers.factory import build_backtest
from containers.run import run_backtest
from tests.helpers import bars, config, portfolio

CLOSES = [10.0, 11.0, 10.5, 12.0, 12.5, 12.0, 11.0]


class Recorder:
    """A tracer that records each published event with the class of the component that published it."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, Any]] = []

    def __call__(self, bus_name: str, event: Any) -> None:
        frame = sys._getframe(1)
        while frame is not None:
            owner = frame.f_locals.get("self")
            if owner is not None and not isinstance(owner, (Dispatcher, ScopedEventBus, Recorder)):
                break
            frame = frame.f_back
        publisher = type(frame.f_locals["self"]).__name__ if frame is not None else "?"
        self.events.append((bus_name, publisher, event))


def test_a_signals_chain_in_order_and_fill_before_next_bar() -> None:
    recorder = Recorder()
    container = build_backtest(config(), bars(CLOSES), tracer=recorder)
    container.run()
    kinds = [type(event) for _, _, event in recorder.events]
    first_signal = next(i for i, (_, _, e) in enumerate(recorder.events) if isinstance(e, Signal))
    t = recorder.events[first_signal][2].bar_index
    bar_start = next(i for i, (_, _, e) in enumerate(recorder.events) if isinstance(e, Bar) and e.bar_index == t)
    next_bar = next(i for i, (_, _, e) in enumerate(recorder.events) if isinstance(e, Bar) and e.bar_index == t + 1)
    chain = [k for k in kinds[bar_start:next_bar + 1]]
    assert chain == [Bar, Indicator, Classification, Signal, Order, Fill, PortfolioUpdate, Bar]
    fill = recorder.events[bar_start + 5][2]
    assert fill.bar_index == t + 1 and fill.price == CLOSES[t + 1]  # opens equal closes in this data
    assert recorder.events[bar_start + 3][2].bar_index == t


def test_only_strategies_signal_only_risk_orders_only_the_engine_fills() -> None:
    recorder = Recorder()
    build_backtest(config(), bars(CLOSES), tracer=recorder).run()
    publishers: dict[type, set[str]] = {}
    for _, publisher, event in recorder.events:
        publishers.setdefault(type(event), set()).add(publisher)
    assert publishers[Signal] == {"StrategyComponent"}
    assert publishers[Order] == {"RiskManager"}
    assert publishers[Fill] == {"BacktestEngine"}
    assert publishers[Bar] == {"DataStreamer"}
    assert publishers[Indicator] == {"IndicatorHub"}


def test_children_see_parents_events_never_siblings() -> None:
    dispatcher = Dispatcher()
    root = ScopedEventBus("root", dispatcher)
    left, right = root.child("left"), root.child("right")
    seen: dict[str, list[str]] = {"root": [], "left": [], "right": []}
    for name, bus in (("root", root), ("left", left), ("right", right)):
        bus.subscribe(str, lambda event, name=name: seen[name].append(event))
    root.publish("from root")
    left.publish("from left")
    right.escalate("up from right")
    dispatcher.drain()
    assert seen == {"root": ["from root", "up from right"], "left": ["from root", "from left"],
                    "right": ["from root", "up from right"]}


def _two_portfolios() -> list[dict]:
    strategies = [{"name": "xo", "type": "ma_crossover", "params": {"fast": 2, "slow": 4}}]
    return [portfolio("small", 1_000.0, strategies, sizer={"type": "percentage", "pct": 50}),
            portfolio("large", 50_000.0, strategies, sizer={"type": "percentage", "pct": 50})]


def test_two_portfolios_with_the_same_signals_stay_independent(engine: str) -> None:
    rng = np.random.default_rng(3)
    data = bars(list(100 * np.exp(np.cumsum(rng.normal(0, 0.02, 300)))))
    recorder = Recorder()
    container = build_backtest(config(_two_portfolios()), data, tracer=recorder)
    container.run()
    for bus_name, _, event in recorder.events:
        if isinstance(event, Fill):
            assert bus_name.endswith("/" + event.portfolio)  # delivered to its own container only
    together = run_backtest(config(_two_portfolios()), data, engine)
    for alone in _two_portfolios():
        by_itself = run_backtest(config([alone]), data, engine)
        name = alone["name"]
        pd.testing.assert_series_equal(together.equity[name], by_itself.equity[name])
        mine = together.trades[together.trades["portfolio"] == name].drop(columns="order_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, by_itself.trades.drop(columns="order_id"))
    small = together.trades[together.trades["portfolio"] == "small"]
    large = together.trades[together.trades["portfolio"] == "large"]
    assert list(small["bar_index"]) == list(large["bar_index"])  # same signals ...
    assert (large["quantity"].abs().to_numpy() > small["quantity"].abs().to_numpy()).all()  # ... own capital


def test_same_config_twice_gives_identical_results(engine: str) -> None:
    cfg = config(_two_portfolios(), classifier="volatility", classifier_params={"fast": 5, "slow": 20})
    rng = np.random.default_rng(5)
    data = bars(list(100 * np.exp(np.cumsum(rng.normal(0, 0.02, 400)))))
    first, second = run_backtest(cfg, data, engine), run_backtest(cfg, data, engine)
    pd.testing.assert_frame_equal(first.trades, second.trades)
    pd.testing.assert_frame_equal(first.equity, second.equity)
    pd.testing.assert_series_equal(first.metrics, second.metrics)
