"""Run config: limits, YAML round trip, strict reading with line numbers, overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.core.config import RunConfig, field_help
from studio.core.config_io import apply_overrides, config_to_dict, dump_config, load_config, set_value
from studio.core.errors import ConfigError


def valid() -> RunConfig:
    config = RunConfig()
    config.model.name_or_path = "some/model"
    config.data.path = "train.jsonl"
    return config


def test_defaults_validate() -> None:
    valid().validate()


@pytest.mark.parametrize("key,value,words", [
    ("lora.rank", 0, ["lora.rank = 0", "at least 1", "--rank"]),
    ("train.lr", -1e-4, ["train.lr = -0.0001", "greater than 0", "--lr"]),
    ("lora.dropout", 1.5, ["lora.dropout", "at most 0.9", "--dropout"]),
    ("model.quant", "3bit", ["model.quant = '3bit'", "4bit", "--quant"]),
    ("train.batch_size", 0, ["train.batch_size", "--batch-size"]),
    ("data.eval_split", 0.9, ["data.eval_split", "at most 0.5"]),
])
def test_bad_values_name_key_value_and_flag(key: str, value: object, words: list[str]) -> None:
    config = valid()
    set_value(config, key, value)
    with pytest.raises(ConfigError) as info:
        config.validate()
    text = str(info.value)
    for word in words:
        assert word in text


def test_nan_learning_rate_is_rejected() -> None:
    config = valid()
    config.train.lr = float("nan")
    with pytest.raises(ConfigError, match="not a finite number"):
        config.validate()


def test_missing_model_and_data_say_which_flag() -> None:
    with pytest.raises(ConfigError, match="--model"):
        RunConfig().validate()
    config = RunConfig()
    config.model.name_or_path = "x"
    with pytest.raises(ConfigError, match="--data"):
        config.validate()


def test_early_stopping_needs_eval_data() -> None:
    config = valid()
    config.data.eval_split = 0
    config.train.early_stopping = 2
    with pytest.raises(ConfigError, match="early_stopping needs evaluation data"):
        config.validate()


def test_yaml_round_trip_keeps_every_value(tmp_path: Path) -> None:
    config = valid()
    config.lora.targets = ["q_proj", "v_proj"]
    config.data.columns = {"prompt": "question", "completion": "answer"}
    config.train.report_to = ["tensorboard"]
    config.lora.dora = True
    config.train.lr = 1.5e-4
    path = tmp_path / "run.yaml"
    path.write_text(dump_config(config))
    assert config_to_dict(load_config(path)) == config_to_dict(config)


def test_dumped_yaml_is_commented_with_help(tmp_path: Path) -> None:
    text = dump_config(valid())
    assert "# LoRA rank r" in text
    assert "rank: 16" in text


def test_unknown_key_names_file_line_and_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("model:\n  name_or_path: m\nlora:\n  rank: 8\n  alpah: 16\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"{path}:5" in str(info.value)
    assert "did you mean 'lora.alpha'" in str(info.value)


def test_wrong_type_names_line(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("train:\n  epochs: three\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"{path}:2" in str(info.value) and "train.epochs = 'three'" in str(info.value)


def test_unknown_section_and_bad_yaml(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("trainer:\n  lr: 1\n")
    with pytest.raises(ConfigError, match="(?s)unknown key 'trainer'.*did you mean 'train'"):
        load_config(path)
    path.write_text("train:\n  lr: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_overrides_and_string_coercion() -> None:
    config = valid()
    apply_overrides(config, ["lora.rank=8", "train.lr=3e-4", "lora.targets=q_proj,v_proj", "lora.rslora=true"])
    assert (config.lora.rank, config.train.lr, config.lora.targets, config.lora.rslora) == (8, 3e-4, ["q_proj", "v_proj"], True)
    with pytest.raises(ConfigError, match="unknown key 'lora.rnak'"):
        apply_overrides(config, ["lora.rnak=8"])
    with pytest.raises(ConfigError, match="not a valid bool"):
        set_value(config, "lora.dora", "maybe")
    with pytest.raises(ConfigError, match="not a valid int"):
        set_value(config, "lora.rank", 8.5)


def test_every_field_has_help() -> None:
    config = RunConfig()
    for key in ("lora.rank", "train.lr", "data.loss_on", "model.quant"):
        assert len(field_help(config, key)) > 20
