"""`preview-data`: what the chosen model's tokenizer makes of a dataset, for the Data page.

The GUI may not import transformers, so token lengths and the label mask come from this short
worker: it reads the data with the same importer as training, tokenizes every record with the
same code (tokenize_records, explain_example), and answers with events:

    token_stats   LengthStats (with its histogram) and each record's untruncated length
    label_mask    one example as (token text, counts toward the loss) pairs
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
    report = import_options(data)
    if not report.records:
        raise DataError(f"{data.path} has no usable records to tokenize", hint="fix the rejected rows first")
    emitter.emit("stage", name="load_tokenizer", message=f"loading the tokenizer of {config.model.name_or_path}")
    tokenizer = load_tokenizer(local_source(config.model, emitter), config.model)
    records = [r.to_dict() for r in report.records]
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
