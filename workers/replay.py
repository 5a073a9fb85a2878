"""Batched signal replay on Ray: the loaded logs go into the object store once, read-only, and tasks
evaluate chunks of weight sets against them (what the ensemble phase runs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import ray

from containers.config import BacktestConfig
from containers.signal_patterns import SignalLogs, replay_batch


@ray.remote
def _replay_chunk(config: dict[str, Any], box: list[Any], weight_sets: list[dict[str, float]]) -> pd.DataFrame:
    logs: SignalLogs = ray.get(box[0])  # its arrays mapped from the object store, not copied
    return replay_batch(BacktestConfig.model_validate(config), logs.data, logs, weight_sets)


def replay_on_ray(config: BacktestConfig, logs: SignalLogs, weight_sets: Sequence[Mapping[str, float]],
                  chunk: int = 16) -> pd.DataFrame:
    """replay_batch over the cluster: one row per weight set, in their order, the same figures."""
    box = [ray.put(logs)]  # inside a list: each task gets the reference, not a copy of the logs
    payload = config.model_dump(mode="json")
    sets = [dict(weights) for weights in weight_sets]
    futures = [_replay_chunk.remote(payload, box, sets[start:start + chunk]) for start in range(0, len(sets), chunk)]
    return pd.concat(ray.get(futures), ignore_index=True)
