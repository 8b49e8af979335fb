"""Small helpers shared by tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def chat(user: str, answer: str, system: str | None = None) -> dict:
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return {"messages": messages}


def studio(*args: str, home: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the real `studio` command in a subprocess, as a user would."""
    env = dict(os.environ)
    if home is not None:
        env["STUDIO_HOME"] = str(home)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=ROOT)


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def fake_adapter(folder: Path, base: str = "some/base", rank: int = 4, studio_json: dict | None = None) -> Path:
    """A PEFT-shaped adapter folder (config + small safetensors) for library tests that load nothing."""
    import numpy as np
    from safetensors.numpy import save_file

    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "r": rank, "lora_alpha": 2 * rank, "base_model_name_or_path": base,
        "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM"}))
    save_file({"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": np.zeros((rank, 8), np.float32)},
              str(folder / "adapter_model.safetensors"))
    if studio_json is not None:
        (folder / "studio.json").write_text(json.dumps(studio_json))
    return folder


class EventRecorder:
    """Stands in for the worker's Emitter when engine code runs inside the test process."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def emit(self, type_: str, **fields) -> dict:
        event = {"type": type_, **fields}
        self.events.append(event)
        return event

    def of_type(self, type_: str) -> list[dict]:
        return [e for e in self.events if e["type"] == type_]


def make_adapter(base: Path, folder: Path, seed: int = 0, rank: int = 4, lineage: dict | None = None) -> Path:
    """A real PEFT adapter of `base` with random (non-zero) LoRA weights and a studio.json, in a second."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from studio.core.library import model_fingerprint

    torch.manual_seed(seed)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                           LoraConfig(r=rank, lora_alpha=2 * rank, target_modules="all-linear",
                                      init_lora_weights=False, task_type="CAUSAL_LM"))
    model.save_pretrained(folder)
    record = {"name": folder.name, "created": "2026-01-01T00:00:00+00:00",
              "base_model": {"name_or_path": str(base), "resolved_path": str(base), "hash": model_fingerprint(base),
                             "quant": "none"},
              "config": {"lora": {"rank": rank, "alpha": 2 * rank, "targets": ["all-linear"]}}}
    record.update(lineage or {})
    (folder / "studio.json").write_text(json.dumps(record), encoding="utf-8")
    return folder
