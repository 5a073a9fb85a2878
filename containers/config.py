"""The frozen config one backtest is built from: data, execution, and the classifier → portfolio → strategy tree."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal, Union

from pydantic import Field, create_model, model_validator

from containers.components.classifiers import CLASSIFIER_PARAMS
from containers.components.costs import CommissionConfig, PercentageCommission
from containers.components.limits import LimitConfig
from containers.components.sizers import PercentageSizer, SizerConfig
from containers.components.strategies import STRATEGY_PARAMS
from containers.data.config import DataConfig
from containers.strict import StrictModel, did_you_mean

Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class StrategyBase(StrictModel):
    """Fields every strategy has; `params` and `type` come from the strategy's own model."""

    name: Name
    symbols: tuple[str, ...] | None = Field(default=None, min_length=1)
    regimes: tuple[str, ...] | None = Field(default=None, min_length=1)


class ClassifierBase(StrictModel):
    name: Name
    portfolios: tuple[PortfolioConfig, ...] = Field(min_length=1)


def _typed(base: type[StrictModel], kind: str, params: type[StrictModel], suffix: str) -> type[StrictModel]:
    class_name = "".join(part.title() for part in kind.split("_")) + suffix
    return create_model(class_name, __base__=base, type=(Literal[kind], ...), params=(params, params()))


StrategyConfig = Annotated[
    Union[tuple(_typed(StrategyBase, kind, model, "Strategy") for kind, model in STRATEGY_PARAMS.items())],  # type: ignore[valid-type]  # noqa: UP007
    Field(discriminator="type"),
]


class PortfolioConfig(StrictModel):
    """A risk & portfolio container: its own capital, sizer, limits and strategies."""

    name: Name
    capital: float = Field(gt=0)
    sizer: SizerConfig = PercentageSizer(pct=10.0)
    limits: tuple[LimitConfig, ...] = ()
    allow_short: bool = True
    strategies: tuple[StrategyConfig, ...] = Field(min_length=1)  # type: ignore[valid-type]


ClassifierConfig = Annotated[
    Union[tuple(_typed(ClassifierBase, kind, model, "Classifier") for kind, model in CLASSIFIER_PARAMS.items())],  # type: ignore[valid-type]  # noqa: UP007
    Field(discriminator="type"),
]


class ExecutionConfig(StrictModel):
    """How the engine fills orders and what trading costs."""

    engine: Literal["fast", "event"] = "fast"
    fill_at: Literal["next_open", "same_bar_close"] = "next_open"
    slippage_bps: float = Field(default=0.0, ge=0, le=1000)
    commission: CommissionConfig = PercentageCommission()
    periods_per_year: float | None = Field(default=None, gt=0)


class BacktestConfig(StrictModel):
    """Everything one backtest needs; its hash identifies the backtest."""

    data: DataConfig
    execution: ExecutionConfig = ExecutionConfig()
    classifiers: tuple[ClassifierConfig, ...] = Field(min_length=1)  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _names_and_regimes(self) -> BacktestConfig:
        seen: dict[str, str] = {}
        for i, classifier in enumerate(self.classifiers):
            _unique(seen, classifier.name, f"classifiers[{i}]")
            labels = CLASSIFIER_PARAMS[classifier.type].labels
            for j, portfolio in enumerate(classifier.portfolios):
                _unique(seen, portfolio.name, f"classifiers[{i}].portfolios[{j}]")
                for k, strategy in enumerate(portfolio.strategies):
                    where = f"classifiers[{i}].portfolios[{j}].strategies[{k}]"
                    _unique(seen, f"{portfolio.name}/{strategy.name}", where)
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


def _unique(seen: dict[str, str], name: str, where: str) -> None:
    if name in seen:
        raise ValueError(f"{where}.name: '{name}' is already used at {seen[name]}; names must be unique")
    seen[name] = where


ClassifierBase.model_rebuild()
