"""Study throughput end to end: a random-search study of 10,000-bar backtests on a local Ray, with
admf's durable group-commit storage, next to the same study with Optuna's stock SQLite storage and a
TPE study, all in the same run.

Trials per second count everything: asking, storing, evaluating on the actor pool, telling, and the
storage's flush + fsync per batch. The SQLite variant runs the same loop with `sweep.storage` set to a
`sqlite:///` URL (Optuna's RDBStorage commits every operation).

    python bench/study_throughput.py [--trials 5000] [--tpe-trials 500] [--bars 10000] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from coordinator.config import load_experiment
from coordinator.workflows.runs import start_study


def experiment(folder: Path, name: str, method: str, trials: int, bars: int, storage: str | None) -> Path:
    config = {
        "name": name, "type": "sweep",
        "data": {"synthetic": {"symbols": ["AAA", "BBB"], "bars": bars, "seed": 3, "freq": "1h"}},
        "execution": {"commission": {"type": "percentage", "rate_pct": 0.05}},
        "classifiers": [{"name": "vol", "type": "volatility", "portfolios": [{
            "name": "book", "capital": 100_000, "sizer": {"type": "percentage", "pct": 40},
            "strategies": [{"name": "xo", "type": "ma_crossover", "params": {"fast": 10, "slow": 50}}]}]}],
        "sweep": {"method": method, "n_trials": trials, "seed": 1, "batch_size": 256 if method == "random" else 32,
                  "space": {"book.xo.fast": {"low": 2, "high": 40}, "book.xo.slow": {"low": 41, "high": 200}},
                  **({"storage": storage} if storage else {})},
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def timed(path: Path, run_dir: Path) -> dict[str, Any]:
    started = time.perf_counter()
    report = start_study(load_experiment(path), path, run_dir, lambda message: None)
    seconds = time.perf_counter() - started
    return {"trials": len(report.trials), "seconds": seconds, "trials_per_second": len(report.trials) / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=5000)
    parser.add_argument("--sqlite-trials", type=int, default=1000, help="fewer: stock SQLite is slow")
    parser.add_argument("--tpe-trials", type=int, default=500)
    parser.add_argument("--bars", type=int, default=10_000)
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    import workers.cluster

    figures: dict[str, Any] = {"bars": args.bars, "machine": f"{platform.machine()}, python "
                                                               f"{platform.python_version()}"}
    with tempfile.TemporaryDirectory() as folder, workers.cluster.connect():
        root = Path(folder)
        # warm-up: start the actors' kernels once so no figure carries the first compile/cache load
        timed(experiment(root, "warm", "random", 64, args.bars, None), root / "warm")
        figures["random_durable"] = timed(experiment(root, "durable", "random", args.trials, args.bars, None),
                                          root / "durable")
        sqlite = f"sqlite:///{root / 'optuna.db'}"
        figures["random_stock_sqlite"] = timed(
            experiment(root, "sqlite", "random", args.sqlite_trials, args.bars, sqlite), root / "sqlite")
        figures["tpe_durable"] = timed(experiment(root, "tpe", "tpe", args.tpe_trials, args.bars, None), root / "tpe")
    durable, stock, tpe = figures["random_durable"], figures["random_stock_sqlite"], figures["tpe_durable"]
    figures["durable_over_sqlite"] = durable["trials_per_second"] / stock["trials_per_second"]
    print(f"random search, {args.bars:,}-bar backtests, local Ray, end to end:")
    print(f"  durable group-commit journal  {durable['trials_per_second']:8.1f} trials/s "
          f"({durable['trials']:,} trials in {durable['seconds']:.1f} s)")
    print(f"  Optuna stock SQLite           {stock['trials_per_second']:8.1f} trials/s "
          f"({stock['trials']:,} trials in {stock['seconds']:.1f} s)")
    print(f"  durable / SQLite              {figures['durable_over_sqlite']:8.1f}x")
    print(f"TPE, durable journal            {tpe['trials_per_second']:8.1f} trials/s "
          f"({tpe['trials']:,} trials in {tpe['seconds']:.1f} s)")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
