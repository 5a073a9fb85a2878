"""The actor pool: one actor per CPU, batches of trials, at-least-once execution, exactly-once results."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import ray

from containers.config import BacktestConfig
from workers.features import SharedFeatures, resolve_features
from workers.trials import TrialResult, evaluate_trial

Trial = tuple[int, dict[str, Any]]


@ray.remote(max_restarts=-1, max_task_retries=-1)
class TrialActor:
    """Evaluates batches of trials; holds only the read-only shared features and its own indicator cache."""

    def __init__(self, base_config: dict[str, Any], engine: str) -> None:
        self.base = BacktestConfig.model_validate(base_config)
        self.engine = engine
        self.hubs: dict[str, Any] = {}

    def identity(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "node": ray.get_runtime_context().get_node_id()}

    def _hub(self, features: SharedFeatures) -> Any:
        if features.key not in self.hubs:
            self.hubs[features.key] = resolve_features(features)
        return self.hubs[features.key]

    def run(self, box: list[SharedFeatures], trials: list[Trial]) -> list[TrialResult]:
        hub = self._hub(box[0])
        node = ray.get_runtime_context().get_node_id()
        results = [evaluate_trial(self.base, number, params, hub, self.engine) for number, params in trials]
        for result in results:
            result["node"], result["pid"] = node, os.getpid()
        return results

    def shared_arrays_are_read_only(self, box: list[SharedFeatures]) -> bool:
        """True when writing into any published array raises (what a trial would hit if it tried)."""
        hub = self._hub(box[0])
        for key in box[0].published:
            try:
                hub.arrays[key][0, 0] = 0.0
            except ValueError:
                continue
            return False
        return True

    def memory(self) -> dict[str, int]:
        """This process's resident memory in bytes (Linux): total, private (anonymous) and shared-memory pages."""
        fields = {"VmRSS": "rss", "RssAnon": "private", "RssShmem": "shared"}
        found = {}
        with open("/proc/self/status") as status:
            for line in status:
                name, _, value = line.partition(":")
                if name in fields:
                    found[fields[name]] = int(value.split()[0]) * 1024
        return found

    def own_computations(self, box: list[SharedFeatures]) -> dict[str, int]:
        """Indicators this actor computed itself (those that were not published)."""
        return dict(self._hub(box[0]).computations)


class TrialPool:
    """Actors, one per CPU by default, fed batches; every trial's result is delivered once, by number."""

    def __init__(self, base: BacktestConfig, engine: str, workers: int | None = None) -> None:
        count = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._payload, self._engine = base.model_dump(mode="json"), engine
        self.actors = [TrialActor.options(num_cpus=1).remote(self._payload, engine) for _ in range(count)]
        self.identities = ray.get([actor.identity.remote() for actor in self.actors])

    def memory(self) -> list[dict[str, int]]:
        """Each actor's resident memory (see TrialActor.memory)."""
        return ray.get([actor.memory.remote() for actor in self.actors])

    def close(self) -> None:
        for actor in self.actors:
            ray.kill(actor, no_restart=True)

    def run(self, features: SharedFeatures, trials: Iterable[Trial], batch_size: int,
            on_results: Callable[[list[TrialResult]], None]) -> int:
        """Evaluates every trial; calls `on_results` per finished batch with trials not delivered before.

        Ray retries a batch whose actor died (the actor restarts); a trial that comes back twice is
        delivered once. Returns the number of trials delivered.
        """
        box = [features]
        batches = _batches(trials, batch_size)
        in_flight: dict[Any, tuple[int, list[Trial]]] = {}
        load = [0] * len(self.actors)
        delivered: set[int] = set()

        def send(batch: list[Trial]) -> None:
            index = min(range(len(self.actors)), key=load.__getitem__)
            in_flight[self.actors[index].run.remote(box, batch)] = (index, batch)
            load[index] += 1

        def submit() -> bool:
            batch = next(batches, None)
            if batch is not None:
                send(batch)
            return batch is not None

        for _ in range(2 * len(self.actors)):
            if not submit():
                break
        while in_flight:
            [ready], _ = ray.wait(list(in_flight), num_returns=1)
            index, batch = in_flight.pop(ready)
            load[index] -= 1
            try:
                results = ray.get(ready)
            except ray.exceptions.RayActorError:  # gone for good (not restartable): replace it, run again
                self.actors[index] = TrialActor.options(num_cpus=1).remote(self._payload, self._engine)
                send(batch)
                continue
            fresh = [result for result in results if result["number"] not in delivered]
            delivered.update(result["number"] for result in fresh)
            if fresh:
                on_results(fresh)
            submit()
        return len(delivered)


def _batches(trials: Iterable[Trial], size: int) -> Iterator[list[Trial]]:
    batch: list[Trial] = []
    for trial in trials:
        batch.append(trial)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
