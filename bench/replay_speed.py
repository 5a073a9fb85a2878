"""Replay speed: a 5-strategy ensemble on one symbol, many strategy-weight sets, measured side by side.

Per evaluation (one weight set), in one run:
  - batched signal replay (replay_batch: the logs loaded once, four kernel lanes per pass, metrics only),
  - like for like, one set at a time and metrics only: a replay model's summary against a FULL fast
    model's summary (indicators computed once and shared, as in a sweep; every strategy rule, the
    aggregation and the kernel run again),
  - a FULL backtest with its result frames (run_fast), what one backtest costs a user,
  - the same FULL backtest in the event engine (on a few weight sets: it is slow),
and the ratios. Also the signal logs' size per million bars.

    python bench/replay_speed.py [--bars 100000] [--sets 200] [--event-sets 2] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np

from containers.config import BacktestConfig
from containers.data.synthetic import generate_synthetic
from containers.fast import FastModel, run_fast
from containers.hub import IndicatorHub
from containers.run import run_backtest
from containers.signal_patterns import ReplayModel, SignalLogs, _weighted, generate_signals, replay_batch

NAMES = ("xo", "mom", "mr", "bo", "tf")


def ensemble(bars: int) -> BacktestConfig:
    return BacktestConfig.model_validate({
        "data": {"synthetic": {"symbols": ["SPY"], "bars": bars, "seed": 1, "freq": "1min"}},
        "execution": {"commission": {"type": "percentage", "rate_pct": 0.05}},
        "classifiers": [{"name": "vol", "type": "volatility", "params": {"fast": 20, "slow": 100}, "portfolios": [{
            "name": "book", "capital": 100_000, "sizer": {"type": "percentage", "pct": 50},
            "strategies": [
                {"name": "xo", "type": "ma_crossover", "params": {"fast": 10, "slow": 40}},
                {"name": "mom", "type": "momentum"},
                {"name": "mr", "type": "mean_reversion"},
                {"name": "bo", "type": "breakout"},
                {"name": "tf", "type": "trend_following"}]}]}]})


def weight_sets(count: int) -> list[dict[str, float]]:
    rng = np.random.default_rng(7)
    return [{f"book.{name}": round(float(w), 4) for name, w in zip(NAMES, rng.dirichlet(np.ones(5)), strict=True)}
            for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=100_000)
    parser.add_argument("--sets", type=int, default=200)
    parser.add_argument("--event-sets", type=int, default=2)
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    config = ensemble(args.bars)
    data = generate_synthetic(config.data.synthetic)
    sets = weight_sets(args.sets)
    folder = Path(tempfile.mkdtemp(prefix="admf-replay-"))
    started = time.perf_counter()
    generate_signals(config, data, folder)
    generation = time.perf_counter() - started
    log_bytes = sum(path.stat().st_size for path in folder.glob("*.parquet"))
    logs = SignalLogs(config, data, folder)
    replay_batch(config, data, logs, sets[:4])  # compile (or load) the kernels, rebuild the columns once
    started = time.perf_counter()
    replay_batch(config, data, logs, sets)
    replay = (time.perf_counter() - started) / len(sets)
    hub = IndicatorHub(data, [])
    run_fast(config, data, hub)  # the indicators, computed once, as a sweep shares them
    single = sets[:max(1, len(sets) // 4)]
    started = time.perf_counter()
    for weights in single:
        ReplayModel(_weighted(config, weights, "bench"), data, logs, hub).summary()
    replay_one = (time.perf_counter() - started) / len(single)
    started = time.perf_counter()
    for weights in single:
        FastModel(_weighted(config, weights, "bench"), data, hub).summary()
    fast_one = (time.perf_counter() - started) / len(single)
    started = time.perf_counter()
    for weights in sets:
        run_fast(_weighted(config, weights, "bench"), data, hub)
    fast = (time.perf_counter() - started) / len(sets)
    started = time.perf_counter()
    for weights in sets[:args.event_sets]:
        run_backtest(_weighted(config, weights, "bench"), data, "event")
    event = (time.perf_counter() - started) / args.event_sets
    figures = {
        "bars": args.bars, "weight_sets": args.sets, "strategies": len(NAMES),
        "replay_ms_per_set": replay * 1e3, "fast_full_ms_per_set": fast * 1e3, "event_full_ms_per_set": event * 1e3,
        "replay_vs_fast": fast / replay, "replay_vs_event": event / replay,
        "replay_one_ms": replay_one * 1e3, "fast_one_ms": fast_one * 1e3,
        "replay_one_vs_fast_one": fast_one / replay_one,
        "generation_s": generation, "log_bytes_per_million_bars": log_bytes * 1e6 / args.bars,
        "python": platform.python_version(), "machine": platform.machine(),
    }
    print(f"{len(NAMES)}-strategy ensemble, {args.bars:,} bars, {args.sets} weight sets")
    print(f"  replay (batched)      {figures['replay_ms_per_set']:9.2f} ms per weight set")
    print(f"  full, fast engine     {figures['fast_full_ms_per_set']:9.2f} ms   replay is "
          f"{figures['replay_vs_fast']:.1f}x (run_fast, with its result frames)")
    print(f"  one set, metrics only: replay {figures['replay_one_ms']:.2f} ms, full fast "
          f"{figures['fast_one_ms']:.2f} ms   replay is {figures['replay_one_vs_fast_one']:.1f}x ({len(single)} sets)")
    print(f"  full, event engine    {figures['event_full_ms_per_set']:9.0f} ms   replay is "
          f"{figures['replay_vs_event']:.0f}x ({args.event_sets} sets)")
    print(f"  generation {generation:.2f} s once; logs {figures['log_bytes_per_million_bars'] / 1e6:.2f} MB per "
          "million bars (all five strategies and the classifier)")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(figures, indent=2) + "\n")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
