"""Listings that cost O(changed): one parse per folder, kept until a file it read changes.

Listing a workspace of 1,000 runs parsed 1,000 run.yaml files (YAML, then every key checked) and
replayed 1,000 events.jsonl files, on every `studio runs list` and three times as the app opened:
about 10 ms a run. The folders stay the truth (DESIGN.md: any index is a cache that can be rebuilt
from them); what a listing parsed is kept with the *signature* of the files it read, the
(mtime_ns, size, inode) of each, and reused while a fresh stat of those files gives the same
signature. A rewritten file changes its mtime or size, an atomically replaced one its inode, an
appended events.jsonl its size. So a listing costs a few stats per entry plus one parse per entry
that changed.

The cache is kept twice:
- in memory, per process (`shared_cache`): the app's Runs page, its Chat slot menus and the
  Library read the same parsed objects; treat them as read-only;
- on disk, `<home>/cache/<name>.json`, so that a fresh `studio runs list` process parses only
  what changed since the last listing of any process. The file holds JSON only (never pickle:
  a workspace may come from someone else); a damaged, foreign or outdated one is ignored and
  rewritten, and an entry that cannot be decoded is parsed again from its folder. Writes go to a
  temporary sibling and are renamed into place; two processes writing at once lose nothing but
  the other's parses, which the next listing redoes.

A process that is ending calls `close_listings()`: every listing still running on a thread then
stops at its next entry with ListingClosed instead of parsing on. The app's process cannot end
before its thread pool is done, and a first listing of 1,000 runs (or an adapter card reading
every run's config) held a quit for seconds.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")
FORMAT = 1
_closing = threading.Event()


class ListingClosed(Exception):
    """Raised inside a listing once the process is ending (`close_listings`): nobody waits for it."""


def close_listings() -> None:
    """The process is ending: listings still running stop at their next entry (ListingClosed)."""
    _closing.set()


def reopen_listings() -> None:
    """Undo `close_listings` (tests: one process, many app windows)."""
    _closing.clear()

Signature = list  # JSON-able: one [mtime_ns, size, inode] (or None when missing) per file read


def file_signature(folder: Path, names: tuple[str, ...]) -> Signature:
    """The signature of `names` in `folder`: what must stay the same for a parse to be reused."""
    sig: Signature = []
    for name in names:
        try:
            st = os.stat(folder / name)
        except OSError:
            sig.append(None)
            continue
        sig.append([st.st_mtime_ns, st.st_size, st.st_ino])
    return sig


class ListingCache(Generic[T]):
    """key -> (signature, parsed value), persisted as JSON through `encode` / `decode`.

    `decode(key, data)` may raise anything: the entry is then parsed again from its folder."""

    def __init__(self, index: Path | None, kind: str, encode: Callable[[T], Any],
                 decode: Callable[[str, Any], T]) -> None:
        self.index = index
        self.kind = kind
        self.encode = encode
        self.decode = decode
        self.parses = 0                      # how many entries were parsed from their folder (tests, bench)
        self._entries: dict[str, tuple[Signature, T, Any]] = {}
        self._stored: dict[str, Any] = {}    # entries of the index file not decoded yet
        self._loaded = index is None
        self._dirty = False
        self._lock = threading.RLock()

    def get(self, key: str, sig: Signature, parse: Callable[[], T],
            stable: Callable[[], bool] | None = None) -> T:
        """The cached value for `key` when its files still have signature `sig`, else `parse()`,
        kept unless `stable()` says the files changed while they were read (a live run appending:
        the parse may hold part of the change, so the old signature must not vouch for it)."""
        if _closing.is_set():
            raise ListingClosed("the process is ending")
        with self._lock:
            self._load()
            entry = self._entries.get(key)
            if entry is not None and entry[0] == sig:
                return entry[1]
            stored = self._stored.pop(key, None)
            if stored is not None and stored.get("sig") == sig:
                try:
                    value = self.decode(key, stored["value"])
                except Exception:  # noqa: BLE001 - a damaged entry is parsed again below
                    value = None
                if value is not None:
                    self._entries[key] = (sig, value, stored["value"])
                    return value
        value = parse()                    # outside the lock: other threads list meanwhile
        keep = stable is None or stable()
        with self._lock:
            self.parses += 1
            if keep:
                self._entries[key] = (sig, value, None)
                self._dirty = True
            elif key in self._entries:
                del self._entries[key]
                self._dirty = True
        return value

    def retain(self, keys: set[str]) -> None:
        """Forget entries whose folders are gone (so the index does not grow with deleted runs)."""
        with self._lock:
            self._load()
            for key in [k for k in self._entries if k not in keys]:
                del self._entries[key]
                self._dirty = True
            for key in [k for k in self._stored if k not in keys]:
                del self._stored[key]
                self._dirty = True

    def save(self) -> None:
        """Write the index when something changed; a workspace that cannot be written is fine
        (the listing was right, only the next process parses again)."""
        with self._lock:
            if not self._dirty or self.index is None:
                return
            entries = dict(self._stored)
            for key, (sig, value, encoded) in self._entries.items():
                if encoded is None:
                    try:
                        encoded = self.encode(value)
                    except Exception:  # noqa: BLE001 - not storable: parsed again next time
                        continue
                    self._entries[key] = (sig, value, encoded)
                entries[key] = {"sig": sig, "value": encoded}
            self._dirty = False
            text = json.dumps({"format": FORMAT, "kind": self.kind, "entries": entries}, separators=(",", ":"))
        try:
            self.index.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.index.with_name(f".tmp-{self.index.name}.{os.getpid()}.{threading.get_ident()}")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, self.index)
        except OSError:
            pass

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        try:
            data = json.loads(self.index.read_text(encoding="utf-8"))      # type: ignore[union-attr]
        except (OSError, ValueError, UnicodeDecodeError):
            return
        if not (isinstance(data, dict) and data.get("format") == FORMAT and data.get("kind") == self.kind
                and isinstance(data.get("entries"), dict)):
            self._dirty = True             # foreign or outdated: replaced at the next save
            return
        self._stored = {k: v for k, v in data["entries"].items() if isinstance(v, dict) and "value" in v}


_shared: dict[tuple[str, str], ListingCache[Any]] = {}
_shared_lock = threading.Lock()


def shared_cache(index: Path, kind: str, encode: Callable[[Any], Any],
                 decode: Callable[[str, Any], Any]) -> ListingCache[Any]:
    """The process's one cache for the index file `index` (made on first use)."""
    key = (kind, str(Path(index).absolute()))
    with _shared_lock:
        cache = _shared.get(key)
        if cache is None:
            cache = _shared[key] = ListingCache(index, kind, encode, decode)
        return cache


def forget_shared_caches() -> None:
    """Drop the in-memory caches (tests: a fresh process's view, the index file alone)."""
    with _shared_lock:
        _shared.clear()
