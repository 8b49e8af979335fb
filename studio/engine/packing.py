"""Padding-free packing: a batch's examples concatenated into one row, attention kept per example.

transformers' `DataCollatorWithFlattening` concatenates the examples of a batch into a single
row with `position_ids` that restart at 0 for each example and a -100 label at each boundary, so
no compute is spent on padding and the loss (token-averaged by the Trainer) is the same as for
the padded batch. What keeps examples from attending to each other is the attention kernel:

- flash_attention_2/3 (CUDA) read the example boundaries (`cu_seq_lens_*`) and run varlen attention;
- sdpa builds a block-diagonal causal mask over the whole row from the position ids. That is
  correct but costs (sum of lengths)^2 per layer instead of sum(length^2): on a batch of 16
  short examples, 16x the attention work of the padded batch.

So for sdpa we register `studio_packed_sdpa` with transformers' AttentionInterface: the same
SDPA kernel, called once per example span (causal, no mask), which costs what the examples
cost. Batches that are not packed (no boundaries in the kwargs) go to transformers' own sdpa.

`check_packing` proves on the loaded model, with the attention it really uses, that a packed
forward gives the same logits as separate forwards, so a model whose attention ignores the
boundaries is trained with padding instead of silently mixing examples.
"""

from __future__ import annotations

from typing import Any

PACKED_SDPA = "studio_packed_sdpa"
_boundaries_cache: list[Any] = [None, None]  # (cu_seq_lens tensor, its values): one sync per forward


def packed_sdpa_attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any,
                          dropout: float = 0.0, scaling: float | None = None, is_causal: bool | None = None,
                          cu_seq_lens_q: Any = None, cu_seq_lens_k: Any = None, sliding_window: int | None = None,
                          **kwargs: Any) -> tuple[Any, None]:
    """SDPA over each packed example span; transformers' sdpa for everything else."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    same_length = query.shape[2] == key.shape[2]
    packed = (cu_seq_lens_q is not None and query.shape[0] == 1 and same_length
              and (cu_seq_lens_k is None or cu_seq_lens_k is cu_seq_lens_q or torch.equal(cu_seq_lens_k, cu_seq_lens_q)))
    if packed:
        if _boundaries_cache[0] is not cu_seq_lens_q:  # the same tensor reaches every layer of one forward
            _boundaries_cache[:] = [cu_seq_lens_q, [int(x) for x in cu_seq_lens_q.tolist()]]
        bounds = _boundaries_cache[1]
        lengths = [end - start for start, end in zip(bounds[:-1], bounds[1:]) if end > start]
        if sum(lengths) != query.shape[2]:
            raise ValueError(f"packed example lengths add up to {sum(lengths)}, but the row has {query.shape[2]} tokens")
    elif attention_mask is None and same_length and sliding_window is not None and query.shape[2] > sliding_window:
        lengths = [query.shape[2]]  # no mask was built (packed_sdpa_mask), so apply the window here
    else:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, is_causal=is_causal, **kwargs)
    outputs = []
    # One split per tensor (not a slice per example): its backward is a single concatenation.
    for q, k, v in zip(query.split(lengths, dim=2), key.split(lengths, dim=2), value.split(lengths, dim=2)):
        length = q.shape[2]
        mask = None
        if sliding_window is not None and length > sliding_window:
            i = torch.arange(length, device=query.device)
            mask = ((i[:, None] >= i[None, :]) & (i[:, None] - i[None, :] < sliding_window))[None, None]
        out, _ = sdpa_attention_forward(module, q, k, v, mask, dropout=dropout, scaling=scaling,
                                        is_causal=mask is None, **kwargs)
        outputs.append(out)
    return torch.cat(outputs, dim=1), None


def packed_sdpa_mask(*args: Any, attention_mask: Any = None, **kwargs: Any) -> Any:
    """sdpa's mask for padded batches; none for packed rows (they carry no 2D padding mask), so
    the (sum of lengths)^2 block mask that packed_sdpa_attention never reads is not built."""
    if attention_mask is None:
        return None
    from transformers.masking_utils import sdpa_mask

    return sdpa_mask(*args, attention_mask=attention_mask, **kwargs)


def register_packed_sdpa() -> str:
    """Make `studio_packed_sdpa` a valid attn_implementation (padding masks as for sdpa)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(PACKED_SDPA, packed_sdpa_attention)
    AttentionMaskInterface.register(PACKED_SDPA, packed_sdpa_mask)
    return PACKED_SDPA


def packing_attention(model: Any) -> str | None:
    """The attention implementation to pack with, or None when packing cannot be done exactly.

    flash_attention_* already handle packed rows; sdpa is switched to the per-example version.
    Logit soft-capping (Gemma 2) and eager attention are left alone: the dense packed mask of
    transformers is exact for them, so `check_packing` decides.
    """
    current = getattr(model.config, "_attn_implementation", None) or "eager"
    if current.startswith("flash_attention"):
        return current
    if current == "sdpa" and getattr(model.config, "attn_logit_softcapping", None) is None:
        register_packed_sdpa()
        try:
            model.set_attn_implementation(PACKED_SDPA)
        except (ValueError, NotImplementedError):  # a model class that takes no custom attention
            return current
        return PACKED_SDPA
    return current


def flattening_collator() -> Any:
    from transformers import DataCollatorWithFlattening

    return DataCollatorWithFlattening(return_position_ids=True, return_flash_attn_kwargs=True)


def check_packing(model: Any, tolerance: float | None = None) -> tuple[bool, float]:
    """(exact, relative difference): logits of two examples packed in one row vs run apart.

    Only the second example can be contaminated (attention is causal), so its logits are
    compared. Cross-contamination changes them by tens of percent; rounding in bf16/fp16 or
    4-bit stays far below the tolerance.
    """
    import torch

    parameter = next(model.parameters())
    device = parameter.device
    vocab = int(model.config.vocab_size)
    generator = torch.Generator().manual_seed(0)
    first = torch.randint(min(10, vocab - 1), vocab, (11,), generator=generator).tolist()
    second = torch.randint(min(10, vocab - 1), vocab, (7,), generator=generator).tolist()
    batch = flattening_collator()([{"input_ids": first}, {"input_ids": second}], return_tensors="pt")
    batch.pop("labels", None)
    batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            # use_cache=False as in training (the Trainer sets it): with a KV cache transformers
            # skips its packed-sequence detection, so the check must run the way training does.
            packed = model(**batch, use_cache=False).logits[0, len(first):].float()
            alone = model(input_ids=torch.tensor([second], device=device), use_cache=False).logits[0].float()
    finally:
        model.train(was_training)
    difference = float((packed - alone).abs().max() / alone.abs().max().clamp_min(1e-6))
    if tolerance is None:
        tolerance = 1e-3 if parameter.dtype == torch.float32 and alone.device.type == "cpu" else 3e-2
    return difference <= tolerance, difference


def enable_packing(model: Any) -> tuple[bool, str]:
    """Switch the model to attention that keeps packed examples apart and prove it on the model.

    Returns (packing on, a sentence for the log)."""
    attention = packing_attention(model)
    exact, difference = check_packing(model)
    if exact:
        return True, f"padding-free packing on ({attention} attention; packed vs separate logits differ by {difference:.1e})"
    if attention == PACKED_SDPA:
        model.set_attn_implementation("sdpa")
    return False, (f"padding-free packing is off: with {attention} attention, packed examples change each "
                   f"other's outputs (relative difference {difference:.2g}); training on padded batches instead")
