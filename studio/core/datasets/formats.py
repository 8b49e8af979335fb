"""Detecting a dataset's format and normalising each row to a `Record`.

Formats (the names users know from LLaMA-Factory, Axolotl and TRL):
    chat        {"messages": [{"role": "user", "content": ...}, ...]}            (OpenAI)
    sharegpt    {"conversations": [{"from": "human", "value": ...}, ...]}        (ShareGPT)
    alpaca      {"instruction": ..., "input": ..., "output": ..., "system": ...} (Alpaca)
    completion  {"prompt": ..., "completion": ...} and question/answer, query/response, ...
    text        {"text": ...} or a .txt file                                     (pre-training)
Alpaca and ShareGPT become chat records, so they are rendered with the tokenizer's template.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from studio.core.datasets.records import Record
from studio.core.errors import DataError

# The fields each format reads; a column mapping renames file columns to these.
FIELDS: dict[str, tuple[str, ...]] = {
    "chat": ("messages", "system"),
    "sharegpt": ("conversations", "system"),
    "alpaca": ("instruction", "input", "output", "system", "history"),
    "completion": ("prompt", "completion"),
    "text": ("text",),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "chat": ("messages",), "sharegpt": ("conversations",), "alpaca": ("instruction", "output"),
    "completion": ("prompt", "completion"), "text": ("text",),
}
# Column pairs that mean prompt/completion in common datasets.
COMPLETION_ALIASES = [("question", "answer"), ("query", "response"), ("input", "output"),
                      ("source", "target"), ("prompt", "response"), ("instruction", "response")]
ROLES = ("system", "user", "assistant")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "model": "assistant", "bot": "assistant", "chatgpt": "assistant", "system": "system"}


class RowProblem(Exception):
    """A row that cannot be used: category (for the summary) and detail (for the person)."""

    def __init__(self, category: str, detail: str = "") -> None:
        super().__init__(category)
        self.category = category
        self.detail = detail


def detect_format(rows: list[dict[str, Any]], columns: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The format and (possibly extended) column mapping that fits most of the sample rows."""
    votes: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
    for row in rows:
        keys = set(_renamed(row, columns))
        guess = _guess(keys)
        if guess:
            votes[(guess[0], tuple(sorted(guess[1].items())))] += 1
    if not votes:
        seen = sorted({k for row in rows for k in row})
        near = [f"{fmt} records need {' and '.join(repr(r) for r in req)}" for fmt, req in REQUIRED.items()
                if len(req) > 1 and set(req) & set(seen)]
        raise DataError(
            f"cannot tell the dataset format from its columns: {', '.join(seen) or '(none)'}"
            + (f" ({'; '.join(near)})" if near else ""),
            hint="name the format and columns, e.g. --format completion --columns "
                 "prompt=<column>,completion=<column>; formats: chat (messages), sharegpt "
                 "(conversations), alpaca (instruction/input/output), completion (prompt/completion), "
                 "text (text)")
    (fmt, extra), _ = votes.most_common(1)[0]
    return fmt, {**dict(extra), **columns}


def _guess(keys: set[str]) -> tuple[str, dict[str, str]] | None:
    if "messages" in keys:
        return "chat", {}
    if "conversations" in keys:
        return "sharegpt", {}
    if {"instruction", "output"} <= keys:
        return "alpaca", {}
    if {"prompt", "completion"} <= keys:
        return "completion", {}
    for prompt_col, completion_col in COMPLETION_ALIASES:
        if {prompt_col, completion_col} <= keys:
            return "completion", {"prompt": prompt_col, "completion": completion_col}
    if "text" in keys:
        return "text", {}
    return None


def check_mapping(fmt: str, columns: dict[str, str], available: set[str]) -> None:
    fields = FIELDS.get(fmt, ())
    for name, column in columns.items():
        if name not in fields:
            raise DataError(f"column mapping names the field {name!r}, which the {fmt} format does not use",
                            hint=f"map these fields of the {fmt} format: {', '.join(fields)}")
        if available and column not in available:
            raise DataError(f"column mapping {name}={column}: the file has no column {column!r}",
                            hint=f"its columns are: {', '.join(sorted(available))}")


def _renamed(row: dict[str, Any], columns: dict[str, str]) -> dict[str, Any]:
    if not columns:
        return row
    out = {k: v for k, v in row.items() if k not in columns.values()}
    for name, column in columns.items():
        if column in row:
            out[name] = row[column]
    return out


