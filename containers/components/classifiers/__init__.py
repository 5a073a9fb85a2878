"""Regime classifiers: rules that label each bar of one symbol (the market proxy) with a regime.

A rule returns a regime code per bar: an index into its `labels`, or -1 for 'unknown' (warm-up).
Each classifier kind is one module of this package, registered with `@CLASSIFIERS.register(kind)`;
every module here is imported, so a new classifier is added by adding its file.
"""

from __future__ import annotations

import importlib
import pkgutil

from containers.registry import Registry
from containers.strict import StrictModel

UNKNOWN = "unknown"
CLASSIFIERS: Registry[StrictModel] = Registry("classifier")

for _module in sorted(info.name for info in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")
