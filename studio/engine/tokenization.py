"""Records to token ids and labels, with the tokenizer's own chat template and loss masking.

Chat records are rendered by chat_render.py, which also says which characters count toward the
loss (the assistant turns, or what the file's per-turn fields say); the text is tokenized once
with offsets and a token counts toward the loss when it starts inside a trained span.

Text records longer than max_len are cut into max_len chunks (continued pre-training); other
records are truncated, and one whose answer is cut away entirely is dropped and counted.

`describe_example` is the one view of an example for people: the Data page's label mask and
`studio data show` both use it. It cuts the text by the tokens' character offsets, so a
character split across tokens (Chinese, emoji in a byte-level vocabulary) is never split.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from studio.core.errors import DataError
from studio.engine.chat_render import TemplateProblem, TemplateUnsupported, render_chat

__all__ = ["IGNORE", "LengthStats", "TemplateProblem", "TemplateUnsupported", "describe_example", "encode_record",
           "check_template", "explain_example", "tokenize_records", "unsupported_error"]

IGNORE = -100


@dataclass
class LengthStats:
    examples: int = 0
    min: int = 0
    mean: float = 0.0
    p50: int = 0
    p95: int = 0
    max: int = 0
    truncated: int = 0
    dropped_no_target: int = 0
    tokens: int = 0
    target_tokens: int = 0
    max_len: int = 0
    unrendered_turns: int = 0
    histogram: tuple[list[int], list[int]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def encode_record(tokenizer: Any, record: dict[str, Any], max_len: int, loss_on: str,
                  keep_text: bool = False) -> list[dict[str, Any]]:
    """One record to one or more examples {input_ids, labels, length, truncated}; with keep_text
    also the text and each token's character offsets in it (for describe_example)."""
    eos = tokenizer.eos_token_id
    if record.get("messages"):
        rendered = render_chat(tokenizer, record["messages"], record.get("tools"), loss_on)
        enc = tokenizer(rendered.text, add_special_tokens=False, return_offsets_mapping=True)
        ids, offsets = list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]
        labels = _labels_in_spans(ids, offsets, rendered.trained)
        example = _truncate(ids, labels, max_len)
        example["unrendered_turns"] = rendered.unrendered
        if keep_text:
            example.update(text=rendered.text, offsets=offsets[:max_len])
        return [example]
    if record.get("completion") is not None:
        prompt = record["prompt"] or ""
        prompt_enc = tokenizer(prompt, add_special_tokens=True, return_offsets_mapping=keep_text)
        completion_enc = tokenizer(record["completion"], add_special_tokens=False, return_offsets_mapping=keep_text)
        prompt_ids, completion_ids = list(prompt_enc["input_ids"]), list(completion_enc["input_ids"])
        offsets = [tuple(o) for o in prompt_enc["offset_mapping"]] + [
            (s + len(prompt), e + len(prompt)) for s, e in completion_enc["offset_mapping"]] if keep_text else []
        if eos is not None:
            completion_ids = completion_ids + [eos]
            offsets.append((-1, -1))       # a token of its own, not in the text
        ids = prompt_ids + completion_ids
        labels = (list(prompt_ids) if loss_on == "all" else [IGNORE] * len(prompt_ids)) + completion_ids
        example = _truncate(ids, labels, max_len)
        if keep_text:
            example.update(text=prompt + record["completion"], offsets=offsets[:max_len])
        return [example]
    enc = tokenizer(record["text"], add_special_tokens=True, return_offsets_mapping=keep_text)
    ids = list(enc["input_ids"])
    offsets = [tuple(o) for o in enc["offset_mapping"]] if keep_text else []
    if eos is not None:
        ids = ids + [eos]
        offsets.append((-1, -1))
    chunks = [ids[i: i + max_len] for i in range(0, len(ids), max_len)] or [ids]
    examples = [{"input_ids": c, "labels": list(c), "length": len(c), "raw_length": len(ids),
                 "truncated": False} for c in chunks if len(c) > 1]
    if keep_text and examples:
        examples[0].update(text=record["text"], offsets=offsets[:max_len])
    return examples


def unsupported_error(tokenizer: Any, exc: TemplateUnsupported, source: str) -> DataError:
    """One message for the whole run: every record like this one would fail the same way."""
    model = getattr(tokenizer, "name_or_path", "") or "this model"
    if exc.message:
        return DataError(f"the tokenizer of {model} {exc.message}", where=source, hint=exc.hint)
    return DataError(f"the chat template of {model} does not render {exc.feature}, which this data holds, so it "
                     "cannot be trained as the file means", where=source, hint=exc.hint)


def check_template(tokenizer: Any, records: list[Any], loss_on: str) -> None:
    """Fail fast (before a model loads) when the template cannot render what the data holds:
    the first record with tools, tool calls, tool results or reasoning is rendered."""
    seen: set[str] = set()
    for record in records:
        messages = record.messages or []
        features = {name for name, present in (
            ("tools", bool(record.tools)), ("calls", any(m.get("tool_calls") for m in messages)),
            ("results", any(m["role"] == "tool" for m in messages)),
            ("reasoning", any(m.get("reasoning_content") for m in messages))) if present} - seen
        if not features:
            continue
        seen |= features
        try:
            render_chat(tokenizer, messages, record.tools, loss_on)
        except TemplateUnsupported as exc:
            raise unsupported_error(tokenizer, exc, record.source) from None
        except TemplateProblem:
            pass      # this row's own problem: reported with the others at tokenization


