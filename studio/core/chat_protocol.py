"""The chat worker's protocol from the client's side: sampling settings, commands, and a state
object that folds the worker's events into what a chat view shows.

Commands (parent -> `python -m studio.engine chat`):
    load      {base, slots: {slot: spec}, quant, dtype, revision, trust_remote_code}
              loads the base once (progress as `stage`/`progress` events) and attaches each slot's
              adapter by name; a later `load` with the same base only attaches what is new and
              drops adapters no slot uses any more. Answered by `loaded` (or `error`).
    generate  {id, slots: [{slot, messages | prompt}], system, sampling}
              every listed slot answers the same turn; the streams advance together, a few tokens
              each in turn. Answered by `token` {id, slot, text} events and one `generated`
              {id, slot, text, tokens, tokens_per_s, finish_reason, prompt_s, first_token_s,
              wall_s, ...} per slot, sent as soon as that slot's answer ends (a short answer is
              reported while the other slot still streams). tokens_per_s is the slot's own decode
              rate: neither the other slot's turns nor the prompt's pass (prompt_s) are in it.
    stop      {id, slot?}    end a generation early (finish_reason "stopped")
    unload    {}             free the model (the worker stays up)
    shutdown  {}             exit after the current token
Other events: `warning` {kind, slot, message} (e.g. a chat template that differs from the
tokenizer's), `error` {kind, message, hint, id?, command}, `done` when the worker exits.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from studio.core.errors import ConfigError

SLOT_NAMES = ("a", "b")


@dataclass
class Sampling:
    """Settings shared by both slots, so the adapter is the only difference between the columns."""

    temperature: float = 0.0     # 0 = greedy (the most likely token every time)
    top_p: float = 1.0
    max_new_tokens: int = 256
    seed: int = 0

    def validate(self) -> "Sampling":
        checks = [
            (isinstance(self.temperature, (int, float)) and math.isfinite(self.temperature)
             and 0 <= self.temperature <= 10, "--temperature", self.temperature, "a number from 0 (greedy) to 10"),
            (isinstance(self.top_p, (int, float)) and 0 < self.top_p <= 1, "--top-p", self.top_p,
             "a number above 0 and at most 1"),
            (isinstance(self.max_new_tokens, int) and 1 <= self.max_new_tokens <= 1_000_000, "--max-new-tokens",
             self.max_new_tokens, "a whole number of at least 1"),
            (isinstance(self.seed, int) and 0 <= self.seed < 2**63, "--seed", self.seed, "a whole number >= 0"),
        ]
        for ok, flag, value, rule in checks:
            if not ok:
                raise ConfigError(f"{flag} {value!r} is not allowed", hint=f"use {rule}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "Sampling":
        data = data or {}
        known = {k: data[k] for k in ("temperature", "top_p", "max_new_tokens", "seed") if k in data}
        return cls(**known).validate()


def load_command(base: str, slots: dict[str, str], *, quant: str = "none", dtype: str = "auto",
                 revision: str = "", trust_remote_code: bool = False) -> dict[str, Any]:
    return {"base": base, "slots": dict(slots), "quant": quant, "dtype": dtype, "revision": revision,
            "trust_remote_code": trust_remote_code}


def generate_command(request_id: str, turns: dict[str, list[dict[str, str]] | str], sampling: Sampling,
                     system: str = "") -> dict[str, Any]:
    """`turns` maps each slot to its conversation so far (messages) or to a raw prompt string."""
    entries = []
    for slot, turn in turns.items():
        entries.append({"slot": slot, "prompt": turn} if isinstance(turn, str) else {"slot": slot, "messages": turn})
    return {"id": request_id, "slots": entries, "system": system, "sampling": sampling.validate().to_dict()}


@dataclass
class Answer:
    """One slot's answer to one request, as it streams in."""

    slot: str
    text: str = ""
    done: bool = False
    tokens: int = 0
    tokens_per_s: float | None = None
    finish_reason: str = ""
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class ChatState:
    """The worker's events folded into what a chat view shows (the GUI feeds it from its QProcess,
    the CLI from a pipe)."""

    status: str = "starting"          # starting, loading, ready, generating, closed
    stage: str = ""
    progress: tuple[int, int] | None = None
    loaded: dict[str, Any] | None = None
    warnings: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    answers: dict[str, dict[str, Answer]] = field(default_factory=dict)   # request id -> slot -> answer

    def apply(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "hello":
            self.status = "ready"
        elif kind == "stage":
            self.status, self.stage = "loading", str(event.get("message") or event.get("name") or "")
        elif kind == "progress":
            self.progress = (int(event.get("step") or 0), int(event.get("max_steps") or 0))
        elif kind == "loaded":
            self.status, self.loaded, self.progress = "ready", event, None
        elif kind == "warning":
            self.warnings.append(event)
        elif kind == "token":
            answer = self.answer(event["id"], event["slot"])
            answer.text += event.get("text", "")
            answer.tokens = int(event.get("index", answer.tokens)) + 1
            self.status = "generating"
        elif kind == "generated":
            answer = self.answer(event["id"], event["slot"])
            answer.text, answer.done = event.get("text", answer.text), True
            answer.tokens, answer.tokens_per_s = int(event.get("tokens") or 0), event.get("tokens_per_s")
            answer.finish_reason = str(event.get("finish_reason") or "")
            answer.stats = {k: v for k, v in event.items() if k not in ("v", "type", "t", "text")}
            if all(a.done for a in self.answers[event["id"]].values()):
                self.status = "ready"
        elif kind == "error":
            self.errors.append(event)
            request = event.get("id")
            if request in self.answers:
                for answer in self.answers[request].values():
                    answer.done = True
            if self.status in ("loading", "generating"):
                self.status = "ready"
        elif kind == "done":
            self.status = "closed"

    def expect(self, request_id: str, slots: list[str]) -> None:
        """Register a request's slots when it is sent, so "all answered" waits for every one."""
        for slot in slots:
            self.answer(request_id, slot)
        self.status = "generating"

    def answer(self, request_id: str, slot: str) -> Answer:
        return self.answers.setdefault(request_id, {}).setdefault(slot, Answer(slot))
