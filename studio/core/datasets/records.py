"""The one record type every dataset format is normalised to, and the import report."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Record:
    """One training example.

    kind "chat": `messages` (see datasets/messages.py) and the `tools` they may call, rendered
    with the tokenizer's chat template;
    kind "completion": `prompt` + `completion` concatenated as raw text;
    kind "text": raw `text` for continued pre-training (loss on every token);
    kind "preference": a `prompt` and two answers to it, `chosen` (preferred) and `rejected`
    (DPO, ORPO); kind "kto": a `prompt`, one `completion` and its `label` (True = desirable).
    For those two the prompt is a str (TRL's standard layout: raw text, no template) or a list of
    normalised messages ending with a user or tool turn (conversational: the answers are then
    lists of assistant messages, and TRL renders both with the tokenizer's chat template).
    `source` is "file:line" (or "file:row N") for messages that point back at the data.
    """

    kind: str
    messages: list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = None
    prompt: str | list[dict[str, Any]] | None = None
    completion: str | list[dict[str, Any]] | None = None
    text: str | None = None
    source: str = ""
    chosen: str | list[dict[str, Any]] | None = None
    rejected: str | list[dict[str, Any]] | None = None
    label: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """The row as training reads it; for preference and KTO records, TRL's own dataset layout."""
        tools = {"tools": self.tools} if self.tools else {}
        if self.kind == "chat":
            return {"messages": self.messages, **tools}
        if self.kind == "completion":
            return {"prompt": self.prompt, "completion": self.completion}
        if self.kind == "preference":
            return {"prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected, **tools}
        if self.kind == "kto":
            return {"prompt": self.prompt, "completion": self.completion, "label": self.label, **tools}
        return {"text": self.text}


@dataclass
class RowError:
    """A rejected row: where it is and why, in words a person can act on."""

    file: str
    line: int
    category: str
    detail: str = ""
    unit: str = "line"

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.unit == "line" else f"{self.file}: row {self.line}"

    def __str__(self) -> str:
        return f"{self.where}: {self.category}" + (f": {self.detail}" if self.detail else "")

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "unit": self.unit, "category": self.category,
                "detail": self.detail, "message": str(self)}


@dataclass
class ImportReport:
    """What came out of reading one file: the good records, and every rejected row with its reason."""

    path: str
    file_type: str
    format: str
    detected: bool
    rows_total: int = 0
    records: list[Record] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)     # field -> column, as used (given or detected)
    warnings: list[str] = field(default_factory=list)         # what the file holds that is not used
    turns: dict[str, int] = field(default_factory=dict)       # per-turn controls, tool calls, reasoning
    layouts: dict[str, int] = field(default_factory=dict)     # preference/KTO: layout name -> rows read in it

    @property
    def rejected(self) -> int:
        return len(self.errors)

    def reasons(self) -> dict[str, int]:
        return dict(Counter(e.category for e in self.errors).most_common())

    def summary(self) -> dict[str, Any]:
        return {
            "path": self.path, "file_type": self.file_type, "format": self.format,
            "detected": self.detected, "rows": self.rows_total, "kept": len(self.records),
            "rejected": self.rejected, "reasons": self.reasons(), "columns": self.columns,
            "mapping": self.mapping, "warnings": self.warnings, "turns": self.turns,
            **({"layouts": self.layouts, **self.preference_counts()} if self.layouts else {}),
        }

    def preference_counts(self) -> dict[str, int]:
        """pairs (preference records), or desirable / undesirable (KTO records)."""
        kinds = Counter(r.kind for r in self.records)
        if kinds["preference"]:
            return {"pairs": kinds["preference"]}
        labels = Counter(r.label for r in self.records if r.kind == "kto")
        return {"desirable": labels[True], "undesirable": labels[False]} if kinds["kto"] else {}

    def describe(self, max_errors: int = 20) -> str:
        """A few lines for a terminal: the summary, then the first rejected rows."""
        how = "detected" if self.detected else "given"
        lines = [f"{self.path}: {self.rows_total} rows, format {self.format} ({how}); "
                 f"{len(self.records)} kept, {self.rejected} rejected"]
        if self.layouts:
            lines.append("  " + describe_layouts(self.layouts, self.preference_counts()))
        if self.turns:
            lines.append("  " + describe_turns(self.turns))
        lines += [f"  warning: {w}" for w in self.warnings]
        for reason, count in self.reasons().items():
            lines.append(f"  {count} x {reason}")
        for err in self.errors[:max_errors]:
            lines.append(f"  {err}")
        if self.rejected > max_errors:
            lines.append(f"  ... and {self.rejected - max_errors} more")
        return "\n".join(lines)


TURN_WORDS = [("assistant_turns", "assistant turn{s}"),
              ("untrained_turns", "not trained (weight 0 / train false)"),
              ("partly_trained_turns", "partly trained (train_detail / content parts)"),
              ("trained_other_turns", "non-assistant turn{s} trained (train true)"), ("tool_calls", "tool call{s}"),
              ("tool_results", "tool result{s} (never trained)"), ("records_with_tools", "record{s} with tools"),
              ("reasoning_turns", "turn{s} with reasoning"),
              ("reasoning_dropped", "turn{s} whose reasoning was dropped (data.reasoning=drop)")]


def describe_turns(turns: dict[str, int]) -> str:
    """One line: "40 assistant turns, 3 not trained (weight 0 / train false), 12 tool calls"."""
    return ", ".join(f"{turns[key]:,} " + words.format(s="" if turns[key] == 1 else "s")
                     for key, words in TURN_WORDS if turns.get(key))


def describe_layouts(layouts: dict[str, int], counts: dict[str, int]) -> str:
    """One line: "layout: TRL conversational preference, explicit prompt (40 rows); 40 pairs"."""
    shown = "; ".join(f"{name} ({rows:,} row{'s' * (rows != 1)})" for name, rows in layouts.items())
    if "pairs" in counts:
        figures = f"{counts['pairs']:,} preference pair{'s' * (counts['pairs'] != 1)}"
    else:
        figures = f"{counts.get('desirable', 0):,} desirable, {counts.get('undesirable', 0):,} undesirable"
    return f"layout: {shown}; {figures}"
