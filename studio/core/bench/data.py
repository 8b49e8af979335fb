"""The benchmark's dataset: support tickets of MIXED lengths, in OpenAI `messages` format.

Most rows are one short ticket; about a third are a long thread of several tickets whose answer
labels each one in order. Lengths therefore spread from a few dozen to about a thousand tokens
(with a byte-level tokenizer), which is what makes padding expensive and padding-free packing
pay off: the benchmark measures the case real chat datasets are in. The answers depend on the
content, so the loss keeps falling over a whole epoch and two trainers can be compared on it.
Deterministic for a seed, like the demo's data.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from studio.core.atomic import atomic_write_text
from studio.core.demo_data import LABELS, ticket

SYSTEM = "Label each ticket: billing, shipping, account, bug or refund."
LONG_SHARE = 0.35
LONG_TICKETS = (3, 11)  # tickets in a long thread: up to ~960 tokens, within max_len 1024


def make_rows(count: int, seed: int) -> list[dict]:
    """`count` chat rows; a share LONG_SHARE of them long multi-ticket threads."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        n = rng.randint(*LONG_TICKETS) if rng.random() < LONG_SHARE else 1
        labels = [rng.choice(LABELS) for _ in range(n)]
        tickets = [ticket(rng, label) for label in labels]
        user = tickets[0] if n == 1 else "\n".join(f"{i + 1}. {t}" for i, t in enumerate(tickets))
        answer = labels[0] if n == 1 else ", ".join(f"{i + 1}: {label}" for i, label in enumerate(labels))
        rows.append({"messages": [{"role": "system", "content": SYSTEM},
                                  {"role": "user", "content": user},
                                  {"role": "assistant", "content": answer}]})
    return rows


def write_bench_data(folder: Path, train_count: int, eval_count: int = 64, seed: int = 7) -> tuple[Path, Path]:
    """train.jsonl and eval.jsonl (held out: another seed) for `studio bench`."""
    paths = (folder / "train.jsonl", folder / "eval.jsonl")
    for path, rows in zip(paths, (make_rows(train_count, seed), make_rows(eval_count, seed + 1000))):
        atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return paths
