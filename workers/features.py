"""Shared features: one dataset's bars and indicator arrays, computed once on the driver and put in Ray's
object store once; actors map them zero-copy and read-only."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import ray

from containers.components.indicators import IndicatorSpec
from containers.data.market import PRICE_FIELDS, MarketData
from containers.hub import TRIAL_CACHE_BYTES, IndicatorHub


@dataclass(frozen=True)
class SharedFeatures:
    """What an actor needs to find a dataset's features: its key and the object reference.

    The reference sits inside a list so that Ray hands the actor the reference, not a copy of the value.
    """

    key: str
    refs: list[Any]
    published: tuple[str, ...]


def publish_features(data: MarketData, specs: Iterable[IndicatorSpec], key: str) -> tuple[SharedFeatures, IndicatorHub]:
    """Computes every indicator once (the driver's hub counts it) and publishes them with one ray.put."""
    hub = IndicatorHub(data, specs)
    arrays = {name: array for name, array in hub.arrays.items() if name not in PRICE_FIELDS}
    ref = ray.put({"data": data, "arrays": arrays})
    return SharedFeatures(key, [ref], tuple(sorted(arrays))), hub


def resolve_features(features: SharedFeatures) -> IndicatorHub:
    """An actor's hub over the shared arrays; indicators that were not published are computed and cached,
    up to TRIAL_CACHE_BYTES (least recently used dropped first), so an actor's memory stays flat."""
    payload = ray.get(features.refs[0])
    return IndicatorHub(payload["data"], [], precomputed=payload["arrays"], cache_bytes=TRIAL_CACHE_BYTES)
