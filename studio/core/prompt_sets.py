"""Prompt sets: many prompts through both slots, the answers side by side, scored when the data
says what the answer should be.

Where prompts come from:
- a file: `.txt` is one prompt per line; JSONL/JSON/CSV/Parquet with a `prompt` column (and an
  optional `expected` one) is a plain prompt list; any training format works too (chat records
  ending with the assistant's answer give the answer as `expected`, prompt/completion records
  are sent as raw text, as they were trained);
- an adapter's own held-out data: the eval file recorded in its studio.json, or the same seeded
  split of its training file that training made (checked against the recorded fingerprint).

Scores: exact match after trimming whitespace, and a 0-1 similarity (difflib's ratio, the share
of matching characters) for answers that are close but not equal.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.atomic import atomic_write_text
from studio.core.datasets import Record, fingerprint, import_dataset, split_records
from studio.core.datasets.readers import RawRow, read_rows
from studio.core.errors import DataError
from studio.core.library import find_adapter
from studio.core.workspace import Workspace

Turn = list[dict[str, str]] | str
EXPORT_SUFFIXES = (".csv", ".jsonl")


@dataclass
class PromptItem:
    turn: Turn                       # messages for the chat template, or a raw prompt string
    expected: str | None = None
    source: str = ""

    @property
    def text(self) -> str:
        """What the person asked: the last user message, or the raw prompt."""
        if isinstance(self.turn, str):
            return self.turn
        users = [m["content"] for m in self.turn if m.get("role") == "user"]
        return users[-1] if users else (self.turn[-1]["content"] if self.turn else "")


def item_from_record(record: Record) -> PromptItem | None:
    if record.kind == "chat" and record.messages:
        messages = record.messages
        if messages[-1]["role"] == "assistant":
            return PromptItem(messages[:-1], messages[-1]["content"], record.source)
        return PromptItem(messages, None, record.source)
    if record.kind == "completion":
        return PromptItem(record.prompt or "", record.completion, record.source)
    if record.kind in ("preference", "kto"):  # the answer to learn: chosen, or a desirable completion
        answer = record.chosen if record.kind == "preference" else (record.completion if record.label else None)
        return PromptItem(record.prompt or "", _answer_text(answer), record.source)
    return None


def _answer_text(answer: Any) -> str | None:
    """A preference answer as text: a str as it is, conversational turns as their contents."""
    if answer is None or isinstance(answer, str):
        return answer
    return "".join(str(turn.get("content") or "") for turn in answer if isinstance(turn, dict)) or None


def load_prompt_file(path: Path, limit: int = 0) -> list[PromptItem]:
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"prompt file {path} does not exist", hint="check the path")
    if path.suffix.lower() == ".txt":
        lines = path.read_text(encoding="utf-8").splitlines()
        items = [PromptItem([{"role": "user", "content": line.strip()}], None, f"{path.name}:{i}")
                 for i, line in enumerate(lines, 1) if line.strip()]
    else:
        items = _plain_prompt_rows(path) or _records(path)
    if not items:
        raise DataError(f"{path} holds no prompts", hint="add prompts: one per line in a .txt, or a prompt column")
    return items[:limit] if limit else items


def _plain_prompt_rows(path: Path) -> list[PromptItem]:
    """Rows with a `prompt` (and optional `expected`) column and no answer column of a training format."""
    try:
        _, rows = read_rows(path)
        data = [r for r in rows if isinstance(r, RawRow) and isinstance(r.data, dict)]
    except DataError:
        return []
    answer_columns = {"completion", "response", "answer", "output", "messages", "conversations"}
    if not data or not all("prompt" in r.data and not answer_columns & set(r.data) for r in data):
        return []
    return [PromptItem([{"role": "user", "content": str(r.data["prompt"])}],
                       None if r.data.get("expected") is None else str(r.data["expected"]), f"{path.name}:{r.line}")
            for r in data]


def _records(path: Path, fmt: str = "auto", columns: dict[str, str] | None = None,
             system_prompt: str = "") -> list[PromptItem]:
    report = import_dataset(path, fmt, columns, system_prompt)
    if not report.records:
        raise DataError(f"{path}: no usable rows\n" + report.describe(max_errors=5), hint="fix the rows listed above")
    return [item for item in map(item_from_record, report.records) if item is not None]


def eval_prompts(ws: Workspace, adapter: str, limit: int = 0) -> tuple[list[PromptItem], str, list[str]]:
    """The adapter's held-out prompts, where they came from, and warnings (e.g. the data changed)."""
    info = find_adapter(ws.adapters_dir, adapter)
    dataset = info.studio.get("dataset") or {}
    data = (info.studio.get("config") or {}).get("data") or {}
    fmt, columns, system = data.get("format", "auto"), data.get("columns") or {}, data.get("system_prompt", "")
    train_path = Path(dataset.get("path") or data.get("path") or "")
    eval_path = Path(dataset["eval_path"]) if dataset.get("eval_path") else None
    warnings: list[str] = []
    if eval_path is not None:
        if not eval_path.is_file():
            raise DataError(f"adapter {adapter}'s eval file {eval_path} is gone", hint="pass a prompt file instead")
        evals = import_dataset(eval_path, fmt, columns, system).records
        origin = str(eval_path)
        train = import_dataset(train_path, fmt, columns, system).records if train_path.is_file() else None
    else:
        split = float(data.get("eval_split") or 0)
        if not train_path.is_file() or split <= 0:
            raise DataError(f"adapter {adapter} has no held-out data on disk (no eval file, eval split "
                            f"{split}, training file {train_path or 'unknown'})", hint="pass a prompt file instead")
        train, evals = split_records(import_dataset(train_path, fmt, columns, system).records, split,
                                     int(data.get("seed", 42)))
        origin = f"{train_path} (the {split:.0%} held out by training, seed {data.get('seed', 42)})"
    recorded = dataset.get("fingerprint")
    if recorded and train is not None and fingerprint(train + evals) != recorded:
        warnings.append("the data changed since the adapter was trained (fingerprint differs): these may not be "
                        "the prompts it was evaluated on")
    items = [item for item in map(item_from_record, evals) if item is not None]
    if not items:
        raise DataError(f"adapter {adapter}'s held-out data has no prompts", hint="pass a prompt file instead")
    return (items[:limit] if limit else items), origin, warnings


