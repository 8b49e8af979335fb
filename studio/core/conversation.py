"""An A/B conversation: one user turn goes to both columns, each column keeps its own answers.

The model behind the chat pane, and the file format it is saved in. Each column's `messages` is
a plain OpenAI-style list, so a saved conversation can be read by anything (and a good answer
can become training data). Regenerate drops the last answers and asks the same turn again.

Saved as JSON (`.json`, the format below, loadable again) or Markdown (`.md`, to read/share):

    {"format": "lora-studio.conversation", "version": 1, "saved": "...", "base_model": "...",
     "system": "...", "sampling": {"temperature": 0, "top_p": 1, "max_new_tokens": 256, "seed": 0},
     "blind": false,
     "columns": {"a": {"spec": "base", "label": "base", "messages": [...], "stats": [{...}, ...]},
                 "b": {...}}}
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.atomic import atomic_write_text
from studio.core.chat_protocol import Sampling
from studio.core.errors import DataError

FORMAT = "lora-studio.conversation"
VERSION = 1


@dataclass
class Column:
    spec: str
    label: str = ""
    messages: list[dict[str, str]] = field(default_factory=list)
    stats: list[dict[str, Any]] = field(default_factory=list)      # one per assistant answer

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.spec, "label": self.label or self.spec, "messages": self.messages, "stats": self.stats}


@dataclass
class Conversation:
    columns: dict[str, Column]
    system: str = ""
    sampling: Sampling = field(default_factory=Sampling)
    base_model: str = ""
    blind: bool = False

    @classmethod
    def ab(cls, spec_a: str, spec_b: str, **kwargs: Any) -> "Conversation":
        return cls({"a": Column(spec_a), "b": Column(spec_b)}, **kwargs)

    def ask(self, text: str) -> dict[str, list[dict[str, str]]]:
        """Add the user's turn to every column; returns what each slot must answer (for generate)."""
        for column in self.columns.values():
            column.messages.append({"role": "user", "content": text})
        return self.pending_turns()

    def pending_turns(self) -> dict[str, list[dict[str, str]]]:
        return {slot: list(c.messages) for slot, c in self.columns.items()}

    def answer(self, slot: str, text: str, stats: dict[str, Any] | None = None) -> None:
        column = self.columns[slot]
        if not column.messages or column.messages[-1]["role"] != "user":
            raise DataError(f"column {slot} has no question waiting for an answer")
        column.messages.append({"role": "assistant", "content": text})
        column.stats.append(dict(stats or {}))

    def undo_answers(self) -> dict[str, list[dict[str, str]]]:
        """Drop the last answers (to regenerate them); returns the turns to send again."""
        for column in self.columns.values():
            if column.messages and column.messages[-1]["role"] == "assistant":
                column.messages.pop()
                if column.stats:
                    column.stats.pop()
        return self.pending_turns()

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION,
                "saved": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "base_model": self.base_model, "system": self.system, "sampling": self.sampling.to_dict(),
                "blind": self.blind, "columns": {slot: c.to_dict() for slot, c in self.columns.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "") -> "Conversation":
        if data.get("format") != FORMAT:
            raise DataError("not a LoRA Studio conversation file (no format: lora-studio.conversation)",
                            where=where, hint="open a file saved by the chat pane or `studio chat --save`")
        columns = {slot: Column(str(c.get("spec", "")), str(c.get("label", "")), list(c.get("messages", [])),
                                list(c.get("stats", []))) for slot, c in (data.get("columns") or {}).items()}
        return cls(columns, str(data.get("system", "")), Sampling.from_dict(data.get("sampling")),
                   str(data.get("base_model", "")), bool(data.get("blind", False)))

    def save(self, path: Path) -> Path:
        """Write atomically; `.md` gives Markdown, anything else the JSON format."""
        path = Path(path).expanduser()
        text = self.to_markdown() if path.suffix.lower() in (".md", ".markdown") else \
            json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"
        atomic_write_text(path, text)
        return path

    @classmethod
    def load(cls, path: Path) -> "Conversation":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read the conversation: {exc}", where=str(path)) from None
        return cls.from_dict(data if isinstance(data, dict) else {}, where=str(path))

    def to_markdown(self) -> str:
        s = self.sampling
        lines = [f"# Conversation ({self.base_model or 'base model'})", "",
                 f"temperature {s.temperature}, top-p {s.top_p}, max new tokens {s.max_new_tokens}, seed {s.seed}"]
        if self.system:
            lines += ["", f"System: {self.system}"]
        for slot, column in self.columns.items():
            lines += ["", f"## {slot.upper()}: {column.label or column.spec}", ""]
            answers = iter(column.stats)
            for message in column.messages:
                who = "User" if message["role"] == "user" else "Assistant"
                lines.append(f"**{who}:** {message['content']}")
                if message["role"] == "assistant":
                    stats = next(answers, {})
                    if stats.get("tokens_per_s"):
                        lines.append(f"*{stats.get('tokens')} tokens, {stats['tokens_per_s']:.1f} tokens/s*")
                lines.append("")
        return "\n".join(lines).rstrip() + "\n"
