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

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from studio.core.errors import DataError
from studio.engine.chat_render import TemplateProblem, TemplateUnsupported, render_chat
from studio.engine.token_stats import IGNORE, LengthStats, TokenTally

__all__ = ["IGNORE", "LengthStats", "TemplateProblem", "TemplateUnsupported", "describe_example", "encode_record",
           "check_template", "explain_example", "tokenize_chunks", "tokenize_records", "unsupported_error"]

CHUNK_ROWS = 1000         # records rendered and tokenized per batch call
PARALLEL_ENCODING = True  # off in token_dataset's forked processes (one per core already)


def encode_record(tokenizer: Any, record: dict[str, Any], max_len: int, loss_on: str,
                  keep_text: bool = False) -> list[dict[str, Any]]:
    """One record to one or more examples {input_ids, labels, length, truncated}; with keep_text
    also the text and each token's character offsets in it (for describe_example)."""
    [encoded] = encode_records(tokenizer, [record], max_len, loss_on, keep_text)
    if isinstance(encoded, TemplateProblem):
        raise encoded
    return encoded


def encode_records(tokenizer: Any, records: list[dict[str, Any]], max_len: int, loss_on: str,
                   keep_text: bool = False) -> list[list[dict[str, Any]] | TemplateProblem]:
    """Each record's examples, or the TemplateProblem that rejected it.

    The texts of all records are tokenized in one call per kind (the fast tokenizer encodes a
    batch on every core, and a call's fixed cost is paid once); the chat template, which runs in
    Python, renders each conversation."""
    chats: dict[int, Any] = {}
    results: list[Any] = [None] * len(records)
    for i, record in enumerate(records):
        if record.get("messages"):
            try:
                chats[i] = render_chat(tokenizer, record["messages"], record.get("tools"), loss_on)
            except TemplateProblem as exc:
                results[i] = exc
    completions = [i for i, r in enumerate(records) if not r.get("messages") and r.get("completion") is not None]
    texts = [i for i, r in enumerate(records) if not r.get("messages") and r.get("completion") is None]
    chat_enc = _encode(tokenizer, [chats[i].text for i in chats], False, True)
    prompt_enc = _encode(tokenizer, [records[i]["prompt"] or "" for i in completions], True, keep_text)
    answer_enc = _encode(tokenizer, [records[i]["completion"] for i in completions], False, keep_text)
    text_enc = _encode(tokenizer, [records[i]["text"] for i in texts], True, keep_text)
    for (i, rendered), (ids, offsets) in zip(chats.items(), chat_enc):
        results[i] = [_chat_example(ids, offsets, rendered, max_len, keep_text)]
    eos = tokenizer.eos_token_id
    for i, prompt, answer in zip(completions, prompt_enc, answer_enc):
        results[i] = [_completion_example(records[i], prompt, answer, eos, max_len, loss_on, keep_text)]
    for i, encoded in zip(texts, text_enc):
        results[i] = _text_examples(records[i]["text"], encoded, eos, max_len, keep_text)
    return results


def _encode(tokenizer: Any, texts: list[str], special: bool, offsets: bool) -> list[tuple[list[int], list[Any]]]:
    """(ids, character offsets or []) per text, in one tokenizer call."""
    if not texts:
        return []
    backend = getattr(tokenizer, "backend_tokenizer", None) if getattr(tokenizer, "is_fast", False) else None
    if backend is None:  # a slow tokenizer: transformers' own call (offsets only where it has them)
        enc = tokenizer(texts, add_special_tokens=special, return_offsets_mapping=offsets)
        return list(zip(enc["input_ids"], enc["offset_mapping"] if offsets else [[]] * len(texts)))
    # The fast tokenizer's own batch call, as transformers makes it, without converting every
    # encoding into a dict of lists first; truncation and padding off, as transformers sets them.
    backend.no_truncation()
    backend.no_padding()
    with _parallel_encoding():
        encodings = backend.encode_batch(texts, add_special_tokens=special)
    return [(e.ids, e.offsets if offsets else []) for e in encodings]


@contextlib.contextmanager
def _parallel_encoding() -> Iterator[None]:
    """The tokenizer encodes a batch on every core. Workers run with TOKENIZERS_PARALLELISM=false
    (a fork after parallel use makes the library disable itself with a warning); it is read at
    each call, so it is turned on for this call only."""
    before = os.environ.get("TOKENIZERS_PARALLELISM")
    os.environ["TOKENIZERS_PARALLELISM"] = "true" if PARALLEL_ENCODING else "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TOKENIZERS_PARALLELISM", None)
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = before


