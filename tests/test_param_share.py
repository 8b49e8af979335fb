"""The trainable share the Train page and `studio inspect` show is the one training reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.core.config import RunConfig
from studio.core.model_info import inspect_model, trainable_share


@pytest.mark.parametrize("targets,rank,dora", [(["all-linear"], 16, False), (["q_proj", "v_proj"], 8, True)])
def test_share_matches_the_worker(tiny_model: Path, targets: list[str], rank: int, dora: bool) -> None:
    from transformers import AutoModelForCausalLM

    from studio.engine.lora import attach_lora

    config = RunConfig()
    config.lora.targets, config.lora.rank, config.lora.dora = targets, rank, dora
    _, counts = attach_lora(AutoModelForCausalLM.from_pretrained(tiny_model), config)
    info = inspect_model(tiny_model)
    predicted = info.lora_params(targets, rank, dora)
    assert predicted == counts["trainable_params"]
    worker_share = 100 * counts["trainable_params"] / counts["total_params"]     # what `studio train` prints
    assert trainable_share(predicted, info.num_params) == pytest.approx(worker_share, abs=0.005)
