"""Answering one chat turn in several slots at once, streaming every slot's tokens as they come.

Why a small decoding loop of our own instead of `model.generate`: the A/B comparison must differ
only in the adapter. Each slot therefore gets its own KV cache, its own prompt (columns diverge
after the first turn) and its own random generator seeded with the same seed, so the same
adapter in both slots samples exactly the same tokens. `generate` draws from one global RNG, and
one batch with per-row adapters (peft's `adapter_names`) would give the rows different random
numbers and pad unequal prompts, which changes the numbers slightly; neither gives identical
answers for identical slots. The streams take turns of a few tokens (`TURN_TOKENS`), so both
columns fill at the same time while the adapter switch (milliseconds) is paid once per turn.
Temperature and top-p are transformers' own logits warpers; only the loop is ours.

Each stream keeps its own clock: the prompt's pass (`prompt_s`) and its own token steps
(`decode_s`, pick and forward, waited for on the device so a GPU's work is charged to the stream
that queued it), never the other stream's turns or the adapter switch. A stream that ends is
reported at once (`on_done`), so its column shows its own figures while the other still streams.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from studio.core.chat_protocol import Sampling
from studio.core.errors import ModelError
from studio.engine.adapter_pool import AdapterPool

TURN_TOKENS = 4


@dataclass
class Stream:
    """One slot's answer in progress."""

    slot: str
    label: str
    adapter: str | None                  # peft adapter name; None = the base alone
    prompt_ids: list[int]
    generator: Any
    max_new_tokens: int
    cache: Any = None
    logits: Any = None
    tokens: list[int] = field(default_factory=list)
    sent: str = ""                       # text already streamed
    finish_reason: str = ""              # eos, length, stopped, context
    prompt_s: float = 0.0                # this stream's pass over its prompt
    decode_s: float = 0.0                # this stream's own token steps after it (pick + forward)
    decode_steps: int = 0                # tokens fed back through the model in those steps
    first_token_s: float | None = None   # from the request's start to this stream's first token
    done_s: float | None = None          # from the request's start to this stream's end
    started: float = field(default_factory=time.monotonic)
    reported: bool = False               # on_done was called

    @property
    def compute_s(self) -> float:
        return self.prompt_s + self.decode_s

    @property
    def finished(self) -> bool:
        return bool(self.finish_reason)


def render_prompt(tokenizer: Any, turn: list[dict[str, str]] | str, template: str | None, system: str) -> list[int]:
    """Token ids of the prompt: messages through the chat template (the adapter's), a raw string as is."""
    if isinstance(turn, str):
        return list(tokenizer(turn, add_special_tokens=True)["input_ids"])
    messages = [dict(m) for m in turn]
    if system and not (messages and messages[0].get("role") == "system"):
        messages.insert(0, {"role": "system", "content": system})
    template = template or tokenizer.chat_template
    if not template:
        text = "\n".join(m.get("content", "") for m in messages)
        return list(tokenizer(text, add_special_tokens=True)["input_ids"])
    try:
        text = tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False,
                                             add_generation_prompt=True)
    except Exception as exc:  # jinja TemplateError and the templates' own raise_exception
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(f"the chat template rejected the conversation: {first}",
                         hint="some templates allow no system prompt or need user/assistant turns to alternate; "
                              "remove the system prompt or fix the conversation") from None
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def new_stream(pool: AdapterPool, slot: str, label: str, adapter: str | None, prompt_ids: list[int],
               sampling: Sampling) -> Stream:
    import torch

    device = pool.model.device
    generator = torch.Generator(device=device if device.type != "mps" else "cpu").manual_seed(sampling.seed)
    limit = context_length(pool.model)
    room = limit - len(prompt_ids) if limit else sampling.max_new_tokens
    if room < 1:
        raise ModelError(f"the prompt is {len(prompt_ids)} tokens, the model's context is {limit}",
                         hint="start a new conversation or shorten the prompt")
    return Stream(slot, label, adapter, prompt_ids, generator, min(sampling.max_new_tokens, room))


def context_length(model: Any) -> int:
    config = getattr(model, "config", None)
    inner = getattr(config, "text_config", None) or config
    return int(getattr(inner, "max_position_embeddings", 0) or 0)


def eos_ids(pool: AdapterPool) -> set[int]:
    return model_eos_ids(pool.model, pool.tokenizer)


