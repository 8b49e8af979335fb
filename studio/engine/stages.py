"""Stage events with timings: what the worker is doing, and how long each step before took."""

from __future__ import annotations

import time
from typing import Any

from studio.engine.worker_io import Emitter


class Stages:
    def __init__(self, emitter: Emitter) -> None:
        self.emitter = emitter
        self.name = ""
        self.started = time.monotonic()
        self.times: dict[str, float] = {}

    def enter(self, name: str, message: str = "", **fields: Any) -> None:
        now = time.monotonic()
        seconds = round(now - self.started, 3)
        if self.name:
            self.times[self.name] = seconds
        self.emitter.emit("stage", name=name, message=message, previous=self.name or None,
                          seconds=seconds if self.name else None, **fields)
        self.name, self.started = name, now
