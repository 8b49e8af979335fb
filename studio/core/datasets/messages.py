"""One conversation's turns, from the layouts people bring, to the messages chat templates read.

Every chat-like layout (OpenAI `messages`, ShareGPT/LLaMA-Factory `conversations`, Axolotl,
TRL's conversational layouts) goes through `conversation()`, so a field means the same in all
of them. A normalised message is a plain dict a Hugging Face chat template understands:

    role               system | developer | user | assistant | tool
    content            text ("" for an assistant turn that only calls tools)
    tool_calls         [{"type": "function", "function": {"name", "arguments": {...}}, "id"?}]
    tool_call_id, name on tool results
    reasoning_content  the assistant's reasoning (also read from `reasoning` and `thinking`)

plus two keys of ours, which the renderer removes before the template sees the message:

    train              True/False when the file says so (OpenAI `weight`, Axolotl `train`)
    train_detail       [[start, end, trained], ...] covering `content` (half-open character
                       ranges), from Axolotl's `train_detail` or per-part `train` flags

Turn fields we do not use are counted (`FieldUse`) so the import report can name them: a file's
field is honoured, refused, or reported, never silently dropped.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from studio.core.datasets.problems import ModalityProblem, RowProblem

ROLE_NAMES = {
    "system": "system", "developer": "developer", "user": "user", "human": "user", "assistant": "assistant",
    "gpt": "assistant", "model": "assistant", "bot": "assistant", "chatgpt": "assistant", "tool": "tool",
    "function": "tool", "ipython": "tool", "observation": "tool", "function_call": "assistant",
}
REASONING_KEYS = ("reasoning_content", "thinking", "reasoning")     # also the order templates are searched in
TURN_KEYS = {"role", "from", "content", "value", "tool_calls", "function_call", "tool_call_id", "name",
             "weight", "train", "train_detail", *REASONING_KEYS}
TEXT_PARTS = ("text", "input_text", "output_text")
MEDIA_PARTS = {"image": "images", "image_url": "images", "input_image": "images", "audio": "audio",
               "input_audio": "audio", "audio_url": "audio", "video": "video", "video_url": "video",
               "file": "files", "input_file": "files"}
REASONING_MODES = ("template", "inline", "drop")


class FieldUse:
    """What the turns of a file held that training does not use, and the per-turn controls seen."""

    def __init__(self) -> None:
        self.unused: Counter[str] = Counter()      # turn field -> number of turns that had it
        self.counts: Counter[str] = Counter()      # assistant_turns, untrained_turns, tool_calls, ...
        self.layouts: Counter[str] = Counter()     # preference/KTO layout name -> rows read in it

    def merge(self, other: "FieldUse") -> None:
        self.unused.update(other.unused)
        self.counts.update(other.counts)
        self.layouts.update(other.layouts)


def conversation(turns: Any, field: str, use: FieldUse, *, reasoning: str = "template",
                 context: bool = False) -> list[dict[str, Any]]:
    """The normalised messages of one list of turns; RowProblem says why a turn cannot be used.

    `context` marks the turns as a prompt (TRL's conversational prompt-completion): assistant
    turns there are context, never trained."""
    if not isinstance(turns, list) or not turns:
        raise RowProblem("wrong type", f"{field!r} must be a non-empty list of turns "
                         "({role, content} or {from, value})")
    out = []
    for i, turn in enumerate(turns, start=1):
        message = _turn(turn, i, use, reasoning)
        if context and message["role"] == "assistant" and "train" not in message:
            message["train"] = False
        out.append(message)
    return out


def _turn(turn: Any, i: int, use: FieldUse, reasoning: str) -> dict[str, Any]:
    if not isinstance(turn, dict):
        raise RowProblem("wrong type", f"turn {i} is a {type(turn).__name__}, not an object with a role")
    # Arrow/Parquet rows hold every key, unset as None; exports write "tool_calls": [] for no call.
    turn = {k: v for k, v in turn.items() if v is not None and not (k == "tool_calls" and v == [])}
    raw_role = turn.get("role", turn.get("from"))
    if raw_role is None:
        raise RowProblem("missing field", f"turn {i} has no 'role' (or 'from')")
    role = ROLE_NAMES.get(str(raw_role).lower())
    if role is None:
        said = f"has role {raw_role!r}" if "role" in turn else f"is from {raw_role!r}"
        raise RowProblem("unknown role", f"turn {i} {said}; use system, developer, user, assistant or tool "
                         "(ShareGPT: human, gpt, function_call, observation)")
    for key in turn:
        if key not in TURN_KEYS:
            use.unused[key] += 1
    raw_content = turn.get("content", turn.get("value"))
    if raw_content is None and not (role == "assistant" and (turn.get("tool_calls") or turn.get("function_call"))):
        raise RowProblem("missing field", f"turn {i} needs 'content' (or 'value')")
    message: dict[str, Any] = {"role": role}
    if str(raw_role).lower() == "function_call":        # ShareGPT/LLaMA-Factory: the call is the value
        message["content"] = ""
        message["tool_calls"] = _calls_from_value(raw_content, i)
    else:
        content, detail = _content(raw_content, i, role)
        message["content"] = content
        if detail is not None:
            message["train_detail"] = detail
        calls = turn.get("tool_calls")
        if calls is None and turn.get("function_call") is not None:   # OpenAI's older single call
            calls = [turn["function_call"]]
        if calls is not None:
            if role != "assistant":
                raise RowProblem("wrong field", f"turn {i}: only assistant turns can hold tool calls")
            message["tool_calls"] = _tool_calls(calls, i)
    if role == "tool":
        for key in ("tool_call_id", "name"):
            if isinstance(turn.get(key), str):
                message[key] = turn[key]
    elif isinstance(turn.get("name"), str):
        message["name"] = turn["name"]
    _training_flags(turn, message, i)
    _reasoning(turn, message, i, reasoning, use)
    if role == "assistant" and not (message["content"].strip() or message.get("tool_calls")
                                    or message.get("reasoning_content")):
        raise RowProblem("empty content", f"turn {i}: the assistant turn has no text and no tool call")
    if role != "assistant" and not message["content"].strip():
        raise RowProblem("empty content", f"turn {i} ({role}) has empty content")
    _count(message, use)
    return message


def _content(value: Any, i: int, role: str) -> tuple[str, list[list[Any]] | None]:
    """The text of a turn, and its train_detail when content parts carry their own `train`."""
    if value is None:
        return "", None
    if role == "tool" and isinstance(value, (dict, list)) and not _is_parts(value):
        return json.dumps(value, ensure_ascii=False), None        # a structured tool result
    if isinstance(value, str):
        return value, None
    if not _is_parts(value):
        category = "unsupported content" if isinstance(value, list) else "wrong type"
        raise RowProblem(category, f"turn {i}: content must be text or a list of text parts "
                         f"({{\"type\": \"text\", \"text\": ...}}), got {type(value).__name__}")
    texts: list[str] = []
    detail: list[list[Any]] = []
    flagged = False
    for part in value:
        kind = part.get("type", "text") if isinstance(part, dict) else None
        if kind in MEDIA_PARTS:
            raise ModalityProblem(MEDIA_PARTS[kind], f"turn {i} has a content part of type {kind!r}")
        text = part.get("text", part.get("value")) if isinstance(part, dict) else None
        if kind not in TEXT_PARTS or not isinstance(text, str):
            shown = kind if isinstance(part, dict) else type(part).__name__
            raise RowProblem("unsupported content", f"turn {i}: content part {shown!r} is not a text part "
                             "({\"type\": \"text\", \"text\": ...})")
        start = sum(len(t) for t in texts)
        texts.append(text)
        train = part.get("train")
        if train is not None and not isinstance(train, bool):
            raise RowProblem("wrong type", f"turn {i}: a content part's 'train' must be true or false, got {train!r}")
        flagged |= train is not None
        detail.append([start, start + len(text), train])
    return "".join(texts), (detail if flagged else None)


def _is_parts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(p, dict) and ("type" in p or "text" in p) for p in value)


def _calls_from_value(value: Any, i: int) -> list[dict[str, Any]]:
    """LLaMA-Factory's function_call turn: {"name", "arguments"} or a list of them, as JSON text."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise RowProblem("invalid tool call", f"turn {i}: a function_call value must be JSON "
                             '{"name": ..., "arguments": {...}}') from None
    return _tool_calls(value if isinstance(value, list) else [value], i)


