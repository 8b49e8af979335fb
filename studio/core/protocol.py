"""The worker protocol: one JSON object per line, `{"v": 1, "type": ..., ...}`.

Workers write events to stdout (and append them to the run's events.jsonl); parents write
commands to the worker's stdin. `decode` never raises on garbage: a line that is not a protocol
event (a stray print from a library, a truncated write after kill -9) comes back as None, so a
reader can skip it and keep going.

Events: hello, stage, data_stats, progress, metrics, eval, checkpoint, log, result, error, done;
predictions (after each evaluation: step, epoch, rows of {prompt, expected, answer, exact,
similarity, tokens, finish, source}, exact_match and mean_similarity over the rows, seconds spent
answering, max_new_tokens; see engine/prediction_samples.py); distributed (what each rank of a
multi-process run trained on); download (bytes of a hub download), token_stats and label_mask
(the data preview worker).
The inference worker adds loaded, token, generated and warning (see core/chat_protocol.py).
Commands: cancel, save_now (training worker); load, generate, stop, unload, shutdown (inference worker).
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

VERSION = 1

EVENT_TYPES = frozenset({
    "hello", "stage", "data_stats", "progress", "metrics", "eval", "checkpoint", "log",
    "result", "error", "done", "token", "loaded", "generated", "warning", "distributed", "download",
    "token_stats", "label_mask", "predictions",
})
COMMAND_TYPES = frozenset({"cancel", "save_now", "load", "generate", "stop", "shutdown", "unload"})
DONE_STATUSES = ("completed", "cancelled", "failed")


def make(type_: str, **fields: Any) -> dict[str, Any]:
    event = {"v": VERSION, "type": type_, "t": round(time.time(), 3)}
    event.update(fields)
    return event


def encode(event: dict[str, Any]) -> str:
    """One line of JSON; NaN/inf become null so the line stays valid JSON for any reader."""
    return json.dumps(_finite(event), ensure_ascii=False, separators=(",", ":"))


def decode(line: str | bytes) -> dict[str, Any] | None:
    """Parse one line; None when it is not a protocol message of a version we understand."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict) or obj.get("v") != VERSION or not isinstance(obj.get("type"), str):
        return None
    return obj


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
