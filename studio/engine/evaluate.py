"""Greedy answers on held-out prompts, for the base model and each adapter, scored by exact match.

The base model is loaded once and each adapter is attached to it by name (peft), so comparing
the base with several adapters costs one model's memory. Used by `studio demo` to show what the
fine-tune changed, and by the prompt-set comparison of the A/B chat.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.core.config import ModelOptions
from studio.core.datasets import import_dataset
from studio.core.errors import DataError, ModelError
from studio.core.library import read_adapter
from studio.engine.worker_io import Controls, Emitter

BATCH = 32


def prompts_and_answers(data: Path, limit: int = 0) -> list[tuple[Any, str]]:
    """(prompt, expected answer) pairs: chat records end with the answer to predict."""
    report = import_dataset(data)
    pairs: list[tuple[Any, str]] = []
    for record in report.records:
        if record.kind == "chat" and record.messages and record.messages[-1]["role"] == "assistant":
            pairs.append((record.messages[:-1], record.messages[-1]["content"]))
        elif record.kind == "completion":
            pairs.append((record.prompt, record.completion or ""))
    if not pairs:
        raise DataError(f"{data} has no prompts with expected answers",
                        hint="use chat records ending with the assistant's answer, or prompt/completion records")
    return pairs[:limit] if limit else pairs


def generate_answers(model: Any, tokenizer: Any, prompts: list[Any], max_new_tokens: int,
                     on_batch: Any = None) -> list[str]:
    import torch

    tokenizer.padding_side = "left"
    answers: list[str] = []
    for start in range(0, len(prompts), BATCH):
        batch = prompts[start: start + BATCH]
        texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
                 if isinstance(p, list) else p for p in batch]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=not isinstance(batch[0], list))
        enc = {k: v.to(model.device) for k, v in enc.items()}
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        for row in out[:, enc["input_ids"].shape[1]:]:
            answers.append(tokenizer.decode(row, skip_special_tokens=True).strip())
        if on_batch is not None:
            on_batch(len(answers))
    return answers


def evaluate_prompts(model_path: str, adapters: list[str], data: Path, emitter: Emitter, controls: Controls,
                     max_new_tokens: int = 16, limit: int = 0) -> dict[str, Any]:
    from peft import PeftModel

    from studio.engine.model_loading import load_model, load_tokenizer, pick_device, resolve_source

    preference = preference_records(data, limit)
    pairs = [] if preference else prompts_and_answers(data, limit)
    options = ModelOptions(name_or_path=model_path)
    device = pick_device()
    emitter.emit("stage", name="load_model", message=f"loading {model_path}")
    source = resolve_source(options)
    tokenizer = load_tokenizer(source, options)
    model = load_model(source, options, device)
    for i, adapter in enumerate(adapters):
        folder = Path(adapter)
        problem = read_adapter(folder).broken
        if problem:
            raise ModelError(f"cannot use the adapter {folder}: {problem}",
                             hint="pass a PEFT adapter folder with adapter_model.safetensors weights")
        if i == 0:
            model = PeftModel.from_pretrained(model, str(folder), adapter_name=f"a{i}")
        else:
            model.load_adapter(str(folder), adapter_name=f"a{i}")
    model.eval()
    if preference:
        return _score_pairs(model, tokenizer, adapters, preference, emitter, controls)
    prompts = [p for p, _ in pairs]
    slots: list[tuple[str, str | None]] = [("base", None)] + [(a, f"a{i}") for i, a in enumerate(adapters)]
    results = []
    for label, adapter_name in slots:
        emitter.emit("stage", name="generate", message=f"answering {len(prompts)} prompts with {label}")

        def report(done: int, label: str = label) -> None:
            emitter.emit("progress", step=done, max_steps=len(prompts), slot=label)

        if adapter_name is None and adapters:
            with model.disable_adapter():
                answers = generate_answers(model, tokenizer, prompts, max_new_tokens, report)
        else:
            if adapter_name is not None:
                model.set_adapter(adapter_name)
            answers = generate_answers(model, tokenizer, prompts, max_new_tokens, report)
        correct = sum(a == expected.strip() for a, (_, expected) in zip(answers, pairs))
        samples = [{"prompt": p[-1]["content"] if isinstance(p, list) else p, "expected": e, "answer": a}
                   for (p, e), a in zip(pairs, answers)]
        result = {"slot": label, "correct": correct, "total": len(pairs),
                  "accuracy": correct / len(pairs), "samples": samples}
        emitter.emit("result", **result)
        results.append({k: v for k, v in result.items() if k != "samples"})
        if controls.cancel.is_set():
            return {"status": "cancelled", "results": results}
    return {"results": results}


def preference_records(data: Path, limit: int = 0) -> list[Any]:
    """The file's preference pairs, or [] when it holds no pairs (then it is read as prompts)."""
    try:
        report = import_dataset(data, objective="dpo")
    except DataError:
        return []
    records = [r for r in report.records if r.kind == "preference"]
    return records[:limit] if limit else records


def _score_pairs(model: Any, tokenizer: Any, adapters: list[str], records: list[Any], emitter: Emitter,
                 controls: Controls) -> dict[str, Any]:
    """Held-out preference accuracy (pair_scoring.py) of the base and each adapter."""
    from studio.engine.pair_scoring import preference_accuracy

    results = []
    for i, label in enumerate(["base"] + adapters):
        emitter.emit("stage", name="score_pairs", message=f"scoring {len(records)} preference pairs with {label}")
        if i == 0 and adapters:
            with model.disable_adapter():
                scores = preference_accuracy(model, tokenizer, records)
        else:
            if adapters:
                model.set_adapter(f"a{i - 1}")
            scores = preference_accuracy(model, tokenizer, records)
        result = {"slot": label, "correct": scores["preferred"], "total": scores["pairs"], **scores}
        emitter.emit("result", **{k: v for k, v in result.items() if k != "rows"})
        results.append({k: v for k, v in result.items() if k != "rows"})
        if controls.cancel.is_set():
            return {"status": "cancelled", "results": results}
    return {"results": results}
