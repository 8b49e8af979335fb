"""Liger Kernel is used exactly when it can be: CUDA, installed, a supported model type."""

from __future__ import annotations

import importlib.util

import pytest

from studio.core.errors import ConfigError
from studio.engine.kernels import use_liger


def test_auto_explains_why_not_and_on_refuses_without_cuda() -> None:
    assert use_liger("off", "cuda", "llama") == (False, "turned off (train.liger = off)")
    used, reason = use_liger("auto", "cpu", "llama")
    assert not used and "CUDA" in reason and "cpu" in reason
    with pytest.raises(ConfigError, match="train.liger = on") as caught:
        use_liger("on", "cpu", "llama")
    assert "--liger auto" in caught.value.hint


@pytest.mark.skipif(importlib.util.find_spec("liger_kernel") is not None, reason="liger-kernel is installed here")
def test_auto_without_the_package_names_the_install_command() -> None:
    used, reason = use_liger("auto", "cuda", "llama")
    assert not used and "pip install 'lora-studio[cuda]'" in reason
