"""benchmarks/gpu_check.sh --dry-run: the GPU check's every step on the CPU, so the script a GPU
session runs first (and rarely) cannot rot between those sessions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def test_the_mfu_formula_counts_a_frozen_base_and_causal_attention() -> None:
    from gpu_check_plan import LLAMA3_8B
    from gpu_check_report import flops_per_token, matmul_params, mfu

    n = matmul_params(LLAMA3_8B)
    assert 7.4e9 < n < 7.6e9                       # Llama-3-8B: 8.03B parameters, 0.53B of them the embedding
    assert flops_per_token(LLAMA3_8B, 0) == 4 * n   # forward + input gradients, no weight gradients
    attention = flops_per_token(LLAMA3_8B, 1000) - 4 * n
    assert attention == 6 * 32 * 4096 * 1000
    assert mfu(1000.0, LLAMA3_8B, 1000, "NVIDIA H200") == round(1000 * flops_per_token(LLAMA3_8B, 1000) / 989e12, 4)
    assert mfu(1000.0, LLAMA3_8B, 1000, "some unknown GPU") is None


@pytest.mark.slow
def test_the_dry_run_goes_through_every_step(tmp_path: Path) -> None:
    out = tmp_path / "gpu-check"
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    result = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run", "--out", str(out)],
                            capture_output=True, text=True, timeout=1800, env=env)
    report = json.loads((out / "gpu_check.json").read_text(encoding="utf-8"))
    steps = report["steps"]
    failed = {name: step for name, step in steps.items() if step["status"] != "ok"}
    assert result.returncode == 0 and not failed, (failed, result.stdout[-3000:])
    assert [n for n in steps if n.startswith("bench-")] == ["bench-qwen05b-4bit", "bench-qwen05b-bf16",
                                                            "bench-llama8b-4bit"]
    baselines = set()
    for name in ("bench-qwen05b-4bit", "bench-qwen05b-bf16", "bench-llama8b-4bit"):
        trainers = steps[name]["trainers"]
        assert "studio" in trainers and len(trainers) >= 2
        assert all(t["tokens_per_s"] > 0 and t["peak_mem_bytes"] > 0 for t in trainers.values())
        baselines |= set(trainers) - {"studio"}
    assert baselines == {"trainer", "trl", "trl-packing", "trl-padding-free"}
    memory = steps["memory"]["cases"]
    assert len(memory) == 3 and all(r["estimate_bytes"] > 0 and r["measured_bytes"] > 0 for r in memory)
    assert steps["auto-gc"]["turned_on"] and "checkpointing" in steps["auto-gc"]["why"]
    answer = steps["chat"]["answer"]
    assert answer["status"] == "ok", answer
    assert answer["a"]["tokens"] > 0 and answer["b"]["tokens_per_s"] > 0
    export = steps["export"]["result"]
    assert export["status"] == "completed" and export["verification"]["passed"], export
    table = (out / "gpu_check.md").read_text(encoding="utf-8")
    assert "| qwen05b-bf16 | trl-packing |" in table and "Memory estimate against the measured peak" in table
