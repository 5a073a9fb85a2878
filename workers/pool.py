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
OVERDUE_SECONDS = 60.0  # a batch out this long, and 10x the slowest so far, is run again elsewhere
ABANDON_SECONDS = 300.0  # with every actor lost, how long to wait for one to come back


@dataclass
class _Flight:
    actor: int
    handle: Any  # the actor it was sent to (an index can be given a new actor meanwhile)
    batch: list[Trial]
    sent: float
    resent: bool = False  # its trials were handed to another actor (this copy may still come back)


class TrialPool:
    """Actors, one per CPU by default, fed batches; every trial's result is delivered once, by number.

    An actor whose node the cluster reports dead, or that sits on a batch far longer than any batch took
    while another actor works, is passed over: its batches go to the others, so a study finishes on the
    nodes that remain. Ray restarts it when a node has room, and it gets work again as soon as it answers.
    Without a fixed `workers`, the pool adds actors when the cluster gains CPUs (a node joins).
    """

    def __init__(self, base: BacktestConfig, engine: str, workers: int | None = None) -> None:
        self.fixed = workers
        self._payload, self._engine = base.model_dump(mode="json"), engine
        self.actors = [self._new_actor() for _ in range(workers or _cluster_cpus())]
        self.identities = ray.get([actor.identity.remote() for actor in self.actors])
        self.nodes: list[str | None] = [identity["node"] for identity in self.identities]  # where each answered
        self.lost: dict[int, Any] = {}  # actor index -> a ping that says when it is back
        self.slowest = 0.0  # seconds, the longest a batch took (0 until one came back)
        self.overdue_seconds = OVERDUE_SECONDS

    def _new_actor(self) -> Any:
        return TrialActor.options(num_cpus=1).remote(self._payload, self._engine)

    def live_actors(self) -> int:
        return len(self.actors) - len(self.lost)

    def live(self) -> list[int]:
        return [index for index in range(len(self.actors)) if index not in self.lost]

    def memory(self) -> list[dict[str, int]]:
        """Each actor's resident memory (see TrialActor.memory)."""
        return ray.get([actor.memory.remote() for actor in self.actors])

    def close(self) -> None:
        for actor in self.actors:
            ray.kill(actor, no_restart=True)

    def _refresh(self) -> None:
        """Takes back lost actors that answered meanwhile, and adds actors for CPUs the cluster gained
        (a node joined), unless the count was fixed."""
        if self.lost:
            back, _ = ray.wait(list(self.lost.values()), num_returns=len(self.lost), timeout=0)
            for ping in back:
                self._take_back(ping)
        if self.fixed is None:
            for _ in range(_cluster_cpus() - len(self.actors)):
                self.actors.append(self._new_actor())
                self.nodes.append(None)

    def _lose(self, index: int) -> None:
        self.lost[index] = self.actors[index].identity.remote()

    def _take_back(self, ping: Any) -> None:
        index = next(index for index, sent in self.lost.items() if sent == ping)
        del self.lost[index]
        with contextlib.suppress(ray.exceptions.RayError):  # it failed: the next batch it gets says more
            self.nodes[index] = ray.get(ping)["node"]

    def run(self, features: SharedFeatures, trials: Iterable[Trial], batch_size: int,
            on_results: Callable[[list[TrialResult]], None]) -> int:
        """Evaluates every trial; calls `on_results` per finished batch with trials not delivered before.

        Ray retries a batch whose actor died (the actor restarts); a batch whose actor was lost runs
        again on another actor; a trial that comes back twice is delivered once. Returns the number of
        trials delivered.
        """
        self._refresh()
        wanted = list(trials)
        work = _Round(self, [features], _batches(wanted, batch_size))
        for _ in range(2 * max(1, self.live_actors())):
            if not work.submit():
                break
        while len(work.delivered) < len(wanted):
            pings = list(self.lost.values())
            if not work.in_flight and not pings:
                break  # nothing out and nothing to wait for (a batch came back short): the caller sees it
            ready, _ = ray.wait([*work.in_flight, *pings], num_returns=1, timeout=LOST_CHECK_SECONDS)
            if not ready:
                self._pass_over_lost(work)
            elif ready[0] in work.in_flight:
                work.land(ready[0], on_results)
            else:
                self._take_back(ready[0])
                work.send_parked()
        work.cancel_copies()
        return len(work.delivered)

    def _pass_over_lost(self, work: _Round) -> None:
        """Actors on nodes the cluster reports dead are lost, and so is one that sits on a batch for
        10x the slowest batch (at least `overdue_seconds`) while another actor is free to take it over;
        their batches go to the others."""
        dead = {node["NodeID"] for node in ray.nodes() if not node.get("Alive", True)}
        overdue = time.monotonic() - max(self.overdue_seconds, 10 * self.slowest)
        for index in self.live():
            mine = [flight for flight in work.in_flight.values() if flight.actor == index and not flight.resent]
            stalled = self.slowest > 0 and any(flight.sent < overdue for flight in mine) and self.live_actors() > 1
            if self.nodes[index] in dead or stalled:
                self._lose(index)
                for flight in mine:
                    flight.resent = True
                    work.send(flight.batch)
        work.check_abandoned()


