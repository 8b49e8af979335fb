"""An adapter folder's library entry, read once per change: the cache behind `list_adapters`.

Reading an entry checks adapter_config.json, the safetensors header against it and studio.json
(core/library.py), about 3 ms an adapter. The result is kept in `<home>/cache/adapter-index.json`
and in memory (core/listing_cache.py) under the folder's signature: the folder's own stat and
the (mtime_ns, size, inode) of every file and folder inside it, which is exactly what the entry
depends on (its size is the sum of all files). Library changes rename folders or replace
studio.json atomically, so they change the signature. Folders that are links, hold links, are
left over from a write, or could not be read whole are not cached: they are read every time.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path
from typing import Any, Callable

from studio.core.listing_cache import ListingCache, Signature, shared_cache

INDEX_NAME = "adapter-index.json"
KIND = "adapters:1"


def index_path(adapters_dir: Path) -> Path:
    """<home>/cache/adapter-index.json for <home>/adapters."""
    return adapters_dir.parent / "cache" / INDEX_NAME


def adapter_cache(adapters_dir: Path) -> ListingCache[Any]:
    return shared_cache(index_path(adapters_dir), KIND, encode_adapter, _decoder(adapters_dir))


def folder_signature(path: Path) -> Signature | None:
    """The stat of the folder and of everything inside it, sorted; None when it cannot be cached
    (not a plain folder, links inside, unreadable)."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        return None
    sig: Signature = [["", st.st_mtime_ns, st.st_ino]]
    pending = [("", str(path))]
    try:
        while pending:
            prefix, folder = pending.pop()
            with os.scandir(folder) as entries:
                for entry in entries:
                    est = entry.stat(follow_symlinks=False)
                    if stat.S_ISLNK(est.st_mode):
                        return None
                    name = prefix + entry.name
                    sig.append([name, est.st_mtime_ns, est.st_size, est.st_ino])
                    if stat.S_ISDIR(est.st_mode):
                        pending.append((name + "/", entry.path))
    except OSError:
        return None
    sig.sort()
    return sig


def cached_adapter(path: Path, read: Callable[[Path], Any], cache: ListingCache[Any]) -> Any:
    """read(path) through the cache while the folder's signature holds."""
    sig = folder_signature(path)
    if sig is None:
        return read(path)
    return cache.get(path.name, sig, lambda: read(path), lambda: folder_signature(path) == sig)


def encode_adapter(info: Any) -> dict[str, Any]:
    data = {f.name: getattr(info, f.name) for f in dataclasses.fields(info) if f.name != "path"}
    return data


def _decoder(adapters_dir: Path) -> Callable[[str, Any], Any]:
    def decode(name: str, data: dict[str, Any]) -> Any:
        from studio.core.library import AdapterInfo

        known = {f.name for f in dataclasses.fields(AdapterInfo)} - {"path"}
        if set(data) - known or data.get("name") != name:
            raise ValueError("not an entry of this version")
        return AdapterInfo(path=adapters_dir / name, **data)
    return decode