def _tool_calls(calls: Any, i: int) -> list[dict[str, Any]]:
    if not isinstance(calls, list) or not calls:
        raise RowProblem("invalid tool call", f"turn {i}: 'tool_calls' must be a non-empty list")
    out = []
    for call in calls:
        function = call.get("function", call) if isinstance(call, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name:
            raise RowProblem("invalid tool call", f"turn {i}: a tool call needs a function name "
                             '({"type": "function", "function": {"name": ..., "arguments": ...}})')
        arguments = function.get("arguments", function.get("parameters", {}))
        if isinstance(arguments, str):     # OpenAI writes arguments as JSON text; templates expect a dict
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except ValueError:
                raise RowProblem("invalid tool call", f"turn {i}: the arguments of {name!r} are not valid "
                                 "JSON") from None
        if not isinstance(arguments, dict):
            raise RowProblem("invalid tool call", f"turn {i}: the arguments of {name!r} must be an object")
        normal: dict[str, Any] = {"type": "function", "function": {"name": name, "arguments": arguments}}
        if isinstance(call.get("id"), str):
            normal["id"] = call["id"]
        out.append(normal)
    return out


def _reasoning(turn: dict[str, Any], message: dict[str, Any], i: int, mode: str, use: FieldUse) -> None:
    found = {k: _reasoning_text(turn[k], k, i) for k in REASONING_KEYS if turn.get(k) not in (None, "", [])}
    if not found:
        return
    if message["role"] != "assistant":
        raise RowProblem("wrong field", f"turn {i}: only assistant turns can hold reasoning "
                         f"({', '.join(found)})")
    values = set(found.values())
    if len(values) > 1:
        raise RowProblem("conflicting fields", f"turn {i}: {', '.join(found)} hold different reasoning")
    text = values.pop()
    if mode == "drop":
        use.counts["reasoning_dropped"] += 1
    elif mode == "inline":      # written into the answer, as reasoning models emit it
        prefix = f"<think>\n{text}\n</think>\n\n"
        message["content"] = prefix + message["content"]
        if "train_detail" in message:
            message["train_detail"] = [[0, len(prefix), message.get("train", True)]] + [
                [s + len(prefix), e + len(prefix), t] for s, e, t in message["train_detail"]]
    else:
        message["reasoning_content"] = text


def _reasoning_text(value: Any, key: str, i: int) -> str:
    """Reasoning as text, or as a list of parts ({"type": "thinking", "thinking": ...} or "text")."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(p, dict) for p in value):
        texts = [p.get("thinking", p.get("text")) for p in value]
        if all(isinstance(t, str) for t in texts):
            return "".join(texts)
    raise RowProblem("wrong type", f"turn {i}: {key!r} must be text (or a list of text parts), "
                     f"got {type(value).__name__}")


def _training_flags(turn: dict[str, Any], message: dict[str, Any], i: int) -> None:
    """OpenAI `weight` (0/1, assistant turns) and Axolotl `train` / `train_detail` to our keys."""
    flags: list[bool] = []
    if "weight" in turn:
        weight = turn["weight"]
        if isinstance(weight, bool) or weight not in (0, 1):
            raise RowProblem("wrong type", f"turn {i}: 'weight' must be 0 or 1, got {weight!r}")
        if message["role"] != "assistant":
            raise RowProblem("wrong field", f"turn {i}: 'weight' applies to assistant turns only (OpenAI); "
                             f"this turn is {message['role']}")
        flags.append(bool(weight))
    if "train" in turn:
        if not isinstance(turn["train"], bool):
            raise RowProblem("wrong type", f"turn {i}: 'train' must be true or false, got {turn['train']!r}")
        flags.append(turn["train"])
    if len(set(flags)) > 1:
        raise RowProblem("conflicting fields", f"turn {i}: 'weight' and 'train' disagree")
    if flags:
        message["train"] = flags[0]
    if turn.get("train_detail") is not None:
        if "train_detail" in message:
            raise RowProblem("conflicting fields", f"turn {i}: both content parts with 'train' and 'train_detail'")
        message["train_detail"] = _train_detail(turn["train_detail"], message["content"], i)
    if "train_detail" in message:
        default = message.get("train", True)
        message["train_detail"] = [[s, e, default if t is None else t] for s, e, t in message["train_detail"]]


def _train_detail(detail: Any, content: str, i: int) -> list[list[Any]]:
    """Axolotl's [{begin_offset, end_offset (inclusive), train}] as ranges covering the whole content;
    characters no entry covers are not trained, as in Axolotl."""
    if not isinstance(detail, list):
        raise RowProblem("wrong type", f"turn {i}: 'train_detail' must be a list of "
                         "{begin_offset, end_offset, train}")
    marks = [False] * len(content)
    for entry in detail:
        begin = entry.get("begin_offset") if isinstance(entry, dict) else None
        end = entry.get("end_offset") if isinstance(entry, dict) else None
        train = entry.get("train") if isinstance(entry, dict) else None
        if not (type(begin) is int and type(end) is int and isinstance(train, bool)
                and 0 <= begin <= end < len(content)):
            raise RowProblem("wrong type", f"turn {i}: train_detail entry {entry!r} needs integer begin_offset <= "
                             f"end_offset (inclusive) inside the {len(content)}-character content, and train")
        marks[begin:end + 1] = [train] * (end + 1 - begin)
    ranges: list[list[Any]] = []
    for pos, mark in enumerate(marks):
        if ranges and ranges[-1][2] == mark and ranges[-1][1] == pos:
            ranges[-1][1] = pos + 1
        else:
            ranges.append([pos, pos + 1, mark])
    return ranges


def _count(message: dict[str, Any], use: FieldUse) -> None:
    counts = use.counts
    if message["role"] == "assistant":
        counts["assistant_turns"] += 1
        if message.get("train") is False:
            counts["untrained_turns"] += 1
        counts["tool_calls"] += len(message.get("tool_calls", ()))
        counts["reasoning_turns"] += "reasoning_content" in message
    elif message.get("train") is True:
        counts["trained_other_turns"] += 1
    if message["role"] == "tool":
        counts["tool_results"] += 1
    if any(t is False for _, _, t in message.get("train_detail", ())):
        counts["partly_trained_turns"] += 1


def trains(message: dict[str, Any], loss_on: str) -> bool:
    """Whether a turn counts toward the loss: the file's own flag, else by role (or all tokens)."""
    if "train" in message:
        return bool(message["train"])
    return loss_on == "all" or message["role"] == "assistant" or "train_detail" in message


def tool_list(value: Any) -> list[dict[str, Any]]:
    """A `tools` column (a list of JSON schemas, or JSON text of one) in the OpenAI shape templates read."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except ValueError:
            raise RowProblem("invalid tools", "'tools' is text but not JSON (a list of function schemas)") from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise RowProblem("invalid tools", f"'tools' must be a list of function schemas, got {type(value).__name__}")
    out = []
    for tool in value:
        if isinstance(tool, str):
            try:
                tool = json.loads(tool)
            except ValueError:
                raise RowProblem("invalid tools", "a tool in 'tools' is text but not JSON") from None
        function = tool.get("function", tool) if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise RowProblem("invalid tools", "each tool needs a name "
                             '({"type": "function", "function": {"name": ..., "parameters": {...}}})')
        out.append({"type": "function", "function": function})
    return out
