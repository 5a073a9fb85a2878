"""Sweep scaling on Ray: the same random-search trials in one plain process, on 1 actor and on 2 actors.

Prints trials per second for each, the 2-over-1 speed-up, the amortized per-trial scheduling overhead
((1-actor time - plain time) / trials), and each actor's resident memory after 10% and after 100% of the
trials, split into private pages and shared-memory pages (the object store's features are mapped, not
copied). The search space makes the shared features large on purpose: every SMA period from 2 to
`--max-period` on two symbols (about 480 MB at the defaults).

A second run sweeps a continuous parameter that feeds an indicator (Bollinger bands' `num_std`): no
two trials share it, so nothing can be published and each trial computes its own bands in the actor.
It prints the actor's memory after 10%, 50% and 100% of `--continuous-trials`, which the actor's
bounded indicator cache (TRIAL_CACHE_BYTES, least recently used dropped first) keeps flat.

    python bench/sweep_scaling.py [--trials 10000] [--bars 10000] [--max-period 3000]
                                  [--continuous-trials 4000] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

from containers.config import BacktestConfig
from containers.data.config import SyntheticData
from containers.data.market import PRICE_FIELDS
from containers.data.synthetic import generate_synthetic
from containers.hub import TRIAL_CACHE_BYTES, IndicatorHub, plan
from search.space import Range, SearchSpace
from workers.cluster import connect
from workers.features import publish_features
from workers.pool import TrialPool
from workers.trials import evaluate_trial

MB = 1024 * 1024


def experiment(bars: int) -> BacktestConfig:
    return BacktestConfig.model_validate({
        "data": {"synthetic": {"symbols": ["AAA", "BBB"], "bars": bars, "seed": 3, "freq": "1h"}},
        "execution": {"commission": {"type": "percentage", "rate_pct": 0.1}},
        "classifiers": [{"name": "vol", "type": "volatility", "portfolios": [{
            "name": "book", "capital": 1_000_000, "sizer": {"type": "percentage", "pct": 40},
            "strategies": [{"name": "xo", "type": "ma_crossover", "params": {"fast": 10, "slow": 100}}]}]}],
    })


def continuous_experiment(bars: int) -> BacktestConfig:
    config = experiment(bars).model_dump(mode="json")
    config["classifiers"][0]["portfolios"][0]["strategies"] = [
        {"name": "mr", "type": "mean_reversion", "params": {"period": 20, "num_std": 2.0}}]
    return BacktestConfig.model_validate(config)


def continuous_trials(count: int) -> list[tuple[int, dict[str, Any]]]:
    space = SearchSpace({"book.mr.period": Range(low=10, high=60),
                         "book.mr.num_std": Range(low=1.0, high=3.0, integer=False)}, [], base=lambda path: None)
    return [(n, space.random_point(2, n)) for n in range(count)]


def measure_continuous(count: int, bars: int, batch_size: int) -> dict[str, Any]:
    """One actor, every trial's bands computed in the actor: memory after 10%, 50% and 100% of the trials."""
    base = continuous_experiment(bars)
    data = generate_synthetic(base.data.synthetic or SyntheticData())
    chosen = continuous_trials(count)
    with connect(num_cpus=2):
        features, _ = publish_features(data, [], key="bench-continuous")
        pool = TrialPool(base, "fast", 1)
        pool.run(features, [(-1, chosen[0][1])], 1, lambda results: None)
        samples, done, started = {}, 0, time.perf_counter()
        for share in (10, 50, 100):
            upto = count * share // 100
            pool.run(features, chosen[done:upto], batch_size, lambda results: None)
            samples[f"memory_at_{share}pct"], done = pool.memory()[0], upto
        seconds = time.perf_counter() - started
        pool.close()
    per_trial = 3 * data.n_symbols * bars * 8  # mid, upper and lower bands, float64
    return {"trials": count, "bars": bars, "seconds": seconds, "trials_per_second": count / seconds,
            "indicator_mb_per_trial": per_trial / MB, "uncapped_mb": count * per_trial / MB,
            "cache_cap_mb": TRIAL_CACHE_BYTES / MB, **samples}


def trials(count: int, max_period: int) -> list[tuple[int, dict[str, Any]]]:
    middle = max_period // 2
    space = SearchSpace({"book.xo.fast": Range(low=2, high=middle), "book.xo.slow": Range(low=middle + 1,
                                                                                             high=max_period)},
                        [], base=lambda path: None)
    return [(n, space.random_point(1, n)) for n in range(count)]


