"""Shared fixtures: a tiny local base model (no download), workspaces, small datasets.

The model is the demo's: a 2-layer random Llama with a byte-level tokenizer and a chat template,
built once per session with the same code `studio demo` uses.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from studio.engine.demo_model import build_demo_model

    out = tmp_path_factory.mktemp("models") / "tiny-llama"
    build_demo_model(out)
    return out


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from studio.core.demo_data import write_demo_data

    return write_demo_data(tmp_path_factory.mktemp("data"), train_count=600, eval_count=100)


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty workspace, also set as STUDIO_HOME for commands that do not get --home."""
    ws = tmp_path / "studio-home"
    monkeypatch.setenv("STUDIO_HOME", str(ws))
    return ws

