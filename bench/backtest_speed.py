"""Backtest speed: an MA-crossover sweep with percentage sizing and 0.1% commission, measured side by side.

Prints bar-evaluations per second (bars x parameter sets / seconds) for
  - the fast engine's batch entry point (compiled kernel, full risk/portfolio path),
  - the event engine (per-bar event loop, on fewer bars),
  - a plain-numpy vectorized reference written here (no risk layer, no integer shares),
and the ratios between them. Compile (or compile-cache load) time is measured and reported apart.

    python bench/backtest_speed.py [--bars 100000] [--fast-periods 15] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from containers.config import BacktestConfig
from containers.data.config import SyntheticData
from containers.data.synthetic import generate_synthetic
from containers.fast import run_batch
from containers.hub import IndicatorHub, plan
from containers.paths import with_params
from containers.run import run_backtest


def sweep_config(bars: int) -> BacktestConfig:
    return BacktestConfig.model_validate({
        "data": {"synthetic": {"symbols": ["SPY"], "bars": bars, "seed": 1, "freq": "1min"}},
        "execution": {"commission": {"type": "percentage", "rate_pct": 0.1}},
        "classifiers": [{"name": "all", "type": "none", "portfolios": [{
            "name": "book", "capital": 1_000_000, "sizer": {"type": "percentage", "pct": 95},
            "strategies": [{"name": "xo", "type": "ma_crossover", "params": {"fast": 5, "slow": 20}}]}]}],
    })


def parameter_sets(fast_periods: int) -> list[dict[str, int]]:
    return [{"fast": fast, "slow": slow} for fast in range(2, 2 + fast_periods) for slow in range(20, 120, 10)]


def numpy_reference(close: np.ndarray, open_: np.ndarray, params: list[dict[str, int]]) -> np.ndarray:
    """Vectorized MA crossover: always-invested long/short fraction, fills at the next open, 0.1% per change."""
    finals = np.empty(len(params))
    cumulative = np.concatenate([[0.0], np.cumsum(close)])
    open_to_open = np.append(open_[1:] / open_[:-1] - 1.0, 0.0)
    for i, p in enumerate(params):
        fast = (cumulative[p["fast"]:] - cumulative[:-p["fast"]]) / p["fast"]
        slow = (cumulative[p["slow"]:] - cumulative[:-p["slow"]]) / p["slow"]
        direction = np.zeros(len(close))
        direction[p["slow"] - 1:] = np.sign(fast[p["slow"] - p["fast"]:] - slow)
        held = np.concatenate([[0.0], direction[:-1]])  # signal at t, position from the open of t+1
        turnover = np.abs(np.diff(held, prepend=0.0))
        returns = 0.95 * held * open_to_open - 0.001 * 0.95 * turnover
        finals[i] = np.prod(1.0 + returns)
    return finals


def best_of(repeats: int, work: Callable[[], object]) -> float:
    """The shortest of `repeats` timings: the machine is shared, and noise only ever adds time."""
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return min(timings)


def measure(bars: int, fast_periods: int, event_bars: int, repeats: int) -> dict[str, float]:
    config = sweep_config(bars)
    data = generate_synthetic(config.data.synthetic or SyntheticData())
    params = parameter_sets(fast_periods)

    started = time.perf_counter()
    small = generate_synthetic(SyntheticData(symbols=("SPY",), bars=300, seed=2))
    run_batch(config, small, "book", "xo", params[:2])
    compile_seconds = time.perf_counter() - started

    batch = run_batch(config, data, "book", "xo", params)
    # each repeat starts from an empty hub, so the indicators are part of every timing
    fast_seconds = best_of(repeats, lambda: run_batch(config, data, "book", "xo", params, hub=IndicatorHub(data, [])))
    strategy = config.classifiers[0].portfolios[0].strategies[0].params
    specs = {spec for p in params for spec in plan(strategy.model_copy(update=p).inputs().values())}
    indicator_seconds = best_of(repeats, lambda: IndicatorHub(data, specs))

    event_data = data.slice(0, event_bars)
    event_configs = [with_params(config, {f"book.xo.{name}": value for name, value in p.items()}) for p in params[:3]]
    event_seconds = best_of(1, lambda: [run_backtest(c, event_data, "event") for c in event_configs])

    numpy_seconds = best_of(repeats, lambda: numpy_reference(data.close[:, 0], data.open[:, 0], params))

    fast_rate = bars * len(params) / fast_seconds
    event_rate = event_bars * len(event_configs) / event_seconds
    numpy_rate = bars * len(params) / numpy_seconds
    return {
        "bars": bars, "parameter_sets": len(params), "fills_in_sweep": float(batch["num_fills"].sum()),
        "compile_or_cache_load_seconds": compile_seconds,
        "fast_seconds": fast_seconds, "fast_bar_evals_per_second": fast_rate,
        "indicator_seconds_within_fast": indicator_seconds, "distinct_indicators": len(specs),
        "event_bars": event_bars, "event_parameter_sets": len(event_configs), "event_seconds": event_seconds,
        "event_bars_per_second": event_rate,
        "numpy_seconds": numpy_seconds, "numpy_bar_evals_per_second": numpy_rate,
        "fast_over_event": fast_rate / event_rate, "fast_over_numpy": fast_rate / numpy_rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=100_000)
    parser.add_argument("--fast-periods", type=int, default=15, help="x 10 slow periods = parameter sets")
    parser.add_argument("--event-bars", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3, help="timings per figure; the best is kept")
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    figures = measure(args.bars, args.fast_periods, args.event_bars, args.repeats)
    figures["machine"] = f"{platform.machine()} {os.cpu_count()} cpus, python {platform.python_version()}"
    print(f"MA-crossover sweep: {figures['parameter_sets']} parameter sets x {figures['bars']:,} bars, "
          f"percentage sizing, 0.1% commission ({figures['fills_in_sweep']:,.0f} fills)")
    print(f"  compile / cache load        {figures['compile_or_cache_load_seconds']:8.2f} s (excluded)")
    print(f"  fast engine (batch)         {figures['fast_bar_evals_per_second'] / 1e6:8.1f} M bar-evals/s "
          f"({figures['fast_seconds']:.2f} s, of which {figures['distinct_indicators']} indicators "
          f"{figures['indicator_seconds_within_fast']:.2f} s)")
    print(f"  event engine                {figures['event_bars_per_second']:8,.0f} bars/s "
          f"({figures['event_parameter_sets']} x {figures['event_bars']:,} bars)")
    print(f"  numpy vectorized reference  {figures['numpy_bar_evals_per_second'] / 1e6:8.1f} M bar-evals/s")
    print(f"  fast / event  {figures['fast_over_event']:10.0f}x")
    print(f"  fast / numpy  {figures['fast_over_numpy']:10.2f}x")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
