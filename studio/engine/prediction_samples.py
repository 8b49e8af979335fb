"""Prediction samples: at each evaluation, greedy answers to a few held-out prompts, scored.

Why: the loss says the model fits the tokens of the data; only an answer says whether it does the
task. So at every evaluation of a run (the Trainer's `on_evaluate`) the model answers the first
`train.sample_predictions` held-out prompts that have an expected answer, and a `predictions`
event records each answer next to the expected one, with exact match and a 0-1 similarity (the
scores of core/prompt_sets.py, the same as the chat's prompt sets). The same prompts are asked at
every evaluation, so the rows show the answers changing as the run learns.

How, and why so:
- The prompts are the eval records the run loaded (handed over by training.py), because the
  Trainer only has their tokens: the prompt must be rendered like chat renders it (the chat template with the generation
  prompt), not cut out of the training render. They are read once, at the first evaluation, and
  only on rank 0.
- Greedy, one prompt at a time, with `model.generate` and no padding: the answer is what chat gives
  at temperature 0 for that prompt, and the tokenizer (whose padding side the training collator
  uses) is never touched. The cost is bounded by prompts x `train.sample_max_tokens` decoding
  steps, and each event says how long it took (`seconds`, part of the `train` stage's time).
- The model is put in eval mode under no_grad for it and back in train mode after: dropout off,
  and gradient checkpointing (which transformers applies only in train mode) out of the way of
  the KV cache. No random numbers are drawn, so the training that follows is unchanged, and a
  resumed run still matches an uninterrupted one.
- A problem here (no usable prompt, a sharded model, an error while generating) is reported once
  as a `warning` and turns the samples off; it never stops the training.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from studio.core.config import RunConfig
from studio.core.datasets import Record
from studio.core.prompt_sets import item_from_record, score
from studio.engine.worker_io import Emitter

TEXT_LIMIT = 2000       # characters of a prompt or expected answer kept in an event (scores use all of it)
END_PROBE = "studio-end-of-turn-probe"


@dataclass
class SamplePrompt:
    """One held-out prompt, rendered once and asked at every evaluation."""

    ids: list[int]          # the prompt's tokens, as chat would send them
    text: str               # what was asked: the last user message, or the raw prompt
    expected: str
    source: str             # file:line of the record


def render_ids(tokenizer: Any, record: Record, turn: list[dict[str, Any]] | str) -> list[int]:
    """The prompt's ids as the A/B chat renders them (generation.render_prompt), with the record's
    tools and our private message keys removed the way training's renderer removes them."""
    from studio.engine.chat_render import prepare_messages
    from studio.engine.generation import render_prompt

    if isinstance(turn, str):
        return render_prompt(tokenizer, turn, None, "")
    template = tokenizer.get_chat_template(None, record.tools)
    messages = prepare_messages(turn, template)
    if not record.tools:
        return render_prompt(tokenizer, messages, None, "")
    text = tokenizer.apply_chat_template(messages, tools=record.tools, tokenize=False, add_generation_prompt=True)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def sample_prompts(tokenizer: Any, records: list[Record], count: int, max_len: int) -> list[SamplePrompt]:
    """The first `count` records, in file order, that have an expected answer and a prompt that
    renders within `max_len` tokens (longer ones would cost more than anything training does)."""
    prompts: list[SamplePrompt] = []
    for record in records:
        if len(prompts) >= count:
            break
        item = item_from_record(record)       # None for text records
        if item is None or not (item.expected or "").strip():
            continue
        try:
            ids = render_ids(tokenizer, record, item.turn)
        except Exception:                     # a template that refuses this conversation: try the next
            continue
        if 0 < len(ids) <= max_len:
            prompts.append(SamplePrompt(ids, item.text, item.expected or "", record.source))
    return prompts


def stop_ids(model: Any, tokenizer: Any) -> list[int]:
    """Where an answer ends: the eos ids chat stops at, plus the special token the chat template
    writes after an assistant turn (ChatML's <|im_end|>, Llama 3's <|eot_id|>), when it has one."""
    from studio.engine.generation import model_eos_ids

    ids = model_eos_ids(model, tokenizer)
    try:
        text = tokenizer.apply_chat_template([{"role": "user", "content": "hi"},
                                              {"role": "assistant", "content": END_PROBE}], tokenize=False)
        tail = text.split(END_PROBE, 1)[1]
        first = tokenizer(tail, add_special_tokens=False)["input_ids"][:1] if tail else []
        if first and first[0] in set(tokenizer.all_special_ids):
            ids.add(int(first[0]))
    except Exception:                         # no template, or one that refuses the probe
        pass
    return sorted(ids)


