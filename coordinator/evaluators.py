"""Where a study's trials run: on the Ray actor pool (default) or in the driver process (--workers 0)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from containers.components.indicators import IndicatorSpec
from containers.config import BacktestConfig
from containers.data.market import MarketData
from containers.hub import TRIAL_CACHE_BYTES, IndicatorHub
from workers.trials import TrialResult, evaluate_trial

Trial = tuple[int, dict[str, Any]]


class Evaluator(Protocol):
    workers: int

    def evaluate(self, trials: list[Trial]) -> dict[int, TrialResult]: ...

    def close(self) -> None: ...


class LocalEvaluator:
    """Every trial in this process, one after another: no Ray (for debugging and small studies)."""

    workers = 0

    def __init__(self, base: BacktestConfig, data: MarketData, specs: list[IndicatorSpec], engine: str) -> None:
        self.base, self.engine = base, engine
        self.hub = IndicatorHub(data, specs)
        self.hub.cache_bytes = self.hub.computed_bytes + TRIAL_CACHE_BYTES  # the plan, and a bounded rest

    def evaluate(self, trials: list[Trial]) -> dict[int, TrialResult]:
        return {number: evaluate_trial(self.base, number, params, self.hub, self.engine) for number, params in trials}

    def close(self) -> None:
        pass


class RayEvaluator:
    """The actor pool over features published once; a batch is spread over the actors in chunks."""

    def __init__(self, base: BacktestConfig, data: MarketData, specs: list[IndicatorSpec], engine: str,
                 workers: int | None, address: str | None, connect_timeout: float, native_log: Path) -> None:
        from workers.cluster import Cluster, connect
        from workers.features import publish_features
        from workers.pool import TrialPool

        self.cluster: Cluster | None = None
        try:
            self.cluster = connect(address, timeout=connect_timeout, native_log=native_log)
            self.features, self.driver_hub = publish_features(data, specs, key=data.content_hash())
            self.pool = TrialPool(base, engine, workers)
        except BaseException:  # an error or a signal before the pool is up: nothing of this session stays
            if self.cluster is not None:
                self.cluster.close()
            raise

    @property
    def workers(self) -> int:
        return self.pool.live_actors()

    def evaluate(self, trials: list[Trial]) -> dict[int, TrialResult]:
        results: dict[int, TrialResult] = {}
        chunk = max(1, -(-len(trials) // (2 * self.workers)))
        self.pool.run(self.features, trials, chunk, lambda batch: results.update((r["number"], r) for r in batch))
        return results

    def close(self) -> None:
        self.pool.close()
        if self.cluster is not None:
            self.cluster.close()
