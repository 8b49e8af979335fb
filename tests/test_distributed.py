"""`studio train` under torchrun: two CPU processes (gloo), DDP by the Trainer, one adapter."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT, write_jsonl
from studio.core.library import list_adapters
from studio.core.run_history import read_events

pytestmark = pytest.mark.slow


def test_torchrun_two_ranks_train_and_only_rank_zero_writes(tiny_model: Path, demo_data, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "train.jsonl", demo_data[0].read_text().splitlines()[:200])
    home = tmp_path / "home"
    env = {**os.environ, "STUDIO_HOME": str(home), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    result = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "studio", "train", "--model", str(tiny_model),
         "--data", str(data), "--max-steps", "12", "--batch-size", "4", "--rank", "8", "--alpha", "16",
         "--targets", "q_proj,v_proj", "--eval-split", "0", "--save-every", "6", "--name", "ddp"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 processes trained" in result.stdout

    runs = list((home / "runs").iterdir())
    assert len(runs) == 1, "every rank must share one run folder"
    run = runs[0]
    events = read_events(run / "events.jsonl")
    ranks = next(e for e in events if e["type"] == "distributed")["ranks"]
    assert [r["rank"] for r in ranks] == [0, 1]
    assert all(r["steps"] == 12 and r["examples"] >= 12 * 4 and r["tokens"] > 0 for r in ranks)
    assert ranks[0]["lora_checksum"] == pytest.approx(ranks[1]["lora_checksum"], rel=1e-6)  # DDP kept them in sync
    assert [e["status"] for e in events if e["type"] == "done"] == ["completed"]   # only rank 0 reports
    assert (run / "worker-rank1.log").is_file()

    adapters = list_adapters(home / "adapters")
    assert [a.name for a in adapters] == ["ddp"]
    config = json.loads((adapters[0].path / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"], sorted(config["target_modules"])) == (8, 16, ["q_proj", "v_proj"])
    from safetensors import safe_open

    with safe_open(str(adapters[0].path / "adapter_model.safetensors"), "pt") as f:
        shapes = {k: f.get_slice(k).get_shape() for k in f.keys()}
    assert len(shapes) == 2 * 2 * 2  # 2 layers x (q, v) x (A, B)
    assert all(8 in shape for shape in shapes.values())
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["checkpoint-12", "checkpoint-6"]
