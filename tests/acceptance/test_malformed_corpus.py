"""A corpus of malformed inputs: configs, data files, search spaces, command lines and damaged run
directories. Each must give exactly one line on stderr that starts with 'error:' and names the file,
field, row or argument at fault, with its documented exit code: no traceback, no internal error (exit
1), nothing accepted silently, no hang.

The cases run through the real console-script entry point (coordinator.cli.main) inside this test
process, so that 150-odd cases cost seconds; tests/acceptance/test_backtest_cli.py and
test_bad_data_cli.py run representative ones as real subprocesses.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from containers.errors import ConfigError
from coordinator.cli import main
from coordinator.config import read_yaml
from tests.helpers import DELETE, edit

BASE: dict[str, Any] = {
    "name": "corpus",
    "data": {"synthetic": {"symbols": ["A", "B"], "bars": 300, "seed": 1}},
    "execution": {"commission": {"type": "percentage", "rate_pct": 0.1}},
    "classifiers": [{"name": "vol", "type": "volatility", "params": {"fast": 5, "slow": 20}, "portfolios": [
        {"name": "book", "capital": 10_000, "sizer": {"type": "percentage", "pct": 20},
         "limits": [{"type": "max_drawdown", "max_pct": 20}],
         "strategies": [{"name": "xo", "type": "ma_crossover", "params": {"fast": 5, "slow": 20}},
                        {"name": "mr", "type": "mean_reversion", "regimes": ["low_volatility"]}]}]}],
}
SWEEP: dict[str, Any] = {**BASE, "type": "sweep", "sweep": {
    "method": "random", "n_trials": 4, "workers": 0, "seed": 3, "batch_size": 2,
    "space": {"book.xo.fast": {"low": 2, "high": 9}, "book.xo.slow": [20, 30]}}}
BOOK = "classifiers.0.portfolios.0"
XO = f"{BOOK}.strategies.0"
HEADER = "timestamp,open,high,low,close,volume\n"


def bars_csv(rows: int = 5, symbol: str | None = None, start: str = "2024-01-01") -> str:
    stamps = pd.date_range(start, periods=rows, freq="D")
    lines = [f"{stamp:%Y-%m-%d},10,11,9,10.5,100" + (f",{symbol}" if symbol else "") for stamp in stamps]
    return (HEADER.strip() + (",symbol" if symbol else "") + "\n") + "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Case:
    """Files to write, the command line (with {dir} for the case's folder), the exit code and a needle
    the one error line must contain."""

    files: dict[str, Any]
    argv: tuple[str, ...]
    code: int
    needle: str
    prepare: Callable[[Path], None] | None = field(default=None, compare=False)


def config_case(config: Any, needle: str, code: int = 2, command: str = "validate",
                extra: dict[str, Any] | None = None) -> Case:
    text = config if isinstance(config, str | bytes) else yaml.safe_dump(config, sort_keys=False)
    return Case({"exp.yaml": text, **(extra or {})}, (command, "{dir}/exp.yaml"), code, needle)


def data_case(data: dict[str, Any], files: dict[str, Any], needle: str, code: int = 3) -> Case:
    return config_case(edit(BASE, ("data", data)), needle, code, extra=files)


CASES: dict[str, Case] = {}
ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
    for previous, name in zip("abcdefg", "bcdefgh", strict=True)) + "name: bomb\n"

# --- YAML and the shape of the file -----------------------------------------------------------------
CASES.update({
    "yaml_syntax": config_case("name: x\ndata: [unclosed\n", "invalid YAML"),
    "yaml_tab_indent": config_case("name: x\n\tdata: 1\n", "invalid YAML"),
    "yaml_duplicate_top_key": config_case("name: a\nname: b\n", "duplicate key 'name'"),
    "yaml_duplicate_data": config_case(yaml.safe_dump(BASE) + "data: {path: other.csv}\n", "duplicate key 'data'"),
    "yaml_duplicate_nested": config_case("name: a\nexecution: {slippage_bps: 1, slippage_bps: 2}\n",
                                         "duplicate key 'slippage_bps'"),
    "yaml_deep_nesting": config_case("name: x\nd: " + "[" * 4000 + "]" * 4000 + "\n", "nested too deeply"),
    "yaml_object_tag": config_case("name: !!python/object/apply:os.system ['true']\n", "invalid YAML"),
    "yaml_alias_bomb": config_case(ALIAS_BOMB, "unknown key 'a'"),  # 9^8 nodes if expanded: it must not be
    "yaml_list": config_case("- a\n- b\n", "must be a YAML mapping"),
    "yaml_scalar": config_case("just text\n", "must be a YAML mapping"),
    "yaml_empty": config_case("", "the file is empty"),
    "yaml_binary": config_case(b"\xff\xfe\x00garbage", "not a text file"),
    "config_missing": Case({}, ("validate", "{dir}/nothing.yaml"), 2, "config file not found"),
    "config_is_directory": Case({"sub/keep": ""}, ("validate", "{dir}/sub"), 2, "is a directory"),
})

# --- fields of the config ----------------------------------------------------------------------------
FIELD_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "unknown_top_key": (edit(BASE, ("clasifiers", [])), "unknown key 'clasifiers'"),
    "unknown_data_key": (edit(BASE, ("data.pathh", "x.csv")), "unknown key 'pathh'"),
    "unknown_synthetic_key": (edit(BASE, ("data.synthetic.barz", 10)), "unknown key 'barz'"),
    "unknown_execution_key": (edit(BASE, ("execution.slipage_bps", 1)), "unknown key 'slipage_bps'"),
    "unknown_commission_key": (edit(BASE, ("execution.commission.rate", 1)), "unknown key 'rate'"),
    "unknown_classifier_key": (edit(BASE, ("classifiers.0.paramz", {})), "unknown key 'paramz'"),
    "unknown_classifier_param": (edit(BASE, ("classifiers.0.params.fastt", 3)), "unknown key 'fastt'"),
    "unknown_portfolio_key": (edit(BASE, (f"{BOOK}.capitol", 5)), "unknown key 'capitol'"),
    "unknown_sizer_key": (edit(BASE, (f"{BOOK}.sizer.percent", 5)), "unknown key 'percent'"),
    "unknown_limit_key": (edit(BASE, (f"{BOOK}.limits.0.max", 5)), "unknown key 'max'"),
    "unknown_strategy_key": (edit(BASE, (f"{XO}.weigth", 1)), "unknown key 'weigth'"),
    "unknown_strategy_param": (edit(BASE, (f"{XO}.params.fastt", 3)), "unknown key 'fastt'"),
    "unknown_aggregation_key": (edit(BASE, (f"{BOOK}.aggregation", {"type": "weighted", "agree": 1})),
                                "unknown key 'agree'"),
    "unknown_strategy_type": (edit(BASE, (f"{XO}.type", "ma_crosover")), "unknown type 'ma_crosover'"),
    "unknown_classifier_type": (edit(BASE, ("classifiers.0.type", "hmmm")), "unknown type 'hmmm'"),
    "unknown_sizer_type": (edit(BASE, (f"{BOOK}.sizer", {"type": "kelly"})), "unknown type 'kelly'"),
    "unknown_limit_type": (edit(BASE, (f"{BOOK}.limits.0", {"type": "var"})), "unknown type 'var'"),
    "unknown_commission_type": (edit(BASE, ("execution.commission", {"type": "tiered"})), "unknown type 'tiered'"),
    "unknown_aggregator": (edit(BASE, (f"{BOOK}.aggregation", {"type": "vote"})), "unknown type 'vote'"),
    "unknown_rebalance": (edit(BASE, (f"{BOOK}.rebalance", {"type": "daily"})), "unknown type 'daily'"),
    "missing_strategy_type": (edit(BASE, (f"{XO}.type", DELETE)), "missing 'type'"),
    "missing_capital": (edit(BASE, (f"{BOOK}.capital", DELETE)), "capital: required field is missing"),
    "missing_name": (edit(BASE, ("name", DELETE)), "name: required field is missing"),
    "no_classifiers": (edit(BASE, ("classifiers", [])), "classifiers"),
    "no_strategies": (edit(BASE, (f"{BOOK}.strategies", [])), "strategies"),
    "capital_text": (edit(BASE, (f"{BOOK}.capital", "lots")), "capital: Input should be a valid number"),
    "capital_negative": (edit(BASE, (f"{BOOK}.capital", -1)), "capital: Input should be greater than 0"),
    "capital_inf": (edit(BASE, (f"{BOOK}.capital", float("inf"))), "capital: Input should be a finite number"),
    "capital_nan": (edit(BASE, (f"{BOOK}.capital", float("nan"))), "capital: Input should be a finite number"),
    "initial_price_inf": (edit(BASE, ("data.synthetic.initial_price", float("inf"))), "initial_price"),
    "num_std_nan": (edit(BASE, (f"{BOOK}.strategies.1.params", {"num_std": float("nan")})), "num_std"),
    "slippage_inf": (edit(BASE, ("execution.slippage_bps", float("inf"))), "slippage_bps"),
    "slippage_too_big": (edit(BASE, ("execution.slippage_bps", 5000)), "slippage_bps"),
    "periods_per_year_zero": (edit(BASE, ("execution.periods_per_year", 0)), "periods_per_year"),
    "periods_per_year_inf": (edit(BASE, ("execution.periods_per_year", float("inf"))), "periods_per_year"),
    "huge_integer_param": (edit(BASE, (f"{XO}.params.slow", 10**30)), "integer is too large"),
    "huge_negative_integer": (edit(BASE, ("data.synthetic.seed", -(10**40))), "integer is too large"),
    "bars_too_few": (edit(BASE, ("data.synthetic.bars", 1)), "bars"),
    "bars_float": (edit(BASE, ("data.synthetic.bars", 10.5)), "bars"),
    "name_dots": (edit(BASE, ("name", "..")), "not a valid name"),
    "name_hidden": (edit(BASE, ("name", ".hidden")), "not a valid name"),
    "name_slash": (edit(BASE, ("name", "a/b")), "not a valid name"),
    "name_empty": (edit(BASE, ("name", "")), "name"),
    "name_too_long": (edit(BASE, ("name", "x" * 300)), "name"),
    "portfolio_name_dots": (edit(BASE, (f"{BOOK}.name", "..")), "not a valid name"),
    "duplicate_portfolio": (edit(BASE, ("classifiers.0.portfolios", [BASE["classifiers"][0]["portfolios"][0]] * 2)),
                            "already used"),
    "duplicate_strategy": (edit(BASE, (f"{BOOK}.strategies.1.name", "xo")), "already used"),
    "regime_unknown": (edit(BASE, (f"{XO}.regimes", ["bull"])), "'bull' is not a regime"),
    "regimes_empty": (edit(BASE, (f"{XO}.regimes", [])), "regimes"),
    "weights_unknown_regime": (edit(BASE, (f"{BOOK}.weights", {"bull": {"xo": 1}})), "'bull' is not a regime"),
    "weights_unknown_strategy": (edit(BASE, (f"{BOOK}.weights", {"low_volatility": {"zz": 1}})),
                                 "no strategy 'zz'"),
    "weights_negative": (edit(BASE, (f"{BOOK}.weights", {"low_volatility": {"xo": -1}})), "weights"),
    "weight_negative": (edit(BASE, (f"{XO}.weight", -0.5)), "weight"),
    "weight_inf": (edit(BASE, (f"{XO}.weight", float("inf"))), "weight"),
    "leverage_zero": (edit(BASE, (f"{BOOK}.leverage", 0)), "leverage"),
    "min_agreement_above_one": (edit(BASE, (f"{BOOK}.aggregation", {"type": "weighted", "min_agreement": 2})),
                                "min_agreement"),
    "min_signals_zero": (edit(BASE, (f"{BOOK}.aggregation", {"type": "weighted", "min_signals": 0})),
                         "min_signals"),
    "rebalance_pct_zero": (edit(BASE, (f"{BOOK}.rebalance", {"type": "threshold_pct", "pct": 0})), "pct"),
    "rebalance_pct_missing": (edit(BASE, (f"{BOOK}.rebalance", {"type": "threshold_pct"})), "pct"),
    "fast_not_below_slow": (edit(BASE, (f"{XO}.params", {"fast": 30, "slow": 20})), "must be smaller than slow"),
    "signal_mode_unknown": (edit(BASE, (f"{XO}.params.signal", "edge")), "signal"),
    "sizer_missing_field": (edit(BASE, (f"{BOOK}.sizer", {"type": "fixed"})), "quantity"),
    "per_share_min_above_max": (edit(BASE, ("execution.commission", {"type": "per_share", "min": 5, "max": 1})),
                                "must be at least min"),
    "max_position_no_bound": (edit(BASE, (f"{BOOK}.limits.0", {"type": "max_position"})),
                              "give max_quantity, max_pct or both"),
    "engine_unknown": (edit(BASE, ("execution.engine", "turbo")), "engine"),
    "fill_at_unknown": (edit(BASE, ("execution.fill_at", "open")), "fill_at"),
    "type_unknown": (edit(BASE, ("type", "optimise")), "type"),
    "close_at_end_text": (edit(BASE, ("execution.close_at_end", "maybe")), "close_at_end"),
    "allow_short_number": (edit(BASE, (f"{BOOK}.allow_short", 7)), "allow_short"),
    "strategy_symbol_unknown": (edit(BASE, (f"{XO}.symbols", ["ZZZ"])), "symbol 'ZZZ' is not in the data"),
    "classifier_symbol_unknown": (edit(BASE, ("classifiers.0.params.symbol", "ZZZ")), "symbol 'ZZZ'"),
    "strategy_symbols_empty": (edit(BASE, (f"{XO}.symbols", [])), "symbols"),
    "too_many_strategies": (edit(BASE, (f"{BOOK}.strategies",
                                        [{"name": f"s{i}", "type": "breakout"} for i in range(60)])), "strategies"),
    "description_too_long": (edit(BASE, ("description", "x" * 5000)), "description"),
}
CASES.update({name: config_case(config, needle) for name, (config, needle) in FIELD_CASES.items()})

# --- where the data comes from --------------------------------------------------------------------------
SOURCE_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "two_sources": ({"synthetic": {}, "path": "x.csv"}, "give exactly one data source"),
    "no_source": ({}, "give exactly one data source"),
    "files_empty_map": ({"files": {}}, "files"),
    "files_empty_path": ({"files": {"A": ""}}, "files"),
    "path_empty": ({"path": ""}, "path"),
    "use_without_split": ({"synthetic": {}, "use": "train"}, "needs a 'split'"),
    "split_both": ({"synthetic": {}, "split": {"train_ratio": 0.5, "test_start": "2020-02-01"}}, "exactly one"),
    "split_ratio_above_one": ({"synthetic": {}, "split": {"train_ratio": 1.5}}, "train_ratio"),
    "symbols_empty_list": ({"synthetic": {}, "symbols": []}, "symbols"),
    "symbols_duplicate": ({"synthetic": {"symbols": ["A", "B"]}, "symbols": ["A", "A"]}, "listed more than once"),
    "synthetic_duplicate_symbols": ({"synthetic": {"symbols": ["A", "A"]}}, "listed more than once"),
    "synthetic_freq_zero": ({"synthetic": {"freq": "0h"}}, "must be a positive step"),
    "synthetic_freq_negative": ({"synthetic": {"freq": "-1h"}}, "must be a positive step"),
    "synthetic_freq_bogus": ({"synthetic": {"freq": "fortnightly"}}, "not a fixed pandas frequency"),
    "synthetic_freq_month": ({"synthetic": {"freq": "1M"}}, "not a fixed pandas frequency"),
    "synthetic_past_pandas_range": ({"synthetic": {"start": "2250-01-01", "bars": 10_000, "freq": "1D"}},
                                    "the last date pandas can hold"),
    "synthetic_start_text": ({"synthetic": {"start": "someday"}}, "start"),
    "timestamp_unit_with_synthetic": ({"synthetic": {}, "timestamp_unit": "s"}, "timestamp_unit"),
    "timestamp_unit_unknown": ({"path": "x.csv", "timestamp_unit": "days"}, "timestamp_unit"),
    "align_unknown": ({"synthetic": {}, "align": "loose"}, "align"),
}
CASES.update({name: config_case(edit(BASE, ("data", data)), needle) for name, (data, needle) in
              SOURCE_CASES.items()})
CASES["synthetic_too_big_for_memory"] = config_case(
    edit(BASE, ("data", {"synthetic": {"symbols": [f"S{i}" for i in range(1000)], "bars": 50_000_000, "freq": "1s"}})),
    "of memory", code=3)

# --- data files ---------------------------------------------------------------------------------------
GOOD = bars_csv()
ROW = "2024-01-0{day},{open},{high},{low},{close},{volume}\n"


def rows_csv(*values: tuple[str, str, str, str, str]) -> str:
    return HEADER + "".join(ROW.format(day=i + 1, open=o, high=h, low=lo, close=c, volume=v)
                            for i, (o, h, lo, c, v) in enumerate(values))


FILE_CASES: dict[str, tuple[Any, str]] = {
    "file_empty": ("", "the file is empty"),
    "file_header_only": (HEADER, "header but no rows"),
    "file_missing_column": ("timestamp,open,high,low,close\n2024-01-01,1,2,0.5,1.5\n", "missing column(s) volume"),
    "file_duplicate_header": (HEADER.strip() + ",close\n2024-01-01,10,11,9,10.5,100,10.5\n",
                              "are the same column"),
    "file_case_twin_columns": ("timestamp,open,high,low,close,Close,volume\n2024-01-01,10,11,9,10.5,10.5,100\n",
                               "differ only in case"),
    "file_binary": (b"\x00\x01\x02\xff" * 100, "prices.csv: unreadable csv file"),
    "file_unterminated_quote": ('timestamp,open\n"unterminated,1\n', "unreadable csv"),
    "value_not_a_number": (rows_csv(("10", "11", "9", "ten", "100"), ("10", "11", "9", "10", "100")),
                           "close 'ten' is not a number"),
    "value_nan": (rows_csv(("10", "11", "9", "nan", "100"), ("10", "11", "9", "10", "100")), "NaN or infinite"),
    "value_inf": (rows_csv(("10", "11", "9", "inf", "100"), ("10", "11", "9", "10", "100")), "NaN or infinite"),
    "price_negative": (rows_csv(("-10", "11", "-12", "10", "100"), ("10", "11", "9", "10", "100")), "not positive"),
    "price_zero": (rows_csv(("0", "11", "0", "10", "100"), ("10", "11", "9", "10", "100")), "not positive"),
    "high_below_low": (rows_csv(("10", "9", "11", "10", "100"), ("10", "11", "9", "10", "100")), "high is below low"),
    "open_outside": (rows_csv(("20", "11", "9", "10", "100"), ("10", "11", "9", "10", "100")), "open is outside"),
    "close_outside": (rows_csv(("10", "11", "9", "2", "100"), ("10", "11", "9", "10", "100")), "close is outside"),
    "volume_negative": (rows_csv(("10", "11", "9", "10", "-1"), ("10", "11", "9", "10", "100")), "volume is negative"),
    "timestamps_unsorted": (HEADER + "2024-01-02,10,11,9,10,1\n2024-01-01,10,11,9,10,1\n", "unsorted"),
    "timestamps_duplicate": (HEADER + "2024-01-01,10,11,9,10,1\n2024-01-01,10,11,9,10,1\n", "duplicate timestamp"),
    "timestamp_unparsable": (HEADER + "yesterday,10,11,9,10,1\n2024-01-02,10,11,9,10,1\n", "is not a date/time"),
    "timestamp_epoch_seconds": (HEADER + "1704067200,10,11,9,10,1\n1704153600,10,11,9,10,1\n",
                                "set data.timestamp_unit"),
    "timestamp_epoch_float": (HEADER + "1704067200.5,10,11,9,10,1\n1704153600.5,10,11,9,10,1\n",
                              "set data.timestamp_unit"),
    "huge_cell": (HEADER + "2024-01-01,10,11,9," + "7" * 5_000_000 + "x,1\n2024-01-02,10,11,9,10,1\n",
                  "is not a number"),
}
CASES.update({name: data_case({"files": {"A": "prices.csv"}}, {"prices.csv": content}, needle)
              for name, (content, needle) in FILE_CASES.items()})
CASES.update({
    "file_missing": data_case({"files": {"A": "none.csv"}}, {}, "file not found"),
    "file_is_directory": data_case({"files": {"A": "dir.csv"}}, {"dir.csv/keep": ""}, "is a directory"),
    "file_suffix": data_case({"files": {"A": "prices.txt"}}, {"prices.txt": GOOD}, "unsupported file type"),
    "parquet_corrupt": data_case({"files": {"A": "prices.parquet"}}, {"prices.parquet": b"PAR1garbage"},
                                 "unreadable parquet"),
    "timestamp_unit_on_iso_dates": data_case({"files": {"A": "prices.csv"}, "timestamp_unit": "s"},
                                             {"prices.csv": GOOD}, "timestamps are not numbers"),
    "long_file_blank_symbol": data_case({"path": "long.csv"},
                                        {"long.csv": bars_csv(3, "A") + "2024-01-09,10,11,9,10,1,\n"},
                                        "the symbol is empty"),
    "long_file_padded_symbol": data_case({"path": "long.csv"},
                                         {"long.csv": bars_csv(3, "A") + "2024-01-09,10,11,9,10,1, A\n"},
                                         "has spaces around it"),
    "long_file_case_twin_symbols": data_case({"path": "long.csv"},
                                             {"long.csv": bars_csv(3, "A") + bars_csv(3, "a").split("\n", 1)[1]},
                                             "differ only in case"),
    "files_name_one_file_twice": data_case({"files": {"A": "a.csv", "B": "./a.csv"}}, {"a.csv": bars_csv(5)},
                                           "name the same file"),
    "synthetic_start_before_pandas": data_case({"synthetic": {"symbols": ["A"], "start": "1000-01-01"}}, {},
                                               "is before 1677-09-22", code=2),
    "long_file_missing_symbol_column": data_case({"path": "long.csv"}, {"long.csv": GOOD}, "missing column(s) symbol"),
    "symbol_not_in_file": data_case({"path": "long.csv", "symbols": ["A", "Q"]}, {"long.csv": bars_csv(4, "A")},
                                    "not in the data"),
    "strict_alignment": data_case({"files": {"A": "a.csv", "B": "b.csv"}},
                                  {"a.csv": bars_csv(5), "b.csv": bars_csv(5, start="2024-01-02")},
                                  "not for every symbol"),
    "too_few_common_bars": data_case({"files": {"A": "a.csv", "B": "b.csv"}, "align": "intersection"},
                                     {"a.csv": bars_csv(3), "b.csv": bars_csv(3, start="2024-01-03")},
                                     "fewer than two timestamps"),
    "split_leaves_too_few": data_case({"files": {"A": "a.csv"}, "split": {"train_ratio": 0.1}, "use": "train"},
                                      {"a.csv": bars_csv(5)}, "each part needs at least two bars"),
})


def _prepare_sparse_giant(folder: Path) -> None:
    """A CSV of a terabyte (sparse: it takes no disk), refused from its size before a byte is read."""
    with open(folder / "giant.csv", "wb") as stream:
        stream.write(HEADER.encode())
        stream.truncate(2**40)


CASES["file_larger_than_memory"] = Case(
    {"exp.yaml": yaml.safe_dump(edit(BASE, ("data", {"files": {"A": "giant.csv"}})))},
    ("validate", "{dir}/exp.yaml"), 3, "of memory, more than half of the", prepare=_prepare_sparse_giant)


def _prepare_link_loop(folder: Path) -> None:
    (folder / "loop.csv").symlink_to(folder / "loop.csv")


CASES["file_symlink_loop"] = Case({"exp.yaml": yaml.safe_dump(edit(BASE, ("data", {"files": {"A": "loop.csv"}})))},
                                  ("validate", "{dir}/exp.yaml"), 3, "leads nowhere", _prepare_link_loop)

# --- search spaces --------------------------------------------------------------------------------------
SPACE = "sweep.space"


def space_with(key: str, value: Any) -> dict[str, Any]:
    """The sweep config with one entry of its space (keys hold dots) set."""
    return edit(SWEEP, (SPACE, {**SWEEP["sweep"]["space"], key: value}))


SPACE_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "choice_listed_twice": (edit(SWEEP, (SPACE, {"book.xo.fast": [2, 3, 2]})), "2 is listed twice"),
    "range_on_a_text_parameter": (edit(SWEEP, (SPACE, {"book.xo.signal": {"low": 1, "high": 3}})),
                                  "the parameter is not a number"),
    "range_below_the_minimum": (edit(SWEEP, (SPACE, {"book.xo.fast": {"low": -10, "high": -2}})),
                                "is not a value this parameter takes"),
    "range_fractional_on_whole_parameter": (edit(SWEEP, (SPACE, {"book.xo.fast": {"low": 2.5, "high": 9}})),
                                            "the parameter takes whole numbers"),
    "choice_not_a_value": (edit(SWEEP, (SPACE, {"book.xo.signal": ["state", "sometimes"]})),
                           "is not a value this parameter takes"),
    "constraint_on_text": (edit(SWEEP, ("sweep.constraints", ["book.xo.signal < 3"])),
                           "is not a number, so it cannot be compared"),
    "random_constraints_no_point_meets": (edit(SWEEP, ("sweep.constraints", ["book.xo.fast < 1"])),
                                          "no point satisfying"),
    "grid_constraints_no_point_meets": (edit(SWEEP, ("sweep.method", "grid"),
                                             ("sweep.constraints", ["book.xo.fast > 100"])),
                                        "no grid point satisfies"),
    "grid_over_an_unset_float": (edit(SWEEP, ("sweep.method", "grid"),
                                      (f"{BOOK}.sizer", {"type": "atr", "risk_pct": 1}),
                                      (SPACE, {"book.sizer.max_pct": {"low": 10, "high": 50}})),
                                 "method grid needs discrete values"),
    "sweep_missing_section": (edit(SWEEP, ("sweep", DELETE)), "needs a 'sweep' section"),
    "space_empty": (edit(SWEEP, (SPACE, {})), "space"),
    "space_path_unknown": (space_with("book.zz.fast", [1, 2]), "no strategy 'zz'"),
    "space_path_nothing": (space_with("nowhere", [1, 2]), "names nothing"),
    "space_param_unknown": (space_with("book.xo.fastt", [1, 2]), "'fastt' is not a parameter"),
    "space_low_above_high": (space_with("book.xo.fast", {"low": 9, "high": 2}), "is below low"),
    "space_step_zero": (space_with("book.xo.fast", {"low": 2, "high": 9, "step": 0}), "step"),
    "space_step_negative": (space_with("book.xo.fast", {"low": 2, "high": 9, "step": -1}), "step"),
    "space_log_low_zero": (space_with("book.xo.fast", {"low": 0, "high": 9, "log": True}), "needs low > 0"),
    "space_log_and_step": (space_with("book.xo.fast", {"low": 1, "high": 9, "log": True, "step": 1}), "not both"),
    "space_typo_key": (space_with("book.xo.fast", {"lo": 2, "high": 9}), "unknown key 'lo'"),
    "space_choices_empty": (space_with("book.xo.fast", []), "at least 1 item"),
    "space_low_inf": (space_with("book.xo.fast", {"low": float("-inf"), "high": 9}), "finite"),
    "space_low_huge": (space_with("book.xo.fast", {"low": 2, "high": 10**30}), "too large"),
    "grid_continuous": (edit(SWEEP, ("sweep.method", "grid"), ("sweep.n_trials", None),
                             (SPACE, {**SWEEP["sweep"]["space"], "book.mr.num_std": {"low": 1.0, "high": 2.5}})),
                        "method grid needs discrete"),
    "method_unknown": (edit(SWEEP, ("sweep.method", "bayes")), "method"),
    "random_without_n_trials": (edit(SWEEP, ("sweep.n_trials", DELETE)), "needs n_trials"),
    "n_trials_zero": (edit(SWEEP, ("sweep.n_trials", 0)), "n_trials"),
    "batch_size_zero": (edit(SWEEP, ("sweep.batch_size", 0)), "batch_size"),
    "top_zero": (edit(SWEEP, ("sweep.top", 0)), "top"),
    "objective_unknown": (edit(SWEEP, ("sweep.objective", "sharpe")), "is not a metric"),
    "objectives_unknown_metric": (edit(SWEEP, ("sweep.objectives", [{"metric": "alpha"}])), "is not a metric"),
    "nsga2_without_objectives": (edit(SWEEP, ("sweep.method", "nsga2")), "needs 'objectives'"),
    "constraint_syntax": (edit(SWEEP, ("sweep.constraints", ["book.xo.fast <<< 3"])), "is not 'a < b'"),
    "constraint_injection": (edit(SWEEP, ("sweep.constraints", ["__import__('os').system('x') < 1"])),
                             "is not 'a < b'"),
    "constraint_unknown_path": (edit(SWEEP, ("sweep.constraints", ["book.xo.fastt < book.xo.slow"])),
                                "'fastt' is not a parameter"),
    "storage_not_a_url": (edit(SWEEP, ("sweep.storage", "/tmp/study.db")), "is not a database URL"),
    "storage_sqlite_in_memory": (edit(SWEEP, ("sweep.storage", "sqlite:///:memory:")), "could not be resumed"),
    "storage_sqlite_no_file": (edit(SWEEP, ("sweep.storage", "sqlite:///")), "is not a database file"),
    "workers_negative": (edit(SWEEP, ("sweep.workers", -1)), "workers"),
}
CASES.update({name: config_case(config, needle) for name, (config, needle) in SPACE_CASES.items()})
# --- signal patterns ---------------------------------------------------------------------------------
CASES.update({
    "pattern_unknown": config_case(edit(BASE, ("pattern", "signal_replya")), "pattern"),
    "pattern_on_a_sweep": config_case(edit(SWEEP, ("pattern", "signal_generation")), "is for type: backtest"),
    "replay_without_logs": Case(
        {"exp.yaml": yaml.safe_dump(edit(BASE, ("pattern", "signal_replay"), ("signals", "logs")))},
        ("run", "{dir}/exp.yaml", "--out", "{dir}/run"), 3, "no signal log of this"),
})
CASES["grid_too_large_to_run_whole"] = config_case(
    edit(SWEEP, ("sweep.method", "grid"), ("sweep.n_trials", None),
         (SPACE, {"book.xo.fast": {"low": 2, "high": 100_000}, "book.xo.slow": {"low": 2, "high": 100_000}})),
    "too many to run them all", command="run")

# --- the command line -----------------------------------------------------------------------------------
OK_CONFIG = {"exp.yaml": yaml.safe_dump(BASE)}
CASES.update({
    "cli_unknown_command": Case({}, ("bakctest",), 2, "No such command"),
    "cli_missing_argument": Case({}, ("backtest",), 2, "Missing argument"),
    "cli_unknown_option": Case(OK_CONFIG, ("backtest", "{dir}/exp.yaml", "--fast"), 2, "No such option"),
    "cli_bad_engine": Case(OK_CONFIG, ("backtest", "{dir}/exp.yaml", "--engine", "turbo"), 2, "--engine"),
    "cli_extend_zero": Case({}, ("resume", "{dir}/run", "--extend", "0"), 2, "--extend"),
    "cli_extend_text": Case({}, ("resume", "{dir}/run", "--extend", "many"), 2, "--extend"),
    "cli_workers_negative": Case(OK_CONFIG, ("run", "{dir}/exp.yaml", "--workers", "-1"), 2, "--workers"),
    "cli_status_without_dir": Case({}, ("status",), 2, "Missing argument"),
    "cli_resume_without_dir": Case({}, ("resume",), 2, "Missing argument"),
    "cli_validate_two_configs": Case(OK_CONFIG, ("validate", "{dir}/exp.yaml", "{dir}/exp.yaml"), 2,
                                     "unexpected extra argument"),
    "cli_out_is_a_file": Case({**OK_CONFIG, "taken": "x"}, ("backtest", "{dir}/exp.yaml", "--out", "{dir}/taken"), 2,
                              "is a file, not a folder"),
    "cli_out_under_a_file": Case({**OK_CONFIG, "taken": "x"},
                                 ("backtest", "{dir}/exp.yaml", "--out", "{dir}/taken/run"), 2, "is a file"),
    "cli_output_dir_is_a_file": Case({"exp.yaml": yaml.safe_dump(edit(BASE, ("output", {"dir": "taken"}))),
                                      "taken": "x"}, ("backtest", "{dir}/exp.yaml"), 2, "is a file"),
    "cli_sweep_of_a_backtest": Case(OK_CONFIG, ("sweep", "{dir}/exp.yaml"), 2, "no 'sweep' section"),
    "cli_bad_address": Case({"exp.yaml": yaml.safe_dump(edit(SWEEP, ("sweep.workers", 1)))},
                            ("run", "{dir}/exp.yaml", "--out", "{dir}/run", "--address", "127.0.0.1:1"), 4,
                            "cannot reach a Ray head at 127.0.0.1:1"),
})


# --- damaged run directories ------------------------------------------------------------------------------
def _damaging(change: Callable[[Path], None]) -> Callable[[Path], None]:
    def prepare(folder: Path) -> None:
        shutil.copytree(FINISHED[0], folder / "run")
        change(folder / "run")
    return prepare


FINISHED: list[Path] = []  # a finished study's run directory, made once (see the fixture)


def _rewrite_manifest(run: Path, **changes: Any) -> None:
    manifest = json.loads((run / "manifest.json").read_text())
    for key, value in changes.items():
        if value is DELETE:
            manifest.pop(key)
        else:
            manifest[key] = value
    (run / "manifest.json").write_text(json.dumps(manifest))


def _journal_line(run: Path, number: int, text: str) -> None:
    lines = (run / "study.journal").read_text().splitlines(keepends=True)
    lines[number] = text + "\n"
    (run / "study.journal").write_text("".join(lines))


RUN_CASES: dict[str, tuple[Callable[[Path], None], str, tuple[str, ...]]] = {
    "run_dir_missing": (lambda run: shutil.rmtree(run), "no such folder", ("status", "resume")),
    "run_dir_without_manifest": (lambda run: (run / "manifest.json").unlink(), "no manifest.json",
                                 ("status", "resume")),
    "manifest_not_json": (lambda run: (run / "manifest.json").write_text("{not json"), "unreadable",
                          ("status", "resume")),
    "manifest_a_list": (lambda run: (run / "manifest.json").write_text("[1, 2]"), "lacks", ("status", "resume")),
    "manifest_binary": (lambda run: (run / "manifest.json").write_bytes(b"\xff\xfe\x00"), "unreadable",
                        ("status",)),
    "manifest_without_storage": (lambda run: _rewrite_manifest(run, storage=DELETE), "lacks storage",
                                 ("status", "resume")),
    "manifest_without_fingerprint": (lambda run: _rewrite_manifest(run, fingerprint=DELETE), "lacks fingerprint",
                                     ("resume",)),
    "manifest_n_trials_text": (lambda run: _rewrite_manifest(run, n_trials="many"), "n_trials",
                               ("status", "resume")),
    "manifest_config_gone": (lambda run: _rewrite_manifest(run, config_path=str(run / "gone.yaml")),
                             "config file not found", ("resume",)),
    "manifest_other_study": (lambda run: _rewrite_manifest(run, name="someone-else"), "no study named",
                             ("status",)),
    "journal_missing": (lambda run: (run / "study.journal").unlink(), "study.journal", ("status",)),
    "journal_garbage_line": (lambda run: _journal_line(run, 1, "this is not json"), "line 2 is not a journal record",
                             ("status", "resume")),
    "journal_json_not_a_record": (lambda run: _journal_line(run, 2, '{"hello": 1}'), "line 3 is not a journal",
                                  ("status", "resume")),
    "journal_json_list": (lambda run: _journal_line(run, 1, "[1, 2, 3]"), "line 2 is not a journal",
                          ("status",)),
    "journal_empty": (lambda run: (run / "study.journal").write_text(""), "no study named", ("status",)),
    "journal_unknown_op_code": (lambda run: _journal_line(run, 2, '{"op_code": 99}'), "does not replay",
                                ("status",)),
    "journal_record_lacks_fields": (lambda run: _journal_line(run, 2, '{"op_code": 6}'), "does not replay",
                                    ("status",)),
    # edited records: a resume sees the journal no longer matches its commit index, and says so
    "journal_edited_unknown_op_code": (lambda run: _journal_line(run, 2, '{"op_code": 99}'),
                                       "does not match it (edited by hand?); run admf repair", ("resume",)),
    "journal_edited_record_lacks_fields": (lambda run: _journal_line(run, 2, '{"op_code": 6}'),
                                           "does not match it (edited by hand?); run admf repair", ("resume",)),
    "manifest_fingerprint_text": (lambda run: _rewrite_manifest(run, fingerprint="abc"), "fingerprint is not a",
                                  ("status", "resume")),
    "manifest_config_path_null": (lambda run: _rewrite_manifest(run, config_path=None), "config_path is not",
                                  ("resume",)),
    "manifest_storage_number": (lambda run: _rewrite_manifest(run, storage=5), "storage is not", ("status",)),
}
for name, (change, needle, commands) in RUN_CASES.items():
    for command in commands:
        code = 2 if needle == "config file not found" else 5
        CASES[f"{name}_{command}"] = Case({}, (command, "{dir}/run"), code, needle, _damaging(change))


@pytest.fixture(scope="module", autouse=True)
def finished_study(tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("finished")
    (folder / "exp.yaml").write_text(yaml.safe_dump(SWEEP))
    code, _, err = _run(("run", str(folder / "exp.yaml"), "--out", str(folder / "run")))
    assert code == 0, err
    FINISHED[:] = [folder / "run"]


class _Hung(Exception):
    pass


def _run(argv: tuple[str, ...], seconds: int = 120) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `admf argv` through the console-script entry point."""
    import io

    out, err = io.StringIO(), io.StringIO()
    saved = sys.argv, sys.stdout, sys.stderr

    def hung(signum: int, frame: Any) -> None:
        raise _Hung(f"admf {' '.join(argv)} still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    sys.argv, sys.stdout, sys.stderr = ["admf", *argv], out, err
    try:
        main()
        code = 0
    except SystemExit as done:
        code = int(done.code or 0)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        sys.argv, sys.stdout, sys.stderr = saved
    return code, out.getvalue(), err.getvalue()


def test_the_corpus_is_broad() -> None:
    assert len(CASES) >= 150


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_input_is_one_line_with_its_exit_code(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    for relative, content in case.files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    if case.prepare is not None:
        case.prepare(tmp_path)
    argv = tuple(part.replace("{dir}", str(tmp_path)) for part in case.argv)
    code, _, err = _run(argv)
    lines = err.strip("\n").split("\n")
    assert code == case.code, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and "internal error" not in err
    assert case.needle in lines[0], lines[0]
    assert len(lines[0]) < 600  # values are echoed cut short, never whole


def test_a_huge_cell_is_echoed_cut_short(tmp_path: Path) -> None:
    (tmp_path / "prices.csv").write_text(FILE_CASES["huge_cell"][0])
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(edit(BASE, ("data", {"files": {"A": "prices.csv"}}))))
    _, _, err = _run(("validate", str(tmp_path / "exp.yaml")))
    assert "777..." in err and len(err) < 400


@pytest.mark.parametrize(("space", "n_trials"), [
    ({"book.xo.fast": {"low": 2, "high": 100_000}, "book.xo.slow": {"low": 2, "high": 100_000}}, 4),
    ({"book.xo.fast": {"low": 2, "high": 1_000_000_000}}, 3),
])
def test_huge_spaces_plan_in_proportion_to_the_trials_asked(space: dict[str, Any], n_trials: int,
                                                             tmp_path: Path) -> None:
    """A grid of 10^10 points capped at 4 trials, a random search over 10^9 values: both run at once
    (nothing lists the product of the ranges), each trial a feasible point of the space."""
    method = "grid" if len(space) == 2 else "random"
    config = edit(SWEEP, ("sweep.method", method), ("sweep.n_trials", n_trials), (SPACE, space),
                  ("sweep.constraints", ["book.xo.fast < book.xo.slow"] if method == "grid" else []),
                  (f"{XO}.params.slow", 2_000_000_000) if method == "random" else ("name", "corpus"))
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(config))
    code, _, err = _run(("run", str(tmp_path / "exp.yaml"), "--out", str(tmp_path / "run")), seconds=60)
    assert code == 0, err
    trials = pd.read_parquet(tmp_path / "run" / "trials.parquet")
    assert len(trials) == n_trials and trials["number"].tolist() == list(range(n_trials))
    fast = trials["param.book.xo.fast"].to_numpy()
    assert len(set(fast)) == n_trials and np.all((fast >= 2) & (fast <= max(s["high"] for s in space.values())))



def test_a_key_beside_a_yaml_merge_overrides_the_merged_one(tmp_path: Path) -> None:
    path = tmp_path / "merge.yaml"
    path.write_text("base: &base {fast: 5, slow: 20}\nover:\n  <<: *base\n  fast: 7\n")
    assert read_yaml(path) == {"base": {"fast": 5, "slow": 20}, "over": {"fast": 7, "slow": 20}}
    path.write_text("over:\n  <<: {fast: 5}\n  fast: 7\n  fast: 8\n")  # written twice beside it: refused
    with pytest.raises(ConfigError, match="duplicate key 'fast'"):
        read_yaml(path)


def test_a_start_with_a_utc_offset_is_converted_to_utc(tmp_path: Path) -> None:
    config = edit(BASE, ("data.synthetic.start", "2020-03-01T05:00:00+05:00"))
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(config))
    code, out, err = _run(("validate", str(tmp_path / "exp.yaml")))
    assert code == 0, err
    assert "from 2020-03-01 00:00:00" in out