def normalise(row: Any, fmt: str, columns: dict[str, str], system_prompt: str = "") -> Record:
    """One raw row to a Record, or RowProblem saying why it cannot be used."""
    if not isinstance(row, dict):
        raise RowProblem("not a record", f"expected an object with fields, got {type(row).__name__}")
    row = _renamed(row, columns)
    for name in REQUIRED[fmt]:
        if name not in row or row[name] is None:
            raise RowProblem("missing field", f"no {name!r} (the {fmt} format needs "
                             f"{' and '.join(repr(r) for r in REQUIRED[fmt])})")
    if fmt == "chat":
        record = Record("chat", messages=_chat_messages(row["messages"]))
    elif fmt == "sharegpt":
        record = Record("chat", messages=_sharegpt_messages(row["conversations"]))
    elif fmt == "alpaca":
        record = Record("chat", messages=_alpaca_messages(row))
    elif fmt == "completion":
        record = Record("completion", prompt=_text(row, "prompt", allow_empty=True),
                        completion=_text(row, "completion"))
    else:
        record = Record("text", text=_text(row, "text"))
    if record.kind == "chat":
        assert record.messages is not None
        system = row.get("system") if fmt != "alpaca" else None
        if isinstance(system, str) and system.strip() and record.messages[0]["role"] != "system":
            record.messages.insert(0, {"role": "system", "content": system})
        if system_prompt and record.messages[0]["role"] != "system":
            record.messages.insert(0, {"role": "system", "content": system_prompt})
        _check_conversation(record.messages)
    return record


def _text(row: dict[str, Any], name: str, allow_empty: bool = False) -> str:
    value = row[name]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise RowProblem("wrong type", f"{name!r} must be text, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise RowProblem("empty content", f"{name!r} is empty")
    return value


def _content(value: Any, index: int) -> str:
    if isinstance(value, list):  # OpenAI content parts: keep the text parts
        parts = []
        for part in value:
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                parts.append(part["text"])
            else:
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise RowProblem("unsupported content", f"message {index}: content part of type {kind!r} "
                                 "(only text is supported)")
        value = "".join(parts)
    if not isinstance(value, str):
        raise RowProblem("wrong type", f"message {index}: content must be text, got {type(value).__name__}")
    if not value.strip():
        raise RowProblem("empty content", f"message {index} has empty content")
    return value


def _chat_messages(messages: Any) -> list[dict[str, str]]:
    if not isinstance(messages, list) or not messages:
        raise RowProblem("wrong type", "'messages' must be a non-empty list of {role, content}")
    out = []
    for i, msg in enumerate(messages, start=1):
        if not isinstance(msg, dict) or "role" not in msg or "content" not in msg:
            raise RowProblem("missing field", f"message {i} needs 'role' and 'content'")
        role = msg["role"]
        if role not in ROLES:
            raise RowProblem("unknown role", f"message {i} has role {role!r}; use one of {', '.join(ROLES)}")
        out.append({"role": role, "content": _content(msg["content"], i)})
    return out


def _sharegpt_messages(turns: Any) -> list[dict[str, str]]:
    if not isinstance(turns, list) or not turns:
        raise RowProblem("wrong type", "'conversations' must be a non-empty list of {from, value}")
    out = []
    for i, turn in enumerate(turns, start=1):
        if not isinstance(turn, dict) or "from" not in turn or "value" not in turn:
            raise RowProblem("missing field", f"turn {i} needs 'from' and 'value'")
        role = SHAREGPT_ROLES.get(str(turn["from"]).lower())
        if role is None:
            raise RowProblem("unknown role", f"turn {i} is from {turn['from']!r}; use human, gpt or system")
        out.append({"role": role, "content": _content(turn["value"], i)})
    return out


def _alpaca_messages(row: dict[str, Any]) -> list[dict[str, str]]:
    instruction = _text(row, "instruction")
    extra = row.get("input")
    if extra is not None and not isinstance(extra, str):
        raise RowProblem("wrong type", f"'input' must be text, got {type(extra).__name__}")
    messages: list[dict[str, str]] = []
    system = row.get("system")
    if isinstance(system, str) and system.strip():
        messages.append({"role": "system", "content": system})
    history = row.get("history") or []
    if not isinstance(history, list):
        raise RowProblem("wrong type", "'history' must be a list of [instruction, response] pairs")
    for pair in history:
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise RowProblem("wrong type", "'history' must be a list of [instruction, response] pairs")
        messages += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
    user = f"{instruction}\n\n{extra}" if extra and extra.strip() else instruction
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": _text(row, "output")}]
    return messages


def _check_conversation(messages: list[dict[str, str]]) -> None:
    for i, msg in enumerate(messages[1:], start=2):
        if msg["role"] == "system":
            raise RowProblem("misplaced system message", f"message {i} is a system message; only the first may be")
    if not any(m["role"] == "assistant" for m in messages):
        raise RowProblem("no assistant message", "the conversation has no assistant answer to learn from")
