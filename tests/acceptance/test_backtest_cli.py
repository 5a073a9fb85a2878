"""`admf backtest` and `admf validate` end to end on the example and on broken inputs."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.acceptance.cli import admf
from tests.helpers import DELETE, edit

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "backtest.yaml"


def test_example_backtest_writes_its_run_directory(tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = admf("backtest", str(EXAMPLE), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "sharpe_ratio" in done.stdout and "results in" in done.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    equity = pd.read_parquet(out / "equity.parquet")
    trades = pd.read_parquet(out / "trades.parquet")
    assert set(metrics["portfolios"]) == {"conservative", "aggressive", "balanced"}
    assert len(equity) == 5000 and len(trades) == metrics["total"]["num_fills"] > 0
    assert metrics["total"]["final_equity"] == pytest.approx(equity["total"].iloc[-1])
    assert metrics["total"]["final_equity"] == pytest.approx(sum(equity[p].iloc[-1] for p in metrics["portfolios"]))
    again = tmp_path / "again"
    assert admf("backtest", str(EXAMPLE), "--out", str(again)).returncode == 0
    pd.testing.assert_frame_equal(trades, pd.read_parquet(again / "trades.parquet"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config_hash"] == json.loads((again / "manifest.json").read_text())["config_hash"]


def test_the_examples_ensemble_trades_no_more_than_its_strategies_alone(tmp_path: Path) -> None:
    """The balanced book combines two strategies, one regime-gated: when it abstains the other keeps its
    position, so the book never churns (no bar both closes and opens a symbol)."""
    example = yaml.safe_load(EXAMPLE.read_text())
    trend = next(c for c in example["classifiers"] if c["name"] == "trend")
    book = trend["portfolios"][0]
    fills = {}
    for label, strategies in [("together", book["strategies"])] + [(s["name"], [s]) for s in book["strategies"]]:
        config = {**example, "classifiers": [{**trend, "portfolios": [{**book, "strategies": strategies}]}]}
        path = tmp_path / f"{label}.yaml"
        path.write_text(yaml.safe_dump(config))
        done = admf("backtest", str(path), "--out", str(tmp_path / label))
        assert done.returncode == 0, done.stderr
        fills[label] = pd.read_parquet(tmp_path / label / "trades.parquet")
    together = fills.pop("together")
    assert 0 < len(together) <= sum(len(alone) for alone in fills.values())
    position = together.groupby("symbol")["quantity"].cumsum()
    entries = (position - together["quantity"]) == 0
    by_bar = together.assign(entry=entries).groupby(["symbol", "bar_index"]).agg(entry=("entry", "any"),
                                                                                 exit=("closing", "any"))
    assert not (by_bar["entry"] & by_bar["exit"]).any()


def test_engine_flag_gives_the_same_run_with_either_engine(tmp_path: Path) -> None:
    outputs = {}
    for engine in ("event", "fast"):
        done = admf("backtest", str(EXAMPLE), "--engine", engine, "--out", str(tmp_path / engine))
        assert done.returncode == 0, done.stderr
        assert f"({engine} engine)" in done.stdout
        outputs[engine] = pd.read_parquet(tmp_path / engine / "trades.parquet")
    pd.testing.assert_frame_equal(outputs["event"], outputs["fast"], check_exact=False, rtol=1e-9)
    assert json.loads((tmp_path / "fast" / "metrics.json").read_text())["engine"] == "fast"


def test_validate_reports_the_data_it_found() -> None:
    done = admf("validate", str(EXAMPLE))
    assert done.returncode == 0
    assert "5000 bars of AAA, BBB, CCC" in done.stdout


def _base() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def _edit(path: str, value: object) -> dict:
    """The example config with one value set (or deleted when value is DELETE), path like 'a.0.b'."""
    return edit(_base(), (path, value))


STRATEGY = "classifiers.0.portfolios.0.strategies.0"
BAD_CONFIGS = {
    "typo_top_level": ({**_base(), "clasifiers": []},
                       "unknown key 'clasifiers'; did you mean 'classifiers'?"),
    "typo_param": (_edit(f"{STRATEGY}.params", {"fastt": 5, "slow": 20}),
                   f"{STRATEGY.replace('.0', '[0]')}.params: unknown key 'fastt'; did you mean 'fast'?"),
    "unknown_strategy": (_edit(f"{STRATEGY}.type", "ma_crosover"),
                         "strategies[0]: unknown type 'ma_crosover'; did you mean 'ma_crossover'?"),
    "unknown_sizer": (_edit("classifiers.0.portfolios.0.sizer", {"type": "percent", "pct": 5}),
                      "portfolios[0].sizer: unknown type 'percent'; did you mean 'percentage'?"),
    "unknown_classifier": (_edit("classifiers.0.type", "volatilty"),
                           "classifiers[0]: unknown type 'volatilty'; did you mean 'volatility'?"),
    "wrong_type": (_edit("classifiers.0.portfolios.0.capital", "lots"),
                   "classifiers[0].portfolios[0].capital: Input should be a valid number"),
    "out_of_range": (_edit("classifiers.0.portfolios.0.capital", -5),
                     "classifiers[0].portfolios[0].capital: Input should be greater than 0"),
    "fast_not_below_slow": (_edit(f"{STRATEGY}.params", {"fast": 50, "slow": 20}),
                            "params: fast (50) must be smaller than slow (20)"),
    "missing_field": (_edit("classifiers.0.portfolios.0.capital", DELETE),
                      "classifiers[0].portfolios[0].capital: required field is missing"),
    "unknown_regime": (_edit(f"{STRATEGY}.regimes", ["high_vol"]),
                       "regimes: 'high_vol' is not a regime of classifier type 'volatility' "
                       "(low_volatility, high_volatility); did you mean 'high_volatility'?"),
    "duplicate_name": (_edit("classifiers.0.portfolios.1.name", "conservative"),
                       "'conservative' is already used at classifiers[0].portfolios[0]"),
    "unknown_symbol": (_edit(f"{STRATEGY}.symbols", ["AAB"]),
                       "strategies[0].symbols: symbol 'AAB' is not in the data (AAA, BBB, CCC); did you mean 'AAA'?"),
    "bad_fill_rule": (_edit("execution.fill_at", "next_close"),
                      "execution.fill_at: Input should be 'next_open' or 'same_bar_close'"),
    "no_data_source": (_edit("data", {"align": "strict"}), "data: give exactly one data source"),
    "not_a_mapping": ([1, 2, 3], "the file must be a YAML mapping (key: value), got list"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_is_one_line_with_exit_code_2(tmp_path: Path, case: str) -> None:
    config, expected = BAD_CONFIGS[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(yaml.safe_dump(config))
    done = admf("backtest", str(path), "--out", str(tmp_path / "out"))
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: {path}: ")
    assert expected in done.stderr
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_invalid_yaml_and_missing_config(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nclassifiers: [\n")
    done = admf("validate", str(path))
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "broken.yaml: line 3, column 1: invalid YAML" in done.stderr
    done = admf("validate", str(tmp_path / "nope.yaml"))
    assert done.returncode == 2 and "nope.yaml: config file not found" in done.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_edit("classifiers.0.portfolios.0.capital", -5)))
    done = admf("validate", str(path), "--debug")
    assert done.returncode != 0 and "Traceback" in done.stderr


def test_example_sweep_runs_on_a_local_ray(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    done = admf("sweep", str(ROOT / "examples" / "sweep.yaml"), "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "top 10 by sharpe_ratio (maximize)" in done.stdout
    trials = pd.read_parquet(out / "trials.parquet")
    # fast 5..40 step 5 x slow 20..200 step 20 with fast < slow: 74 pairs; x 2 averages x 3 num_std
    assert len(trials) == 74 * 2 * 3 and trials["number"].is_unique
    assert (trials["state"] == "complete").all()
    status = admf("status", str(out))
    assert status.returncode == 0 and "finished; 444 complete, 0 failed, 0 remaining of 444" in status.stdout
