"""Records to token ids and labels, with the tokenizer's own chat template and loss masking.

Chat records are rendered with `apply_chat_template`. To put the loss on the assistant turns
only, each assistant turn's character span is found by rendering the conversation up to that
turn (with and without the generation prompt); the full text is tokenized once with offsets and
a token counts toward the loss when it starts inside an assistant span. This works with any
template, not only those with `{% generation %}` markers. A template that rewrites earlier
turns (so the renders are not prefixes of each other) falls back to training on the last
assistant turn, which is still correct.

Text records longer than max_len are cut into max_len chunks (continued pre-training); other
records are truncated, and one whose answer is cut away entirely is dropped and counted.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

IGNORE = -100


class TemplateProblem(Exception):
    """The tokenizer's chat template rejected a conversation."""


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
    histogram: tuple[list[int], list[int]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def assistant_spans(tokenizer: Any, messages: list[dict[str, str]]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of its assistant turns."""
    try:
        full = tokenizer.apply_chat_template(messages, tokenize=False)
    except Exception as exc:  # jinja raises TemplateError, templates raise their own exceptions
        raise TemplateProblem(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    spans: list[tuple[int, int]] = []
    consistent = True
    for i, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        try:
            before = tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True) if i else ""
            upto = tokenizer.apply_chat_template(messages[: i + 1], tokenize=False)
        except Exception:
            consistent = False
            break
        if not (full.startswith(upto) and upto.startswith(before)):
            consistent = False
            break
        spans.append((len(before), len(upto)))
    if consistent and spans:
        return full, spans
    # Fallback: the last assistant turn, located by its content.
    last = messages[-1]["content"] if messages[-1]["role"] == "assistant" else None
    if last is None:
        return full, []
    start = full.rfind(last)
    return full, ([(start, len(full))] if start >= 0 else [])


def encode_record(tokenizer: Any, record: dict[str, Any], max_len: int, loss_on: str) -> list[dict[str, Any]]:
    """One record to one or more examples {input_ids, labels, length, truncated}."""
    eos = tokenizer.eos_token_id
    if record.get("messages"):
        text, spans = assistant_spans(tokenizer, record["messages"])
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        if loss_on == "all":
            labels = list(ids)
        else:
            labels = [tok if any(s <= start < e for s, e in spans) else IGNORE
                      for tok, (start, _) in zip(ids, enc["offset_mapping"])]
        return [_truncate(ids, labels, max_len)]
    if record.get("completion") is not None:
        prompt_ids = tokenizer(record["prompt"] or "", add_special_tokens=True)["input_ids"]
        completion_ids = tokenizer(record["completion"], add_special_tokens=False)["input_ids"]
        if eos is not None:
            completion_ids = completion_ids + [eos]
        ids = prompt_ids + completion_ids
        labels = (list(prompt_ids) if loss_on == "all" else [IGNORE] * len(prompt_ids)) + completion_ids
        return [_truncate(ids, labels, max_len)]
    ids = tokenizer(record["text"], add_special_tokens=True)["input_ids"]
    if eos is not None:
        ids = ids + [eos]
    chunks = [ids[i: i + max_len] for i in range(0, len(ids), max_len)] or [ids]
    return [{"input_ids": c, "labels": list(c), "length": len(c), "raw_length": len(ids),
             "truncated": False} for c in chunks if len(c) > 1]


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
    truncated = dropped = 0
    for record, source in zip(records, sources):
        try:
            encoded = encode_record(tokenizer, record, max_len, loss_on)
        except TemplateProblem as exc:
            rejected.append((source, f"the chat template rejected the conversation: {exc}"))
            continue
        if encoded:
            raw_lengths.append(encoded[0]["raw_length"])
        for ex in encoded:
            truncated += ex["truncated"]
            if not any(label != IGNORE for label in ex["labels"][1:]):
                dropped += 1
                continue
            examples.append({"input_ids": ex["input_ids"], "labels": ex["labels"], "length": ex["length"]})
    if lengths_out is not None:
        lengths_out.extend(raw_lengths)
    return examples, length_stats(raw_lengths, examples, truncated, dropped, max_len), rejected


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


def explain_example(tokenizer: Any, record: dict[str, Any], max_len: int, loss_on: str) -> list[tuple[str, bool]]:
    """(token text, counts toward the loss) for each token: the label-mask view of the Data page."""
    encoded = encode_record(tokenizer, record, max_len, loss_on)[0]
    pieces = [tokenizer.decode([tok]) for tok in encoded["input_ids"]]
    return [(piece, label != IGNORE) for piece, label in zip(pieces, encoded["labels"])]
