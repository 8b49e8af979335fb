"""The Train page's packaging-related actions: "Run on several GPUs / a cluster…" (the torchrun /
accelerate commands and the Slurm script for the current config, which is saved where the
commands say) and "Load a preset…" (a shipped preset over the current config)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import QPushButton, QWidget

from studio.core.config import RunConfig
from studio.core.config_io import config_to_dict, load_config
from studio.core.launch_commands import LaunchPlan


@pytest.fixture()
def window(qtbot, tmp_path: Path):  # noqa: ANN001, ANN201
    """The main window on a scratch workspace; no model is needed to write commands."""
    from studio.gui.app import build

    settings = QSettings(str(tmp_path / "gui.ini"), QSettings.Format.IniFormat)
    ctx, window = build(tmp_path / "home", settings)
    config = RunConfig(name="cluster-run")
    config.model.name_or_path = "Qwen/Qwen2.5-7B-Instruct"
    config.model.quant = "4bit"
    config.data.path = str(tmp_path / "chats.jsonl")
    config.lora.rank = 32
    ctx.config.replace(config)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    return window


def open_dialog(window):  # noqa: ANN001, ANN201
    action = next(a for a in window.findChildren(QAction) if a.text() == "Run on several GPUs / a cluster…")
    action.trigger()
    from studio.gui.widgets.launch_dialog import LaunchDialog

    dialogs = [d for d in window.findChildren(LaunchDialog) if d.isVisible()]
    assert len(dialogs) == 1
    return dialogs[0]


def test_commands_follow_the_settings_and_copy_saves_the_config(window, qtbot, tmp_path: Path) -> None:
    dialog = open_dialog(window)
    home = window.ctx.workspace.home
    path = home / "configs" / "cluster-run.yaml"
    assert dialog.path.text() == str(path)
    assert not dialog.banner.isVisible()
    torchrun = dialog.findChild(QWidget, "launch-torchrun")
    assert torchrun.toPlainText().startswith("torchrun --standalone --nproc_per_node 2 -m studio train "
                                             f"--config {path}")
    assert f"--home {home}" in torchrun.toPlainText()   # a workspace other than the default is named

    dialog.gpus.setValue(8)
    dialog.nodes.setValue(2)
    dialog.strategy.setCurrentIndex(dialog.strategy.findData("fsdp"))
    expected = LaunchPlan(config=str(path), gpus_per_node=8, nodes=2, strategy="fsdp", home=str(home))
    assert torchrun.toPlainText() == expected.torchrun()
    accelerate = dialog.findChild(QWidget, "launch-accelerate").toPlainText()
    assert accelerate == expected.accelerate() and "--use_fsdp" in accelerate and "--num_processes 16" in accelerate
    slurm = dialog.findChild(QWidget, "launch-slurm").toPlainText()
    assert slurm == expected.slurm() and "#SBATCH --nodes=2" in slurm and "#SBATCH --gpus-per-node=8" in slurm

    assert not path.exists()
    dialog.findChild(QPushButton, "copy-slurm").click()
    assert QGuiApplication.clipboard().text() == expected.slurm()
    saved = load_config(path)                        # what the commands point at trains this config
    assert config_to_dict(saved) == config_to_dict(window.ctx.config.config)
    assert str(path) in dialog.status.text()

    other = tmp_path / "shared" / "run.yaml"
    dialog.path.setText(str(other))
    dialog.findChild(QPushButton, "copy-torchrun").click()
    assert QGuiApplication.clipboard().text().strip() == expected.torchrun().replace(str(path), str(other))
    assert load_config(other).lora.rank == 32


def test_a_config_that_cannot_train_is_flagged(window, qtbot) -> None:
    window.ctx.config.set("data.path", "")
    dialog = open_dialog(window)
    assert dialog.banner.isVisible()
    assert "no training data" in dialog.banner.body.text()


def test_a_preset_sets_the_model_and_training_and_keeps_the_data(window, qtbot) -> None:
    from studio.core.resources import resource_path

    data_path = window.ctx.config.get("data.path")
    page = window.page("Train")
    assert page.load_config_from(resource_path("presets/qlora-3b-8gb.yaml"), keep_unset=True)
    config = window.ctx.config
    assert config.get("model.name_or_path") == "Qwen/Qwen2.5-3B-Instruct" and config.get("model.quant") == "4bit"
    assert config.get("train.grad_accum") == 16 and config.get("lora.rank") == 16
    assert config.get("data.path") == data_path            # the preset leaves the data alone