def score(answer: str, expected: str | None) -> tuple[bool | None, float | None]:
    """(exact match, similarity 0-1); both None when there is no expected answer."""
    if expected is None:
        return None, None
    a, e = answer.strip(), expected.strip()
    return a == e, round(difflib.SequenceMatcher(None, a, e, autojunk=False).ratio(), 4)


@dataclass
class CompareRow:
    index: int
    item: PromptItem
    answers: dict[str, str] = field(default_factory=dict)
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self, labels: dict[str, str]) -> dict[str, Any]:
        row: dict[str, Any] = {"index": self.index, "source": self.item.source, "prompt": self.item.text,
                               "expected": self.item.expected}
        for slot, label in labels.items():
            answer = self.answers.get(slot, "")
            exact, similarity = score(answer, self.item.expected)
            stats = self.stats.get(slot, {})
            row.update({f"{slot}_spec": label, f"{slot}_answer": answer, f"{slot}_exact": exact,
                        f"{slot}_similarity": similarity, f"{slot}_tokens": stats.get("tokens"),
                        f"{slot}_tokens_per_s": stats.get("tokens_per_s")})
        return row


def run_prompt_set(items: list[PromptItem], generate: Callable[[dict[str, Turn]], dict[str, dict[str, Any]]],
                   slots: list[str], on_row: Callable[[CompareRow], None] | None = None) -> list[CompareRow]:
    """Ask every prompt in all slots through `generate` (a ChatClient.generate with settings bound)."""
    rows = []
    for index, item in enumerate(items, 1):
        answers = generate({slot: item.turn for slot in slots})
        row = CompareRow(index, item, {s: a.get("text", "") for s, a in answers.items()},
                         {s: {k: a.get(k) for k in ("tokens", "tokens_per_s", "finish_reason")} for s, a in answers.items()})
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return rows


def summarize(rows: list[CompareRow], labels: dict[str, str]) -> dict[str, dict[str, Any]]:
    summary = {}
    for slot, label in labels.items():
        scored = [score(r.answers.get(slot, ""), r.item.expected) for r in rows if r.item.expected is not None]
        exact = sum(1 for e, _ in scored if e)
        summary[slot] = {"spec": label, "scored": len(scored), "exact": exact,
                         "accuracy": round(exact / len(scored), 4) if scored else None,
                         "mean_similarity": round(sum(s or 0 for _, s in scored) / len(scored), 4) if scored else None}
    return summary


def export_rows(rows: list[CompareRow], labels: dict[str, str], path: Path) -> Path:
    """Write the table as CSV or JSONL (by the file's suffix), atomically."""
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise DataError(f"cannot export to {path.name}: unknown file type", hint="use a .csv or .jsonl file name")
    records = [r.to_dict(labels) for r in rows]
    if suffix == ".jsonl":
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    else:
        buffer = io.StringIO()
        fields = list(records[0]) if records else ["index", "source", "prompt", "expected"]
        writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        text = buffer.getvalue()
    atomic_write_text(path, text)
    return path
