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
