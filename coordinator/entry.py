"""The console script's first step: Ctrl-C and SIGTERM are one line and exit 130 / 143 from the first
moment, even while the command line's (slow) imports run; a study installs its own handlers later."""

from __future__ import annotations

import signal
import sys
from types import FrameType


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Python raises KeyboardInterrupt for Ctrl-C."""


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def interrupted(stop: KeyboardInterrupt) -> int:
    """Says which signal stopped the command; returns its exit code."""
    terminated = isinstance(stop, Terminated)
    print(f"error: interrupted by {'SIGTERM' if terminated else 'Ctrl-C'}", file=sys.stderr)
    return 143 if terminated else 130


def main() -> None:
    signal.signal(signal.SIGTERM, _terminated)
    try:
        from coordinator.cli import main as command_line

        command_line()
    except KeyboardInterrupt as stop:
        sys.exit(interrupted(stop))
