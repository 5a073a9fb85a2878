"""The frozen config one backtest is built from: data, execution, and the classifier → portfolio → strategy tree."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal, Union

from pydantic import Field, create_model, model_validator

from containers.aggregation import MAX_STRATEGIES, AggregationConfig, Weighted
from containers.components.classifiers import CLASSIFIERS, UNKNOWN
from containers.components.costs import CommissionConfig, PercentageCommission
from containers.components.limits import LimitConfig
from containers.components.sizers import PercentageSizer, SizerConfig
from containers.components.strategies import STRATEGIES
from containers.data.config import DataConfig
from containers.strict import StrictModel, did_you_mean

# A name is a folder and a path segment: letters, digits, _ . - and not starting with a dot ('..' escapes runs/)
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")]


class StrategyBase(StrictModel):
    """Fields every strategy has; `params` and `type` come from the strategy's own model."""

    name: Name
    symbols: tuple[str, ...] | None = Field(default=None, min_length=1)
    regimes: tuple[str, ...] | None = Field(default=None, min_length=1)
    weight: float = Field(default=1.0, ge=0, le=1e6, allow_inf_nan=False)


class ClassifierBase(StrictModel):
    name: Name
    portfolios: tuple[PortfolioConfig, ...] = Field(min_length=1)


def _typed(base: type[StrictModel], kind: str, params: type[StrictModel], suffix: str) -> type[StrictModel]:
    class_name = "".join(part.title() for part in kind.split("_")) + suffix
    return create_model(class_name, __base__=base, type=(Literal[kind], ...), params=(params, params()))


StrategyConfig = Annotated[
    Union[tuple(_typed(StrategyBase, kind, model, "Strategy") for kind, model in STRATEGIES.items())],  # type: ignore[valid-type]  # noqa: UP007
    Field(discriminator="type"),
]


class OnDirectionChange(StrictModel):
    """An open position is resized only when the target's direction changes (then closed and reopened)."""

    type: Literal["on_direction_change"] = "on_direction_change"


class ThresholdRebalance(StrictModel):
    """An open position is also resized to the target when |target - position| exceeds `pct`% of the target."""

    type: Literal["threshold_pct"] = "threshold_pct"
    pct: float = Field(gt=0, le=1000, allow_inf_nan=False)


RebalanceConfig = Annotated[OnDirectionChange | ThresholdRebalance, Field(discriminator="type")]
RegimeWeights = dict[str, dict[str, Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)]]]


class PortfolioConfig(StrictModel):
    """A risk & portfolio container: its own capital, sizer, limits, strategies and how their signals combine."""

    name: Name
    capital: float = Field(gt=0, allow_inf_nan=False)
    sizer: SizerConfig = PercentageSizer(pct=10.0)
    limits: tuple[LimitConfig, ...] = ()
    allow_short: bool = True
    leverage: float | None = Field(default=None, gt=0, le=100, allow_inf_nan=False)
    aggregation: AggregationConfig = Weighted()
    weights: RegimeWeights | None = None
    rebalance: RebalanceConfig = OnDirectionChange()
    strategies: tuple[StrategyConfig, ...] = Field(min_length=1, max_length=MAX_STRATEGIES)  # type: ignore[valid-type]


ClassifierConfig = Annotated[
    Union[tuple(_typed(ClassifierBase, kind, model, "Classifier") for kind, model in CLASSIFIERS.items())],  # type: ignore[valid-type]  # noqa: UP007
    Field(discriminator="type"),
]


class ExecutionConfig(StrictModel):
    """How the engine fills orders and what trading costs."""

    engine: Literal["fast", "event"] = "fast"
    fill_at: Literal["next_open", "same_bar_close"] = "next_open"
    slippage_bps: float = Field(default=0.0, ge=0, le=1000)
    commission: CommissionConfig = PercentageCommission()
    periods_per_year: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    close_at_end: bool = True


class BacktestConfig(StrictModel):
    """Everything one backtest needs; its hash identifies the backtest."""

    data: DataConfig
    execution: ExecutionConfig = ExecutionConfig()
    classifiers: tuple[ClassifierConfig, ...] = Field(min_length=1)  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _names_and_regimes(self) -> BacktestConfig:
        seen: dict[str, str] = {}
        dotted: dict[str, str] = {}  # portfolio.strategy: how sweep paths, signal logs and weight sets name one
        for i, classifier in enumerate(self.classifiers):
            _unique(seen, classifier.name, f"classifiers[{i}]")
            labels = CLASSIFIERS[classifier.type].labels
            for j, portfolio in enumerate(classifier.portfolios):
                _unique(seen, portfolio.name, f"classifiers[{i}].portfolios[{j}]")
                _check_weights(portfolio, labels, classifier.type, f"classifiers[{i}].portfolios[{j}].weights")
                for k, strategy in enumerate(portfolio.strategies):
                    where = f"classifiers[{i}].portfolios[{j}].strategies[{k}]"
                    _unique(seen, f"{portfolio.name}/{strategy.name}", where)
                    _unique(dotted, f"{portfolio.name}.{strategy.name}", where)
                    for regime in strategy.regimes or ():
                        if regime not in labels:
                            raise ValueError(
                                f"{where}.regimes: '{regime}' is not a regime of classifier type "
                                f"'{classifier.type}' ({', '.join(labels)}){did_you_mean(regime, labels)}"
                            )
        return self

    def content_hash(self) -> str:
        payload: Any = self.model_dump(mode="json")
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _check_weights(portfolio: PortfolioConfig, labels: tuple[str, ...], kind: str, where: str) -> None:
    names = [strategy.name for strategy in portfolio.strategies]
    regimes = (UNKNOWN, *labels)
    for regime, weights in (portfolio.weights or {}).items():
        if regime not in regimes:
            raise ValueError(f"{where}: '{regime}' is not a regime of classifier type '{kind}' "
                             f"({', '.join(regimes)}){did_you_mean(regime, regimes)}")
        for name in weights:
            if name not in names:
                raise ValueError(f"{where}.{regime}: no strategy '{name}' in portfolio '{portfolio.name}' "
                                 f"(strategies: {', '.join(names)}){did_you_mean(name, names)}")


def _unique(seen: dict[str, str], name: str, where: str) -> None:
    if name in seen:
        raise ValueError(f"{where}.name: '{name}' is already used at {seen[name]}; names must be unique")
    seen[name] = where


ClassifierBase.model_rebuild()
