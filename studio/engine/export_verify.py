"""Proving that a merged model is the adapter: logits and greedy answers, base + adapter vs. merged.

Before the merge, base + adapter (the reference, unmerged, in the export dtype) answers a few
prompts greedily; we keep each prompt + answer token sequence and the reference's logits on it.
The adapter is also switched off once per prompt to measure how much it changes the logits at
all. After the merged folder is written, it is loaded fresh with plain
`AutoModelForCausalLM.from_pretrained` (no peft, no studio code), run on the same token
sequences, and asked for its own greedy answers.

Tolerances. Merging replaces `x @ W + s * (x @ A) @ B` by `x @ (W + s * B @ A)`: the same
function, computed in a different order and with the merged weight rounded once to the export
dtype. The difference is rounding noise, so the bound is relative to the size of the logits:

    tolerance = RELATIVE_TOLERANCE[dtype] * max(1, max |reference logit|)

- bf16 (unit roundoff u = 2^-8 = 3.9e-3): 0.1, about 25 u. Measured on random-init Llamas of
  4, 16 and 32 layers: 4.5 u, 5.5 u and 7.3 u (1.8%, 2.2%, 2.9% of the logit scale), so the
  error grows slowly with depth and the tolerance keeps 3.5x headroom at 32 layers.
- fp16 (u = 2^-11 = 4.9e-4): 0.0125, the same 25 u. Measured: 4.7 u, 5.1 u, 7.4 u.
- fp32 (u = 6e-8): 1e-4. Here the difference comes from summation order in the matmuls, not
  from rounding the merged weight; measured 1.3e-6 to 2.7e-6 of the logit scale (1e-5 absolute on
  the demo adapter), and any real mistake is many orders of magnitude larger.
(docs/export.md has the commands and all figures.) A merge that skipped the adapter, or put
it in at the wrong scale, is off by the adapter's own effect (or a share of it), which for a
trained adapter is whole logits, not a few percent.

Greedy answers: if every logit moved by at most `tolerance`, the argmax can only change where the
reference's top two tokens were within 2 x tolerance of each other (a near-tie). So an answer
that differs is accepted only when the reference's margin at the first differing token is within
2 x tolerance; the figures say so. Anything else fails the export.

A merge that skipped the adapter reproduces the base, whose logits differ from the reference by
the adapter's own effect; when that effect is itself below the tolerance on these prompts, the
check cannot tell the two apart and the report says so (`inconclusive`) instead of claiming more.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from studio.core.errors import DataError, StudioError

RELATIVE_TOLERANCE = {"fp32": 1e-4, "fp16": 1.25e-2, "bf16": 1e-1}
DEFAULT_PROMPTS = 4
MAX_NEW_TOKENS = 16
MAX_PROMPT_TOKENS = 256
BUILTIN_PROMPTS = (
    "Write one sentence about the sea.",
    "What is 12 plus 30?",
    "List three colours.",
    "Translate 'good morning' into French.",
)


class VerificationFailed(StudioError):
    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message, hint=hint, kind="verification")


@dataclass
class PromptReference:
    label: str           # the prompt as a person reads it
    prompt_len: int      # tokens of the prompt; the rest of `sequence` is the reference's answer
    sequence: Any        # 1-D LongTensor: prompt + greedy answer of base + adapter
    logits: Any          # (len, vocab) float32 on the CPU: base + adapter on `sequence`
    answer: str
    adapter_effect: float  # max |base + adapter - base| on `sequence`


def load_prompts(tokenizer: Any, prompts_file: Path | None,
                 count: int = DEFAULT_PROMPTS) -> tuple[list[tuple[str, list[int]]], str]:
    """(label, token ids) of `count` prompts, from the adapter's data when possible; and their source."""
    from studio.engine.evaluate import prompts_and_answers

    prompts: list[Any] = []
    source = "built-in prompts"
    if prompts_file is not None:
        try:
            prompts = [p for p, _ in prompts_and_answers(prompts_file, count)]
            source = str(prompts_file)
        except (DataError, OSError):
            prompts = []
    if not prompts:
        prompts = [[{"role": "user", "content": text}] if tokenizer.chat_template else text
                   for text in BUILTIN_PROMPTS[:count]]
    encoded = []
    for prompt in prompts:
        if isinstance(prompt, list):
            text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            label = str(prompt[-1].get("content", ""))
        else:
            ids = tokenizer(prompt)["input_ids"]
            label = str(prompt)
        encoded.append((label, list(ids)[-MAX_PROMPT_TOKENS:]))
    return encoded, source


def greedy_config(tokenizer: Any, max_new_tokens: int) -> Any:
    """Explicit greedy decoding: the model's own generation_config (sampling, penalties) is not used."""
    from transformers import GenerationConfig

    return GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                            pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)


def _logits(model: Any, sequence: Any) -> Any:
    import torch

    with torch.no_grad():
        return model(sequence[None].to(model.device)).logits[0].float().cpu()


def _generate(model: Any, ids: list[int], config: Any) -> Any:
    import torch

    with torch.no_grad():
        out = model.generate(input_ids=torch.tensor([ids], device=model.device),
                             attention_mask=torch.ones(1, len(ids), dtype=torch.long, device=model.device),
                             generation_config=config)
    return out[0].cpu()


