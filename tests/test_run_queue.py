"""The run queue in the workspace and the `studio train` command line shown by the GUI."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from studio.cli import build_parser
from studio.cli.train_cmd import resolve_config
from studio.core.command_line import train_command
from studio.core.config import RunConfig
from studio.core.config_io import config_to_dict
from studio.core.errors import WorkspaceError
from studio.core.run_queue import RunQueue


def sample_config() -> RunConfig:
    config = RunConfig(name="sweep")
    config.model.name_or_path = "/models/tiny"
    config.data.path = "/data/my file.jsonl"
    return config


def test_sweep_queues_one_run_per_rank_and_keeps_the_scale(tmp_path: Path) -> None:
    queue = RunQueue(tmp_path)
    config = sample_config()
    config.lora.rank, config.lora.alpha = 8, 16.0
    added = queue.add_sweep(config, "lora.rank", [4, 16])
    again = RunQueue(tmp_path).entries()                               # persisted
    assert [e.label for e in again] == ["sweep-rank4", "sweep-rank16"] == [e.label for e in added]
    first = again[0].run_config()
    assert (first.lora.rank, first.lora.alpha, first.name) == (4, 8.0, "sweep-rank4")
    assert queue.pop().label == "sweep-rank4" and [e.label for e in queue.entries()] == ["sweep-rank16"]
    queue.remove(again[1].id)
    assert queue.entries() == [] and queue.pop() is None


def test_damaged_queue_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "queue.json").write_text("{not json")
    with pytest.raises(WorkspaceError, match="damaged"):
        RunQueue(tmp_path).entries()


def test_command_line_parses_back_to_the_same_config() -> None:
    config = sample_config()
    config.lora.rank, config.lora.targets, config.lora.rslora = 32, ["q_proj", "v_proj"], True
    config.train.lr, config.train.grad_checkpointing, config.data.columns = 1.5e-4, True, {"prompt": "q"}
    config.data.format = "completion"
    line = train_command(config)
    assert line.startswith("studio train ") and "'/data/my file.jsonl'" in line
    assert "--epochs" not in line                                      # defaults are left out
    args = build_parser().parse_args(shlex.split(line)[1:])
    assert config_to_dict(resolve_config(args)) == config_to_dict(config)


def test_queue_command_adds_a_sweep(home: Path, tiny_model: Path, demo_data, tmp_path: Path) -> None:
    from helpers import last_json, studio
    from studio.core.config_io import save_config

    config = sample_config()
    config.model.name_or_path, config.data.path = str(tiny_model), str(demo_data[0])
    save_config(config, tmp_path / "run.yaml")
    result = studio("queue", "add", "--config", str(tmp_path / "run.yaml"), "--sweep", "lora.rank=4,8", "--json",
                    home=home)
    assert result.returncode == 0, result.stderr
    assert last_json(result.stdout)["added"] == ["sweep-rank4", "sweep-rank8"]
    listed = last_json(studio("queue", "list", "--json", home=home).stdout)["entries"]
    assert [(e["label"], e["rank"]) for e in listed] == [("sweep-rank4", 4), ("sweep-rank8", 8)]
    bad = studio("queue", "add", "--config", str(tmp_path / "run.yaml"), "--sweep", "lora.rank", home=home)
    assert bad.returncode == 2 and "KEY=V1,V2" in bad.stderr
