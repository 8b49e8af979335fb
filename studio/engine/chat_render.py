"""A chat record rendered with the tokenizer's own template, and the characters that count toward
the loss.

Which characters are trained is decided per turn (see core/datasets/messages.py): assistant turns
by default, or what `weight` / `train` / `train_detail` say. Each turn is located in the rendered
text in the most exact way the template allows:

1. generation markers: a template with `{% generation %}` marks the assistant's text itself
   (`return_assistant_tokens_mask`); nothing is guessed.
2. prefixes: the conversation rendered up to the turn, with and without it, gives its span when
   both renders are prefixes of the whole (true of most templates).
3. a template that rewrites earlier turns (Qwen3 drops their reasoning, Mistral moves the tool
   list) fails 2; the turn is then found where the whole render changes when only its text,
   reasoning and tool-call arguments change, and is widened by what the template writes around
   the turn when it is the last one (its header, the start of a tool call, the end-of-turn
   marker). A turn the template does not show at all is not trained, so the loss matches what
   the template renders; a turn whose end cannot be told rejects its row.

What a template cannot render (tool definitions, tool calls, tool results, reasoning) is found
once per template by rendering a small probe conversation; data that needs it is refused with one
message (TemplateUnsupported) rather than trained without it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from studio.core.datasets.messages import REASONING_KEYS, trains

MARKER = re.compile(r"\{%-?\s*generation\s*-?%\}")
DUMMY = ("\u2983studio-probe\u2984", "\u2985studio-probe\u2986")
PRIVATE_KEYS = ("train", "train_detail")


class TemplateProblem(Exception):
    """The tokenizer's chat template rejected a conversation (one row)."""


class TemplateUnsupported(Exception):
    """The template cannot render something the data holds (the same for every such row)."""

    def __init__(self, feature: str, hint: str, message: str = "") -> None:
        super().__init__(message or f"the chat template does not render {feature}")
        self.feature = feature
        self.hint = hint
        self.message = message


@dataclass
class Rendered:
    text: str
    trained: list[tuple[int, int]]      # character spans that count toward the loss: sorted, disjoint
    unrendered: int = 0                 # turns to train that the template does not show


def render_chat(tokenizer: Any, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
                loss_on: str) -> Rendered:
    template = _template(tokenizer, tools)
    prepared = prepare_messages(messages, template)
    full = _render(tokenizer, prepared, tools)
    _check_features(tokenizer, template, messages, tools)
    train = [trains(m, loss_on) for m in messages]
    details = {i: m["train_detail"] for i, m in enumerate(messages) if "train_detail" in m}
    if loss_on == "all" and all(train) and not details:
        return Rendered(full, [(0, len(full))])
    needed = {i for i, t in enumerate(train) if t != (loss_on == "all")} | set(details)
    spans = _turn_spans(tokenizer, prepared, tools, full, needed, template)
    keep = [(0, len(full))] if loss_on == "all" else [
        _without_separator(tokenizer, full, spans[i]) for i in needed if train[i] and spans.get(i)]
    drop = [spans[i] for i in needed if not train[i] and spans.get(i)]
    for i, detail in details.items():
        if train[i] and spans.get(i):
            drop += _untrained_parts(tokenizer, prepared, tools, full, i, detail)
    unrendered = sum(1 for i in needed if train[i] and spans.get(i) is None)
    return Rendered(full, _subtract(_union(keep), _union(drop)), unrendered)


def prepare_messages(messages: list[dict[str, Any]], template: str) -> list[dict[str, Any]]:
    """The messages as this template reads them: our keys removed, `developer` as `system` where
    the template has no developer role, the reasoning under the key the template uses."""
    key, developer, _ = _template_names(template)
    out = []
    for message in messages:
        m = {k: v for k, v in message.items() if k not in PRIVATE_KEYS}
        if m["role"] == "developer" and not developer:
            m["role"] = "system"
        if "reasoning_content" in m and key != "reasoning_content":
            m[key] = m.pop("reasoning_content")
        out.append(m)
    return out


@functools.lru_cache(maxsize=16)
def _template_names(template: str) -> tuple[str, bool, bool]:
    """The key the template reads reasoning from (as an attribute or item), whether it knows a
    developer role, whether it has generation markers; once per template, not per record."""
    key = next((k for k in REASONING_KEYS if re.search(rf"\.{k}\b|\[\s*['\"]{k}['\"]\s*\]", template)),
               "reasoning_content")
    return key, "developer" in template, bool(MARKER.search(template))


