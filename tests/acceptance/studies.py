"""Small studies for the acceptance tests: a two-symbol, two-strategy config run by the real CLI."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml


def study_config(tmp_path: Path, method: str, n_trials: int, name: str = "study", data: dict | None = None,
                 space: dict | None = None, storage: str | None = None) -> Path:
    config = {
        "name": name, "type": "sweep",
        "data": data or {"synthetic": {"symbols": ["AAA", "BBB"], "bars": 1500, "seed": 3, "freq": "1h"}},
        "execution": {"commission": {"type": "percentage", "rate_pct": 0.05}},
        "classifiers": [{"name": "vol", "type": "volatility", "params": {"fast": 10, "slow": 40}, "portfolios": [
            {"name": "book", "capital": 100_000, "sizer": {"type": "percentage", "pct": 40},
             "strategies": [{"name": "xo", "type": "ma_crossover", "symbols": ["AAA"]},
                            {"name": "mr", "type": "mean_reversion", "symbols": ["BBB"]}]}]}],
        "sweep": {"method": method, "n_trials": n_trials, "seed": 11, "batch_size": 4, "workers": 0,
                  "space": space or {"book.xo.fast": {"low": 2, "high": 30}, "book.xo.slow": {"low": 31, "high": 120},
                                     "book.mr.num_std": {"low": 1.0, "high": 3.0, "step": 0.25}},
                  "constraints": ["book.xo.fast < book.xo.slow"], "storage": storage},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def trials_of(run_dir: Path) -> pd.DataFrame:
    frame = pd.read_parquet(run_dir / "trials.parquet")
    return frame.drop(columns=["seconds", "node", "pid"]).sort_values("number").reset_index(drop=True)
