"""Detecting a dataset's format and normalising each row to a `Record`.

Formats (the names users know from LLaMA-Factory, Axolotl and TRL):
    chat        {"messages": [{"role": "user", "content": ...}, ...], "tools": [...]}   (OpenAI, TRL, Axolotl)
    sharegpt    {"conversations": [{"from": "human", "value": ...}, ...], "tools": "..."} (ShareGPT, LLaMA-Factory)
    alpaca      {"instruction": ..., "input": ..., "output": ..., "system": ...}      (Alpaca)
    completion  {"prompt": ..., "completion": ...} and question/answer, query/response, ...;
                with lists of turns it is TRL's conversational prompt-completion layout
    text        {"text": ...} or a .txt file                                          (pre-training)
    preference  {"prompt": ..., "chosen": ..., "rejected": ...} and the LLaMA-Factory and OpenAI pair
                layouts (DPO, ORPO; see datasets/preference.py)
    kto         {"prompt": ..., "completion": ..., "label": true} and LLaMA-Factory's kto_tag   (KTO)
Alpaca, ShareGPT and conversational prompt-completion become chat records, rendered with the
tokenizer's template. The turns themselves are read by `messages.conversation`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from studio.core.datasets import preference
from studio.core.datasets.messages import FieldUse, conversation, tool_list, trains
from studio.core.datasets.problems import RowProblem
from studio.core.datasets.records import Record
from studio.core.errors import DataError

__all__ = ["FIELDS", "PAIRED", "REQUIRED", "RowProblem", "check_mapping", "detect_format", "normalise", "used_columns"]

# The fields each format reads; a column mapping renames file columns to these.
FIELDS: dict[str, tuple[str, ...]] = {
    "chat": ("messages", "system", "tools"),
    "sharegpt": ("conversations", "system", "tools"),
    "alpaca": ("instruction", "input", "output", "system", "history"),
    "completion": ("prompt", "completion"),
    "text": ("text",),
    # prompt may be text, turns (sharegpt: prompt=conversations) or OpenAI's input object (prompt=input);
    # instruction/input are LLaMA-Factory's alpaca preference layout.
    "preference": ("prompt", "chosen", "rejected", "instruction", "input", "system", "tools"),
    # without a prompt, completion is the whole conversation and its last assistant turn the answer.
    "kto": ("prompt", "completion", "label", "system", "tools"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "chat": ("messages",), "sharegpt": ("conversations",), "alpaca": ("instruction", "output"),
    "completion": ("prompt", "completion"), "text": ("text",), "preference": ("chosen", "rejected"),
    "kto": ("completion", "label"),
}
PAIRED = ("preference", "kto")       # the formats of the preference objectives
# Column pairs that mean prompt/completion in common datasets.
COMPLETION_ALIASES = [("question", "answer"), ("query", "response"), ("input", "output"),
                      ("source", "target"), ("prompt", "response"), ("instruction", "response")]
SYSTEM_ROLES = ("system", "developer")


def detect_format(rows: list[dict[str, Any]], columns: dict[str, str],
                  objective: str = "sft") -> tuple[str, dict[str, str]]:
    """The format and (possibly extended) column mapping that fits most of the sample rows.

    A file can fit both kinds (HuggingFaceH4's preference sets also hold `messages`): the
    objective decides which is read, SFT formats first for sft, pairs and labels first otherwise."""
    votes: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
    for row in rows:
        renamed = _renamed(row, columns)
        keys = set(renamed)
        if objective == "sft":
            guess = _guess(keys) or preference.guess(renamed, objective)
        else:
            guess = preference.guess(renamed, objective) or _guess(keys)
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
                 "text (text), preference (prompt/chosen/rejected), kto (prompt/completion/label)")
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


def used_columns(fmt: str, columns: dict[str, str]) -> set[str]:
    """The file columns the format reads, after the mapping (OpenAI's older `functions` is tools)."""
    used = {columns.get(name, name) for name in FIELDS[fmt]}
    return used | {"functions"} if "tools" in FIELDS[fmt] and "tools" not in columns else used


def _renamed(row: dict[str, Any], columns: dict[str, str]) -> dict[str, Any]:
    if not columns:
        return row
    out = {k: v for k, v in row.items() if k not in columns.values()}
    for name, column in columns.items():
        if column in row:
            out[name] = row[column]
    return out


def normalise(row: Any, fmt: str, columns: dict[str, str], system_prompt: str = "",
              use: FieldUse | None = None, reasoning: str = "template", loss_on: str = "assistant") -> Record:
    """One raw row to a Record, or RowProblem saying why it cannot be used.

    `use` collects what the turns held that is not used, and the per-turn controls seen; it is
    merged into the report only for rows that were kept."""
    use = use if use is not None else FieldUse()
    if not isinstance(row, dict):
        raise RowProblem("not a record", f"expected an object with fields, got {type(row).__name__}")
    row = _renamed(row, columns)
    for name in REQUIRED[fmt]:
        if name not in row or row[name] is None:
            shown = [repr(columns.get(r, r)) for r in REQUIRED[fmt]]
            raise RowProblem("missing field", f"no {columns.get(name, name)!r} (the {fmt} format needs "
                             f"{' and '.join(shown)})")
    if fmt in PAIRED:
        read = preference.preference_record if fmt == "preference" else preference.kto_record
        record, layout = read(row, columns, use, system_prompt, reasoning)
        use.layouts[layout] += 1
        return record
    if fmt in ("chat", "sharegpt"):
        field = "messages" if fmt == "chat" else "conversations"
        record = Record("chat", messages=conversation(row[field], field, use, reasoning=reasoning))
    elif fmt == "alpaca":
        record = Record("chat", messages=_alpaca_messages(row))
    elif fmt == "completion" and _turns(row["completion"]):   # TRL conversational prompt-completion
        prompt = row["prompt"] if _turns(row["prompt"]) else \
            [{"role": "user", "content": _text(row, "prompt")}]
        record = Record("chat", messages=conversation(prompt, "prompt", use, reasoning=reasoning, context=True)
                        + conversation(row["completion"], "completion", use, reasoning=reasoning))
    elif fmt == "completion":
        record = Record("completion", prompt=_text(row, "prompt", allow_empty=True),
                        completion=_text(row, "completion"))
    else:
        record = Record("text", text=_text(row, "text"))
    if record.kind == "chat":
        assert record.messages is not None
        system = row.get("system") if fmt != "alpaca" else None
        if isinstance(system, str) and system.strip() and record.messages[0]["role"] not in SYSTEM_ROLES:
            record.messages.insert(0, {"role": "system", "content": system})
        if system_prompt and record.messages[0]["role"] not in SYSTEM_ROLES:
            record.messages.insert(0, {"role": "system", "content": system_prompt})
        tools = next((row[k] for k in ("tools", "functions") if row.get(k) not in (None, "", [])), None)
        if tools is not None:
            record.tools = tool_list(tools)
        _check_conversation(record.messages, loss_on)
    return record


def _turns(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(t, dict) for t in value)


def _text(row: dict[str, Any], name: str, allow_empty: bool = False) -> str:
    value = row[name]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise RowProblem("wrong type", f"{name!r} must be text, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise RowProblem("empty content", f"{name!r} is empty")
    return value


def _alpaca_messages(row: dict[str, Any]) -> list[dict[str, Any]]:
    instruction = _text(row, "instruction")
    extra = row.get("input")
    if extra is not None and not isinstance(extra, str):
        raise RowProblem("wrong type", f"'input' must be text, got {type(extra).__name__}")
    messages: list[dict[str, Any]] = []
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


def _check_conversation(messages: list[dict[str, Any]], loss_on: str) -> None:
    for i, msg in enumerate(messages[1:], start=2):
        if msg["role"] in SYSTEM_ROLES:
            raise RowProblem("misplaced system message", f"message {i} is a {msg['role']} message; only the "
                             "first may be")
    if not any(m["role"] == "assistant" for m in messages):
        raise RowProblem("no assistant message", "the conversation has no assistant answer to learn from")
    if not any(trains(m, loss_on) and any(t for _, _, t in m.get("train_detail", [[0, 0, True]])) for m in messages):
        raise RowProblem("nothing to train", "every assistant turn is marked not to be trained "
                         "(weight 0 / train false)")
