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



@pytest.fixture(scope="session")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace holding the demo adapter (trained by `studio demo`, ~95% on its held-out tickets)
    and `quick`, a 4-step adapter on the same base whose run left checkpoints. Read-only for tests:
    copy it (copy_home) before changing anything."""
    from helpers import last_json, studio

    home = tmp_path_factory.mktemp("trained") / "home"
    demo = studio("demo", "--json", home=home, timeout=1800)
    assert demo.returncode == 0, demo.stderr
    out = last_json(demo.stdout)
    quick = studio("train", "--model", out["base_model"], "--data", out["train_data"], "--max-steps", "4",
                   "--eval-split", "0.1", "--save-every", "2", "--lr", "1e-2", "--name", "quick", "--json", home=home)
    assert quick.returncode == 0, quick.stderr
    return home


@pytest.fixture()
def copy_home(trained_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private, writable copy of trained_home (also set as STUDIO_HOME)."""
    import shutil

    home = tmp_path / "home"
    shutil.copytree(trained_home, home, ignore=shutil.ignore_patterns("*.lock"))
    monkeypatch.setenv("STUDIO_HOME", str(home))
    return home
