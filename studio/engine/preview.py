"""`preview-data`: what the chosen model's tokenizer makes of a dataset, for the Data page.

The GUI may not import transformers, so token lengths and the label mask come from this short
worker: it reads the data with the same importer as training, tokenizes every record with the
same code (tokenize_records, explain_example), and answers with events:

    token_stats   LengthStats (with its histogram) and each record's untruncated length
    label_mask    one example as (token text, counts toward the loss) pairs
    pair_tokens   preference / KTO data: each record's prompt and answer lengths in tokens, counted
                  as TRL tokenizes them (engine/pair_tokens.py); token_stats then counts one
                  sequence (prompt + answer) per answer, as the preference trainers do
"""

from __future__ import annotations

from typing import Any

from studio.core.config import RunConfig
from studio.core.datasets import import_options
from studio.core.errors import DataError
from studio.engine.worker_io import Emitter

MAX_REJECTED_LISTED = 100


def preview_data(config: RunConfig, emitter: Emitter, examples: list[int] | None = None) -> dict[str, Any]:
    """Token statistics and label masks of config.data with the tokenizer of config.model."""
    from studio.engine.download import local_source
    from studio.engine.model_loading import load_tokenizer
    from studio.engine.tokenization import (TemplateUnsupported, explain_example, tokenize_records,
                                            unsupported_error)

    data, max_len, loss_on = config.data, config.data.max_len, config.data.loss_on
    report = import_options(data, objective=config.train.objective)
    if not report.records:
        raise DataError(f"{data.path} has no usable records to tokenize", hint="fix the rejected rows first")
    emitter.emit("stage", name="load_tokenizer", message=f"loading the tokenizer of {config.model.name_or_path}")
    tokenizer = load_tokenizer(local_source(config.model, emitter), config.model)
    records = [r.to_dict() for r in report.records]
    if report.records[0].kind in ("preference", "kto"):
        return _preview_pairs(tokenizer, records, [r.source for r in report.records], max_len, emitter)
    emitter.emit("stage", name="tokenize", message=f"tokenizing {len(records)} records")
    lengths: list[int] = []
    _, stats, rejected = tokenize_records(tokenizer, records, [r.source for r in report.records], max_len,
                                          loss_on, lengths_out=lengths)
    emitter.emit("token_stats", stats=stats.to_dict(), lengths=lengths, records=len(records),
                 rejected=[{"source": s, "reason": why} for s, why in rejected[:MAX_REJECTED_LISTED]],
                 rejected_count=len(rejected))
    for index in examples if examples is not None else range(8):
        if not 0 <= index < len(records):
            continue
        source = report.records[index].source
        try:
            tokens = explain_example(tokenizer, records[index], max_len, loss_on)
        except TemplateUnsupported as exc:
            raise unsupported_error(tokenizer, exc, source) from None
        except Exception as exc:  # a template that rejects this conversation: say so for this example
            emitter.emit("label_mask", index=index, source=source, tokens=[],
                         problem=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            continue
        emitter.emit("label_mask", index=index, source=source, tokens=[[text, counts] for text, counts in tokens])
    return {}


def _preview_pairs(tokenizer: Any, records: list[dict[str, Any]], sources: list[str], max_len: int,
                   emitter: Emitter) -> dict[str, Any]:
    """Prompt and answer lengths of every pair (or KTO row); the label mask does not apply (a
    preference objective always trains the answers, never the prompt)."""
    from studio.engine.pair_tokens import pair_lengths
    from studio.engine.token_stats import LengthStats, histogram

    keys = ["prompt", "chosen", "rejected"] if "chosen" in records[0] else ["prompt", "completion"]
    emitter.emit("stage", name="tokenize", message=f"tokenizing {len(records)} records")
    rows: list[list[int] | None] = []
    rejected = []
    for record, source in zip(records, sources):
        try:
            counts = pair_lengths(tokenizer, record)
        except Exception as exc:  # a template that rejects this conversation: say so for this row
            rows.append(None)
            rejected.append({"source": source, "reason": str(exc).splitlines()[0] if str(exc) else type(exc).__name__})
            continue
        rows.append([counts[k] for k in keys])
    sequences = sorted(row[0] + answer for row in rows if row for answer in row[1:])
    stats = LengthStats(max_len=max_len)
    if sequences:
        n = len(sequences)
        stats = LengthStats(examples=n, min=sequences[0], mean=round(sum(sequences) / n, 1), p50=sequences[n // 2],
                            p95=sequences[min(n - 1, -(-95 * n // 100) - 1)], max=sequences[-1],
                            truncated=sum(s > max_len for s in sequences),
                            tokens=sum(min(s, max_len) for s in sequences),
                            target_tokens=sum(a for row in rows if row for a in row[1:]), max_len=max_len,
                            histogram=histogram(sequences))
    emitter.emit("pair_tokens", keys=keys, lengths=rows)
    emitter.emit("token_stats", stats=stats.to_dict(), lengths=sequences, records=len(records),
                 rejected=rejected[:MAX_REJECTED_LISTED], rejected_count=len(rejected))
    return {}
