"""pattern: signal_generation then pattern: signal_replay through the CLI give the FULL backtest's results."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml

from tests.acceptance.cli import admf

CONFIG = {
    "name": "ensemble", "type": "backtest",
    "data": {"synthetic": {"symbols": ["AAA", "BBB"], "bars": 1200, "seed": 9, "freq": "1h"}},
    "execution": {"slippage_bps": 1, "commission": {"type": "percentage", "rate_pct": 0.05}},
    "classifiers": [{"name": "vol", "type": "volatility", "params": {"fast": 10, "slow": 60}, "portfolios": [
        {"name": "book", "capital": 100_000, "sizer": {"type": "atr", "risk_pct": 1, "period": 14},
         "limits": [{"type": "max_gross_exposure", "max_pct": 80}],
         "strategies": [{"name": "xo", "type": "ma_crossover", "params": {"fast": 8, "slow": 40}},
                        {"name": "mr", "type": "mean_reversion", "regimes": ["low_volatility"], "weight": 0.5},
                        {"name": "bo", "type": "breakout", "symbols": ["AAA"]}]}]}],
}


def _write(tmp_path: Path, name: str, **changes: object) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, **changes, "signals": "logs"}))
    return path


def test_generation_then_replay_gives_the_full_backtest(tmp_path: Path) -> None:
    full = admf("run", str(_write(tmp_path, "full")), "--out", str(tmp_path / "full"))
    assert full.returncode == 0, full.stderr
    generation = _write(tmp_path, "generate", pattern="signal_generation")
    done = admf("run", str(generation), "--out", str(tmp_path / "generate"))
    assert done.returncode == 0, done.stderr
    assert "4 logs written, 0 reused" in done.stdout  # the classifier and three strategies
    metadata = json.loads((tmp_path / "generate" / "metadata.json").read_text())
    assert [s["name"] for s in metadata["strategies"]] == ["xo", "mr", "bo"]
    assert {"config_hash", "data_hash", "admf_version"} <= set(metadata)
    assert not (tmp_path / "generate" / "trades.parquet").exists()  # no orders, no fills, no portfolio
    analysis = json.loads((tmp_path / "generate" / "analysis.json").read_text())
    assert {row["strategy"] for row in analysis["summary"]} == {"book.xo", "book.mr", "book.bo"}
    assert set(analysis["correlation"]) == {"book.xo", "book.mr", "book.bo"} and set(analysis["distribution"]) == {
        "mae", "mfe"}
    signals = pd.read_parquet(tmp_path / "generate" / "signals.parquet")
    assert set(signals["symbol"][signals["strategy"] == "book.bo"]) == {"AAA"}  # only the symbols it trades
    assert "signal analysis" in done.stdout and "win_rate_1" in done.stdout
    again = admf("run", str(generation), "--out", str(tmp_path / "generate-again"))
    assert "0 logs written, 4 reused" in again.stdout, again.stdout
    replay = admf("run", str(_write(tmp_path, "replay", pattern="signal_replay")), "--out", str(tmp_path / "replay"))
    assert replay.returncode == 0, replay.stderr
    event = admf("run", str(_write(tmp_path, "replay", pattern="signal_replay")), "--engine", "event", "--out",
                 str(tmp_path / "event"))
    assert event.returncode == 0, event.stderr
    trades = pd.read_parquet(tmp_path / "full" / "trades.parquet")
    for run in ("replay", "event"):
        pd.testing.assert_frame_equal(trades, pd.read_parquet(tmp_path / run / "trades.parquet"), rtol=1e-9)
    totals = [json.loads((tmp_path / run / "metrics.json").read_text())["total"] for run in ("full", "replay")]
    assert totals[0] == totals[1]


def test_replay_without_logs_is_one_line_naming_the_file(tmp_path: Path) -> None:
    done = admf("run", str(_write(tmp_path, "replay", pattern="signal_replay")), "--out", str(tmp_path / "replay"))
    assert done.returncode == 3 and done.stderr.count("\n") == 1, done.stderr
    assert "no signal log of this" in done.stderr and str(tmp_path / "logs") in done.stderr
    assert not (tmp_path / "replay").exists()  # checked before the run directory is made
