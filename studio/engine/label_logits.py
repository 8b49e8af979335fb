"""Logits only where a label is: the LM head and the loss skip positions that train nothing.

In SFT on chat data only the assistant's tokens carry labels (in `studio bench`'s data 11% of
the tokens), yet a causal LM projects every position onto the vocabulary, upcasts those
(tokens x vocab) logits to fp32 for the loss and throws most of them away; on a real vocabulary
(150k entries) that head is a quarter of the forward's compute and most of its peak memory.

transformers' causal LMs take `logits_to_keep` as a boolean (batch, length) mask (the kept
positions come out flattened) and the loss takes pre-shifted `shift_labels`. `LabelPositions`
wraps the collator and adds both: the positions whose next token is a label, and those labels.
The loss is the same sum over the same tokens divided by the same count (the Trainer counts
`shift_labels` when a batch has them), so gradients equal the full head's up to float rounding;
`tests/test_label_logits.py` checks losses and LoRA gradients against the plain batch.

TRL's SFTTrainer does the same with its fused LM head, but only on Triton devices; on the CPU it
scores every position. Not used with Liger Kernel, whose fused linear cross-entropy already never
builds the logits and reads the labels itself. `STUDIO_LABEL_LOGITS=0` turns it off (ablations).
"""

from __future__ import annotations

import inspect
import os
from typing import Any

IGNORE = -100


def label_positions(model: Any, collator: Any, liger: bool, data_parallel: bool = False) -> tuple[Any, bool, str]:
    """(collator to train with, on, a sentence for the log): `LabelPositions(collator)` when the
    model takes a boolean `logits_to_keep` and a check batch gives the plain batch's loss.

    Not under nn.DataParallel (several GPUs, no launcher), which splits every tensor of a batch
    along its first axis and would cut the flat `shift_labels` apart from their rows."""
    if liger:
        return collator, False, "off: Liger Kernel's fused cross-entropy already skips the logits"
    if data_parallel:
        return collator, False, "off: nn.DataParallel splits batches by rows"
    if os.environ.get("STUDIO_LABEL_LOGITS", "1") == "0":
        return collator, False, "off: STUDIO_LABEL_LOGITS=0"
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if "logits_to_keep" not in inspect.signature(type(base).forward).parameters:
        return collator, False, f"off: {type(base).__name__} takes no logits_to_keep"
    wrapped = LabelPositions(collator)
    try:
        difference = check(model, collator, wrapped)
    except (TypeError, ValueError, IndexError, RuntimeError) as exc:  # a model class that slices differently
        return collator, False, f"off: {type(base).__name__} cannot keep logits by a mask ({str(exc)[:120]})"
    import torch

    parameter = next(model.parameters())
    tolerance = 1e-4 if parameter.dtype == torch.float32 and parameter.device.type == "cpu" else 1e-2
    if difference > tolerance:
        return collator, False, f"off: the loss with logits at label positions only differs by {difference:.2g}"
    return wrapped, True, f"on (check batch: loss differs by {difference:.1e})"


def check(model: Any, plain: Any, wrapped: Any) -> float:
    """Relative difference of the loss of one small batch, all logits vs label positions only."""
    import torch

    vocab = int(model.config.vocab_size)
    generator = torch.Generator().manual_seed(0)
    features = []
    for length, answer in ((13, 4), (9, 3)):
        ids = torch.randint(min(10, vocab - 1), vocab, (length,), generator=generator).tolist()
        features.append({"input_ids": ids, "labels": [IGNORE] * (length - answer) + ids[-answer:]})
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            losses = []
            for collator in (plain, wrapped):
                batch = collator([dict(f) for f in features])
                batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
                losses.append(float(model(**batch, use_cache=False).loss))
    finally:
        model.train(was_training)
    return abs(losses[1] - losses[0]) / max(abs(losses[0]), 1e-6)


class LabelPositions:
    """A collator wrapper: each batch also carries `logits_to_keep` (where the next token is a
    label) and `shift_labels` (those labels, flattened in the same order)."""

    def __init__(self, collator: Any) -> None:
        self.collator = collator

    def __call__(self, features: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        batch = self.collator(features, *args, **kwargs)
        return with_label_positions(batch)


def with_label_positions(batch: Any) -> Any:
    import torch

    labels = batch["labels"]
    shifted = torch.full_like(labels, IGNORE)
    shifted[:, :-1] = labels[:, 1:]
    keep = shifted != IGNORE
    if not bool(keep.any()):  # nothing to learn in this batch: keep one position so the loss stays a tensor
        keep[0, 0] = True
    batch["logits_to_keep"] = keep
    batch["shift_labels"] = shifted[keep]
    return batch
