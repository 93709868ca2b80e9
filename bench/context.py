"""What every figure gets: the options, where data and results live, progress output."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys
import time
from pathlib import Path

from bench.world import World, parse_range


@dataclasses.dataclass
class Context:
    work: Path  # the worlds (kept between runs)
    out: Path  # latest.json, report.md, plots, logs
    quick: bool
    repeats: int
    args: argparse.Namespace
    started: float = dataclasses.field(default_factory=time.monotonic)

    @property
    def log(self) -> Path:
        """Where set-up and contenders' subprocess output goes."""
        return self.out / "bench.log"

    def world(self, scale: int) -> World:
        return World(self.work, scale)

    def range(self, text: str) -> tuple[dt.date, dt.date]:
        return parse_range(text)

    def say(self, message: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"[{elapsed:7.1f} s] {message}", file=sys.stderr, flush=True)

    def plot_path(self, name: str) -> Path:
        return self.out / f"{name}.png"
