"""Logits at label positions only (engine/label_logits.py): the same loss and LoRA gradients as the
full LM head, packed and padded, and the switch's refusals."""

from __future__ import annotations

from pathlib import Path

import pytest


def lora_model(tiny_model: Path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model), attn_implementation="sdpa")
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    for name, parameter in model.named_parameters():
        if "lora_B" in name:  # non-zero, so the LoRA A matrices get gradients too
            torch.nn.init.normal_(parameter, std=0.05)
    return model


def features() -> list[dict]:
    import torch

    generator = torch.Generator().manual_seed(1)
    rows = []
    for length, answer in ((40, 6), (75, 12), (23, 3)):
        ids = torch.randint(3, 200, (length,), generator=generator).tolist()
        rows.append({"input_ids": ids, "labels": [-100] * (length - answer) + ids[-answer:]})
    return rows


def loss_and_grads(model, batch) -> tuple[float, list]:
    model.zero_grad()
    loss = model(**batch).loss
    loss.backward()
    return float(loss.detach()), [p.grad.clone() for p in model.parameters() if p.grad is not None]


@pytest.mark.parametrize("packed", [True, False])
def test_label_positions_give_the_full_heads_loss_and_gradients(tiny_model: Path, packed: bool) -> None:
    import torch
    from transformers import AutoTokenizer, DataCollatorForSeq2Seq

    from studio.engine.label_logits import LabelPositions, label_positions
    from studio.engine.packing import enable_packing, flattening_collator

    model = lora_model(tiny_model)
    if packed:
        assert enable_packing(model.get_base_model())[0]
        collator = flattening_collator()
    else:
        collator = DataCollatorForSeq2Seq(AutoTokenizer.from_pretrained(str(tiny_model)), padding=True)
    chosen, on, note = label_positions(model, collator, liger=False)
    assert on and isinstance(chosen, LabelPositions), note

    plain = collator(features())
    kept = chosen(features())
    answers = sum(int(x != -100) for f in features() for x in f["labels"])
    assert kept["logits_to_keep"].dtype == torch.bool and int(kept["logits_to_keep"].sum()) == answers
    assert kept["shift_labels"].shape == (answers,) and bool((kept["shift_labels"] != -100).all())
    assert int(plain["labels"][..., 1:].ne(-100).sum()) == answers  # the Trainer's token count is unchanged

    loss_full, grads_full = loss_and_grads(model, plain)
    loss_kept, grads_kept = loss_and_grads(model, kept)
    assert abs(loss_kept - loss_full) < 1e-5 * loss_full
    assert len(grads_full) == len(grads_kept) > 0
    for full, mine in zip(grads_full, grads_kept):
        assert torch.allclose(full, mine, rtol=1e-4, atol=1e-7)
    assert model(**kept).logits.shape[0] == answers  # only those positions went through the LM head


def test_label_positions_stay_off_where_they_cannot_help_or_fit(tiny_model: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from studio.engine.label_logits import label_positions
    from studio.engine.packing import flattening_collator

    model, collator = lora_model(tiny_model), flattening_collator()
    assert label_positions(model, collator, liger=True)[:2] == (collator, False)
    assert label_positions(model, collator, liger=False, data_parallel=True)[:2] == (collator, False)
    monkeypatch.setenv("STUDIO_LABEL_LOGITS", "0")
    chosen, on, note = label_positions(model, collator, liger=False)
    assert chosen is collator and not on and "STUDIO_LABEL_LOGITS" in note
