"""Runs waiting their turn: `<home>/queue.json`, started one after another.

A queued run is a full config (so a sweep over ranks is N configs that differ in one key). The
file is rewritten atomically on every change and read again before each change, so the GUI and
`studio queue` can both add to it. An entry leaves the queue when its run folder is created;
from then on the run folder is the truth, like any other run.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from studio.core.atomic import atomic_write_json
from studio.core.config import RunConfig
from studio.core.config_io import config_from_dict, config_to_dict, set_value
from studio.core.errors import ConfigError, WorkspaceError

QUEUE_FILE = "queue.json"


@dataclass
class QueueEntry:
    label: str
    config: dict[str, Any]
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    added: float = field(default_factory=time.time)

    def run_config(self) -> RunConfig:
        return config_from_dict(self.config, source=f"queue entry {self.label}")


class RunQueue:
    def __init__(self, home: Path) -> None:
        self.path = Path(home) / QUEUE_FILE

    def entries(self) -> list[QueueEntry]:
        if not self.path.is_file():
            return []
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return [QueueEntry(**item) for item in data.get("entries", [])]
        except (ValueError, TypeError, AttributeError) as exc:
            raise WorkspaceError(f"{self.path} is damaged ({exc})",
                                 hint="delete the file to empty the run queue") from None

    def _write(self, entries: list[QueueEntry]) -> None:
        atomic_write_json(self.path, {"version": 1, "entries": [asdict(e) for e in entries]})

    def add(self, config: RunConfig, label: str = "") -> QueueEntry:
        config.validate()
        entry = QueueEntry(label or config.name or "run", config_to_dict(config))
        self._write(self.entries() + [entry])
        return entry

    def add_sweep(self, config: RunConfig, key: str, values: list[Any]) -> list[QueueEntry]:
        """One entry per value of `key` (e.g. lora.rank over 4, 8, 16, 32), named after it."""
        if not values:
            raise ConfigError(f"a sweep over {key} needs at least one value", hint="give values such as 4,8,16,32")
        added = []
        short = key.rsplit(".", 1)[-1]
        for value in values:
            variant = config_from_dict(config_to_dict(config))
            set_value(variant, key, value, where="sweep")
            if key == "lora.rank" and variant.lora.alpha == config.lora.alpha:
                variant.lora.alpha = config.lora.alpha / config.lora.rank * variant.lora.rank
            base_name = config.name or "sweep"
            variant.name = f"{base_name}-{short}{value}"
            added.append(self.add(variant, variant.name))
        return added

    def remove(self, entry_id: str) -> None:
        self._write([e for e in self.entries() if e.id != entry_id])

    def clear(self) -> None:
        self._write([])

    def pop(self) -> QueueEntry | None:
        """The oldest entry, taken off the queue (its caller creates the run folder next)."""
        entries = self.entries()
        if not entries:
            return None
        self._write(entries[1:])
        return entries[0]
