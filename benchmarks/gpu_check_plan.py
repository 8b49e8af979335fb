"""What benchmarks/gpu_check.py runs, on a GPU and in its CPU dry run, and the long-chat data it trains on.

The GPU plan fits in about 8 minutes on an H200 (estimated: each bench process starts in ~15 s,
loads a 0.5B model in seconds and an 8B one in about a minute with 4-bit quantization). The steps
run in `sequence` order, most wanted first, so a budget that runs out cuts the least wanted.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Layer sizes, vocabularies and embedding tying of the real models (their config.json); the
# architecture is Llama's for both (Qwen2 differs by biases on q/k/v, which cost nothing here).
QWEN25_05B = {"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
              "num_key_value_heads": 2, "vocab_size": 151936, "tie_word_embeddings": 1,
              "max_position_embeddings": 4096, "initializer_range": 0.02}
LLAMA3_8B = {"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
             "num_key_value_heads": 8, "vocab_size": 128256, "tie_word_embeddings": 0,
             "max_position_embeddings": 4096, "initializer_range": 0.02}
TINY_A = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
          "num_key_value_heads": 2, "vocab_size": 512, "tie_word_embeddings": 1, "max_position_embeddings": 512}
TINY_B = {"hidden_size": 96, "intermediate_size": 192, "num_hidden_layers": 2, "num_attention_heads": 4,
          "num_key_value_heads": 2, "vocab_size": 600, "tie_word_embeddings": 0, "max_position_embeddings": 512}


@dataclass
class Plan:
    name: str
    dry_run: bool
    device: str
    model_dtype: str
    max_len: int
    data_rows: int
    models: dict[str, dict[str, Any]]
    cases: dict[str, dict[str, Any]]
    chat_case: str
    auto_gc: dict[str, Any]
    sequence: list[tuple[str, str]] = field(default_factory=list)


def _case(name: str, model: str, quant: str, baselines: list[str], steps: int, batch_size: int,
          repeats: int = 1, **extra: Any) -> tuple[str, dict[str, Any]]:
    return name, {"name": name, "model": model, "quant": quant, "baselines": baselines, "steps": steps,
                  "batch_size": batch_size, "repeats": repeats, **extra}


def plan_for(dry_run: bool) -> Plan:
    if dry_run:
        cases = dict([
            _case("qwen05b-4bit", "qwen05b", "4bit", ["trainer"], steps=2, batch_size=2),
            _case("qwen05b-bf16", "qwen05b", "none", ["trl", "trl-packing"], steps=2, batch_size=2),
            _case("llama8b-4bit", "llama8b", "4bit", ["trl-padding-free"], steps=2, batch_size=2),
        ])
        # 4 rows: exactly the 2 x 2 examples each case trains, so the benches hold no eval rows out
        # (evaluating 64 rows is most of a dry run's time on a busy 2-core machine).
        plan = Plan("cpu dry run (tiny shapes)", True, "cpu", "float32", 256, 4,
                    {"qwen05b": TINY_A, "llama8b": TINY_B}, cases, "qwen05b-bf16",
                    {"model": "qwen05b", "quant": "none", "batch_size": 2, "free_bytes": 1_000_000})
    else:
        cases = dict([
            _case("qwen05b-4bit", "qwen05b", "4bit", ["trainer", "trl-padding-free"], steps=12, batch_size=8),
            _case("qwen05b-bf16", "qwen05b", "none", ["trainer", "trl", "trl-padding-free", "trl-packing"],
                  steps=12, batch_size=8),
            _case("llama8b-4bit", "llama8b", "4bit", ["trl-padding-free"], steps=5, batch_size=4),
            _case("qwen05b-bf16-no-liger", "qwen05b", "none", ["trl-padding-free"], steps=12, batch_size=8,
                  set=["train.liger=off"]),
        ])
        plan = Plan("GPU: Qwen2.5-0.5B and Llama-3-8B shapes at 2048 tokens", False, "cuda", "bfloat16", 2048, 240,
                    {"qwen05b": QWEN25_05B, "llama8b": LLAMA3_8B}, cases, "qwen05b-bf16",
                    # 1 GiB "free": far under what a 0.5B model at batch 8 x 2048 needs, so it must turn on.
                    {"model": "qwen05b", "quant": "4bit", "batch_size": 8, "free_bytes": 2**30})
    plan.sequence = [("model", "qwen05b"), ("data", ""), ("bench", "qwen05b-4bit"), ("bench", "qwen05b-bf16"),
                     ("chat", ""), ("export", ""), ("model", "llama8b"), ("bench", "llama8b-4bit"),
                     *([("bench", "qwen05b-bf16-no-liger")] if not dry_run else []),
                     ("memory", ""), ("auto-gc", "")]
    return plan


def write_long_chats(path: Path, rows: int, max_chars: int, seed: int = 11) -> Path:
    """Chat rows whose lengths spread evenly up to about max_chars tokens (byte-level tokenizer:
    one token per character): threads of 1 to N support tickets, each labelled in the answer."""
    from studio.core.demo_data import LABELS, ticket

    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for _ in range(rows):
        budget = rng.randint(60, max(80, int(max_chars * 0.8)))  # the answer fits after it
        labels: list[str] = []
        tickets: list[str] = []
        while not tickets or sum(len(t) + 5 for t in tickets) < budget:
            labels.append(rng.choice(LABELS))
            tickets.append(ticket(rng, labels[-1]))
        user = "\n".join(f"{i + 1}. {t}" for i, t in enumerate(tickets))[:budget]
        shown = user.count("\n") + 1
        answer = ", ".join(f"{i + 1}: {label}" for i, label in enumerate(labels[:shown]))
        lines.append(json.dumps({"messages": [{"role": "user", "content": user},
                                              {"role": "assistant", "content": answer}]}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
