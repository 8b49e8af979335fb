"""Preference pairs (DPO, ORPO) and labelled answers (KTO): the layouts people bring, read into
`Record`s whose `to_dict()` is TRL's own dataset layout, which its trainers take unchanged.

    preference  TRL            {"prompt", "chosen", "rejected"}, standard (text) or conversational (turns);
                               {"chosen", "rejected"} alone: the prompt is the turns both share (implicit)
                LLaMA-Factory  sharegpt {"conversations", "chosen": {from, value}, "rejected": {...}, "system"?}
                               (read as prompt=conversations); alpaca {"instruction", "input"?, "chosen",
                               "rejected", "system"?}
                OpenAI         {"input": {"messages", "tools"?, "parallel_tool_calls"?}, "preferred_output",
                               "non_preferred_output"} (read as prompt=input, chosen=..., rejected=...)
    kto         TRL            {"prompt", "completion", "label"}, standard or conversational
                LLaMA-Factory  {"messages" | "conversations", "kto_tag" | "label"} (read as completion=messages):
                               the last assistant turn is the completion, the turns before it the prompt

Turns go through `messages.conversation`, so tool calls and reasoning mean what they mean for chat
records. What an SFT row may say per turn (OpenAI `weight`, Axolotl `train`) has no meaning for a
preference objective, which always trains the answers: such keys are reported, not honoured.
A conversational prompt must end with a user or tool turn (TRL renders it with the generation
prompt, where the answer starts), and the answers must be assistant turns: anything else is a row
error that says which turn, as are an empty answer and a pair whose two answers are the same.
"""

from __future__ import annotations

from typing import Any

from studio.core.datasets.messages import FieldUse, conversation, tool_list
from studio.core.datasets.problems import RowProblem
from studio.core.datasets.records import Record

ANSWER_ROLES = ("assistant", "tool")
KEPT_COUNTS = ("tool_calls", "tool_results", "reasoning_turns", "reasoning_dropped")
FLAG_KEYS = ("weight", "train", "train_detail")
OPENAI_INPUT_KEYS = {"messages", "tools", "parallel_tool_calls"}
CHAT_COLUMNS = ("messages", "conversations")


def guess(row: dict[str, Any], objective: str) -> tuple[str, dict[str, str]] | None:
    """The preference or KTO format and the mapping that reads this row, or None."""
    keys = set(row)
    if {"input", "preferred_output", "non_preferred_output"} <= keys:
        return "preference", {"prompt": "input", "chosen": "preferred_output", "rejected": "non_preferred_output"}
    if {"chosen", "rejected"} <= keys:
        if "prompt" not in keys:
            for column in CHAT_COLUMNS:      # LLaMA-Factory: the context turns, then one chosen/rejected turn
                if column in keys and isinstance(row["chosen"], dict):
                    return "preference", {"prompt": column}
        return "preference", {}
    tag = "kto_tag" if "kto_tag" in keys else "label" if "label" in keys else ""
    if not tag or (tag == "label" and objective != "kto" and not isinstance(row["label"], bool)):
        return None
    mapping = {"label": tag} if tag == "kto_tag" else {}
    if "completion" in keys:
        return "kto", mapping
    column = next((c for c in CHAT_COLUMNS if c in keys), "")
    return ("kto", {**mapping, "completion": column}) if column else None