def _chat_example(ids: list[int], offsets: list[Any], rendered: Any, max_len: int,
                  keep_text: bool) -> dict[str, Any]:
    labels = _labels_in_spans(ids, offsets, rendered.trained)
    example = _truncate(list(ids), labels, max_len)
    example["unrendered_turns"] = rendered.unrendered
    if keep_text:
        example.update(text=rendered.text, offsets=[tuple(o) for o in offsets[:max_len]])
    return example


def _completion_example(record: dict[str, Any], prompt: tuple[list[int], list[Any]],
                        answer: tuple[list[int], list[Any]], eos: int | None, max_len: int, loss_on: str,
                        keep_text: bool) -> dict[str, Any]:
    text = record["prompt"] or ""
    prompt_ids, completion_ids = list(prompt[0]), list(answer[0])
    offsets = [tuple(o) for o in prompt[1]] + [(s + len(text), e + len(text)) for s, e in answer[1]]
    if eos is not None:
        completion_ids.append(eos)
        offsets.append((-1, -1))       # a token of its own, not in the text
    ids = prompt_ids + completion_ids
    labels = (list(prompt_ids) if loss_on == "all" else [IGNORE] * len(prompt_ids)) + completion_ids
    example = _truncate(ids, labels, max_len)
    if keep_text:
        example.update(text=text + record["completion"], offsets=offsets[:max_len])
    return example


def _text_examples(text: str, encoded: tuple[list[int], list[Any]], eos: int | None, max_len: int,
                   keep_text: bool) -> list[dict[str, Any]]:
    """A text longer than max_len is cut into max_len chunks (continued pre-training)."""
    ids = list(encoded[0])
    offsets = [tuple(o) for o in encoded[1]]
    if eos is not None:
        ids.append(eos)
        offsets.append((-1, -1))
    chunks = [ids[i: i + max_len] for i in range(0, len(ids), max_len)] or [ids]
    examples = [{"input_ids": c, "labels": list(c), "length": len(c), "raw_length": len(ids),
                 "truncated": False} for c in chunks if len(c) > 1]
    if keep_text and examples:
        examples[0].update(text=text, offsets=offsets[:max_len])
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


def _labels_in_spans(ids: list[int], offsets: list[Any], spans: list[tuple[int, int]]) -> list[int]:
    """A token is trained when it starts inside a trained span (spans sorted, disjoint, half-open):
    its start's place among the span bounds is odd exactly then."""
    if not ids:
        return []
    starts = np.fromiter((o[0] for o in offsets), dtype=np.int64, count=len(ids))
    bounds = np.fromiter((b for span in spans for b in span), dtype=np.int64, count=2 * len(spans))
    inside = np.searchsorted(bounds, starts, side="right") % 2 == 1
    return np.where(inside, np.asarray(ids, dtype=np.int64), IGNORE).tolist()


def _truncate(ids: list[int], labels: list[int], max_len: int) -> dict[str, Any]:
    raw = len(ids)
    return {"input_ids": ids[:max_len], "labels": labels[:max_len], "length": min(raw, max_len),
            "raw_length": raw, "truncated": raw > max_len}


def tokenize_chunks(tokenizer: Any, records: Sequence[Any], sources: list[str], max_len: int,
                    loss_on: str, tally: TokenTally) -> Iterator[list[dict[str, Any]]]:
    """The examples, CHUNK_ROWS records at a time, so a caller can store each chunk compactly
    (Arrow) before the next is made: memory grows with the chunk, not with the dataset. `tally`
    collects the length statistics and the (source, reason) of rejected records. Records are
    dicts, or Records turned into dicts a chunk at a time."""
    for first in range(0, len(records), CHUNK_ROWS):
        chunk = [r if isinstance(r, dict) else r.to_dict() for r in records[first: first + CHUNK_ROWS]]
        examples: list[dict[str, Any]] = []
        for encoded, source in zip(encode_records(tokenizer, chunk, max_len, loss_on), sources[first:]):
            if isinstance(encoded, TemplateProblem):
                tally.rejected.append((source, f"the chat template rejected the conversation: {encoded}"))
                continue
            examples.extend(tally.add(encoded))
        yield examples


def tokenize_records(tokenizer: Any, records: list[dict[str, Any]], sources: list[str], max_len: int,
                     loss_on: str, lengths_out: list[int] | None = None,
                     ) -> tuple[list[dict[str, Any]], LengthStats, list[tuple[str, str]]]:
    """All records: the examples, their length statistics, and (source, reason) of rejections.

    `lengths_out`, when given, receives each record's untruncated token count (the Data page
    recounts truncation for another max length from it without tokenizing again)."""
    tally = TokenTally(max_len)
    examples = [ex for chunk in tokenize_chunks(tokenizer, records, sources, max_len, loss_on, tally) for ex in chunk]
    if lengths_out is not None:
        lengths_out.extend(tally.raw_lengths)
    return examples, tally.stats(), tally.rejected


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
