"""Fault fuzz: random faults at random moments of real studies, each resumed and compared with the
uninterrupted study of the same config.

Each round picks a sampler (random or TPE) and applies two or three faults in a row, each chosen at
random: a SIGKILL of the driver at a random moment, Ctrl-C or SIGTERM at a random moment (exit 130 or
143, one line), a second `admf resume` while the run is live (refused, exit 5; then the first is
killed), a cut of the journal at a random byte (what a
power loss leaves), a line of the journal replaced by garbage (then `admf repair`), and, when this
process may mount (root, `unshare`), a disk that fills up during the run (a small tmpfs). After the
faults the study is resumed to its end, and its trials (parameters, states and every metric) must
equal the uninterrupted study's exactly. Prints one line per round and the totals.

    python bench/fault_fuzz.py [--rounds 12] [--trials 120] [--seed 1] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

ADMF = shutil.which("admf") or "admf"
FAULTS = ("kill", "stop", "second_writer", "cut", "garbage", "full_disk")


def config(folder: Path, method: str, trials: int) -> Path:
    path = folder / f"{method}.yaml"
    path.write_text(yaml.safe_dump({
        "name": f"fuzz-{method}", "type": "sweep",
        "data": {"synthetic": {"symbols": ["AAA", "BBB"], "bars": 800, "seed": 3, "freq": "1h"}},
        "classifiers": [{"name": "vol", "type": "volatility", "portfolios": [
            {"name": "book", "capital": 100_000, "sizer": {"type": "percentage", "pct": 40},
             "strategies": [{"name": "xo", "type": "ma_crossover", "symbols": ["AAA"]},
                            {"name": "mr", "type": "mean_reversion", "symbols": ["BBB"]}]}]}],
        "sweep": {"method": method, "n_trials": trials, "seed": 5, "batch_size": 4, "workers": 0,
                  "space": {"book.xo.fast": {"low": 2, "high": 30}, "book.xo.slow": {"low": 31, "high": 120},
                            "book.mr.num_std": {"low": 1.0, "high": 3.0}},
                  "constraints": ["book.xo.fast < book.xo.slow"]},
    }))
    return path


def admf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ADMF, *args], capture_output=True, text=True, timeout=900)


def trials(run_dir: Path) -> pd.DataFrame:
    frame = pd.read_parquet(run_dir / "trials.parquet")
    return frame.drop(columns=["seconds", "node", "pid"]).sort_values("number").reset_index(drop=True)


def start_or_resume(path: Path, run_dir: Path) -> list[str]:
    return ["resume", str(run_dir)] if (run_dir / "manifest.json").exists() else \
        ["run", str(path), "--out", str(run_dir)]


def kill(path: Path, run_dir: Path, rng: random.Random) -> str:
    process = subprocess.Popen([ADMF, *start_or_resume(path, run_dir)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    moment = rng.uniform(1.5, 6.0)  # after start-up (about 1.5 s), somewhere in the study
    time.sleep(moment)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return f"kill at {moment:.2f}s"


def stop(path: Path, run_dir: Path, rng: random.Random) -> str:
    """Ctrl-C or SIGTERM at a random moment: exit 130 or 143 with one line (or 0 if it had finished)."""
    signum = rng.choice((signal.SIGINT, signal.SIGTERM))
    process = subprocess.Popen([ADMF, *start_or_resume(path, run_dir)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    moment = rng.uniform(0.1, 6.0)  # while Python starts, while the study starts, or in the study
    time.sleep(moment)
    process.send_signal(signum)
    _, stderr = process.communicate()
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    if process.returncode not in (0, 128 + signum) or (process.returncode and len(lines) != 1):
        raise AssertionError(f"{signal.Signals(signum).name} at {moment:.2f}s: exit {process.returncode}: {stderr}")
    return f"{signal.Signals(signum).name} at {moment:.2f}s (exit {process.returncode})"


def second_writer(path: Path, run_dir: Path, rng: random.Random) -> str:
    """A resume while the run is live must be refused (exit 5); then the first is SIGKILLed."""
    first = subprocess.Popen([ADMF, *start_or_resume(path, run_dir)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    moment = rng.uniform(1.5, 4.0)
    time.sleep(moment)
    second = admf("resume", str(run_dir)) if (run_dir / "manifest.json").exists() else None
    alive = first.poll() is None
    first.send_signal(signal.SIGKILL)
    first.wait()
    if second is not None and alive and second.returncode != 5:
        raise AssertionError(f"second writer at {moment:.2f}s: exit {second.returncode}: {second.stderr.strip()}")
    return f"second writer at {moment:.2f}s ({'refused' if second is not None and alive else 'none live'})"


def cut(path: Path, run_dir: Path, rng: random.Random) -> str:
    if not (run_dir / "study.journal").exists():
        admf(*start_or_resume(path, run_dir))
    journal = run_dir / "study.journal"
    offset = rng.randrange(1, journal.stat().st_size)
    with open(journal, "r+b") as stream:
        stream.truncate(offset)
    return f"cut at byte {offset}"


def garbage(path: Path, run_dir: Path, rng: random.Random) -> str:
    if not (run_dir / "study.journal").exists():
        admf(*start_or_resume(path, run_dir))
    journal = run_dir / "study.journal"
    lines = journal.read_bytes().splitlines(keepends=True)
    line = rng.randrange(1, len(lines))
    lines[line] = b"{not a record\n"
    journal.write_bytes(b"".join(lines))
    resumed = admf("resume", str(run_dir))
    if resumed.returncode == 0:  # it lay after the last whole commit: rolled back like a torn batch
        return f"garbage at line {line + 1}, after the last commit: rolled back, resumed"
    repaired = admf("repair", str(run_dir))
    if resumed.returncode != 5 or repaired.returncode != 0:
        raise AssertionError(f"garbage at line {line + 1}: resume exit {resumed.returncode}, repair exit "
                             f"{repaired.returncode}: {resumed.stderr.strip()} {repaired.stderr.strip()}")
    return f"garbage at line {line + 1}: resume refused (exit 5), repaired"


def full_disk(path: Path, run_dir: Path, rng: random.Random) -> str:
    size = rng.choice((48, 96, 160))
    disk = Path(tempfile.mkdtemp(prefix="fuzz-disk-"))
    started = (run_dir / "manifest.json").exists()  # decided here: the copy into the disk is made in the shell
    command = f"resume {disk}/run" if started else f"run {path} --out {disk}/run"
    code_file, err_file = f"{disk}.code", f"{disk}.err"
    script = (f"mount -t tmpfs -o size={size}k tmpfs {disk} || exit 9\n"
              f"if [ -d {run_dir} ]; then cp -a {run_dir} {disk}/run 2>/dev/null"
              f" || {{ echo skipped > {code_file}; exit 0; }}; fi\n"
              f"{ADMF} {command} 2> {err_file}; echo $? > {code_file}\n"
              f"rm -rf {run_dir} && cp -a {disk}/run {run_dir}\n")
    subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], check=True,
                   timeout=900)
    code = Path(code_file).read_text().strip()
    if code == "skipped":
        return f"disk of {size} KiB (too small for the run so far: skipped)"
    if code not in ("0", "5"):
        raise AssertionError(f"full disk ({size} KiB): exit {code}: {Path(err_file).read_text().strip()}")
    return f"disk of {size} KiB (exit {code})"


def can_mount() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            "mount -t tmpfs -o size=16k tmpfs /mnt"], capture_output=True)
    return probe.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--trials", type=int, default=120)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    kinds = FAULTS if can_mount() else FAULTS[:-1]
    actions = {"kill": kill, "stop": stop, "second_writer": second_writer, "cut": cut, "garbage": garbage,
               "full_disk": full_disk}
    folder = Path(tempfile.mkdtemp(prefix="admf-fuzz-"))
    expected = {}
    for method in ("random", "tpe"):
        done = admf("run", str(config(folder, method, args.trials)), "--out", str(folder / f"whole-{method}"))
        if done.returncode != 0:
            sys.exit(f"the uninterrupted {method} study failed: {done.stderr.strip()}")
        expected[method] = trials(folder / f"whole-{method}")
    rounds: list[dict[str, Any]] = []
    for number in range(args.rounds):
        method = rng.choice(("random", "tpe"))
        path, run_dir = folder / f"{method}.yaml", folder / f"round-{number}"
        faults = [actions[rng.choice(kinds)](path, run_dir, rng) for _ in range(rng.randint(2, 3))]
        final = admf(*start_or_resume(path, run_dir))
        identical = final.returncode == 0 and trials(run_dir).equals(expected[method])
        rounds.append({"round": number, "method": method, "faults": faults, "identical": identical,
                       "exit": final.returncode})
        print(f"round {number:2d} {method:6s} {'identical' if identical else 'DIFFERENT'}: {'; '.join(faults)}")
    same = sum(r["identical"] for r in rounds)
    print(f"{same} of {len(rounds)} rounds resumed to the uninterrupted study "
          f"({sum(len(r['faults']) for r in rounds)} faults; kinds: {', '.join(kinds)})")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps({"rounds": rounds, "identical": same}, indent=2) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    sys.exit(0 if same == len(rounds) else 1)


if __name__ == "__main__":
    main()