def preference_record(row: dict[str, Any], columns: dict[str, str], use: FieldUse, system_prompt: str,
                      reasoning: str) -> tuple[Record, str]:
    """One pair and the name of the layout it was read in (for the import report)."""
    name = _namer(columns)
    tools: Any = row.get("tools")
    raw_prompt = row.get("prompt")
    chosen_raw, rejected_raw = row["chosen"], row["rejected"]
    if row.get("instruction") is not None:
        prompt: str | list[dict[str, Any]] = [{"role": "user", "content": _alpaca_prompt(row)}]
        layout = "LLaMA-Factory alpaca preference"
    elif isinstance(raw_prompt, dict) and "messages" in raw_prompt:
        prompt, tools = _openai_input(raw_prompt, name("prompt"), use, reasoning, tools)
        layout = "OpenAI preference"
    elif _is_turns(raw_prompt):
        prompt = _messages(raw_prompt, name("prompt"), use, reasoning)
        layout = "LLaMA-Factory sharegpt preference" if any("from" in t for t in raw_prompt) \
            else "TRL conversational preference, explicit prompt"
    elif raw_prompt is None or (isinstance(raw_prompt, str) and _whole_conversation(chosen_raw)):
        # No prompt, or (as TRL's maybe_extract_prompt does) a text prompt beside whole conversations.
        record = _implicit(chosen_raw, rejected_raw, name, use, reasoning)
        return _finish(record, row, tools, system_prompt, name), record_layout(record, implicit=True)
    elif isinstance(raw_prompt, str):
        prompt = raw_prompt
        layout = ""
    else:
        raise RowProblem("wrong type", f"{name('prompt')!r} must be text or a list of turns, "
                         f"got {type(raw_prompt).__name__}")
    conversational = isinstance(prompt, list) or not isinstance(chosen_raw, str) or not isinstance(rejected_raw, str)
    if conversational and isinstance(prompt, str):
        prompt = [{"role": "user", "content": _text(prompt, name("prompt"))}]
    record = Record("preference", prompt=prompt,
                    chosen=_answer(chosen_raw, name("chosen"), conversational, use, reasoning),
                    rejected=_answer(rejected_raw, name("rejected"), conversational, use, reasoning))
    return _finish(record, row, tools, system_prompt, name), layout or record_layout(record, implicit=False)


def kto_record(row: dict[str, Any], columns: dict[str, str], use: FieldUse, system_prompt: str,
               reasoning: str) -> tuple[Record, str]:
    """One labelled answer and the name of its layout."""
    name = _namer(columns)
    label = _label(row["label"], name("label"))
    raw_prompt, raw_completion = row.get("prompt"), row["completion"]
    if raw_prompt is None:
        turns = _messages(raw_completion, name("completion"), use, reasoning)
        if turns[-1]["role"] != "assistant":
            raise RowProblem("no answer", f"the last turn of {name('completion')!r} is {_a(turns[-1]['role'])} turn: "
                             "the last assistant turn is the completion the label judges")
        record = Record("kto", prompt=turns[:-1], completion=turns[-1:], label=label)
        layout = "LLaMA-Factory KTO (the last assistant turn is the completion)"
    else:
        conversational = _is_turns(raw_prompt) or not isinstance(raw_completion, str)
        if conversational:
            prompt: str | list[dict[str, Any]] = _messages(raw_prompt, name("prompt"), use, reasoning) \
                if _is_turns(raw_prompt) else [{"role": "user", "content": _text(raw_prompt, name("prompt"))}]
        else:
            prompt = _text(raw_prompt, name("prompt"), allow_empty=True)
        record = Record("kto", prompt=prompt, label=label,
                        completion=_answer(raw_completion, name("completion"), conversational, use, reasoning))
        layout = f"TRL {'conversational' if conversational else 'standard'} unpaired preference (KTO)"
    return _finish(record, row, row.get("tools"), system_prompt, name), layout


def record_layout(record: Record, implicit: bool) -> str:
    style = "conversational" if isinstance(record.prompt, list) else "standard"
    return f"TRL {style} preference, {'implicit' if implicit else 'explicit'} prompt"


def unpair(records: list[Record]) -> list[Record]:
    """Each pair as two KTO examples, chosen desirable and rejected undesirable (TRL's
    unpair_preference_dataset), kept next to each other and pointing at the same row."""
    out = []
    for r in records:
        for answer, label in ((r.chosen, True), (r.rejected, False)):
            out.append(Record("kto", prompt=r.prompt, completion=answer, label=label, tools=r.tools, source=r.source))
    return out


