"""Market data: the aligned bar arrays, loaders with validation, a synthetic generator, splits."""

from containers.data.market import MarketData

__all__ = ["MarketData"]
