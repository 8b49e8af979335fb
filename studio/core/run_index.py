"""What a run folder says, parsed once per change: the cache behind `core.runs.list_runs`.

A run's parse (run.yaml read and checked, events.jsonl replayed) is kept in
`<home>/cache/run-index.json` and in memory under the signature of those two files
(core/listing_cache.py), so listing 1,000 unchanged runs is 2,000 stats and no YAML. The config is
checked once, when it is first read after a change, not on every listing: the stored copy is
the checked result (`config_from_plain` rebuilds it without checking again).

An entry holds two parts, because most listings need only the first:
- `summary`: the run's line of `studio runs list` (core.runs.stored_summary: status, step,
  losses, time, adapter, error), a few hundred bytes;
- `full`: the whole history and config as one JSON *text* inside the index. The index's decoder
  only scans past a string, so a listing of 1,000 runs does not build 1,000 histories (series,
  prediction rows, data statistics: about 4 KB a run, more with long runs); `ParsedRun` decodes
  its `full` text the first time its history or config is read (the app's Runs page does).
Decoding the whole 4.4 MB index took about 0.1 s of a 1,000-run `runs list`; the summaries alone
a tenth of that.

What is not a file's content is not cached: whether a running run's worker still holds its lock
(a run whose worker died is reported failed, as `load_run` does) and the checkpoints folder.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
import threading
from pathlib import Path
from typing import Any, Callable

from studio.core.config import RunConfig
from studio.core.listing_cache import ListingCache, file_signature, shared_cache
from studio.core.run_history import RunHistory

INDEX_NAME = "run-index.json"
INT_KEYED = ("predictions", "exact_match", "prediction_seconds")
_MISSING = object()


class ParsedRun:
    """The part of a RunInfo that comes from the run's files (shared between listings: read-only).

    Made from a parse (history and config at hand) or from an index entry (summary at hand,
    history and config decoded from the entry's `full` text on first use; if that text turns
    out damaged, the run is parsed again from its folder by `reparse`)."""

    def __init__(self, history: RunHistory | None = None, config: RunConfig | None = None, config_error: str = "",
                 *, full: str | None = None, summary: dict[str, Any] | None = None,
                 reparse: Callable[[], "ParsedRun"] | None = None) -> None:
        self._history, self._config, self._config_error = history, config, config_error
        self._full, self._summary, self._reparse = full, summary, reparse
        self._lock = threading.Lock()

    @property
    def history(self) -> RunHistory:
        self._decode()
        return self._history          # type: ignore[return-value]

    @property
    def config(self) -> RunConfig | None:
        self._decode()
        return self._config

    @property
    def config_error(self) -> str:
        self._decode()
        return self._config_error

    @property
    def summary(self) -> dict[str, Any]:
        """The files' part of the run's summary (core.runs.stored_summary), without decoding."""
        if self._summary is None:
            from studio.core.runs import stored_summary

            self._summary = stored_summary(self.history, self.config)
        return self._summary

    def _decode(self) -> None:
        if self._full is None:
            return
        with self._lock:
            if self._full is None:
                return
            try:
                history, config, error = _decode_full(json.loads(self._full))
            except Exception:  # noqa: BLE001 - a damaged entry: the folder is the truth
                if self._reparse is None:
                    raise
                fresh = self._reparse()
                history, config, error = fresh.history, fresh.config, fresh.config_error
            self._history, self._config, self._config_error = history, config, error
            self._full = None


def index_path(runs_dir: Path) -> Path:
    """<home>/cache/run-index.json for <home>/runs."""
    return runs_dir.parent / "cache" / INDEX_NAME


def run_cache(runs_dir: Path) -> ListingCache[ParsedRun]:
    """The process's cache of `runs_dir` (a damaged entry is re-read from its folder by core.runs)."""
    from studio.core.runs import _parse_run

    return shared_cache(index_path(runs_dir), _kind(), encode_run, _decoder(runs_dir, _parse_run))


@functools.lru_cache(maxsize=1)
def _defaults() -> dict[str, Any]:
    from studio.core.config_io import config_to_dict

    return config_to_dict(RunConfig())


@functools.lru_cache(maxsize=1)
def _kind() -> str:
    """Configs are stored as their differences from the defaults (a fifth of the size), so an
    index written under other defaults is another kind: ignored and rebuilt. runs2: the entries
    of summary + full text (runs: one nested object per run)."""
    digest = hashlib.sha256(json.dumps(_defaults(), sort_keys=True).encode()).hexdigest()[:16]
    return f"runs2:{digest}"


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
    full = {"config": config, "config_error": parsed.config_error, "history": history}
    return {"summary": parsed.summary, "full": json.dumps(full, separators=(",", ":"))}


def _decoder(runs_dir: Path, parse: Callable[[Path], ParsedRun]) -> Callable[[str, Any], ParsedRun]:
    def decode(key: str, data: dict[str, Any]) -> ParsedRun:
        from studio.core.runs import STORED_SUMMARY_KEYS

        summary, full = data["summary"], data["full"]
        if not (isinstance(full, str) and isinstance(summary, dict) and tuple(summary) == STORED_SUMMARY_KEYS):
            raise ValueError("not an entry of this version")
        return ParsedRun(full=full, summary=summary, reparse=lambda: parse(runs_dir / key))
    return decode


def _decode_full(data: dict[str, Any]) -> tuple[RunHistory, RunConfig | None, str]:
    from studio.core.config_io import config_from_plain

    stored = dict(data["history"])
    history = RunHistory()
    for name, points in stored.pop("series").items():
        history.series[name] = {int(s): float(v) for s, v in points}
    for name in INT_KEYED:
        setattr(history, name, {int(k): v for k, v in stored.pop(name)})
    for name, value in stored.items():
        if name in _history_fields():
            setattr(history, name, value)
    config = config_from_plain(data["config"]) if data["config"] is not None else None
    return history, config, str(data.get("config_error") or "")


@functools.lru_cache(maxsize=1)
def _history_fields() -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(RunHistory))