def _labels_in_spans(ids: list[int], offsets: list[tuple[int, int]], spans: list[tuple[int, int]]) -> list[int]:
    """A token is trained when it starts inside a trained span (spans sorted and disjoint)."""
    labels = []
    k = 0
    for tok, (start, _end) in zip(ids, offsets):
        while k < len(spans) and start >= spans[k][1]:
            k += 1
        labels.append(tok if k < len(spans) and spans[k][0] <= start else IGNORE)
    return labels


def _truncate(ids: list[int], labels: list[int], max_len: int) -> dict[str, Any]:
    raw = len(ids)
    return {"input_ids": ids[:max_len], "labels": labels[:max_len], "length": min(raw, max_len),
            "raw_length": raw, "truncated": raw > max_len}


def tokenize_records(tokenizer: Any, records: list[dict[str, Any]], sources: list[str], max_len: int,
                     loss_on: str, lengths_out: list[int] | None = None,
                     ) -> tuple[list[dict[str, Any]], LengthStats, list[tuple[str, str]]]:
    """All records: the examples, their length statistics, and (source, reason) of rejections.

    `lengths_out`, when given, receives each record's untruncated token count (the Data page
    recounts truncation for another max length from it without tokenizing again)."""
    examples: list[dict[str, Any]] = []
    rejected: list[tuple[str, str]] = []
    raw_lengths: list[int] = []
    truncated = dropped = unrendered = 0
    for record, source in zip(records, sources):
        try:
            encoded = encode_record(tokenizer, record, max_len, loss_on)
        except TemplateProblem as exc:
            rejected.append((source, f"the chat template rejected the conversation: {exc}"))
            continue
        except TemplateUnsupported as exc:
            raise unsupported_error(tokenizer, exc, source) from None
        if encoded:
            raw_lengths.append(encoded[0]["raw_length"])
            unrendered += encoded[0].get("unrendered_turns", 0)
        for ex in encoded:
            truncated += ex["truncated"]
            if not any(label != IGNORE for label in ex["labels"][1:]):
                dropped += 1
                continue
            examples.append({"input_ids": ex["input_ids"], "labels": ex["labels"], "length": ex["length"]})
    if lengths_out is not None:
        lengths_out.extend(raw_lengths)
    stats = length_stats(raw_lengths, examples, truncated, dropped, max_len)
    stats.unrendered_turns = unrendered
    return examples, stats, rejected


def length_stats(raw_lengths: list[int], examples: list[dict[str, Any]], truncated: int, dropped: int,
                 max_len: int) -> LengthStats:
    if not raw_lengths:
        return LengthStats(max_len=max_len, dropped_no_target=dropped)
    ordered = sorted(raw_lengths)
    n = len(ordered)
    return LengthStats(
        examples=len(examples), min=ordered[0], mean=round(sum(ordered) / n, 1), p50=ordered[n // 2],
        p95=ordered[min(n - 1, math.ceil(0.95 * n) - 1)], max=ordered[-1], truncated=truncated,
        dropped_no_target=dropped, tokens=sum(e["length"] for e in examples),
        target_tokens=sum(sum(1 for x in e["labels"] if x != IGNORE) for e in examples),
        max_len=max_len, histogram=_histogram(ordered))


def _histogram(ordered: list[int], bins: int = 40) -> tuple[list[int], list[int]]:
    """Bin edges and counts, small enough to send in an event."""
    lo, hi = ordered[0], ordered[-1]
    width = max(1, math.ceil((hi - lo + 1) / bins))
    edges = [lo + i * width for i in range(bins + 1) if lo + i * width <= hi + width]
    counts = [0] * (len(edges) - 1)
    for value in ordered:
        counts[min(len(counts) - 1, (value - lo) // width)] += 1
    return edges, counts


def describe_example(tokenizer: Any, record: dict[str, Any], max_len: int, loss_on: str) -> dict[str, Any]:
    """The example as training sees it, for people: `pieces` [[text, trained], ...] cut at token
    boundaries by character offsets (tokens that share a character are one piece), the text and
    the trained text, and the token counts."""
    example = encode_record(tokenizer, record, max_len, loss_on, keep_text=True)[0]
    text, ids, labels = example["text"], example["input_ids"], example["labels"]
    pieces: list[list[Any]] = []
    cursor = 0
    for tok, (start, end), label in zip(ids, example["offsets"], labels):
        trained = label != IGNORE
        if start < 0 or end <= start:      # a token with no text of its own (an added end-of-text)
            pieces.append([tokenizer.decode([tok]), trained])
            continue
        if start < cursor and pieces:      # shares a character with the token before it
            pieces[-1][0] += text[cursor:end]
            pieces[-1][1] = pieces[-1][1] or trained
        else:                              # characters no token covers go with the next token
            pieces.append([text[cursor:end], trained])
        cursor = max(cursor, end)
    trained_tokens = sum(1 for label in labels if label != IGNORE)
    return {"text": "".join(p for p, _ in pieces), "trained_text": "".join(p for p, t in pieces if t),
            "tokens": len(ids), "trained_tokens": trained_tokens, "raw_tokens": example["raw_length"],
            "truncated": example["truncated"], "unrendered_turns": example.get("unrendered_turns", 0),
            "pieces": pieces, "input_ids": ids, "labels": labels}


def explain_example(tokenizer: Any, record: dict[str, Any], max_len: int, loss_on: str) -> list[tuple[str, bool]]:
    """(text, counts toward the loss) per token: the label-mask view of the Data page."""
    return [(text, trained) for text, trained in describe_example(tokenizer, record, max_len, loss_on)["pieces"]]
