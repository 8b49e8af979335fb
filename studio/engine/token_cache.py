"""Tokenized datasets cached in the workspace, so a second run on the same data skips tokenization.

    <home>/cache/tokenized/<key>/   dataset/ (datasets' save_to_disk: Arrow, memory-mapped on load)
                                    meta.json (length statistics, rejected rows, what the key covers)

The key is a hash of everything the token ids and labels depend on: the records' normalised
content and their sources (rejection messages name them), the tokenizer (vocabulary, merges,
special tokens, chat template), max_len, loss_on, and TOKENIZATION_VERSION of the code. Any
change makes a new entry; nothing is ever reused wrongly. Entries are written atomically and
the least recently used are removed beyond KEEP_ENTRIES.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from studio.core.atomic import TMP_PREFIX, atomic_dir
from studio.core.datasets import Record, fingerprint

TOKENIZATION_VERSION = 3  # bump when tokenization.py or chat_render.py change the ids or labels they produce
KEEP_ENTRIES = 20
META = "meta.json"


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A hash of what decides how text becomes ids: the backend (vocab, merges, normaliser,
    pre/post-processing, added tokens), the special tokens and the chat template."""
    digest = hashlib.sha256()
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        digest.update(backend.to_str().encode("utf-8"))
    else:  # a slow tokenizer: datasets' own hasher, as `Dataset.map` would use
        from datasets.fingerprint import Hasher

        digest.update(Hasher.hash(tokenizer).encode("utf-8"))
    described = {"class": type(tokenizer).__name__, "chat_template": tokenizer.chat_template,
                 "special": {name: getattr(tokenizer, name, None) for name in
                             ("bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id")},
                 "init": {k: v for k, v in sorted(tokenizer.init_kwargs.items())
                          if k.startswith("add_") or k in ("clean_up_tokenization_spaces", "legacy")}}
    digest.update(json.dumps(described, sort_keys=True, default=str).encode("utf-8"))
    return digest.hexdigest()


def cache_key(records: list[Record], tokenizer: Any, max_len: int, loss_on: str) -> str:
    parts = {"version": TOKENIZATION_VERSION, "data": fingerprint(records),
             "sources": hashlib.sha256("\n".join(r.source for r in records).encode("utf-8")).hexdigest(),
             "tokenizer": tokenizer_fingerprint(tokenizer), "max_len": max_len, "loss_on": loss_on}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()[:32]


def load(cache_dir: Path, key: str) -> tuple[Any, dict[str, Any]] | None:
    """(dataset, meta) of a complete entry, or None."""
    entry = cache_dir / key
    if not (entry / META).is_file():
        return None
    from datasets import load_from_disk

    try:
        meta = json.loads((entry / META).read_text(encoding="utf-8"))
        dataset = load_from_disk(str(entry / "dataset"))
    except (OSError, ValueError, FileNotFoundError):
        return None  # a damaged entry: tokenize again and replace it
    os.utime(entry)  # most recently used
    return dataset, meta


def store(cache_dir: Path, key: str, dataset: Any, meta: dict[str, Any]) -> None:
    with atomic_dir(cache_dir / key, replace=True) as tmp:
        dataset.save_to_disk(str(tmp / "dataset"))
        (tmp / META).write_text(json.dumps(meta, ensure_ascii=False) + "\n", encoding="utf-8")
    prune(cache_dir, KEEP_ENTRIES)


def prune(cache_dir: Path, keep: int) -> None:
    entries = [p for p in cache_dir.iterdir() if p.is_dir() and not p.name.startswith(TMP_PREFIX)]
    entries.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[keep:]:
        shutil.rmtree(old, ignore_errors=True)
