"""Memory of the inference worker: one base model with two adapters vs. one model with one adapter.

    .venv/bin/python benchmarks/chat_memory.py [--work /tmp/chat-bench] [--models demo,180m]

For each base model (the demo's tiny Llama, and a ~180M-parameter random-init Llama built here)
two random LoRA adapters (rank 16, all linear layers, non-zero weights) are saved with peft. Each
scenario runs in a fresh `python -m studio.engine chat` worker through the real protocol:
base alone, base + one adapter, base + two adapters (slot A and slot B), and the worker's RSS is
read after loading and after one greedy answer of 32 tokens in every slot (KV caches included).
Also measured: the time to switch the active adapter (set_adapter) in a model holding two.
Results are printed as a Markdown table and saved to <work>/chat_memory.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from studio.core.chat_client import ChatClient
from studio.core.chat_protocol import Sampling

SHAPES = {
    "demo": {},
    "180m": {"hidden_size": 1024, "intermediate_size": 2816, "num_hidden_layers": 16, "num_attention_heads": 16,
             "num_key_value_heads": 4},
}
PROMPT = [{"role": "user", "content": "Hello, please tell me about the refund for order 12345."}]


def build(work: Path, size: str) -> tuple[Path, list[Path]]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from studio.engine.demo_model import build_demo_model

    base = work / f"base-{size}"
    if not (base / "model.safetensors").is_file():
        build_demo_model(base, **SHAPES[size])
    adapters = []
    for i in (1, 2):
        folder = work / f"adapter-{size}-{i}"
        if not (folder / "adapter_model.safetensors").is_file():
            torch.manual_seed(i)
            model = get_peft_model(AutoModelForCausalLM.from_pretrained(base), LoraConfig(
                r=16, lora_alpha=32, target_modules="all-linear", init_lora_weights=False, task_type="CAUSAL_LM"))
            model.save_pretrained(folder)
        adapters.append(folder)
    return base, adapters


def scenario(home: Path, base: Path, slots: dict[str, str]) -> dict[str, Any]:
    with ChatClient(home) as client:
        loaded = client.load(str(base), slots)
        answers = client.generate({slot: PROMPT for slot in slots}, Sampling(max_new_tokens=32))
        after = max(a["rss_bytes"] for a in answers.values())
        return {"slots": slots, "rss_loaded": loaded["rss_bytes"], "rss_after_generate": after,
                "peak_rss": max(a.get("peak_rss_bytes", 0) for a in answers.values()),
                "base_params": loaded["base_params"],
                "adapter_bytes": sum({s["adapter"]: s.get("adapter_bytes", 0)
                                      for s in loaded["slots"].values() if s.get("adapter")}.values()),
                "tokens_per_s": {s: a["tokens_per_s"] for s, a in answers.items()}}


def switch_ms(base: Path, adapters: list[Path], rounds: int = 100) -> float:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), str(adapters[0]), adapter_name="x")
    model.load_adapter(str(adapters[1]), adapter_name="y")
    times = []
    for i in range(rounds):
        started = time.perf_counter()
        model.set_adapter("x" if i % 2 else "y", inference_mode=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/chat-bench"))
    parser.add_argument("--models", default="demo,180m")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    results = {"machine": f"{platform.machine()} {platform.system()}, python {platform.python_version()}",
               "models": {}}
    for size in args.models.split(","):
        base, adapters = build(args.work, size)
        home = args.work / f"home-{size}"
        runs = {
            "base alone": scenario(home, base, {"a": "base"}),
            "base + 1 adapter": scenario(home, base, {"a": str(adapters[0])}),
            "base + 2 adapters (A/B)": scenario(home, base, {"a": str(adapters[0]), "b": str(adapters[1])}),
        }
        results["models"][size] = {"runs": runs, "switch_ms": round(switch_ms(base, adapters), 3)}
        one, two = runs["base + 1 adapter"], runs["base + 2 adapters (A/B)"]
        results["models"][size]["extra_for_second_adapter_pct"] = {
            key: round(100 * (two[key] - one[key]) / one[key], 2) for key in ("rss_loaded", "rss_after_generate")}
    (args.work / "chat_memory.json").write_text(json.dumps(results, indent=2))
    print_table(results)


def print_table(results: dict[str, Any]) -> None:
    mb = 1024 * 1024
    print("| model | base params | scenario | adapter weights | RSS after load | RSS after answering | peak RSS "
          "| tokens/s per slot |")
    print("|---|---|---|---|---|---|---|---|")
    for size, model in results["models"].items():
        for name, run in model["runs"].items():
            rates = ", ".join(f"{s}: {r:.0f}" for s, r in run["tokens_per_s"].items() if r)
            print(f"| {size} | {run['base_params'] / 1e6:.1f}M | {name} | {run['adapter_bytes'] / mb:.1f} MB | "
                  f"{run['rss_loaded'] / mb:.0f} MB | "
                  f"{run['rss_after_generate'] / mb:.0f} MB | {run['peak_rss'] / mb:.0f} MB | {rates} |")
    for size, model in results["models"].items():
        extra = model["extra_for_second_adapter_pct"]
        print(f"\n{size}: the second adapter adds {extra['rss_loaded']:+.2f}% RSS after load, "
              f"{extra['rss_after_generate']:+.2f}% after answering; set_adapter takes {model['switch_ms']:.2f} ms")


if __name__ == "__main__":
    main()