class _Round:
    """One `run` call's batches: those out (by object ref), those waiting for a live actor, and the
    trial numbers delivered."""

    def __init__(self, pool: TrialPool, box: list[SharedFeatures], batches: Iterator[list[Trial]]) -> None:
        self.pool, self.box, self.batches = pool, box, batches
        self.in_flight: dict[Any, _Flight] = {}
        self.parked: list[list[Trial]] = []
        self.parked_since: float | None = None
        self.load = [0] * len(pool.actors)
        self.delivered: set[int] = set()

    def send(self, batch: list[Trial]) -> None:
        live = self.pool.live()
        if not live:
            self.parked.append(batch)
            self.parked_since = self.parked_since or time.monotonic()
            return
        index = min(live, key=self.load.__getitem__)
        handle = self.pool.actors[index]
        self.in_flight[handle.run.remote(self.box, batch)] = _Flight(index, handle, batch, time.monotonic())
        self.load[index] += 1

    def send_parked(self) -> None:
        parked, self.parked, self.parked_since = self.parked, [], None
        for batch in parked:
            self.send(batch)

    def submit(self) -> bool:
        batch = next(self.batches, None)
        if batch is not None:
            self.send(batch)
        return batch is not None

    def land(self, ref: Any, on_results: Callable[[list[TrialResult]], None]) -> None:
        flight = self.in_flight.pop(ref)
        self.load[flight.actor] -= 1
        pool = self.pool
        try:
            results = ray.get(ref)
        except ray.exceptions.RayActorError:  # gone for good (not restartable): replace it once, run again
            if pool.actors[flight.actor] is flight.handle:
                pool.actors[flight.actor], pool.nodes[flight.actor] = pool._new_actor(), None
            if not flight.resent:
                self.send(flight.batch)
            return
        pool.slowest = max(pool.slowest, time.monotonic() - flight.sent)
        if results and pool.actors[flight.actor] is flight.handle:
            pool.nodes[flight.actor] = results[0]["node"]
        fresh = [result for result in results if result["number"] not in self.delivered]
        self.delivered.update(result["number"] for result in fresh)
        if fresh:
            on_results(fresh)
        self.submit()

    def check_abandoned(self) -> None:
        if self.parked_since is not None and time.monotonic() - self.parked_since > ABANDON_SECONDS:
            raise ClusterError(f"every actor of the study was lost with its node, and none came back in "
                               f"{ABANDON_SECONDS:.0f} s; start nodes again (the trials so far are stored)")

    def cancel_copies(self) -> None:
        """Copies of batches another actor delivered."""
        for ref in self.in_flight:
            with contextlib.suppress(Exception):
                ray.cancel(ref)


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
