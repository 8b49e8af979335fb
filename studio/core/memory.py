"""How much memory a LoRA/QLoRA run needs, from the model's shapes alone (no torch).

The Train page shows this estimate live and warns before a run that will not fit; `studio
bench` checks it against measured peaks, so every term is written out here and each can be
tested on its own. All figures are bytes. Symbols:

    b  batch size            s  sequence length (tokens per example, after padding)
    L  decoder layers        h  hidden size        kv  key/value width (kv heads x head dim)
    i  MLP width             V  vocabulary         a   attention heads
    d  bytes per element of the compute dtype (4 for fp32, 2 for bf16/fp16)
    P  all base parameters   P_lin  parameters of the decoder's linear layers
    P_lora  trainable LoRA parameters (A and B of every targeted layer, + DoRA magnitudes)

weights
    unquantized:  P x d
    4-bit (NF4, double quantization, blocks of 64):  P_lin x (0.5 + 1/64 + 4/16384)
    8-bit (LLM.int8):  P_lin x 1 + 4 bytes per output row
    quantized runs keep the other weights (embeddings, norms, lm_head) in fp32, because peft's
    prepare_model_for_kbit_training upcasts them: (P - P_lin) x 4, plus one layer dequantized
    at a time: max(out x in) x d.
    CPU only, quantized: the checkpoint file stays memory-mapped after quantization and the pages
    read while quantizing count in RSS: + the checkpoint's size (unquantized, the mapped pages
    are the weights themselves, already counted as P x d).
adapter + optimizer
    P_lora x 16: fp32 weights (4), gradients (4) and AdamW's two moments (8). peft keeps adapter
    weights in fp32 even on a bf16 base.
activations (what autograd keeps for the backward pass, per token per layer)
    the frozen base layers keep no input (their weights get no gradient), so what is stored is
    what the LoRA layers and the non-linear ops need:
      2 RMSNorm inputs, kept in fp32:                  2h x 4
      attention (SDPA keeps q, k, v and its output):   (2h + 2kv) x d
      eager attention also keeps the probabilities:    a x s x d
      MLP (gate and up outputs, SiLU(gate)):           3i x d
      without LoRA dropout, the input of the targeted layers (shared when the same tensor feeds
        several):  q/k/v: h,  o: h,  gate/up: h,  down: i          (x d)
      with dropout > 0 nothing of that is shared: each targeted layer keeps its own dropped
        copy of the input and dropout's mask: in x (d + m), m = 1 on a GPU (a bool mask) and
        m = d on the CPU (torch's CPU dropout is unfused and keeps a float mask)
      LoRA's low-rank intermediate: r per targeted layer (x d)
    total = b x s x (L x per_layer + h x (d + 4))      (+ embeddings output and the final norm)
    with gradient checkpointing only each layer's input is kept, and one layer is recomputed
    at a time: b x s x (L x h x d + per_layer + h x (d + 4)).
logits
    b x s x V x 12: at the peak three fp32 copies are alive (the log-softmax output of the
    loss, its gradient and the gradient of the logits); transformers upcasts logits to fp32.
runtime
    what the process holds before any tensor: the CUDA context and kernels on a GPU, the torch
    and transformers libraries on the CPU (a measured constant, see RUNTIME_BYTES).

On the CPU the measure is peak RSS, so what the C library's malloc keeps counts too. With glibc's
default (dynamic) mmap threshold, freed temporaries stay on malloc's heaps between the activations
still alive and the peak was 30-40% (1.8 GB at 8 x 512 tokens on an 85M Llama, as much with
gradient checkpointing) above the live tensors, growing each step. The training worker fixes the
threshold (engine/cpu_allocator.py), which brings RSS down to the live tensors plus about one
layer's temporaries, so no allocator term is added here; a run in a process without that setting
(another libc, or training outside the worker) can need a third more than this estimate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from studio.core.config import RunConfig
    from studio.core.model_info import ModelInfo

GiB = 1024 ** 3
NF4_BYTES_PER_PARAM = 0.5 + 1 / 64 + 4 / 16384
ADAPTER_BYTES_PER_PARAM = 16
LOGIT_BYTES = 12
NORM_BYTES = 4
# Resident memory before the first tensor: CUDA context + kernels, or the ML libraries on the CPU.
RUNTIME_BYTES = {"cuda": int(0.6 * GiB), "cpu": int(0.55 * GiB)}
ATTENTION_INPUT = ("q_proj", "k_proj", "v_proj", "query_key_value", "c_attn", "Wqkv", "qkv_proj")
MLP_INPUT = ("gate_proj", "up_proj", "gate_up_proj", "fc1", "c_fc", "w1", "w3")
DOWN = ("down_proj", "fc2", "c_proj", "w2")
OUT = ("o_proj", "dense", "out_proj", "wo")


@dataclass(frozen=True)
class MemoryInputs:
    """Everything the estimate depends on; built from a run config and a ModelInfo."""

    params: int
    linear_params: int
    largest_linear: int
    layers: int
    hidden: int
    kv_width: int
    intermediate: int
    vocab: int
    heads: int
    lora_params: int
    targeted: tuple[tuple[str, int, int], ...]      # (layer name, count, in_features) per group
    rank: int
    dropout: float
    quant: str                                      # none, 4bit, 8bit
    dtype_bytes: int
    batch_size: int
    seq_len: int
    grad_checkpointing: bool
    eager_attention: bool
    device: str                                     # cuda or cpu
    output_rows: int = 0                            # rows of the quantized layers (8-bit scales)
    checkpoint_bytes: int = 0                       # size of the weight files (mapped on the CPU)


@dataclass(frozen=True)
class MemoryEstimate:
    weights: int
    adapter: int
    activations: int
    logits: int
    runtime: int

    @property
    def total(self) -> int:
        return self.weights + self.adapter + self.activations + self.logits + self.runtime

    def parts(self) -> list[tuple[str, int]]:
        return [("Weights", self.weights), ("Adapter + optimizer", self.adapter),
                ("Activations", self.activations), ("Logits", self.logits), ("Runtime", self.runtime)]


def estimate(m: MemoryInputs) -> MemoryEstimate:
    return MemoryEstimate(weights=weight_bytes(m), adapter=m.lora_params * ADAPTER_BYTES_PER_PARAM,
                          activations=activation_bytes(m), logits=m.batch_size * m.seq_len * m.vocab * LOGIT_BYTES,
                          runtime=RUNTIME_BYTES.get(m.device, RUNTIME_BYTES["cpu"]))


def weight_bytes(m: MemoryInputs) -> int:
    if m.quant == "none":
        return m.params * m.dtype_bytes
    other = (m.params - m.linear_params) * 4
    dequant = m.largest_linear * m.dtype_bytes
    mapped = m.checkpoint_bytes if m.device == "cpu" else 0     # CPU only: the file's pages in RSS
    if m.quant == "4bit":
        return int(m.linear_params * NF4_BYTES_PER_PARAM) + other + dequant + mapped
    return m.linear_params + 4 * m.output_rows + other + dequant + mapped


def per_layer_token_bytes(m: MemoryInputs) -> int:
    """Bytes autograd keeps per token in one decoder layer (see the module docstring)."""
    d = m.dtype_bytes
    names = {name for name, _, _ in m.targeted}
    stored = 2 * m.hidden * NORM_BYTES
    stored += (2 * m.hidden + 2 * m.kv_width) * d
    if m.eager_attention:
        stored += m.heads * m.seq_len * d
    stored += 3 * m.intermediate * d
    per_layer_modules = [(count / max(m.layers, 1), in_features) for _, count, in_features in m.targeted]
    stored += int(sum(n * m.rank * d for n, _ in per_layer_modules))
    if m.dropout > 0:
        mask = d if m.device == "cpu" else 1
        return stored + int(sum(n * in_features * (d + mask) for n, in_features in per_layer_modules))
    stored += m.hidden * d * (bool(names & set(ATTENTION_INPUT)) + bool(names & set(OUT))
                              + bool(names & set(MLP_INPUT)))
    stored += m.intermediate * d * bool(names & set(DOWN))
    return stored


def activation_bytes(m: MemoryInputs) -> int:
    tokens = m.batch_size * m.seq_len
    outside_layers = m.hidden * (m.dtype_bytes + NORM_BYTES)
    if m.grad_checkpointing:
        return tokens * (m.layers * m.hidden * m.dtype_bytes + per_layer_token_bytes(m) + outside_layers)
    return tokens * (m.layers * per_layer_token_bytes(m) + outside_layers)


def inputs_from(info: "ModelInfo", config: "RunConfig", device: str, seq_len: int | None = None) -> MemoryInputs:
    """The estimate's inputs for a run config on a model; seq_len defaults to max_len."""
    cfg = info.text_config
    hidden = info.hidden_size
    heads = int(cfg.get("num_attention_heads") or cfg.get("n_head") or 1)
    head_dim = int(cfg.get("head_dim") or (hidden // max(heads, 1)))
    kv_heads = int(cfg.get("num_key_value_heads") or heads)
    groups = info.targeted(list(config.lora.targets))
    linear = sum(g.base_params for g in info.groups.values())
    intermediate = int(cfg.get("intermediate_size") or cfg.get("n_inner") or 4 * hidden)
    return MemoryInputs(
        params=info.num_params, linear_params=linear,
        largest_linear=max((o * i for g in info.groups.values() for o, i in g.shapes), default=0),
        layers=info.num_layers, hidden=hidden, kv_width=kv_heads * head_dim, intermediate=intermediate,
        vocab=info.vocab_size, heads=heads,
        lora_params=info.lora_params(list(config.lora.targets), config.lora.rank, config.lora.dora),
        targeted=tuple((g.name, g.count, g.in_features) for g in groups), rank=config.lora.rank,
        dropout=config.lora.dropout, quant=config.model.quant,
        dtype_bytes=dtype_bytes(config.model.dtype, device, config.model.quant),
        batch_size=config.train.batch_size * sequences_per_example(config), seq_len=min(seq_len or config.data.max_len, config.data.max_len),
        grad_checkpointing=config.train.grad_checkpointing,
        eager_attention=config.model.attn_implementation == "eager", device=device,
        output_rows=sum(o for g in info.groups.values() for o, _ in g.shapes),
        checkpoint_bytes=info.weight_bytes)


def sequences_per_example(config: "RunConfig") -> int:
    """Sequences one example puts through the trained forward and backward: DPO and ORPO run the
    chosen and the rejected answer in one batch, KTO its completion and a mismatched one for the KL
    term. (The reference pass of DPO/KTO runs without gradients, so it keeps no activations.)"""
    return 1 if config.train.objective == "sft" else 2


def dtype_bytes(choice: str, device: str, quant: str) -> int:
    """Mirrors the engine's compute_dtype: fp32 on the CPU unless asked, half precision on GPUs."""
    if choice == "fp32":
        return 4
    if choice in ("bf16", "fp16"):
        return 2
    return 4 if device == "cpu" else 2


@dataclass(frozen=True)
class Fix:
    """One change to the config that makes the run fit, in words and as config keys."""

    text: str
    changes: dict[str, object]
    total: int


def suggest_fix(m: MemoryInputs, available: int, grad_accum: int = 1) -> Fix | None:
    """The first of the usual remedies (in the order an expert tries them) that fits, or None."""
    base = estimate(m).total
    candidates: list[tuple[str, dict[str, object], MemoryInputs]] = []
    if not m.grad_checkpointing:
        candidates.append(("turn on gradient checkpointing", {"train.grad_checkpointing": True},
                           replace(m, grad_checkpointing=True)))
    batch = m.batch_size
    while batch > 1:
        batch //= 2
        factor = m.batch_size // batch
        candidates.append((f"lower the batch size to {batch} and raise gradient accumulation x{factor} "
                           "(same effective batch)", {"train.batch_size": batch, "train.grad_accum": grad_accum * factor},
                           replace(m, batch_size=batch)))
    if m.quant == "none" and m.device == "cuda":
        candidates.append(("quantize the base model to 4-bit (QLoRA)", {"model.quant": "4bit"},
                           replace(m, quant="4bit")))
    combined = replace(m, grad_checkpointing=True, batch_size=1,
                       quant="4bit" if m.device == "cuda" else m.quant)
    candidates.append(("use gradient checkpointing, batch size 1" + (" and 4-bit" if m.device == "cuda" else ""),
                       {"train.grad_checkpointing": True, "train.batch_size": 1,
                        **({"model.quant": "4bit"} if m.device == "cuda" else {})}, combined))
    length = m.seq_len
    while length > 256:
        length //= 2
        candidates.append((f"also lower max length to {length} tokens", {"data.max_len": length,
                           "train.grad_checkpointing": True, "train.batch_size": 1},
                           replace(combined, seq_len=length)))
    for text, changes, changed in candidates:
        total = estimate(changed).total
        if total <= available:
            saved = base - total
            return Fix(f"{text}: saves {format_bytes(saved)}, needs {format_bytes(total)}", changes, total)
    return None


FIT_SHARE = 0.9          # of the free memory a run may plan to use: the rest is margin for the estimate's error


def checkpointing_reason(m: MemoryInputs, free: int) -> str | None:
    """Why a run with inputs `m` should turn gradient checkpointing on, with `free` bytes free on its
    device; None when it fits without (or has it on already)."""
    if m.grad_checkpointing:
        return None
    need = estimate(m).total
    if need <= free * FIT_SHARE:
        return None
    with_it = estimate(replace(m, grad_checkpointing=True)).total
    reason = (f"gradient checkpointing turned on: the run needs about {format_bytes(need)} without it and "
              f"{format_bytes(with_it)} with it; {format_bytes(free)} is free on the {m.device}")
    if with_it > free * FIT_SHARE:
        reason += " (it may still not fit: lower the batch size or max length, or use --quant 4bit)"
    return reason + ". --no-auto-grad-checkpointing keeps it off."


def format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit in ("B", "KB") else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"
