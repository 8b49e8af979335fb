"""The memory estimate: each term as the module docstring states it, and the suggested fixes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from studio.core.config import RunConfig
from studio.core.config_io import set_value
from studio.core.memory import (ADAPTER_BYTES_PER_PARAM, FIT_SHARE, NF4_BYTES_PER_PARAM, activation_bytes,
                                checkpointing_reason, estimate, inputs_from, per_layer_token_bytes, suggest_fix,
                                weight_bytes)
from studio.core.model_info import inspect_model


def demo_inputs(tiny_model: Path, **changes):  # noqa: ANN003, ANN201
    config = RunConfig()
    config.lora.rank, config.lora.dropout = 16, 0.0
    config.train.batch_size, config.data.max_len = 4, 128
    for key, value in changes.items():
        set_value(config, key.replace("__", "."), value)
    return inputs_from(inspect_model(tiny_model), config, "cpu")


def test_terms_match_the_documented_formulas(tiny_model: Path) -> None:
    info = inspect_model(tiny_model)
    m = demo_inputs(tiny_model)
    assert (m.hidden, m.kv_width, m.intermediate, m.layers, m.vocab) == (128, 64, 256, 2, info.vocab_size)
    assert m.dtype_bytes == 4                                     # fp32 on the CPU, like the engine
    assert weight_bytes(m) == info.num_params * 4
    assert estimate(m).adapter == info.lora_params(["all-linear"], 16) * ADAPTER_BYTES_PER_PARAM
    assert estimate(m).logits == 4 * 128 * info.vocab_size * 12
    # per token and layer, by hand: norms 2h*4, SDPA (2h+2kv)*d, MLP 3i*d, inputs of the targeted
    # q/k/v, o, gate/up (h each) and down (i), and r per targeted layer (7 per decoder layer)
    by_hand = 2 * 128 * 4 + (256 + 128) * 4 + 3 * 256 * 4 + 3 * 128 * 4 + 256 * 4 + 7 * 16 * 4
    assert per_layer_token_bytes(m) == by_hand
    assert activation_bytes(m) == 4 * 128 * (2 * by_hand + 128 * (4 + 4))


def test_options_move_the_estimate_the_right_way(tiny_model: Path) -> None:
    m = demo_inputs(tiny_model)
    assert activation_bytes(replace(m, grad_checkpointing=True)) < activation_bytes(m)
    assert activation_bytes(replace(m, batch_size=8)) == 2 * activation_bytes(m)
    assert activation_bytes(replace(m, dropout=0.1)) > activation_bytes(m)
    assert activation_bytes(replace(m, eager_attention=True)) > activation_bytes(m)
    attention_only = demo_inputs(tiny_model, lora__targets=["q_proj", "v_proj"])
    assert estimate(attention_only).adapter < estimate(m).adapter
    bf16 = replace(m, dtype_bytes=2, device="cuda")
    four_bit, eight_bit = replace(bf16, quant="4bit"), replace(bf16, quant="8bit")
    assert weight_bytes(four_bit) < weight_bytes(eight_bit) < weight_bytes(replace(bf16, linear_params=0)) * 10
    other = (m.params - m.linear_params) * 4 + m.largest_linear * 2
    assert weight_bytes(four_bit) == int(m.linear_params * NF4_BYTES_PER_PARAM) + other
    # CPU only: the checkpoint stays mapped after quantization and its pages count in RSS
    assert m.checkpoint_bytes == inspect_model(tiny_model).weight_bytes > 0
    assert weight_bytes(replace(four_bit, device="cpu")) == weight_bytes(four_bit) + m.checkpoint_bytes
    assert weight_bytes(m) == m.params * 4                          # unquantized: the mapped pages are the weights


def test_dropout_keeps_a_copy_and_a_mask_per_targeted_layer(tiny_model: Path) -> None:
    m = demo_inputs(tiny_model)
    no_inputs = per_layer_token_bytes(m) - (3 * 128 + 256) * 4      # without the shared inputs
    # all-linear on the tiny Llama: q, k, v, o, gate, up take h = 128, down takes i = 256
    inputs = 6 * 128 + 256
    assert per_layer_token_bytes(replace(m, dropout=0.1)) == no_inputs + inputs * (4 + 4)  # CPU: float mask
    gpu = replace(m, device="cuda", dtype_bytes=2)
    gpu_no_inputs = per_layer_token_bytes(gpu) - (3 * 128 + 256) * 2
    assert per_layer_token_bytes(replace(gpu, dropout=0.1)) == gpu_no_inputs + inputs * (2 + 1)  # bool mask


def test_cpu_worker_gives_freed_tensors_back(tiny_model: Path) -> None:
    """The CPU estimate has no allocator term because the worker fixes glibc's mmap threshold."""
    import platform
    import sys

    from studio.engine.cpu_allocator import return_large_frees_to_os

    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert return_large_frees_to_os() is glibc


def test_suggested_fix_is_the_first_remedy_that_fits(tiny_model: Path) -> None:
    m = demo_inputs(tiny_model, train__batch_size=64, data__max_len=1024)
    total = estimate(m).total
    with_checkpointing = estimate(replace(m, grad_checkpointing=True)).total
    fix = suggest_fix(m, available=with_checkpointing + 1)
    assert fix is not None and fix.changes == {"train.grad_checkpointing": True}
    assert fix.total == with_checkpointing and "gradient checkpointing" in fix.text

    smaller = estimate(replace(m, batch_size=8)).total
    fix = suggest_fix(m, available=min(smaller, with_checkpointing - 1), grad_accum=2)
    assert fix is not None and fix.total <= min(smaller, with_checkpointing - 1) < total
    config = RunConfig()
    for key, value in fix.changes.items():                      # every change is a real config key
        set_value(config, key, value)
    if "train.batch_size" in fix.changes:
        assert fix.changes["train.grad_accum"] * fix.changes["train.batch_size"] == 2 * 64
    assert suggest_fix(m, available=1000) is None               # nothing fits in 1 KB


def test_checkpointing_is_asked_for_only_when_the_run_does_not_fit(tiny_model: Path) -> None:
    m = demo_inputs(tiny_model)
    need = estimate(m).total
    assert checkpointing_reason(m, free=2 * need) is None                       # fits: stays off
    with_it = estimate(replace(m, grad_checkpointing=True)).total
    assert with_it < need
    free = int(with_it / FIT_SHARE) + 1                 # fits with checkpointing, not without (over 90%)
    reason = checkpointing_reason(m, free=free)
    assert reason is not None and reason.startswith("gradient checkpointing turned on")
    assert "may still not fit" not in reason
    assert "may still not fit" in checkpointing_reason(m, free=need // 100)
    assert checkpointing_reason(replace(m, grad_checkpointing=True), free=1) is None   # already on


def test_a_workers_peak_is_its_own_not_its_parents() -> None:
    """ru_maxrss survives exec: a worker started by a big process (the app, a long test run) used to
    report the parent's peak as its own, and the memory benchmark's error doubled."""
    import subprocess
    import sys

    ballast = bytearray(600 * 2**20)
    for i in range(0, len(ballast), 4096):   # touch every page, so it is resident
        ballast[i] = 1
    code = "from studio.engine.memory_watch import peak_rss_bytes; print(peak_rss_bytes())"
    child = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    del ballast
    assert 0 < child < 300 * 2**20
