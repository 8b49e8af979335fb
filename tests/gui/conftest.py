"""The app built offscreen on a scratch workspace, with the tiny local model and a small dataset."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from helpers import write_jsonl
from studio.core.config import RunConfig


@pytest.fixture()
def small_data(demo_data: tuple[Path, Path], tmp_path: Path) -> Path:
    rows = demo_data[0].read_text().splitlines()[:120]
    return write_jsonl(tmp_path / "tickets.jsonl", rows)


@pytest.fixture()
def app(qtbot, home: Path, tmp_path: Path, tiny_model: Path, small_data: Path):  # noqa: ANN001, ANN201
    """(ctx, window): the main window on an empty workspace, set up for the tiny model."""
    from studio.gui.app import build

    settings = QSettings(str(tmp_path / "gui.ini"), QSettings.Format.IniFormat)
    ctx, window = build(home, settings)
    config = RunConfig(name="gui-test")
    config.model.name_or_path = str(tiny_model)
    config.data.path = str(small_data)
    config.data.max_len = 256
    config.lora.rank, config.lora.dropout = 8, 0.0
    config.train.lr, config.train.batch_size, config.train.max_steps = 3e-3, 8, 6
    config.train.save_every, config.train.log_every, config.data.eval_split = 0, 1, 0.1
    ctx.config.replace(config)
    window.setProperty("no_confirm", True)
    qtbot.addWidget(window)
    window.resize(1440, 900)
    window.show()
    ctx.runs.refresh()
    yield ctx, window
    for source in list(ctx.runs.live.values()):
        if getattr(source, "running", False) and hasattr(source, "kill"):
            source.kill()
            source.task.process.waitForFinished(10_000)
