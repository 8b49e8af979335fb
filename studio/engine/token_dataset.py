"""Records to a tokenized `datasets.Dataset`, a chunk at a time, on every core.

The chat template runs in Python, so one process renders about 5,000 conversations a second
whatever the machine. Large datasets are therefore cut into chunks of CHUNK_ROWS records and
encoded by forked processes (which share the records and the tokenizer with the worker, copy on
write), one per core up to MAX_PROCS. Each chunk comes back as an Arrow table (ids and labels as
int32) and the tables are joined without copying: memory grows with a chunk's Python lists, not
with the dataset (100k examples as Python lists of ints took a gigabyte more than their Arrow
form). Results are taken in order, so the dataset is the same whatever the number of processes.
Fork is used only on Linux; elsewhere, and for small datasets, one process does it all.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from studio.engine import tokenization
from studio.engine.token_stats import LengthStats, TokenTally
from studio.engine.tokenization import CHUNK_ROWS, tokenize_chunks

MAX_PROCS = 8
MIN_ROWS_PER_PROC = 4 * CHUNK_ROWS     # below this, starting a process costs more than it saves
REPORT_EVERY_S = 5.0

# What a forked process encodes: set in the parent just before the fork, read by the children.
_JOB: tuple[Any, Sequence[Any], list[str], int, str] | None = None


def tokenized_dataset(tokenizer: Any, records: Sequence[Any], sources: list[str], max_len: int,
                      loss_on: str, say: Callable[[str], None] | None = None, procs: int | None = None,
                      fingerprint: str | None = None) -> tuple[Any, LengthStats, list[tuple[str, str]]]:
    """(the dataset or None when no example is left, its statistics, rejected (source, reason)).
    `say` hears how far it got every few seconds on a long dataset; `procs` overrides the
    number of processes (1: this one only); `fingerprint` names the dataset for datasets' caches
    (the token cache's key: it covers everything the ids depend on)."""
    import pyarrow as pa
    from datasets import Dataset
    from datasets.table import InMemoryTable

    global _JOB
    firsts = range(0, len(records), CHUNK_ROWS)
    procs = worker_count(len(records)) if procs is None else max(1, min(procs, len(firsts)))
    tally = TokenTally(max_len)
    tables = []
    last_report = time.monotonic()
    _JOB = (tokenizer, records, sources, max_len, loss_on)
    try:
        if procs > 1:
            with ProcessPoolExecutor(procs, mp_context=multiprocessing.get_context("fork"),
                                     initializer=_in_child) as pool:
                results = pool.map(_encode_chunk, firsts)
                for done, (table, part) in enumerate(results, 1):
                    tally.merge(part)
                    tables.append(table)
                    last_report = _report(say, done, len(firsts), len(records), last_report)
        else:
            for done, first in enumerate(firsts, 1):
                table, part = _encode_chunk(first)
                tally.merge(part)
                tables.append(table)
                last_report = _report(say, done, len(firsts), len(records), last_report)
    finally:
        _JOB = None
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return None, tally.stats(), tally.rejected
    # The tables as they are, under the caller's fingerprint: Dataset.from_dict would convert
    # them once more, and datasets would hash every byte (a copy of the whole table) to name it.
    dataset = Dataset(InMemoryTable(pa.concat_tables(tables)), fingerprint=fingerprint or uuid.uuid4().hex)
    return dataset, tally.stats(), tally.rejected


def worker_count(rows: int) -> int:
    """One process per core this worker may use, if the dataset is large enough to pay for it."""
    if not sys.platform.startswith("linux"):
        return 1
    cores = len(os.sched_getaffinity(0))
    return max(1, min(cores, MAX_PROCS, rows // MIN_ROWS_PER_PROC))


def _in_child() -> None:
    # One process per core already: the tokenizer's own threads would only compete with them.
    tokenization.PARALLEL_ENCODING = False


def _encode_chunk(first: int) -> tuple[Any, TokenTally]:
    """Records first..first+CHUNK_ROWS as an Arrow table, with their counts."""
    import pyarrow as pa

    assert _JOB is not None
    tokenizer, records, sources, max_len, loss_on = _JOB
    part = TokenTally(max_len)
    examples = [ex for chunk in tokenize_chunks(tokenizer, records[first: first + CHUNK_ROWS],
                                                sources[first: first + CHUNK_ROWS], max_len, loss_on, part)
                for ex in chunk]
    ids = pa.list_(pa.int32())
    table = pa.table({"input_ids": pa.array([ex["input_ids"] for ex in examples], type=ids),
                      "labels": pa.array([ex["labels"] for ex in examples], type=ids),
                      "length": pa.array([ex["length"] for ex in examples], type=pa.int32())})
    return table, part


def _report(say: Callable[[str], None] | None, done: int, chunks: int, rows: int, last: float) -> float:
    if say is None or done == chunks or time.monotonic() - last < REPORT_EVERY_S:
        return last
    say(f"tokenized {min(rows, done * CHUNK_ROWS):,} of {rows:,} records")
    return time.monotonic()
