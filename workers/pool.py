"""The actor pool: one actor per CPU, batches of trials, at-least-once execution, exactly-once results."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import ray

from containers.config import BacktestConfig
from containers.errors import ClusterError
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


LOST_CHECK_SECONDS = 1.0  # a wait that brings nothing back for this long looks for lost nodes
OVERDUE_SECONDS = 60.0  # a batch out this long (or 10x the slowest so far) is run again elsewhere


@dataclass
class _Flight:
    actor: int
    batch: list[Trial]
    sent: float
    resent: bool = False  # its trials were handed to another actor (this copy may still come back)


class TrialPool:
    """Actors, one per CPU by default, fed batches; every trial's result is delivered once, by number.

    An actor whose node dies (or that sits on a batch far longer than any batch took) is passed over: its
    batches go to the others, so a study finishes on the nodes that remain. Ray restarts it when a node has
    room, and it gets work again once it answers. Without a fixed `workers`, nodes that join add actors.
    """

    def __init__(self, base: BacktestConfig, engine: str, workers: int | None = None) -> None:
        self.fixed = workers
        self._payload, self._engine = base.model_dump(mode="json"), engine
        self.actors = [self._new_actor() for _ in range(workers or _cluster_cpus())]
        self.identities = ray.get([actor.identity.remote() for actor in self.actors])
        self.nodes: list[str | None] = [identity["node"] for identity in self.identities]  # where each answered
        self.lost: dict[int, Any] = {}  # actor index -> a ping that says when it is back
        self.slowest = 0.0
        self.overdue_seconds = OVERDUE_SECONDS

    def _new_actor(self) -> Any:
        return TrialActor.options(num_cpus=1).remote(self._payload, self._engine)

    def live_actors(self) -> int:
        return len(self.actors) - len(self.lost)

    def memory(self) -> list[dict[str, int]]:
        """Each actor's resident memory (see TrialActor.memory)."""
        return ray.get([actor.memory.remote() for actor in self.actors])

    def close(self) -> None:
        for actor in self.actors:
            ray.kill(actor, no_restart=True)

    def _refresh(self) -> None:
        """Takes back lost actors that answer again, and adds actors for CPUs that joined."""
        if self.lost:
            back, _ = ray.wait(list(self.lost.values()), num_returns=len(self.lost), timeout=0)
            for index in [index for index, ping in self.lost.items() if ping in back]:
                with contextlib.suppress(ray.exceptions.RayError):
                    self.nodes[index] = ray.get(self.lost.pop(index))["node"]
        if self.fixed is None:
            for _ in range(_cluster_cpus() - len(self.actors)):
                self.actors.append(self._new_actor())
                self.nodes.append(None)

    def _lose(self, index: int) -> None:
        self.lost[index] = self.actors[index].identity.remote()

    def run(self, features: SharedFeatures, trials: Iterable[Trial], batch_size: int,
            on_results: Callable[[list[TrialResult]], None]) -> int:
        """Evaluates every trial; calls `on_results` per finished batch with trials not delivered before.

        Ray retries a batch whose actor died (the actor restarts); a batch whose actor's node died runs
        again on another actor; a trial that comes back twice is delivered once. Returns the number of
        trials delivered.
        """
        self._refresh()
        box = [features]
        wanted = list(trials)
        batches = _batches(wanted, batch_size)
        in_flight: dict[Any, _Flight] = {}
        load = [0] * len(self.actors)
        delivered: set[int] = set()

        def send(batch: list[Trial]) -> None:
            live = [index for index in range(len(self.actors)) if index not in self.lost]
            if not live:
                raise ClusterError("every node that ran admf's actors was lost; start nodes again (the trials so "
                                   "far are stored)")
            index = min(live, key=load.__getitem__)
            in_flight[self.actors[index].run.remote(box, batch)] = _Flight(index, batch, time.monotonic())
            load[index] += 1

        def submit() -> bool:
            batch = next(batches, None)
            if batch is not None:
                send(batch)
            return batch is not None

        for _ in range(2 * self.live_actors()):
            if not submit():
                break
        while in_flight and len(delivered) < len(wanted):
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=LOST_CHECK_SECONDS)
            if not ready:
                self._pass_over_lost(in_flight, send)
                continue
            flight = in_flight.pop(ready[0])
            load[flight.actor] -= 1
            try:
                results = ray.get(ready[0])
            except ray.exceptions.RayActorError:  # gone for good (not restartable): replace it, run again
                self.actors[flight.actor] = self._new_actor()
                self.nodes[flight.actor] = None
                if not flight.resent:
                    send(flight.batch)
                continue
            self.slowest = max(self.slowest, time.monotonic() - flight.sent)
            if results:
                self.nodes[flight.actor] = results[0]["node"]
            fresh = [result for result in results if result["number"] not in delivered]
            delivered.update(result["number"] for result in fresh)
            if fresh:
                on_results(fresh)
            submit()
        for ref in in_flight:  # copies of batches another actor delivered
            with contextlib.suppress(Exception):
                ray.cancel(ref)
        return len(delivered)

    def _pass_over_lost(self, in_flight: dict[Any, _Flight], send: Callable[[list[Trial]], None]) -> None:
        """Actors on nodes the cluster reports dead, or sitting on a batch far too long, are lost: their
        batches go to the others."""
        dead = {node["NodeID"] for node in ray.nodes() if not node.get("Alive", True)}
        overdue = time.monotonic() - max(self.overdue_seconds, 10 * self.slowest)
        for index in range(len(self.actors)):
            mine = [flight for flight in in_flight.values() if flight.actor == index and not flight.resent]
            if index in self.lost or not mine:
                continue
            if self.nodes[index] in dead or any(flight.sent < overdue for flight in mine):
                self._lose(index)
                for flight in mine:
                    flight.resent = True
                    send(flight.batch)


def _cluster_cpus() -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _batches(trials: Iterable[Trial], size: int) -> Iterator[list[Trial]]:
    batch: list[Trial] = []
    for trial in trials:
        batch.append(trial)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