def run_pool(base: BacktestConfig, features: Any, chosen: list[tuple[int, dict[str, Any]]], actor_count: int,
             batch_size: int) -> dict[str, Any]:
    pool = TrialPool(base, "fast", actor_count)
    warm = [(-1 - i, chosen[i][1]) for i in range(actor_count)]  # load kernels and map features first
    pool.run(features, warm, 1, lambda results: None)
    first = len(chosen) // 10
    started = time.perf_counter()
    pool.run(features, chosen[:first], batch_size, lambda results: None)
    early = pool.memory()
    pool.run(features, chosen[first:], batch_size, lambda results: None)
    seconds = time.perf_counter() - started
    late = pool.memory()
    pool.close()
    return {"seconds": seconds, "trials_per_second": len(chosen) / seconds, "memory_at_10pct": early,
            "memory_at_100pct": late}


def measure(count: int, bars: int, max_period: int, batch_size: int) -> dict[str, Any]:
    base = experiment(bars)
    data = generate_synthetic(base.data.synthetic or SyntheticData())
    chosen = trials(count, max_period)
    strategy = base.classifiers[0].portfolios[0].strategies[0].params
    specs = plan(item for _, point in chosen for item in strategy.model_copy(
        update={"fast": point["book.xo.fast"], "slow": point["book.xo.slow"]}).inputs().values())
    hub = IndicatorHub(data, specs)
    evaluate_trial(base, -1, chosen[0][1], hub, "fast")
    started = time.perf_counter()
    for number, point in chosen:
        evaluate_trial(base, number, point, hub, "fast")
    plain_seconds = time.perf_counter() - started
    feature_bytes = sum(array.nbytes for key, array in hub.arrays.items() if key not in PRICE_FIELDS)
    figures: dict[str, Any] = {"trials": count, "bars": bars, "batch_size": batch_size,
                               "shared_feature_mb": feature_bytes / MB, "plain_seconds": plain_seconds,
                               "plain_trials_per_second": count / plain_seconds}
    with connect(num_cpus=2):
        features, _ = publish_features(data, specs, key="bench")
        for actor_count in (1, 2):
            figures[f"actors_{actor_count}"] = run_pool(base, features, chosen, actor_count, batch_size)
    one, two = figures["actors_1"], figures["actors_2"]
    figures["speedup_2_over_1"] = two["trials_per_second"] / one["trials_per_second"]
    figures["scheduling_overhead_ms_per_trial"] = max(0.0, (one["seconds"] - plain_seconds) / count * 1000)
    return figures


def _memory_line(sample: dict[str, int]) -> str:
    return (f"rss {sample['rss'] / MB:7.1f} MB (private {sample['private'] / MB:6.1f} MB, "
            f"shared-memory {sample['shared'] / MB:6.1f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--bars", type=int, default=10_000)
    parser.add_argument("--max-period", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--continuous-trials", type=int, default=4000)
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    figures = measure(args.trials, args.bars, args.max_period, args.batch_size)
    figures["machine"] = f"{platform.machine()}, python {platform.python_version()}"
    print(f"{figures['trials']:,} trials of {figures['bars']:,}-bar backtests, "
          f"{figures['shared_feature_mb']:.0f} MB of shared features, batches of {figures['batch_size']}")
    print(f"  plain process   {figures['plain_trials_per_second']:9.1f} trials/s")
    for actor_count in (1, 2):
        run = figures[f"actors_{actor_count}"]
        print(f"  {actor_count} actor(s)      {run['trials_per_second']:9.1f} trials/s")
        for i, (early, late) in enumerate(zip(run["memory_at_10pct"], run["memory_at_100pct"], strict=True)):
            print(f"    actor {i}: after 10%: {_memory_line(early)}")
            print(f"             after all: {_memory_line(late)}")
    print(f"  speed-up 2 actors over 1: {figures['speedup_2_over_1']:.2f}x")
    print(f"  scheduling overhead: {figures['scheduling_overhead_ms_per_trial']:.3f} ms per trial (amortized)")
    continuous = figures["continuous"] = measure_continuous(args.continuous_trials, args.bars, args.batch_size)
    print(f"{continuous['trials']:,} trials over a continuous num_std on 1 actor "
          f"({continuous['trials_per_second']:.1f} trials/s): {continuous['indicator_mb_per_trial']:.2f} MB of bands "
          f"per trial, {continuous['uncapped_mb']:,.0f} MB if all were kept, cache cap "
          f"{continuous['cache_cap_mb']:.0f} MB")
    for share in (10, 50, 100):
        print(f"    after {share:3d}%: {_memory_line(continuous[f'memory_at_{share}pct'])}")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