def _template(tokenizer: Any, tools: list[dict[str, Any]] | None) -> str:
    try:
        return tokenizer.get_chat_template(None, tools)
    except ValueError as exc:
        raise TemplateUnsupported("chat", "use an instruct/chat model, give a template with --chat-template FILE, "
                                  "or convert the data to --format completion",
                                  "has no chat template, so chat records cannot be formatted") from exc


def _render(tokenizer: Any, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
            generation_prompt: bool = False) -> str:
    try:
        return tokenizer.apply_chat_template(messages, tools=tools, tokenize=False,
                                             add_generation_prompt=generation_prompt)
    except Exception as exc:  # jinja raises TemplateError, templates raise their own exceptions
        raise TemplateProblem(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None


# ---- where each turn is ------------------------------------------------------------------------

def _without_separator(tokenizer: Any, full: str, span: tuple[int, int]) -> tuple[int, int]:
    """The turn without the whitespace the template writes after its end-of-turn token (ChatML's
    newline after <|im_end|>, Gemma's after <end_of_turn>): the model learns to end its turn with
    the token, and the separator is the template's, not the assistant's, as TRL's assistant
    masks and templates with {% generation %} markers count it."""
    start, end = span
    kept = full[start:end].rstrip()
    if len(kept) == end - start or not kept:
        return span
    return (start, start + len(kept)) if kept.endswith(_special_texts(tokenizer)) else span


def _special_texts(tokenizer: Any) -> tuple[str, ...]:
    key = (id(tokenizer), len(tokenizer))
    if _SPECIALS.get("key") != key:
        decoder = getattr(tokenizer, "added_tokens_decoder", {}) or {}
        texts = {t.content for t in decoder.values() if getattr(t, "special", False) and t.content.strip()}
        texts.update(t for t in (getattr(tokenizer, "eos_token", None),) if isinstance(t, str) and t.strip())
        _SPECIALS.update(key=key, texts=tuple(sorted(texts)))
    return _SPECIALS["texts"]


_SPECIALS: dict[str, Any] = {}


def _turn_spans(tokenizer: Any, messages: list[dict[str, Any]], tools: Any, full: str, needed: set[int],
                template: str) -> dict[int, tuple[int, int] | None]:
    spans: dict[int, tuple[int, int] | None] = {}
    marked = _marked_spans(tokenizer, messages, tools) if _template_names(template)[2] else None
    assistants = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    if marked is not None and len(marked) == len(assistants):
        spans.update(zip(assistants, marked))
    for i in sorted(needed - set(spans)):
        spans[i] = _locate(tokenizer, messages, tools, full, i)
    return spans


def _marked_spans(tokenizer: Any, messages: list[dict[str, Any]], tools: Any) -> list[tuple[int, int]] | None:
    """The character spans the template's {% generation %} blocks mark, one per block."""
    try:
        out = tokenizer.apply_chat_template(messages, tools=tools, return_dict=True, return_assistant_tokens_mask=True,
                                            tokenizer_kwargs={"return_offsets_mapping": True})
    except Exception:  # a slow tokenizer (no offsets) or an old transformers: use the prefixes
        return None
    spans: list[tuple[int, int]] = []
    previous = False
    for flag, (start, end) in zip(out["assistant_masks"], out["offset_mapping"]):
        if flag and previous and spans:
            spans[-1] = (spans[-1][0], end)
        elif flag:
            spans.append((start, end))
        previous = bool(flag)
    return spans


def _locate(tokenizer: Any, messages: list[dict[str, Any]], tools: Any, full: str, i: int) -> tuple[int, int] | None:
    """Turn i's span in `full`, or None when the template does not show it (see the module text)."""
    before = _try_render(tokenizer, messages[:i], tools, messages[i]["role"] == "assistant") if i else ""
    upto = full if i == len(messages) - 1 else _try_render(tokenizer, messages[: i + 1], tools)
    if before is not None and upto is not None and full.startswith(upto) and upto.startswith(before):
        return len(before), len(upto)
    region = _changed_region(tokenizer, messages, tools, full, i, whole=True)
    if region is None:
        return None
    start, end = region
    # The turn as the template writes it when it is the last one: what comes before its changing
    # text (a header, the start of a tool call) and after it (tool calls, the end-of-turn marker).
    last = _changed_region(tokenizer, messages[: i + 1], tools, upto, i, whole=True) if upto is not None else None
    if before is not None and full.startswith(before) and len(before) <= start:
        start = len(before)
    elif last and before is not None and upto is not None and upto.startswith(before):
        lead = upto[len(before):last[0]]
        if lead and full.endswith(lead, 0, start):
            start -= len(lead)
    tail = upto[last[1]:] if last and upto is not None else ""
    if tail:
        matched = len(tail) if full.startswith(tail, end) else _common_tokens(tokenizer, tail, full[end:end + len(tail)])
        if not matched:
            raise TemplateProblem(f"cannot tell where turn {i + 1} ends: the template writes it differently when "
                                  "it is not the last turn")
        end += matched
    return (start, end) if end > start else None


def _try_render(tokenizer: Any, messages: list[dict[str, Any]], tools: Any, generation: bool = False) -> str | None:
    try:
        return _render(tokenizer, messages, tools, generation)
    except TemplateProblem:
        return None


def _common_tokens(tokenizer: Any, tail: str, text: str) -> int:
    """How many characters of `tail` `text` starts with, in whole tokens: the end-of-turn marker of
    a template that writes more after the last turn (an end-of-text) than after the others."""
    if not tail or not text:
        return 0
    a = tokenizer(tail, add_special_tokens=False, return_offsets_mapping=True)
    b = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    matched = 0
    for id_a, id_b, (_, end_a), (_, end_b) in zip(a["input_ids"], b["input_ids"], a["offset_mapping"],
                                                   b["offset_mapping"]):
        if id_a != id_b or end_a != end_b:
            break
        matched = end_a
    return matched


def _changed_region(tokenizer: Any, messages: list[dict[str, Any]], tools: Any, full: str, i: int,
                    whole: bool) -> tuple[int, int] | None:
    """Where `full` changes when turn i's text (with `whole`: also its reasoning and tool calls'
    arguments) is replaced: that turn's place in the render, or None when nothing changes."""
    changed = list(messages)
    changed[i] = _perturbed(messages[i], whole)
    other = _try_render(tokenizer, changed, tools)
    if other is None or other == full:
        return None
    prefix = _common_length(full, other, lambda a, n: a[:n])
    suffix = _common_length(full, other, lambda a, n: a[len(a) - n:], min(len(full), len(other)) - prefix)
    return prefix, len(full) - suffix


def _perturbed(message: dict[str, Any], whole: bool) -> dict[str, Any]:
    out = dict(message, content=_dummy(message["content"]))
    if whole:
        for key in REASONING_KEYS:
            if isinstance(out.get(key), str):
                out[key] = _dummy(out[key])
        if out.get("tool_calls"):
            out["tool_calls"] = [{**call, "function": {**call["function"], "arguments": {"studio_probe": 0}}}
                                 for call in out["tool_calls"]]
    return out


def _dummy(text: str) -> str:
    return next(d for d in DUMMY if not text or (text[0] != d[0] and text[-1] != d[-1]))


def _common_length(a: str, b: str, cut: Any, limit: int | None = None) -> int:
    """The longest n (up to limit) with cut(a, n) == cut(b, n): a binary search of slice
    comparisons, which run in C, instead of a loop over every character."""
    low, high = 0, min(len(a), len(b)) if limit is None else limit
    while low < high:
        middle = (low + high + 1) // 2
        if cut(a, middle) == cut(b, middle):
            low = middle
        else:
            high = middle - 1
    return low


def _untrained_parts(tokenizer: Any, messages: list[dict[str, Any]], tools: Any, full: str, i: int,
                     detail: list[list[Any]]) -> list[tuple[int, int]]:
    """The characters of a turn's parts marked train: false (Axolotl train_detail, content parts),
    placed where the template writes the turn's text (also when it trims it)."""
    content = messages[i]["content"]
    region = _changed_region(tokenizer, messages, tools, full, i, whole=False)
    shown = full[region[0]:region[1]] if region else None
    if shown == content:
        shift = 0
    elif shown is not None and shown == content.strip():
        shift = -(len(content) - len(content.lstrip()))
    else:
        raise TemplateProblem(f"the template changes the text of turn {i + 1}, so the parts marked not to be "
                              "trained cannot be placed in it")
    start = region[0] + shift
    return [(max(region[0], start + s), min(region[1], start + e)) for s, e, trained in detail if not trained]


def _union(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _subtract(keep: list[tuple[int, int]], drop: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    for start, end in keep:
        for d_start, d_end in drop:
            if d_end <= start or d_start >= end:
                continue
            if d_start > start:
                out.append((start, d_start))
            start = max(start, d_end)
        if end > start:
            out.append((start, end))
    return out


# ---- what a template can render ------------------------------------------------------------------

_FEATURES: dict[str, frozenset[str]] = {}
PROBE_TOOL = {"type": "function", "function": {"name": "studio_probe_tool", "description": "a probe",
                                               "parameters": {"type": "object", "properties": {}}}}
HINT_TOOLS = ("use a model whose chat template supports tool calling (for example a Qwen2.5, Qwen3 or "
              "Llama 3.1 instruct model), or give such a template with --chat-template FILE")
HINT_THINK_TAGS = ("give a template that keeps them (--chat-template FILE), or put the reasoning in a "
                   "reasoning_content field for a template that renders it (see --reasoning)")
HINT_REASONING = ("use a template that renders reasoning (--chat-template FILE, e.g. a Qwen3 template), or "
                  "--reasoning inline to write it into the answer as <think>...</think>, or --reasoning drop "
                  "to train on the answers without it")


def template_features(tokenizer: Any, template: str) -> frozenset[str]:
    """What the template renders, from probe conversations: tools, tool_calls, tool_results, reasoning
    and think_tags (<think> blocks in an answer kept).
    A probe the template rejects counts as rendered: the real rows then fail with its own message."""
    if template in _FEATURES:
        return _FEATURES[template]
    found = set()
    user = {"role": "user", "content": "studio probe question"}
    call = {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "studio_probe_call", "arguments": {"x": 1}}}]}
    result = {"role": "tool", "name": "studio_probe_tool", "content": "studio_probe_result"}
    reasoning = {"role": "assistant", "content": "studio probe answer", "reasoning_content": "studio_probe_reasoning"}
    probes = {"tools": ([user], [PROBE_TOOL], "studio_probe_tool"),
              "tool_calls": ([user, call, result, {"role": "assistant", "content": "ok"}], [PROBE_TOOL],
                             "studio_probe_call"),
              "tool_results": ([user, call, result, {"role": "assistant", "content": "ok"}], [PROBE_TOOL],
                               "studio_probe_result"),
              "reasoning": ([user, reasoning], None, "studio_probe_reasoning"),
              "think_tags": ([user, {"role": "assistant", "content": "<think>\nstudio_probe_thought\n</think>\n\nok"}],
                             None, "studio_probe_thought")}
    for feature, (messages, tools, needle) in probes.items():
        try:
            text = tokenizer.apply_chat_template(prepare_messages(messages, template), tools=tools,
                                                 chat_template=template, tokenize=False)
        except Exception:
            found.add(feature)
            continue
        if needle in text:
            found.add(feature)
    _FEATURES[template] = frozenset(found)
    return _FEATURES[template]


def _check_features(tokenizer: Any, template: str, messages: list[dict[str, Any]], tools: Any) -> None:
    needs = []
    if tools:
        needs.append(("tools", "tool definitions (the 'tools' column)", HINT_TOOLS))
    if any(m.get("tool_calls") for m in messages):
        needs.append(("tool_calls", "the assistant's tool calls", HINT_TOOLS))
    if any(m["role"] == "tool" for m in messages):
        needs.append(("tool_results", "tool results (role tool)", HINT_TOOLS))
    if any(m.get("reasoning_content") for m in messages):
        needs.append(("reasoning", "the assistant's reasoning (reasoning_content)", HINT_REASONING))
    if any(m["role"] == "assistant" and "<think>" in m["content"] for m in messages):
        needs.append(("think_tags", "reasoning written as <think>...</think> in the answers (it removes them)",
                      HINT_THINK_TAGS))
    if not needs:
        return
    features = template_features(tokenizer, template)
    for feature, words, hint in needs:
        if feature not in features:
            raise TemplateUnsupported(words, hint)
