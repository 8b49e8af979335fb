"""Two slots answering at once, each with its own clock: the chat worker's `generate` on a stand-in
model whose passes take a known time, so the figures each column shows can be checked exactly.

The stand-in sleeps PREFILL_S for a prompt and STEP_S[adapter] for each token, answers
LENGTH[adapter] tokens and then its end-of-sequence token. Slot A is the base alone (slow, long
answer), slot B an adapter (fast, short answer), as in the demo: the adapter answers one word
while the random base rambles.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from studio.core.chat_protocol import Sampling
from studio.core.slots import SlotSpec

EOS = 0
VOCAB = 32
PREFILL_S = 0.25
STEP_S = {None: 0.03, "fast": 0.01}
LENGTH = {None: 12, "fast": 3}


class StandInModel:
    def __init__(self, pool: "StandInPool") -> None:
        import torch

        self.pool = pool
        self.device = torch.device("cpu")
        self.config = SimpleNamespace(max_position_embeddings=4096)
        self.generation_config = SimpleNamespace(eos_token_id=EOS)

    def __call__(self, input_ids: Any, past_key_values: Any, use_cache: bool, logits_to_keep: int) -> Any:
        import torch

        n = int(input_ids.shape[1])
        prompt_len, seen = past_key_values if past_key_values is not None else (n, 0)
        seen += n
        time.sleep(PREFILL_S if past_key_values is None else STEP_S[self.pool.active])
        answered = seen - prompt_len
        logits = torch.full((1, n, VOCAB), -1e9)
        logits[0, -1, EOS if answered >= LENGTH[self.pool.active] else 1 + answered % (VOCAB - 1)] = 0.0
        return SimpleNamespace(past_key_values=(prompt_len, seen), logits=logits)


class StandInTokenizer:
    eos_token_id = EOS
    chat_template = None

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        return {"input_ids": [5] * max(1, len(text))}

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return "".join(chr(ord("a") + i % 26) for i in ids if i != EOS)


class StandInPool:
    def __init__(self) -> None:
        self.active: str | None = None
        self.model = StandInModel(self)
        self.tokenizer = StandInTokenizer()

    def activate(self, name: str | None) -> None:
        self.active = name

    def memory(self) -> dict[str, Any]:
        return {"rss_bytes": 1}


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def emit(self, type_: str, **fields: Any) -> dict[str, Any]:
        event = {"type": type_, "at": time.monotonic(), **fields}
        self.events.append(event)
        return event


@pytest.fixture()
def worker(tmp_path: Path) -> Any:
    from studio.engine.chat_worker import ChatWorker

    controls = SimpleNamespace(commands=queue.Queue(), cancel=threading.Event(), closed=threading.Event())
    chat = ChatWorker(tmp_path / "home", Recorder(), controls)
    chat.pool = StandInPool()
    chat.slots = {"a": (SlotSpec("base", "base", "base"), None),
                  "b": (SlotSpec("fast", "library", "fast"), "fast")}
    return chat


def generate(worker: Any, **sampling: Any) -> list[dict[str, Any]]:
    worker.generate({"id": "g1", "slots": [{"slot": slot, "prompt": "hello there"} for slot in "ab"],
                     "sampling": Sampling(max_new_tokens=64, **sampling).to_dict()})
    return worker.emitter.events


def test_each_slot_reports_its_own_rate_and_times(worker: Any) -> None:
    events = generate(worker)
    answers = {e["slot"]: e for e in events if e["type"] == "generated"}
    a, b = answers["a"], answers["b"]
    assert (a["tokens"], a["finish_reason"], b["tokens"], b["finish_reason"]) == (12, "eos", 3, "eos")
    # its own token steps only: not the prompt's pass (which would make the short answer look slow)
    # nor the other slot's turns; sleeping may overshoot a little on a busy machine, never undershoot
    assert 0.6 / STEP_S["fast"] <= b["tokens_per_s"] <= 1.02 / STEP_S["fast"], b
    assert 0.6 / STEP_S[None] <= a["tokens_per_s"] <= 1.02 / STEP_S[None], a
    for answer in (a, b):
        assert PREFILL_S <= answer["prompt_s"] < PREFILL_S + 0.15, answer
        assert answer["tokens_per_s"] == pytest.approx(answer["tokens"] / answer["decode_s"], rel=0.02)
    # B's answer took less time than A's, and B's first token waited for both prompts (A's went first)
    assert b["wall_s"] < a["wall_s"] - LENGTH[None] * STEP_S[None] / 2, (a["wall_s"], b["wall_s"])
    assert b["first_token_s"] >= 2 * PREFILL_S


def test_a_finished_slot_is_reported_while_the_other_still_streams(worker: Any) -> None:
    events = generate(worker)
    kinds = [(e["type"], e.get("slot")) for e in events if e["type"] in ("token", "generated")]
    b_done = kinds.index(("generated", "b"))
    last_a_token = len(kinds) - 1 - kinds[::-1].index(("token", "a"))
    assert b_done < last_a_token, kinds                                  # not held back until A ends
    assert kinds[-1] == ("generated", "a")
    texts = {slot: "".join(e["text"] for e in events if e["type"] == "token" and e["slot"] == slot) for slot in "ab"}
    assert texts == {slot: next(e["text"] for e in events if e["type"] == "generated" and e["slot"] == slot)
                     for slot in "ab"}


def test_a_stopped_slot_is_reported_with_its_own_figures(worker: Any) -> None:
    original = worker._check_stop

    def stop_a_after_its_first_turn(request: str, streams: list[Any]) -> None:
        if streams[0].tokens and not streams[0].finished:
            worker.controls.commands.put({"type": "stop", "id": request, "slot": "a"})
        original(request, streams)

    worker._check_stop = stop_a_after_its_first_turn
    events = generate(worker)
    answers = {e["slot"]: e for e in events if e["type"] == "generated"}
    assert answers["a"]["finish_reason"] == "stopped" and 0 < answers["a"]["tokens"] < LENGTH[None]
    assert answers["b"]["finish_reason"] == "eos" and answers["b"]["tokens"] == LENGTH["fast"]
    assert [e["slot"] for e in events if e["type"] == "generated"] == ["a", "b"]