# ---- the parts of a row ---------------------------------------------------------------------------
def _namer(columns: dict[str, str]) -> Any:
    """The file's own column name for a field, so messages point at what the person can see."""
    return lambda field: columns.get(field, field)


def _a(word: str) -> str:
    return f"{'an' if word[:1] in 'aeio' else 'a'} {word}"   # a user, an assistant


def _is_turns(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(t, dict) for t in value)


def _whole_conversation(value: Any) -> bool:
    """Turns that start before the answer (a user or system turn first): TRL's implicit prompt."""
    return _is_turns(value) and str(value[0].get("role", value[0].get("from", ""))).lower() not in (
        "assistant", "gpt", "model", "bot", "chatgpt")


def _text(value: Any, field: str, allow_empty: bool = False) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise RowProblem("wrong type", f"{field!r} must be text, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise RowProblem("empty content", f"{field!r} is empty")
    return value


def _label(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    got = f"the text {value!r}" if isinstance(value, str) else repr(value)
    raise RowProblem("wrong type", f"{field!r} must be true or false (a JSON boolean), got {got}: TRL's "
                     "KTOTrainer reads it as a boolean. Write true/false without quotes (a CSV cell is always "
                     "text: use JSONL or Parquet for KTO data)")


def _messages(value: Any, field: str, use: FieldUse, reasoning: str) -> list[dict[str, Any]]:
    """Normalised turns without our private training flags, which a preference objective ignores."""
    scratch = FieldUse()
    messages = conversation(value, field, scratch, reasoning=reasoning)
    use.unused.update(scratch.unused)
    for key in KEPT_COUNTS:
        use.counts[key] += scratch.counts[key]
    for raw, message in zip(value, messages):
        for key in FLAG_KEYS:
            if key in raw:
                use.unused[key] += 1
        if "train_detail" in message and "train_detail" not in raw:
            use.unused["train (content parts)"] += 1
        message.pop("train", None)
        message.pop("train_detail", None)
    return messages


def _answer(value: Any, field: str, conversational: bool, use: FieldUse,
            reasoning: str) -> str | list[dict[str, Any]]:
    if value is None:
        raise RowProblem("missing field", f"no {field!r}: a pair needs both answers")
    if not conversational:
        return _text(value, field)
    if isinstance(value, dict):          # LLaMA-Factory: one {"from": "gpt", "value": ...} turn
        value = [value]
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return [{"role": "assistant", "content": _text(value, field)}]
    turns = _messages(value, field, use, reasoning)
    _check_answer(turns, field)
    return turns


def _check_answer(turns: list[dict[str, Any]], field: str) -> None:
    for i, turn in enumerate(turns, start=1):
        if turn["role"] not in ANSWER_ROLES or (i == 1 and turn["role"] != "assistant"):
            raise RowProblem("not an answer", f"{field!r} turn {i} is {_a(turn['role'])} turn: an answer is assistant "
                             "turns (with tool results between them); the turns before it belong in the prompt")
    if turns[-1]["role"] != "assistant":
        raise RowProblem("not an answer", f"{field!r} ends with {_a(turns[-1]['role'])} turn: an answer ends with "
                         "the assistant's turn")


def _alpaca_prompt(row: dict[str, Any]) -> str:
    instruction = _text(row["instruction"], "instruction")
    extra = row.get("input")
    if extra is not None and not isinstance(extra, str):
        raise RowProblem("wrong type", f"'input' must be text, got {type(extra).__name__}")
    return f"{instruction}\n\n{extra}" if extra and extra.strip() else instruction


def _openai_input(value: dict[str, Any], field: str, use: FieldUse, reasoning: str,
                  tools: Any) -> tuple[list[dict[str, Any]], Any]:
    for key in value:
        if key not in OPENAI_INPUT_KEYS or key == "parallel_tool_calls":   # templates do not render it
            use.unused[f"{field}.{key}"] += 1
    return _messages(value["messages"], f"{field}.messages", use, reasoning), value.get("tools", tools)


def _implicit(chosen: Any, rejected: Any, name: Any, use: FieldUse, reasoning: str) -> Record:
    """TRL's implicit prompt: what both answers share is the prompt (turns, or text up to a word)."""
    if isinstance(chosen, str) and isinstance(rejected, str):
        chosen, rejected = _text(chosen, name("chosen")), _text(rejected, name("rejected"))
        _differ(chosen, rejected)
        same = next((i for i, (a, b) in enumerate(zip(chosen, rejected)) if a != b), min(len(chosen), len(rejected)))
        cut = max(chosen.rfind(" ", 0, same + 1), chosen.rfind("\n", 0, same + 1))
        if cut <= 0:
            raise RowProblem("no shared prompt", f"{name('chosen')!r} and {name('rejected')!r} do not start with "
                             "the same words: with no prompt column, both must hold the prompt followed by the answer "
                             "(TRL's implicit prompt); add a prompt column")
        return Record("preference", prompt=chosen[:cut], chosen=chosen[cut:], rejected=rejected[cut:])
    if not (_is_turns(chosen) and _is_turns(rejected)):
        raise RowProblem("wrong type", f"{name('chosen')!r} and {name('rejected')!r} must both be text or both "
                         "lists of turns")
    a = _messages(chosen, name("chosen"), use, reasoning)
    b = _messages(rejected, name("rejected"), use, reasoning)
    _differ(a, b)
    n = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    if n == 0:
        raise RowProblem("no shared prompt", f"{name('chosen')!r} and {name('rejected')!r} differ from their first "
                         "turn: with no prompt column, both must be the same conversation up to the answer "
                         "(TRL's implicit prompt)")
    for field, rest in ((name("chosen"), a[n:]), (name("rejected"), b[n:])):
        if not rest:
            raise RowProblem("empty content", f"{field!r} holds only the turns both share: it has no answer")
        if any(t["role"] not in ANSWER_ROLES for t in rest) or rest[0]["role"] != "assistant":
            raise RowProblem("differ before the last turns", f"{name('chosen')!r} and {name('rejected')!r} differ "
                             f"at turn {n + 1} ({a[n]['role'] if n < len(a) else 'end'} / "
                             f"{b[n]['role'] if n < len(b) else 'end'}), before their last assistant turns: a pair "
                             "must be two answers to the same conversation")
    return Record("preference", prompt=a[:n], chosen=a[n:], rejected=b[n:])


def _differ(chosen: Any, rejected: Any) -> None:
    if chosen == rejected:
        raise RowProblem("identical answers", "chosen and rejected are the same: the pair has nothing to learn from")


def _finish(record: Record, row: dict[str, Any], tools: Any, system_prompt: str, name: Any) -> Record:
    """System prompt, tools and the checks every conversational record shares."""
    if record.kind == "preference":
        _differ(record.chosen, record.rejected)
    if not isinstance(record.prompt, list):
        return record
    prompt = record.prompt
    system = row.get("system")
    for text in (system, system_prompt):
        if isinstance(text, str) and text.strip() and not (prompt and prompt[0]["role"] in ("system", "developer")):
            prompt.insert(0, {"role": "system", "content": text})
    for i, turn in enumerate(prompt[1:], start=2):
        if turn["role"] in ("system", "developer"):
            raise RowProblem("misplaced system message", f"{name('prompt')!r} turn {i} is a {turn['role']} "
                             "message; only the first may be")
    last = prompt[-1]["role"] if prompt else "nothing"
    if last not in ("user", "tool"):
        raise RowProblem("prompt does not end where an answer starts",
                         f"the prompt ends with {_a(last) + ' turn' if prompt else 'nothing'}: it must end "
                         "with the user's (or a tool's) turn, after which the answer is written")
    if tools not in (None, "", []):
        record.tools = tool_list(tools)
    return record
