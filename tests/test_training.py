"""Real training on the CPU: full precision and 4-bit QLoRA, cancel and resume, the demo.

These train the tiny local model for real (tens of seconds each); nothing is mocked.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from helpers import last_json, studio, write_jsonl
from studio.core.config import RunConfig
from studio.core.run_history import RunHistory
from studio.core.run_setup import create_run
from studio.core.runs import EVENTS, checkpoints, load_run
from studio.core.worker_process import WorkerProcess
from studio.core.workspace import Workspace

pytestmark = pytest.mark.slow


def small_data(demo_data: tuple[Path, Path], tmp_path: Path, n: int = 160) -> Path:
    rows = demo_data[0].read_text().splitlines()[:n]
    return write_jsonl(tmp_path / "train.jsonl", rows)


def first_and_last_loss(run_dir: Path) -> tuple[float, float]:
    steps, losses = RunHistory.from_file(run_dir / EVENTS).points("loss")
    return losses[0], losses[-1]


@pytest.mark.parametrize("quant", ["none", "4bit"])
def test_train_loss_falls_and_adapter_loads_with_plain_peft(quant: str, home: Path, tiny_model: Path,
                                                            demo_data, tmp_path: Path) -> None:
    data = small_data(demo_data, tmp_path)
    result = studio("train", "--model", str(tiny_model), "--data", str(data), "--quant", quant,
                    "--max-steps", "40", "--lr", "3e-3", "--batch-size", "8", "--rank", "8",
                    "--eval-split", "0.1", "--name", f"t-{quant}", "--json", home=home)
    assert result.returncode == 0, result.stderr + result.stdout
    out = last_json(result.stdout)
    assert out["status"] == "completed" and out["step"] == 40
    first, last = first_and_last_loss(Path(out["run_dir"]))
    assert last < first * 0.5, (first, last)

    adapter = Path(out["adapter"])
    assert adapter.name == f"t-{quant}"
    assert (adapter / "adapter_model.safetensors").is_file() and not list(adapter.glob("*.bin"))
    lineage = json.loads((adapter / "studio.json").read_text())
    assert lineage["base_model"]["quant"] == quant
    assert lineage["base_model"]["hash"].startswith("sha256:")
    assert lineage["dataset"]["fingerprint"].startswith("sha256:")
    assert lineage["config"]["lora"]["rank"] == 8 and lineage["run_id"] == out["run_id"]
    assert lineage["chat_template"] and lineage["metrics"]["steps"] == 40 and lineage["loss_history"]

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    ids = torch.tensor([[3, 70, 71, 72, 2, 4]])
    with torch.no_grad():
        base_logits = base(ids).logits
        tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), str(adapter))
        assert (tuned(ids).logits - base_logits).abs().max() > 1e-3


def test_same_name_gets_a_new_version(home: Path, tiny_model: Path, demo_data, tmp_path: Path) -> None:
    data = small_data(demo_data, tmp_path, 40)
    names = []
    for _ in range(2):
        result = studio("train", "--model", str(tiny_model), "--data", str(data), "--max-steps", "2",
                        "--eval-split", "0", "--name", "same", "--json", home=home)
        assert result.returncode == 0, result.stderr
        names.append(last_json(result.stdout)["adapter_name"])
    assert names == ["same", "same-v2"]


def test_cancel_saves_checkpoint_and_resume_finishes(home: Path, tiny_model: Path, demo_data, tmp_path: Path) -> None:
    config = RunConfig(name="cancel-me")
    config.model.name_or_path = str(tiny_model)
    config.data.path = str(small_data(demo_data, tmp_path))
    config.data.eval_split = 0
    config.train.max_steps, config.train.batch_size, config.train.save_every = 400, 4, 0
    run_dir = create_run(Workspace.open(home), config)

    worker = WorkerProcess(["train", "--run-dir", str(run_dir)])
    cancelled_at, done = None, None
    for event in worker.events():
        if event["type"] == "progress" and event.get("step", 0) >= 10 and cancelled_at is None:
            worker.cancel()
            cancelled_at = time.monotonic()
        if event["type"] == "done":
            done = event
    assert worker.wait() == 130
    assert done["status"] == "cancelled" and time.monotonic() - cancelled_at < 30
    saved = checkpoints(run_dir)
    assert len(saved) == 1 and done["checkpoint"] == str(saved[0])
    step = int(saved[0].name.split("-")[1])
    assert 10 <= step < 400
    assert load_run(run_dir).status == "cancelled"

    result = studio("train", "--resume", run_dir.name, "--json", home=home)
    assert result.returncode == 0, result.stderr
    out = last_json(result.stdout)
    assert out["status"] == "completed" and out["step"] == 400
    history = RunHistory.from_file(run_dir / EVENTS)
    steps, _ = history.points("loss")
    assert steps == list(range(1, 401)) and history.attempts == 2


def test_demo_learns_the_task(home: Path, tmp_path: Path) -> None:
    result = studio("demo", "--out", str(tmp_path / "demo"), "--json", home=home)
    assert result.returncode == 0, result.stderr
    out = last_json(result.stdout)
    assert out["accuracy"]["adapter"] >= 0.9 and out["accuracy"]["base"] <= 0.1, out
    assert out["held_out"] == 100

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(out["base_model"]), out["adapter"])
    assert model.active_adapter == "default"
    assert Path(out["train_data"]).is_file() and Path(out["eval_data"]).is_file()


def test_checkpointing_turns_on_when_the_run_does_not_fit(home: Path, tiny_model: Path, demo_data, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    config = RunConfig(name="tight")
    config.model.name_or_path = str(tiny_model)
    config.data.path = str(small_data(demo_data, tmp_path, 40))
    config.data.eval_split = 0
    config.train.max_steps, config.train.batch_size = 2, 4
    run_dir = create_run(Workspace.open(home), config)
    monkeypatch.setenv("STUDIO_FREE_MEMORY_BYTES", str(64 * 1024 * 1024))    # a device with 64 MiB free
    worker = WorkerProcess(["train", "--run-dir", str(run_dir)])
    events = list(worker.events())
    assert worker.wait() == 0
    warnings = [e for e in events if e["type"] == "warning" and e.get("kind") == "memory"]
    assert len(warnings) == 1 and "gradient checkpointing turned on" in warnings[0]["message"]
    assert "64.0 MB is free on the" in warnings[0]["message"]
    speedups = [e["speedups"] for e in events if e["type"] == "log" and "speedups" in e]
    assert speedups and speedups[0]["grad_checkpointing"] is True
    assert events[-1]["type"] == "done" and events[-1]["status"] == "completed"
    assert "auto_grad_checkpointing: true" in (run_dir / "run.yaml").read_text()      # the config as written
    assert RunHistory.from_file(run_dir / EVENTS).warnings == [warnings[0]["message"]]   # shown by the Runs page
