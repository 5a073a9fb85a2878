"""Every bad-data case through the CLI: one line naming file, row and rule; exit code 3; no traceback."""

from pathlib import Path

import pytest
import yaml

from tests.acceptance.cli import admf
from tests.unit.containers.test_data import BAD_CASES, COLUMNS, GOOD_ROWS, write_csv

STRUCTURAL = {
    "missing_column": ("missing column(s) volume", lambda p: write_csv(p, [r[:5] for r in GOOD_ROWS], COLUMNS[:5])),
    "empty_file": ("the file is empty", lambda p: p.write_text("")),
    "unreadable": ("unreadable csv file", lambda p: p.write_bytes(b'timestamp,open\n"unterminated,1\n')),
}


def _config(tmp_path: Path, csv_name: str) -> Path:
    config = {"name": "bad-data", "data": {"files": {"X": csv_name}},
              "classifiers": [{"name": "c", "type": "none", "portfolios": [{
                  "name": "p", "capital": 1000, "strategies": [{"name": "s", "type": "ma_crossover"}]}]}]}
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("case", sorted(BAD_CASES) + sorted(STRUCTURAL))
def test_bad_data_is_one_line_with_exit_code_3(tmp_path: Path, case: str) -> None:
    csv = tmp_path / "prices.csv"
    if case in BAD_CASES:
        rows, expected = BAD_CASES[case]
        write_csv(csv, rows)
    else:
        expected, make = STRUCTURAL[case]
        make(csv)
    for command in ("validate", "backtest"):
        done = admf(command, str(_config(tmp_path, "prices.csv")), "--out", str(tmp_path / "out")) \
            if command == "backtest" else admf(command, str(_config(tmp_path, "prices.csv")))
        assert done.returncode == 3, done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
        assert done.stderr.startswith(f"error: {csv}: ")
        assert expected in done.stderr