def capture_reference(peft_model: Any, tokenizer: Any, prompts: list[tuple[str, list[int]]],
                      max_new_tokens: int = MAX_NEW_TOKENS,
                      on_prompt: Callable[[int], None] | None = None) -> list[PromptReference]:
    """Greedy answers and logits of base + adapter, before anything is merged."""
    config = greedy_config(tokenizer, max_new_tokens)
    references = []
    for i, (label, ids) in enumerate(prompts):
        sequence = _generate(peft_model, ids, config)
        logits = _logits(peft_model, sequence)
        with peft_model.disable_adapter():
            base_logits = _logits(peft_model, sequence)
        answer = tokenizer.decode(sequence[len(ids):], skip_special_tokens=True).strip()
        references.append(PromptReference(label, len(ids), sequence, logits, answer,
                                          float((logits - base_logits).abs().max())))
        if on_prompt is not None:
            on_prompt(i + 1)
    return references


def capture_as_trained(peft_model: Any, tokenizer: Any, prompts: list[tuple[str, list[int]]],
                       max_new_tokens: int = MAX_NEW_TOKENS) -> list[dict[str, Any]]:
    """Greedy answers and prompt logits of the quantized base + adapter, as the adapter was trained."""
    config = greedy_config(tokenizer, max_new_tokens)
    captured = []
    for _, ids in prompts:
        sequence = _generate(peft_model, ids, config)
        captured.append({"answer": tokenizer.decode(sequence[len(ids):], skip_special_tokens=True).strip(),
                         "logits": _logits(peft_model, sequence[: len(ids)])})
    return captured


def compare_as_trained(captured: list[dict[str, Any]], references: list[PromptReference], quant: str) -> dict[str, Any]:
    """How far full-precision base + adapter (= the merged model) is from quantized base + adapter.

    Information, not a pass/fail: the gap is the quantization the adapter was trained on, and
    merging into quantized weights instead would add rounding of its own (which is why it is not done).
    """
    rows = []
    for cap, ref in zip(captured, references):
        diff = float((cap["logits"] - ref.logits[: ref.prompt_len]).abs().max())
        rows.append({"answer": cap["answer"], "same_answer": cap["answer"] == ref.answer, "max_abs_diff": diff})
    return {"quant": quant, "prompts": len(rows), "same_answer": sum(r["same_answer"] for r in rows),
            "max_abs_diff": max(r["max_abs_diff"] for r in rows), "rows": rows}


def compare_merged(merged: Any, tokenizer: Any, references: list[PromptReference], dtype: str,
                   max_new_tokens: int = MAX_NEW_TOKENS,
                   on_prompt: Callable[[int], None] | None = None) -> dict[str, Any]:
    """The verification figures; `passed` is False when the merged model is not base + adapter."""
    config = greedy_config(tokenizer, max_new_tokens)
    scale = max(1.0, max(float(r.logits.abs().max()) for r in references))
    tolerance = RELATIVE_TOLERANCE[dtype] * scale
    rows, problems = [], []
    for i, ref in enumerate(references):
        diff = float((_logits(merged, ref.sequence) - ref.logits).abs().max())
        produced = _generate(merged, ref.sequence[: ref.prompt_len].tolist(), config)
        answer = tokenizer.decode(produced[ref.prompt_len:], skip_special_tokens=True).strip()
        agree, margin = _agreement(ref, produced)
        row = {"prompt": ref.label[:200], "reference_answer": ref.answer, "merged_answer": answer,
               "max_abs_diff": diff, "greedy_agree": agree, "adapter_effect": ref.adapter_effect}
        if not agree:
            row["margin"] = margin
            if margin is None or not margin <= 2 * tolerance:
                problems.append(f"prompt {i + 1}: the merged model answers {answer!r}, base + adapter "
                                f"{ref.answer!r}" + (f" (reference margin {margin:.3g} > 2 x tolerance)"
                                                     if margin is not None else ""))
        if not diff <= tolerance:  # also catches NaN
            problems.append(f"prompt {i + 1}: max logit difference {diff:.3g} > tolerance {tolerance:.3g}")
        rows.append(row)
        if on_prompt is not None:
            on_prompt(i + 1)
    max_diff = max(r["max_abs_diff"] for r in rows)
    effect = min(r.adapter_effect for r in references)
    return {
        "passed": not problems, "problems": problems, "dtype": dtype,
        "relative_tolerance": RELATIVE_TOLERANCE[dtype], "logit_scale": scale, "tolerance": tolerance,
        "max_abs_diff": max_diff, "greedy_agree": sum(r["greedy_agree"] for r in rows), "prompts": len(rows),
        "adapter_effect": effect, "inconclusive": effect <= tolerance, "rows": rows,
    }


def _agreement(ref: PromptReference, produced: Any) -> tuple[bool, float | None]:
    """Whether the greedy answers match; if not, the reference's margin at the first difference."""
    expected = ref.sequence
    n = min(len(expected), len(produced))
    for pos in range(ref.prompt_len, n):
        if int(expected[pos]) != int(produced[pos]):
            row = ref.logits[pos - 1]
            return False, float(row[int(expected[pos])] - row[int(produced[pos])])
    if len(expected) != len(produced):
        return False, None  # one stopped (eos) where the other went on: not a tie we can measure
    return True, None


def describe(report: dict[str, Any]) -> str:
    """One line with the figures, for logs and error messages."""
    return (f"max |logit difference| {report['max_abs_diff']:.3g} (tolerance {report['tolerance']:.3g} = "
            f"{report['relative_tolerance']:g} x logit scale {report['logit_scale']:.3g}, {report['dtype']}); "
            f"greedy answers agree on {report['greedy_agree']}/{report['prompts']} prompts; "
            f"the adapter itself changes logits by at least {report['adapter_effect']:.3g}")

