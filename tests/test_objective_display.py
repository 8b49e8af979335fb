"""The objective, its settings, the init adapter and the last preference figures, as `studio runs
show` and `studio adapters show` print them (from a fixture run folder and fixture adapters: no
training), and the one-line wording they share (core/objective_summary.py)."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import fake_adapter, write_jsonl
from studio.cli import main
from studio.core.config import RunConfig
from studio.core.objective_summary import (describe_figures, describe_objective, objective_of_config,
                                           objective_of_record)
from studio.core.run_setup import create_run
from studio.core.runs import EVENTS
from studio.core.workspace import Workspace


def dpo_events() -> list[dict]:
    """What a DPO worker writes: data_stats with the objective, train metrics, two evaluations, done."""
    events = [{"v": 1, "type": "hello", "t": 1.0, "pid": 1},
              {"v": 1, "type": "data_stats", "t": 2.0, "objective": "dpo", "train_examples": 8, "eval_examples": 2}]
    for step in range(1, 7):
        events.append({"v": 1, "type": "metrics", "t": 2.0 + step, "step": step, "loss": round(0.7 - 0.05 * step, 4),
                       "reward_chosen": round(0.02 * step, 4), "reward_rejected": round(-0.03 * step, 4),
                       "reward_margin": round(0.05 * step, 4), "pref_accuracy": min(1.0, round(0.5 + 0.1 * step, 4))})
    for step, accuracy in ((3, 0.5), (6, 0.875)):
        events.append({"v": 1, "type": "eval", "t": 3.0 + step, "step": step, "eval_loss": 0.6,
                       "eval_reward_margin": round(0.04 * step, 4), "eval_pref_accuracy": accuracy})
    events.append({"v": 1, "type": "done", "t": 20.0, "status": "completed"})
    return events


def test_the_wording_of_each_objective() -> None:
    assert describe_objective({"name": "sft"}) == "sft"
    dpo = objective_of_config(config_of("dpo", init="tickets-sft"))
    assert dpo == {"name": "dpo", "beta": 0.1, "loss_type": "sigmoid", "init_adapter": {"name": "tickets-sft"},
                   "reference": "adapter tickets-sft"}
    assert describe_objective(dpo) == "dpo (beta 0.1, sigmoid loss), from adapter tickets-sft, also the reference"
    assert describe_objective(objective_of_config(config_of("orpo"))) == "orpo (lambda 0.1)"    # no reference
    kto = config_of("kto")
    kto.pref.desirable_weight = 1.5
    assert describe_objective(objective_of_config(kto)) == ("kto (beta 0.1, desirable weight 1.5, "
                                                            "undesirable weight 1), reference base model")
    block = {"name": "orpo", "beta": 0.2, "init_adapter": {"name": "a", "run_id": "r1", "objective": "sft"}}
    assert describe_objective(block) == "orpo (lambda 0.2), from adapter a (sft)"
    assert describe_objective({"name": "sft", "init_adapter": {"name": "a"}}) == "sft, from adapter a"
    assert describe_figures({"pref_accuracy": 0.75, "reward_margin": 0.31234, "eval_pref_accuracy": 0.5}) == \
        "train: accuracy 75%, margin 0.312; eval: accuracy 50%"
    assert describe_figures({}) == ""


def test_an_adapter_record_without_the_block_is_read_from_its_config_or_is_sft() -> None:
    assert objective_of_record({}) == {"name": "sft"}                     # made before preference tuning
    assert objective_of_record({"config": {"train": {"lr": 1e-4}}}) == {"name": "sft"}
    from_config = objective_of_record({"config": {"train": {"objective": "kto"}, "pref": {"beta": 0.3}}})
    assert from_config == {"name": "kto", "beta": 0.3, "reference": "base model"}
    block = {"name": "dpo", "beta": 0.1, "reference": "base model"}
    assert objective_of_record({"objective": block, "config": {"train": {"objective": "sft"}}}) is block
    assert objective_of_record({"objective": "dpo"}) == {"name": "sft"}    # a damaged block is not trusted


def config_of(objective: str, init: str = "") -> RunConfig:
    config = RunConfig(name=f"{objective}-run")
    config.train.objective, config.train.init_adapter = objective, init
    return config


def test_runs_show_prints_the_objective_and_the_last_preference_figures(home: Path, tmp_path: Path, capsys) -> None:
    config = config_of("dpo", init="tickets-sft")
    config.model.name_or_path = "some/base"
    config.data.path = str(write_jsonl(tmp_path / "pairs.jsonl", []))
    run_dir = create_run(Workspace.open(home), config)
    write_jsonl(run_dir / EVENTS, dpo_events())

    assert main(["runs", "show", run_dir.name, "--json", "--home", str(home)]) == 0
    run = json.loads(capsys.readouterr().out)["run"]
    assert run["objective"] == "dpo"
    assert run["objective_settings"]["reference"] == "adapter tickets-sft"
    assert run["objective_settings"]["init_adapter"] == {"name": "tickets-sft"}
    assert run["preference"] == {"pref_accuracy": 1.0, "reward_margin": 0.3, "eval_pref_accuracy": 0.875,
                                 "eval_reward_margin": 0.24}

    assert main(["runs", "show", run_dir.name, "--home", str(home)]) == 0
    lines = {line[:14].strip(): line[14:].strip() for line in capsys.readouterr().out.splitlines()}
    assert lines["objective"] == "dpo (beta 0.1, sigmoid loss), from adapter tickets-sft, also the reference"
    assert lines["preference"] == "train: accuracy 100%, margin 0.3; eval: accuracy 88%, margin 0.24"
    assert "objective_settings" not in lines


def test_runs_show_of_an_sft_run_has_no_preference_line(home: Path, tmp_path: Path, capsys) -> None:
    config = config_of("sft")
    config.data.path = str(write_jsonl(tmp_path / "chat.jsonl", []))
    run_dir = create_run(Workspace.open(home), config)
    write_jsonl(run_dir / EVENTS, [{"v": 1, "type": "metrics", "step": 1, "loss": 1.0}])
    assert main(["runs", "show", run_dir.name, "--home", str(home)]) == 0
    out = capsys.readouterr().out
    assert "objective      sft\n" in out and "preference" not in out


def test_adapters_show_prints_the_objective_block_and_the_final_figures(home: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")          # rich wraps at 80 columns otherwise
    ws = Workspace.open(home)
    record = {"name": "tickets-dpo", "run_id": "r2",
              "objective": {"name": "dpo", "beta": 0.1, "loss_type": "ipo", "reference": "adapter tickets-sft",
                            "init_adapter": {"name": "tickets-sft", "run_id": "r1", "objective": "sft"}},
              "config": {"train": {"objective": "dpo"}, "pref": {"beta": 0.1, "dpo_loss": "ipo"}},
              "metrics": {"final_train_loss": 0.4, "final_pref_accuracy": 0.9375, "final_reward_margin": 1.25,
                          "final_eval_pref_accuracy": 0.9, "final_eval_reward_margin": 1.1}}
    fake_adapter(ws.adapters_dir / "tickets-dpo", studio_json=record)
    fake_adapter(ws.adapters_dir / "old-sft", studio_json={"name": "old-sft", "config": {"train": {"lr": 1e-4}}})

    assert main(["adapters", "show", "tickets-dpo", "--json", "--home", str(home)]) == 0
    assert json.loads(capsys.readouterr().out)["adapter"]["objective"] == record["objective"]
    assert main(["adapters", "show", "tickets-dpo", "--home", str(home)]) == 0
    out = capsys.readouterr().out
    assert "objective         dpo (beta 0.1, ipo loss), from adapter tickets-sft (sft), also the reference" in out
    assert "preference        train: accuracy 94%, margin 1.25; eval: accuracy 90%, margin 1.1" in out
    assert "pref   beta=0.1, dpo_loss=ipo" in out

    assert main(["adapters", "show", "old-sft", "--home", str(home)]) == 0
    out = capsys.readouterr().out
    assert "objective         sft\n" in out and "preference" not in out and "pref " not in out
