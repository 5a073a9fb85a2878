"""Signal generation writes sparse logs once per variant; replaying them gives the FULL backtest."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from containers.components.strategies import STRATEGIES
from containers.config import BacktestConfig
from containers.data.config import SyntheticData
from containers.data.synthetic import generate_synthetic
from containers.errors import DataError
from containers.fast import run_fast
from containers.run import run_backtest
from containers.signal_log import changes, expand
from containers.signal_patterns import generate_signals, run_replay
from tests.unit.containers.test_parity import DATA, random_config


def test_changes_and_expand_are_inverse_on_columns_with_gaps() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        column = rng.choice([np.nan, -1.0, 0.0, 0.5, 1.0], size=rng.integers(1, 40))
        bars = changes(column)
        np.testing.assert_array_equal(expand(bars, column[bars], len(column)), column)
        # only changes are kept: no two kept bars in a row carry the same value
        kept = column[bars]
        assert not any((a == b) or (np.isnan(a) and np.isnan(b)) for a, b in itertools.pairwise(kept))


def test_changes_by_hand() -> None:
    column = np.array([np.nan, np.nan, 1.0, 1.0, np.nan, -1.0, -1.0, 0.0])
    assert changes(column).tolist() == [2, 4, 5, 7]


@pytest.mark.parametrize("seed", range(40))
def test_generation_then_replay_equals_the_full_backtest(seed: int, tmp_path: Path) -> None:
    """Scenario 8 on the parity suite's random configs (every strategy, sizer, limit, aggregator,
    per-regime weight map and regime filter), in both engines: the event engine's replay runs the
    hierarchy with recorded classifiers and strategies, the fast one the kernel."""
    config, n_symbols = random_config(seed)
    data = DATA[n_symbols]
    generate_signals(config, data, tmp_path)
    for engine in ("fast", "event"):
        full, replay = run_backtest(config, data, engine), run_replay(config, data, tmp_path, engine)
        assert replay.engine == engine
        pd.testing.assert_frame_equal(full.trades, replay.trades, check_exact=True)
        pd.testing.assert_frame_equal(full.equity, replay.equity, check_exact=False, rtol=1e-9, atol=1e-9)
        pd.testing.assert_frame_equal(full.rejects, replay.rejects)
        pd.testing.assert_frame_equal(full.regimes, replay.regimes)
        pd.testing.assert_frame_equal(full.open_positions, replay.open_positions)


def test_the_random_configs_cover_every_built_in_strategy() -> None:
    kinds = {strategy.type for seed in range(40) for classifier in random_config(seed)[0].classifiers
             for book in classifier.portfolios for strategy in book.strategies}
    assert kinds == set(STRATEGIES)


def _config(params: dict | None = None) -> BacktestConfig:
    return BacktestConfig.model_validate({
        "data": {"synthetic": {"symbols": ["A", "B"]}},
        "classifiers": [{"name": "vol", "type": "volatility", "params": {"fast": 5, "slow": 30}, "portfolios": [
            {"name": "p", "capital": 100_000, "sizer": {"type": "percentage", "pct": 30}, "strategies": [
                {"name": "xo", "type": "ma_crossover", "params": params or {"fast": 5, "slow": 20}},
                {"name": "mr", "type": "mean_reversion", "regimes": ["high_volatility"]}]}]}]})


def test_an_identical_variant_is_written_once_and_other_data_writes_a_new_one(tmp_path: Path) -> None:
    data = generate_synthetic(SyntheticData(symbols=("A", "B"), bars=300, seed=1, freq="1h"))
    first = generate_signals(_config(), data, tmp_path)
    assert len(first.written) == 3 and not first.reused  # the classifier and two strategies
    again = generate_signals(_config(), data, tmp_path)
    assert not again.written and sorted(again.reused) == sorted(first.written)
    changed = generate_signals(_config({"fast": 6, "slow": 20}), data, tmp_path)
    assert len(changed.written) == 1  # only the crossover with other parameters is new
    close = data.close.copy()
    close[10, 0] += 1e-9  # one value of the data: every variant is new
    nudged = data.__class__(**{**data.__dict__, "close": close})
    assert len(generate_signals(_config(), nudged, tmp_path).written) == 3
    assert len(list(tmp_path.glob("*.parquet"))) == 7 and not list(tmp_path.glob(".*"))


def test_a_log_holds_only_changes_and_reads_with_pandas_alone(tmp_path: Path) -> None:
    data = generate_synthetic(SyntheticData(symbols=("A", "B"), bars=300, seed=2, freq="1h"))
    done = generate_signals(_config(), data, tmp_path)
    frame = pd.read_parquet(done.files["strategy p.xo"])
    assert list(frame.columns) == ["bar", "timestamp", "symbol", "value", "price"]
    for symbol, rows in frame.groupby("symbol"):
        j = data.symbols.index(symbol)
        assert (rows["price"].to_numpy() == data.close[rows["bar"].to_numpy(), j]).all()
        assert (rows["timestamp"].to_numpy() == data.timestamps[rows["bar"].to_numpy()]).all()
        values = rows["value"].to_numpy()
        assert not any((a == b) or (np.isnan(a) and np.isnan(b)) for a, b in itertools.pairwise(values))
    assert len(frame) < data.n_bars  # sparse
    regimes = pd.read_parquet(done.files["classifier vol"])
    assert list(regimes.columns) == ["bar", "timestamp", "code", "regime"] and regimes["bar"].iloc[0] == 0


def test_a_missing_corrupt_or_foreign_log_is_one_line_naming_the_file(tmp_path: Path) -> None:
    data = generate_synthetic(SyntheticData(symbols=("A", "B"), bars=300, seed=3, freq="1h"))
    done = generate_signals(_config(), data, tmp_path)
    log = done.files["strategy p.xo"]
    other = generate_synthetic(SyntheticData(symbols=("A", "B"), bars=300, seed=4, freq="1h"))
    with pytest.raises(DataError, match="no signal log of this"):
        run_replay(_config(), other, tmp_path)  # other data: its variants' files do not exist
    pq.write_table(pq.read_table(log).replace_schema_metadata({}), log)
    with pytest.raises(DataError, match=rf"{log}: not an admf strategy log"):
        run_replay(_config(), data, tmp_path)
    log.write_bytes(b"PAR1 garbage")
    with pytest.raises(DataError, match=rf"{log}: not a readable signal log") as caught:
        run_replay(_config(), data, tmp_path)
    assert "\n" not in str(caught.value)


def test_a_log_of_other_data_under_this_data_s_name_is_refused(tmp_path: Path) -> None:
    data = generate_synthetic(SyntheticData(symbols=("A", "B"), bars=300, seed=3, freq="1h"))
    other = generate_synthetic(SyntheticData(symbols=("A", "B"), bars=300, seed=5, freq="1h"))
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    done, foreign = generate_signals(_config(), data, mine), generate_signals(_config(), other, theirs)
    foreign.files["strategy p.xo"].replace(done.files["strategy p.xo"])
    with pytest.raises(DataError, match="made from other data"):
        run_replay(_config(), data, mine)


def test_two_writers_of_one_variant_leave_one_whole_file(tmp_path: Path) -> None:
    import multiprocessing

    data = generate_synthetic(SyntheticData(symbols=("A", "B"), bars=2000, seed=6, freq="1h"))
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=generate_signals, args=(_config(), data, tmp_path)) for _ in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
        assert writer.exitcode == 0
    assert len(list(tmp_path.glob("*.parquet"))) == 3 and not list(tmp_path.glob(".*"))
    pd.testing.assert_frame_equal(run_replay(_config(), data, tmp_path).trades, run_fast(_config(), data).trades)


def test_replay_computes_no_strategy_or_classifier_indicator(tmp_path: Path) -> None:
    from containers.hub import IndicatorHub
    from containers.signal_patterns import ReplayModel, SignalLogs

    data = generate_synthetic(SyntheticData(symbols=("A", "B"), bars=300, seed=7, freq="1h"))
    generate_signals(_config(), data, tmp_path)
    hub = IndicatorHub(data, [])
    ReplayModel(_config(), data, SignalLogs(_config(), data, tmp_path), hub).run()
    assert hub.computations == {}  # the percentage sizer reads nothing; no rule ran


def test_random_configs_really_filter_by_regime() -> None:
    filtered = sum(1 for seed in range(40) for classifier in random_config(seed)[0].classifiers
                   for book in classifier.portfolios for strategy in book.strategies if strategy.regimes)
    assert filtered >= 5, filtered


def test_a_batch_of_weight_sets_gives_each_set_exactly_its_single_replay(tmp_path: Path) -> None:
    from containers.errors import ConfigError
    from containers.metrics import METRIC_NAMES
    from containers.signal_patterns import SignalLogs, _weighted, replay_batch

    data = generate_synthetic(SyntheticData(symbols=("A", "B"), bars=600, seed=9, freq="1h"))
    config = _config()
    generate_signals(config, data, tmp_path)
    logs = SignalLogs(config, data, tmp_path)
    sets = [{"p.xo": 1.0, "p.mr": 1.0}, {"p.xo": 0.2, "p.mr": 0.8}, {"p.xo": 0.0}, {"p.mr": 0.0},
            {"p.xo": 3.0, "p.mr": 0.5}]  # five sets: a full chunk of four lanes and one more
    frame = replay_batch(config, data, logs, sets)
    assert len(frame) == 5
    for row, weights in zip(frame.itertuples(index=False), sets, strict=True):
        alone = run_replay(_weighted(config, weights, "test"), data, logs).metrics
        assert [getattr(row, name) for name in METRIC_NAMES] == pytest.approx(list(alone[list(METRIC_NAMES)]),
                                                                                rel=1e-12, nan_ok=True)
    assert frame["total_return_pct"].nunique() >= 4  # the weights matter
    with pytest.raises(ConfigError, match=r"weight set 0: no strategy 'p\.nope'"):
        replay_batch(config, data, logs, [{"p.nope": 1.0}])
    with pytest.raises(ConfigError, match="weight set 1: "):
        replay_batch(config, data, logs, [{"p.xo": 1.0}, {"p.xo": -1.0}])


@pytest.mark.parametrize("seed", range(12))
def test_generation_in_the_event_engine_emits_only_signals_and_matches_the_logs(seed: int, tmp_path: Path) -> None:
    from containers.events import Fill, Order, Signal
    from containers.signal_patterns import SignalLogs, generate_events, strategy_variant

    config, n_symbols = random_config(seed)
    data = DATA[n_symbols]
    seen: set[type] = set()
    _, columns = generate_events(config, data, tracer=lambda bus, event: seen.add(type(event)))
    assert Signal in seen and not seen & {Order, Fill}  # no risk manager, no orders, no portfolio
    generate_signals(config, data, tmp_path / "fast")
    assert generate_signals(config, data, tmp_path / "event", engine="event").written  # same names, same rows
    for fast in (tmp_path / "fast").iterdir():
        pd.testing.assert_frame_equal(pd.read_parquet(fast), pd.read_parquet(tmp_path / "event" / fast.name))
    logs = SignalLogs(config, data, tmp_path / "fast")
    for classifier in config.classifiers:
        for book in classifier.portfolios:
            for strategy in book.strategies:
                variant = strategy_variant(strategy, data.content_hash(), data.n_bars)
                for symbol in data.symbols:
                    np.testing.assert_array_equal(columns[(f"{book.name}.{strategy.name}", symbol)],
                                                  logs.signal(variant, symbol))


@pytest.mark.parametrize(("seed", "target"), [(3, "low_volatility"), (4, "high_volatility"), (5, "low_volatility")])
def test_a_regime_filtered_replay_opens_only_inside_the_regime_and_never_keeps_a_position_outside(
        seed: int, target: str, tmp_path: Path) -> None:
    """Scenario 14: entries only inside the target regime; leaving it always exits (by the next open)."""
    data = generate_synthetic(SyntheticData(symbols=("A", "B"), bars=2000, seed=seed, freq="1h"))
    config = BacktestConfig.model_validate({
        "data": {"synthetic": {"symbols": ["A", "B"]}}, "execution": {"close_at_end": False},
        "classifiers": [{"name": "vol", "type": "volatility", "params": {"fast": 10, "slow": 50}, "portfolios": [
            {"name": "p", "capital": 100_000, "sizer": {"type": "percentage", "pct": 40}, "strategies": [
                {"name": "s", "type": "ma_crossover", "params": {"fast": 5, "slow": 20, "signal": "state"},
                 "regimes": [target]},
                {"name": "m", "type": "momentum", "regimes": [target]}]}]}]})
    generate_signals(config, data, tmp_path)
    for engine in ("fast", "event"):
        result = run_replay(config, data, tmp_path, engine)
        outside = result.regimes["vol"].to_numpy() != target
        assert outside.any() and not outside.all()
        entries = result.trades[~result.trades["closing"]]
        assert len(entries) > 10 and (entries["regime"] == target).all()
        for symbol in data.symbols:
            held = np.zeros(data.n_bars)
            for row in result.trades[result.trades["symbol"] == symbol].itertuples():
                held[row.bar_index:] += row.quantity
            # a decision at bar t fills at t + 1: after a bar outside the regime nothing is held
            assert not any(outside[t] and held[t + 1] != 0 for t in range(data.n_bars - 1)), (engine, symbol)


def test_generation_replaces_a_damaged_or_foreign_file_under_a_variant_s_name(tmp_path: Path) -> None:
    data = generate_synthetic(SyntheticData(symbols=("A", "B"), bars=300, seed=10, freq="1h"))
    other = generate_synthetic(SyntheticData(symbols=("A", "B"), bars=300, seed=11, freq="1h"))
    done = generate_signals(_config(), data, tmp_path / "mine")
    foreign = generate_signals(_config(), other, tmp_path / "theirs")
    xo, vol = done.files["strategy p.xo"], done.files["classifier vol"]
    xo.write_bytes(b"PAR1 torn")
    foreign.files["classifier vol"].replace(vol)
    again = generate_signals(_config(), data, tmp_path / "mine")
    assert sorted(again.written) == sorted([xo, vol]) and again.reused == [done.files["strategy p.mr"]]
    pd.testing.assert_frame_equal(run_replay(_config(), data, tmp_path / "mine").trades,
                                  run_fast(_config(), data).trades, check_exact=True)


def test_two_strategies_that_would_share_a_dotted_name_are_refused() -> None:
    from pydantic import ValidationError

    book = {"capital": 1000, "sizer": {"type": "percentage", "pct": 10}}
    with pytest.raises(ValidationError, match=r"'a\.b\.c' is already used"):
        BacktestConfig.model_validate({"data": {"synthetic": {"symbols": ["A"]}}, "classifiers": [
            {"name": "k", "type": "none", "portfolios": [
                {**book, "name": "a.b", "strategies": [{"name": "c", "type": "ma_crossover"}]},
                {**book, "name": "a", "strategies": [{"name": "b.c", "type": "ma_crossover"}]}]}]})