def model_eos_ids(model: Any, tokenizer: Any) -> set[int]:
    """The ids an answer stops at: the model's generation config's eos ids and the tokenizer's eos
    (shared with the prediction samples of training, so both stop where chat stops)."""
    ids: set[int] = set()
    config = getattr(model, "generation_config", None)
    value = getattr(config, "eos_token_id", None)
    ids.update(value if isinstance(value, list) else [value] if value is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids


def warpers(sampling: Sampling) -> Any:
    from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

    chain = LogitsProcessorList()
    if sampling.temperature > 0:
        chain.append(TemperatureLogitsWarper(sampling.temperature))
        if sampling.top_p < 1:
            chain.append(TopPLogitsWarper(sampling.top_p))
    return chain


def forward(pool: AdapterPool, stream: Stream, token: int | None) -> float:
    """Prefill the prompt (first call) or feed one token; keep the next-token logits. Returns the
    seconds the pass took on the device (the adapter switch before it is not counted)."""
    import torch

    ids = stream.prompt_ids if token is None else [token]
    pool.activate(stream.adapter)
    started = time.perf_counter()
    inputs = torch.tensor([ids], device=pool.model.device)
    # logits_to_keep=1: only the last position's logits, not prompt_len x vocab floats on prefill
    out = pool.model(input_ids=inputs, past_key_values=stream.cache, use_cache=True, logits_to_keep=1)
    stream.cache, stream.logits = out.past_key_values, out.logits[:, -1, :].float()
    wait_for_device(stream.logits)
    return time.perf_counter() - started


def wait_for_device(tensor: Any) -> None:
    """Until the queued work is done: a CUDA or MPS call returns before the device has run it, and
    the time would otherwise land on whatever waits next (often the other stream's turn)."""
    import torch

    device = getattr(tensor, "device", None)
    if device is None or device.type == "cpu":
        return
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.synchronize()


def pick(stream: Stream, sampling: Sampling, chain: Any) -> int:
    import torch

    if sampling.temperature <= 0:
        return int(stream.logits.argmax(-1))
    # temperature and top-p look at the scores only; the ids argument is part of the interface
    scores = chain(torch.empty((1, 0), dtype=torch.long, device=stream.logits.device), stream.logits)
    probs = torch.softmax(scores, dim=-1)
    return int(torch.multinomial(probs, 1, generator=stream.generator))


def new_text(tokenizer: Any, stream: Stream) -> str:
    """The part of the decoded answer not streamed yet; held back while it ends inside a character."""
    text = tokenizer.decode(stream.tokens, skip_special_tokens=True)
    if text.endswith("\ufffd") and not stream.finished:
        return ""
    delta = text[len(stream.sent):] if text.startswith(stream.sent) else text
    stream.sent = text
    return delta


def run_streams(pool: AdapterPool, streams: list[Stream], sampling: Sampling,
                on_token: Callable[[Stream, str], None], should_stop: Callable[[list[Stream]], None],
                on_done: Callable[[Stream], None] | None = None) -> None:
    """Advance all streams in turns until each has finished; `should_stop` may set finish_reason.
    `on_done` gets each stream as soon as it has finished (its last text already sent)."""
    import torch

    chain = warpers(sampling)
    stop_ids = eos_ids(pool)
    started = time.monotonic()
    for stream in streams:
        stream.started = started
    with torch.inference_mode():
        for stream in streams:
            stream.prompt_s += forward(pool, stream, None)
        while not all(s.finished for s in streams):
            for stream in streams:
                for _ in range(TURN_TOKENS):
                    if stream.finished:
                        break
                    _advance(pool, stream, sampling, chain, stop_ids, on_token)
                should_stop(streams)
                _report_finished(pool, streams, on_token, on_done)
    _report_finished(pool, streams, on_token, on_done)


def _report_finished(pool: AdapterPool, streams: list[Stream], on_token: Callable[[Stream, str], None],
                     on_done: Callable[[Stream], None] | None) -> None:
    for stream in streams:
        if not stream.finished or stream.reported:
            continue
        stream.reported = True
        stream.done_s = time.monotonic() - stream.started
        delta = new_text(pool.tokenizer, stream)   # text held back inside a character, or cut by a stop
        if delta:
            on_token(stream, delta)
        if on_done is not None:
            on_done(stream)


def _advance(pool: AdapterPool, stream: Stream, sampling: Sampling, chain: Any, stop_ids: set[int],
             on_token: Callable[[Stream, str], None]) -> None:
    step_started = time.perf_counter()
    token = pick(stream, sampling, chain)
    if stream.first_token_s is None:
        stream.first_token_s = time.monotonic() - stream.started
    if token in stop_ids:
        stream.finish_reason = "eos"
        stream.decode_s += time.perf_counter() - step_started
        return
    stream.tokens.append(token)
    if len(stream.tokens) >= stream.max_new_tokens:
        stream.finish_reason = "length" if stream.max_new_tokens == sampling.max_new_tokens else "context"
    picked_s = time.perf_counter() - step_started
    delta = new_text(pool.tokenizer, stream)
    if delta:
        on_token(stream, delta)          # not timed: the reader of the events is not this stream's work
    stream.decode_s += picked_s
    if not stream.finished:
        stream.decode_s += forward(pool, stream, token)
        stream.decode_steps += 1


def result(pool: AdapterPool, stream: Stream) -> dict[str, Any]:
    """The fields of the `generated` event. tokens/s is this slot's own decode rate: the tokens it
    fed back through the model per second of its own token steps, so neither the other slot's
    turns nor the prompt's pass (prompt_s; a short answer would mostly measure the prompt) are in
    it: it is what the slot would get alone. None when no token step ran (an answer of one token)."""
    text = pool.tokenizer.decode(stream.tokens, skip_special_tokens=True)
    return {"slot": stream.slot, "label": stream.label, "text": text, "tokens": len(stream.tokens),
            "prompt_tokens": len(stream.prompt_ids), "finish_reason": stream.finish_reason,
            "tokens_per_s": decode_rate(stream), "prompt_s": round(stream.prompt_s, 4),
            "decode_s": round(stream.decode_s, 4), "compute_s": round(stream.compute_s, 4),
            "first_token_s": round(stream.first_token_s or 0.0, 4),
            "wall_s": round(stream.done_s if stream.done_s is not None else time.monotonic() - stream.started, 4)}


def decode_rate(stream: Stream) -> float | None:
    if not stream.decode_steps or stream.decode_s <= 0:
        return None
    return round(stream.decode_steps / stream.decode_s, 2)
