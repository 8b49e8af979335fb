"""gpu_check.md from gpu_check.json, and the MFU formula the tables use.

MFU (model FLOPs utilisation) = tokens/s x FLOPs per token / the GPU's peak dense bf16 FLOP/s.
FLOPs per token of a LoRA step on a frozen base (adapter FLOPs are under 1% and left out):
    matmuls    4 N     forward 2N + the input gradients 2N; a frozen weight gets no weight gradient
    attention  6 L d s forward QK^T and AV (4 L d s) plus their backward (8 L d s), halved for the
                       causal mask, with s the mean tokens per example
N counts every linear weight of the decoder layers plus the LM head (embeddings are a lookup).
Gradient checkpointing recomputes the forward (+2N +2 L d s); the bench runs have it off.
"""

from __future__ import annotations

from typing import Any

PEAK_BF16_DENSE = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12,
                   "RTX 4090": 165e12, "RTX 3090": 71e12}


def matmul_params(shape: dict[str, Any]) -> int:
    d, ff, layers = shape["hidden_size"], shape["intermediate_size"], shape["num_hidden_layers"]
    kv = d * shape["num_key_value_heads"] // shape["num_attention_heads"]
    per_layer = d * d * 2 + d * kv * 2 + 3 * d * ff          # q, o; k, v; gate, up, down
    return layers * per_layer + d * shape["vocab_size"]       # + the LM head


def flops_per_token(shape: dict[str, Any], mean_tokens: float) -> float:
    return 4 * matmul_params(shape) + 6 * shape["num_hidden_layers"] * shape["hidden_size"] * mean_tokens


def mfu(tokens_per_s: float, shape: dict[str, Any], mean_tokens: float, gpu_name: str) -> float | None:
    peak = next((v for k, v in PEAK_BF16_DENSE.items() if k.lower() in gpu_name.lower()), None)
    return round(tokens_per_s * flops_per_token(shape, mean_tokens) / peak, 4) if peak else None


def _mib(value: Any) -> str:
    return f"{value / 2**20:,.0f} MiB" if isinstance(value, (int, float)) else "-"


def _num(value: Any, fmt: str = "{:,.0f}") -> str:
    return fmt.format(value) if isinstance(value, (int, float)) else "-"


def markdown(results: dict[str, Any]) -> str:
    env = results.get("environment") or {}
    lines = [f"# GPU check: {results['plan']}", "",
             f"GPU: {env.get('gpu') or 'none (CPU)'}; nvidia-smi: {env.get('nvidia_smi') or '-'}; CUDA {env.get('cuda')}",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in (env.get("versions") or {}).items()), "",
             "| step | status | seconds | note |", "|---|---|---|---|"]
    for name, step in results["steps"].items():
        note = step.get("error") or step.get("why") or ""
        lines.append(f"| {name} | {step['status']} | {step.get('seconds', '-')} | {str(note)[:160]} |")
    lines += ["", "## Training speed (median of the repeats)", "",
              "| case | trainer | tokens/s | studio / this | MFU | peak memory | first step after |",
              "|---|---|---|---|---|---|---|"]
    for name, step in results["steps"].items():
        if not name.startswith("bench-") or step["status"] != "ok":
            continue
        studio = step["trainers"].get("studio", {}).get("tokens_per_s")
        for trainer, fig in step["trainers"].items():
            ratio = studio / fig["tokens_per_s"] if studio and fig.get("tokens_per_s") and trainer != "studio" else None
            lines.append(f"| {name[6:]} | {trainer} | {_num(fig.get('tokens_per_s'))} | {_num(ratio, '{:.2f}x')} | "
                         f"{_num(fig.get('mfu'), '{:.1%}')} | {_mib(fig.get('peak_mem_bytes'))} | "
                         f"{_num(fig.get('to_first_step_s'), '{:.1f} s')} |")
    memory = results["steps"].get("memory", {})
    if memory.get("status") == "ok":
        lines += ["", "## Memory estimate against the measured peak (studio runs)", "",
                  "| case | estimate | measured | error |", "|---|---|---|---|"]
        for row in memory["cases"]:
            lines.append(f"| {row['case'][6:]} | {_mib(row['estimate_bytes'])} | {_mib(row['measured_bytes'])} | "
                         f"{_num(row['error'], '{:+.1%}')} |")
    chat, export = results["steps"].get("chat", {}), results["steps"].get("export", {})
    if chat.get("status") == "ok":
        a, b = chat["answer"]["a"], chat["answer"]["b"]
        lines += ["", f"Chat ({chat['answer'].get('device')}): base {_num(a.get('tokens_per_s'), '{:.1f}')} tokens/s, "
                      f"adapter {chat['adapter']} {_num(b.get('tokens_per_s'), '{:.1f}')} tokens/s"]
    if export.get("status") == "ok":
        check = export["result"].get("verification") or {}
        lines += ["", f"Export of {export['adapter']} ({export['result'].get('dtype')}): verified "
                      f"{check.get('passed')}, max |logit difference| {_num(check.get('max_abs_diff'), '{:.2e}')}, "
                      f"greedy answers agree {check.get('greedy_agree')}/{check.get('prompts')}, {export['seconds']} s"]
    return "\n".join(lines) + "\n"
