"""What a run folder says, parsed once per change: the cache behind `core.runs.list_runs`.

A run's parse (run.yaml read and checked, events.jsonl replayed) is kept in
`<home>/cache/run-index.json` and in memory under the signature of those two files
(core/listing_cache.py), so listing 1,000 unchanged runs is 2,000 stats and no YAML. The config is
checked once, when it is first read after a change, not on every listing: the stored copy is
the checked result (`config_from_plain` rebuilds it without checking again).

What is not a file's content is not cached: whether a running run's worker still holds its lock
(a run whose worker died is reported failed, as `load_run` does) and the checkpoints folder.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from studio.core.config import RunConfig
from studio.core.listing_cache import ListingCache, file_signature, shared_cache
from studio.core.run_history import RunHistory

INDEX_NAME = "run-index.json"
INT_KEYED = ("predictions", "exact_match", "prediction_seconds")
_MISSING = object()


@dataclasses.dataclass
class ParsedRun:
    """The part of a RunInfo that comes from the run's files (shared: read-only)."""

    history: RunHistory
    config: RunConfig | None
    config_error: str = ""


def index_path(runs_dir: Path) -> Path:
    """<home>/cache/run-index.json for <home>/runs."""
    return runs_dir.parent / "cache" / INDEX_NAME


def run_cache(runs_dir: Path) -> ListingCache[ParsedRun]:
    return shared_cache(index_path(runs_dir), _kind(), encode_run, decode_run)


@functools.lru_cache(maxsize=1)
def _defaults() -> dict[str, Any]:
    from studio.core.config_io import config_to_dict

    return config_to_dict(RunConfig())


@functools.lru_cache(maxsize=1)
def _kind() -> str:
    """Configs are stored as their differences from the defaults (a fifth of the size), so an
    index written under other defaults is another kind: ignored and rebuilt."""
    digest = hashlib.sha256(json.dumps(_defaults(), sort_keys=True).encode()).hexdigest()[:16]
    return f"runs:{digest}"


def parsed_run(run_dir: Path, files: tuple[str, ...], parse: Any, cache: ListingCache[ParsedRun]) -> ParsedRun:
    """The cached parse of `run_dir` while `files` are unchanged, else `parse(run_dir)`."""
    sig = file_signature(run_dir, files)
    return cache.get(run_dir.name, sig, lambda: parse(run_dir), lambda: file_signature(run_dir, files) == sig)


def with_crash(parsed: ParsedRun, events: list[dict]) -> RunHistory:
    """A copy of the cached history with the crash events applied (the cache keeps the file's view)."""
    history = copy.deepcopy(parsed.history)
    for event in events:
        history.apply(event)
    return history


# ---- JSON ----------------------------------------------------------------------------------------------
def encode_run(parsed: ParsedRun) -> dict[str, Any]:
    from studio.core.config_io import config_to_dict

    h = parsed.history
    history = {f.name: getattr(h, f.name) for f in dataclasses.fields(h)}
    history["series"] = {k: [[s, v] for s, v in points.items()] for k, points in h.series.items() if points}
    for name in INT_KEYED:
        history[name] = [[k, v] for k, v in getattr(h, name).items()]
    config = None
    if parsed.config is not None:
        defaults, config = _defaults(), {}
        for name, value in config_to_dict(parsed.config).items():
            if isinstance(value, dict):
                changed = {k: v for k, v in value.items() if defaults[name].get(k, _MISSING) != v}
                if changed:
                    config[name] = changed
            elif defaults.get(name, _MISSING) != value:
                config[name] = value
    return {"config": config,
            "config_error": parsed.config_error, "history": history}


def decode_run(_key: str, data: dict[str, Any]) -> ParsedRun:
    from studio.core.config_io import config_from_plain

    stored = dict(data["history"])
    history = RunHistory()
    for name, points in stored.pop("series").items():
        history.series[name] = {int(s): float(v) for s, v in points}
    for name in INT_KEYED:
        setattr(history, name, {int(k): v for k, v in stored.pop(name)})
    known = {f.name for f in dataclasses.fields(history)}
    for name, value in stored.items():
        if name in known:
            setattr(history, name, value)
    config = config_from_plain(data["config"]) if data["config"] is not None else None
    return ParsedRun(history, config, str(data.get("config_error") or ""))
