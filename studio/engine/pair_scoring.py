"""Held-out preference accuracy: how often a model gives the chosen answer a higher likelihood
than the rejected one.

TRL's `rewards/accuracies` compares the policy with its reference, so it starts at 0 for every
run (policy = reference at step 0) and cannot say whether the base, the SFT adapter or the DPO
adapter prefers the right answers. This score needs no reference: the summed log-probability of
each answer's tokens after the prompt, rendered with the tokenizer's chat template as TRL renders
it. Used by `studio demo --objective dpo` and by `evaluate` on preference files.
"""

from __future__ import annotations

from typing import Any

from studio.core.datasets import Record


def answer_ids(tokenizer: Any, record: Record, answer: Any) -> tuple[list[int], int]:
    """The ids of prompt + answer, and where the answer starts."""
    if isinstance(record.prompt, list):
        prompt_text = tokenizer.apply_chat_template(record.prompt, tokenize=False, add_generation_prompt=True)
        full_text = tokenizer.apply_chat_template(record.prompt + answer, tokenize=False)
    else:
        prompt_text, full_text = record.prompt or "", (record.prompt or "") + answer
    prompt = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    full = tokenizer(full_text, add_special_tokens=False)["input_ids"]
    return list(full), len(prompt)


def answer_logprob(model: Any, ids: list[int], start: int) -> float:
    import torch

    with torch.no_grad():
        tensor = torch.tensor([ids], device=model.device)
        logits = model(input_ids=tensor).logits[0, :-1].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        targets = tensor[0, 1:]
        picked = logprobs.gather(1, targets.unsqueeze(1)).squeeze(1)
    return float(picked[max(start - 1, 0):].sum())


def preference_accuracy(model: Any, tokenizer: Any, records: list[Record]) -> dict[str, Any]:
    """Share of pairs whose chosen answer is more likely than the rejected one, and the mean margin
    (log-prob of chosen minus rejected, in nats)."""
    wins, margins, rows = 0, [], []
    for record in records:
        chosen = answer_logprob(model, *answer_ids(tokenizer, record, record.chosen))
        rejected = answer_logprob(model, *answer_ids(tokenizer, record, record.rejected))
        wins += chosen > rejected
        margins.append(chosen - rejected)
        rows.append({"source": record.source, "chosen_logp": round(chosen, 3), "rejected_logp": round(rejected, 3)})
    total = len(records)
    return {"pairs": total, "preferred": wins, "accuracy": wins / total if total else 0.0,
            "mean_margin": round(sum(margins) / total, 4) if total else 0.0, "rows": rows}
