"""DPO, ORPO and KTO train end to end on the tiny model through `studio train`, on TRL's trainers:
the objective's own metrics reach the events, the adapter records what it was trained for, a run
can start from a library adapter (which is then its reference), and a killed run resumes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from safetensors.torch import load_file

from helpers import studio, write_jsonl
from studio.core.config import RunConfig
from studio.core.demo_data import LABELS, make_examples, make_pairs
from studio.core.library import read_adapter
from studio.core.run_history import RunHistory
from studio.core.runs import EVENTS, checkpoints
from studio.core.run_setup import create_run
from studio.core.workspace import Workspace
from studio.core.worker_process import WorkerProcess

pytestmark = pytest.mark.slow


@pytest.fixture()
def pairs(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "pairs.jsonl", make_pairs(make_examples(48, 7), 8))


@pytest.fixture()
def kto_rows(tmp_path: Path) -> Path:
    rows = []
    for i, row in enumerate(make_examples(48, 9)):
        prompt, answer = row["messages"][:-1], row["messages"][-1]["content"]
        good = i % 2 == 0
        completion = answer if good else next(label for label in LABELS if label != answer)
        rows.append({"prompt": prompt, "completion": [{"role": "assistant", "content": completion}], "label": good})
    return write_jsonl(tmp_path / "kto.jsonl", rows)


def train(home: Path, *args: str) -> tuple[Path, RunHistory]:
    result = studio("train", *args, "--eval-split", "0.25", "--eval-every", "3", "--max-steps", "6",
                    "--batch-size", "4", "--lr", "5e-3", "--dropout", "0", "--sample-predictions", "2", home=home)
    assert result.returncode == 0, result.stderr + result.stdout
    run_dir = max((home / "runs").iterdir(), key=lambda p: p.stat().st_mtime)
    return run_dir, RunHistory.from_file(run_dir / EVENTS)


def lineage(adapter: Path) -> dict:
    return json.loads((adapter / "studio.json").read_text())


def test_dpo_trains_with_its_own_metrics_and_records_them(tiny_model: Path, home: Path, pairs: Path) -> None:
    run_dir, history = train(home, "--model", str(tiny_model), "--data", str(pairs), "--objective", "dpo",
                             "--beta", "0.2", "--name", "dpo")
    assert history.status == "completed" and history.step == 6
    steps, margins = history.points("reward_margin")
    assert steps == list(range(1, 7)) and margins[-1] > 0                 # the chosen answers pull ahead
    eval_steps, accuracy = history.points("eval_pref_accuracy")
    assert eval_steps == [3, 6] and all(0 <= a <= 1 for a in accuracy)
    assert history.points("eval_loss")[0] == [3, 6]
    assert history.data_stats["objective"] == "dpo" and history.data_stats["tokens"]["sequences"] == 2 * 36
    assert history.predictions, "prediction samples run for preference runs too (expected = the chosen answer)"
    adapter = home / "adapters" / "dpo"
    record = lineage(adapter)
    assert record["objective"] == {"name": "dpo", "beta": 0.2, "loss_type": "sigmoid", "reference": "base model"}
    assert record["config"]["train"]["objective"] == "dpo"
    assert record["metrics"]["final_eval_pref_accuracy"] == accuracy[-1]
    assert not (adapter / "ref").exists() and (adapter / "adapter_model.safetensors").is_file()
    assert read_adapter(adapter).broken == ""


def test_dpo_from_a_library_adapter_uses_it_as_the_reference(tiny_model: Path, home: Path, pairs: Path,
                                                              demo_data: tuple[Path, Path]) -> None:
    sft = studio("train", "--model", str(tiny_model), "--data", str(demo_data[0]), "--max-steps", "3",
                 "--eval-split", "0", "--name", "sft-start", "--lr", "1e-2", home=home)
    assert sft.returncode == 0, sft.stderr
    start = load_file(str(home / "adapters" / "sft-start" / "adapter_model.safetensors"))
    run_dir, history = train(home, "--model", str(tiny_model), "--data", str(pairs), "--objective", "dpo",
                             "--init-adapter", "sft-start", "--rank", "8", "--name", "dpo-from-sft")
    assert history.status == "completed"
    adapter = home / "adapters" / "dpo-from-sft"
    record = lineage(adapter)
    assert record["objective"]["init_adapter"]["name"] == "sft-start"
    assert record["objective"]["init_adapter"]["objective"] == "sft"
    assert record["objective"]["reference"] == "adapter sft-start"
    weights = load_file(str(adapter / "adapter_model.safetensors"))
    assert weights.keys() == start.keys()                                 # the SFT adapter's rank and targets
    assert json.loads((adapter / "adapter_config.json").read_text())["r"] == 16 != 8
    assert any((weights[k] - start[k]).abs().max() > 0 for k in weights)   # and trained further
    # At step 1 the policy is its reference, so TRL's rewards start at zero: the reference is the SFT adapter.
    assert history.points("reward_margin")[1][0] == 0.0


def test_orpo_and_kto_train(tiny_model: Path, home: Path, pairs: Path, kto_rows: Path) -> None:
    _, orpo = train(home, "--model", str(tiny_model), "--data", str(pairs), "--objective", "orpo", "--name", "orpo")
    assert orpo.status == "completed" and orpo.points("nll_loss")[0] == list(range(1, 7))
    assert "reference" not in lineage(home / "adapters" / "orpo")["objective"]
    _, kto = train(home, "--model", str(tiny_model), "--data", str(kto_rows), "--objective", "kto",
                   "--desirable-weight", "1.5", "--name", "kto")
    assert kto.status == "completed" and kto.points("kl")[0] == list(range(1, 7))
    record = lineage(home / "adapters" / "kto")["objective"]
    assert (record["name"], record["desirable_weight"], record["undesirable_weight"]) == ("kto", 1.5, 1.0)


def test_4bit_dpo_trains_on_the_cpu(tiny_model: Path, home: Path, pairs: Path) -> None:
    _, history = train(home, "--model", str(tiny_model), "--data", str(pairs), "--objective", "dpo", "--quant", "4bit",
                       "--name", "dpo-4bit")
    assert history.status == "completed"
    assert lineage(home / "adapters" / "dpo-4bit")["base_model"]["quant"] == "4bit"


def test_a_killed_dpo_run_resumes_to_its_last_step(tiny_model: Path, home: Path, pairs: Path) -> None:
    config = RunConfig(name="dpo-resume")
    config.model.name_or_path, config.data.path, config.data.eval_split = str(tiny_model), str(pairs), 0
    config.train.objective, config.train.max_steps, config.train.save_every, config.train.batch_size = "dpo", 8, 4, 4
    run_dir = create_run(Workspace.open(home), config)
    os.environ["STUDIO_FAILPOINTS"] = "kill_at_step:6"
    try:
        worker = WorkerProcess(["train", "--run-dir", str(run_dir)])
    finally:
        os.environ.pop("STUDIO_FAILPOINTS", None)
    list(worker.events())
    assert worker.wait() == 137 and checkpoints(run_dir)[-1].name == "checkpoint-4"
    resumed = WorkerProcess(["train", "--run-dir", str(run_dir), "--resume"])
    events = list(resumed.events())
    assert resumed.wait() == 0 and events[-1]["status"] == "completed"
    history = RunHistory.from_file(run_dir / EVENTS)
    assert history.points("reward_margin")[0] == list(range(1, 9)) and history.step == 8


def test_an_init_adapter_of_another_base_is_refused_before_training(tiny_model: Path, home: Path, pairs: Path,
                                                                     tmp_path: Path) -> None:
    from helpers import fake_adapter

    fake_adapter(home / "adapters" / "other-base", base="someone/another-model", rank=4)
    result = studio("train", "--model", str(tiny_model), "--data", str(pairs), "--objective", "dpo",
                    "--init-adapter", "other-base", home=home)
    assert result.returncode == 2
    assert "init adapter other-base" in result.stderr and "Traceback" not in result.stderr
    assert not any((home / "runs").glob("*")), "nothing is started"
    missing = studio("train", "--model", str(tiny_model), "--data", str(pairs), "--objective", "dpo",
                     "--init-adapter", "nope", home=home)
    assert missing.returncode == 2 and "no adapter 'nope'" in missing.stderr


def test_the_dpo_demo_starts_from_the_sft_adapter_and_widens_its_margin(copy_home: Path) -> None:
    from helpers import last_json

    result = studio("demo", "--objective", "dpo", "--json", home=copy_home)
    assert result.returncode == 0, result.stderr
    summary = last_json(result.stdout)
    assert summary["sft_adapter"] == "demo-ticket-classifier" and summary["held_out_pairs"] == 100
    accuracy, margin = summary["preference_accuracy"], summary["mean_margin"]
    assert accuracy["base"] < 0.7 and accuracy["sft"] >= 0.9 and accuracy["dpo"] >= 0.9, summary
    assert margin["dpo"] > margin["sft"] > margin["base"], summary
    record = lineage(copy_home / "adapters" / summary["dpo_adapter"])
    assert record["objective"]["reference"] == "adapter demo-ticket-classifier"