def greedy_answer(model: Any, tokenizer: Any, ids: list[int], max_new_tokens: int,
                  stops: list[int]) -> tuple[str, int, str]:
    """(answer text, tokens generated, finish reason: eos or length) of one greedy answer."""
    import torch
    from transformers import GenerationConfig

    inputs = torch.tensor([ids], device=model.device)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (stops[0] if stops else 0)
    settings = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, use_cache=True,
                                eos_token_id=stops or None, pad_token_id=pad)
    out = model.generate(input_ids=inputs, attention_mask=torch.ones_like(inputs), generation_config=settings)
    new = [int(t) for t in out[0, len(ids):].tolist()]
    finish = "length"
    stop_set = set(stops)
    for i, token in enumerate(new):
        if token in stop_set:
            new, finish = new[:i], "eos"
            break
    return tokenizer.decode(new, skip_special_tokens=True).strip(), len(new), finish


def answer_prompts(model: Any, tokenizer: Any, prompts: list[SamplePrompt], max_new_tokens: int,
                   stops: list[int]) -> list[dict[str, Any]]:
    """The scored rows of one evaluation; the model in eval mode under no_grad, then as it was."""
    import torch

    was_training = model.training
    model.eval()
    rows = []
    try:
        with torch.no_grad():
            for prompt in prompts:
                answer, tokens, finish = greedy_answer(model, tokenizer, prompt.ids, max_new_tokens, stops)
                exact, similarity = score(answer, prompt.expected)
                rows.append({"prompt": _cut(prompt.text), "expected": _cut(prompt.expected), "answer": answer,
                             "exact": bool(exact), "similarity": similarity, "tokens": tokens, "finish": finish,
                             "source": prompt.source})
    finally:
        if was_training:
            model.train()
    return rows


def _cut(text: str) -> str:
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT - 1] + "…"


def sharded(args: TrainingArguments) -> bool:
    """FSDP or DeepSpeed: the weights are spread over the ranks, so rank 0 cannot generate alone."""
    env = os.environ
    return bool(getattr(args, "fsdp", None) or getattr(args, "deepspeed", None)
                or env.get("ACCELERATE_USE_FSDP", "").lower() in ("1", "true")
                or env.get("ACCELERATE_USE_DEEPSPEED", "").lower() in ("1", "true"))


class PredictionSamples(TrainerCallback):
    """Emits a `predictions` event after each evaluation (rank 0 only)."""

    def __init__(self, tokenizer: Any, config: RunConfig, emitter: Emitter, records: list[Record]) -> None:
        self.tokenizer = tokenizer
        self.config = config
        self.emitter = emitter
        self.records = records
        self.prompts: list[SamplePrompt] | None = None      # chosen at the first evaluation
        self.stops: list[int] = []
        self.off = config.train.sample_predictions <= 0

    def on_evaluate(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    model: Any = None, **kw: Any) -> None:
        if self.off or model is None or not state.is_world_process_zero:
            return
        started = time.perf_counter()
        try:
            if self.prompts is None and not self._prepare(args, model):
                return
            assert self.prompts is not None
            rows = answer_prompts(model, self.tokenizer, self.prompts, self.config.train.sample_max_tokens, self.stops)
        except Exception as exc:              # a preview must not end the run it previews
            first = str(exc).splitlines()[0] if str(exc) else ""
            self._turn_off(f"prediction samples stopped: {type(exc).__name__}: {first}")
            _release_cached_memory()          # e.g. after an out-of-memory error, for the training's sake
            return
        seconds = round(time.perf_counter() - started, 3)
        exact = sum(1 for r in rows if r["exact"])
        mean_similarity = round(sum(r["similarity"] or 0.0 for r in rows) / len(rows), 4)
        self.emitter.emit("predictions", step=state.global_step, epoch=round(state.epoch or 0.0, 4), rows=rows,
                          exact_match=round(exact / len(rows), 4), mean_similarity=mean_similarity,
                          seconds=seconds, max_new_tokens=self.config.train.sample_max_tokens)
        print(f"predictions at step {state.global_step}: exact match {exact}/{len(rows)}, mean similarity "
              f"{mean_similarity:.2f} ({seconds:.1f} s)", file=sys.stderr, flush=True)

    def _prepare(self, args: TrainingArguments, model: Any) -> bool:
        if sharded(args):
            self._turn_off("prediction samples are off: the model is sharded over the processes (FSDP/DeepSpeed), "
                           "so one process cannot answer alone")
            return False
        self.prompts = sample_prompts(self.tokenizer, self.records, self.config.train.sample_predictions,
                                      self.config.data.max_len)
        if not self.prompts:
            self._turn_off("prediction samples are off: no held-out record has a prompt and an expected answer "
                           f"within {self.config.data.max_len} tokens (text records have none)")
            return False
        self.stops = stop_ids(model, self.tokenizer)
        return True

    def _turn_off(self, message: str) -> None:
        self.off = True
        self.emitter.emit("warning", kind="predictions", message=message)


def _release_cached_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
