"""Model inspection from config.json and safetensors headers, without torch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from studio.core.errors import ModelError
from studio.core.model_info import inspect_model, looks_like_path


def test_linear_groups_match_peft_counts(tiny_model: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    info = inspect_model(tiny_model)
    assert list(info.groups) == ["down_proj", "gate_proj", "up_proj", "k_proj", "o_proj", "q_proj", "v_proj"]
    assert info.groups["q_proj"].count == 2 and info.groups["k_proj"].out_features == 64
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert info.num_params == sum(p.numel() for p in model.parameters())
    for targets, dora in ((["all-linear"], False), (["q_proj", "v_proj"], True)):
        peft_model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model), LoraConfig(
            r=8, target_modules="all-linear" if targets == ["all-linear"] else targets, use_dora=dora))
        trainable, _ = peft_model.get_nb_trainable_parameters()
        assert info.lora_params(targets, 8, dora) == trainable


def test_unknown_target_lists_the_real_ones(tiny_model: Path) -> None:
    with pytest.raises(ModelError) as info:
        inspect_model(tiny_model).check_targets(["q_proj", "query_key_value"])
    assert "'query_key_value'" in str(info.value) and "q_proj, v_proj" in info.value.hint


def test_not_a_model_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no config.json"):
        inspect_model(tmp_path)
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(ModelError) as info:
        inspect_model(tmp_path)
    assert "adapter" in info.value.hint


def test_corrupt_weights_are_reported(tiny_model: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    (broken / "model.safetensors").write_bytes(b"\x05\x00")
    with pytest.raises(ModelError, match="not a readable safetensors file"):
        inspect_model(broken)
    (broken / "config.json").write_text("{nope")
    with pytest.raises(ModelError, match="not valid JSON"):
        inspect_model(broken)


def test_paths_versus_hub_ids() -> None:
    assert looks_like_path("./model") and looks_like_path("/abs/m") and looks_like_path("a/b/c")
    assert not looks_like_path("Qwen/Qwen2.5-0.5B") and not looks_like_path("gpt2")
