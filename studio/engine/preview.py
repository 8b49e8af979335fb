"""`preview-data`: what the chosen model's tokenizer makes of a dataset, for the Data page.

The GUI may not import transformers, so token lengths and the label mask come from this short
worker: it reads the data with the same importer as training, tokenizes every record with the
same code (tokenize_records, explain_example), and answers with events:

    token_stats   LengthStats (with its histogram) and each record's untruncated length
    label_mask    one example as (token text, counts toward the loss) pairs
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.core.config import ModelOptions
from studio.core.datasets import import_dataset
from studio.core.errors import DataError, ModelError
from studio.engine.worker_io import Emitter

MAX_REJECTED_LISTED = 100


def preview_data(model: str, data: Path, emitter: Emitter, *, fmt: str = "auto", columns: dict[str, str] | None = None,
                 system_prompt: str = "", max_len: int = 1024, loss_on: str = "assistant",
                 examples: list[int] | None = None) -> dict[str, Any]:
    from studio.engine.download import local_source
    from studio.engine.model_loading import load_tokenizer
    from studio.engine.tokenization import explain_example, tokenize_records

    report = import_dataset(data, fmt, columns, system_prompt)
    if not report.records:
        raise DataError(f"{data} has no usable records to tokenize", hint="fix the rejected rows first")
    options = ModelOptions(name_or_path=model)
    emitter.emit("stage", name="load_tokenizer", message=f"loading the tokenizer of {model}")
    tokenizer = load_tokenizer(local_source(options, emitter), options)
    records = [r.to_dict() for r in report.records]
    if any(r.kind == "chat" for r in report.records) and not tokenizer.chat_template:
        raise ModelError(f"the tokenizer of {model} has no chat template, so chat records cannot be formatted",
                         hint="use an instruct/chat model, or convert the data to --format completion")
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
        try:
            tokens = explain_example(tokenizer, records[index], max_len, loss_on)
        except Exception as exc:  # a template that rejects this conversation: say so for this example
            emitter.emit("label_mask", index=index, source=report.records[index].source, tokens=[],
                         problem=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            continue
        emitter.emit("label_mask", index=index, source=report.records[index].source,
                     tokens=[[text, counts] for text, counts in tokens])
    return {}
