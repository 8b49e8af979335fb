"""What every page shares: the workspace, settings, theme, the config being edited, the runs,
and the training device. Pages get this one object instead of reaching for globals."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal

from studio.core.device import DeviceInfo, detect_device
from studio.core.workspace import Workspace
from studio.gui.background import run_in_thread
from studio.gui.config_model import ConfigModel
from studio.gui.run_manager import RunManager
from studio.gui.theme import Theme

RECENT_MODELS = "recent_models"
MAX_RECENT = 10


class AppContext(QObject):
    device_changed = Signal()
    show_page = Signal(str)          # a page's title: switch to it
    status_message = Signal(str)
    data_stats_changed = Signal()
    demo_model_changed = Signal()    # demo_model_state moved (the first launch builds the demo base)

    def __init__(self, workspace: Workspace, settings: QSettings) -> None:
        super().__init__()
        self.workspace = workspace
        self.settings = settings
        self.theme = Theme(settings)
        self.config = ConfigModel()
        self.runs = RunManager(workspace, self)
        self.device: DeviceInfo | None = None
        self.longest_example: int | None = None      # tokens, from the Data page's preview
        # "building" while a worker builds the demo base model, "failed" if that failed, else "":
        # the pages say so instead of "not downloaded" (core/model_presence.py).
        self.demo_model_state = ""

    def set_demo_model_state(self, state: str) -> None:
        self.demo_model_state = state
        self.demo_model_changed.emit()

    def set_longest_example(self, tokens: int | None) -> None:
        self.longest_example = tokens
        self.data_stats_changed.emit()

    @property
    def demo_dir(self) -> Path:
        return self.workspace.demo_dir

    def detect_device(self) -> None:
        """nvidia-smi can take a moment: ask off the GUI thread, then tell the pages."""
        run_in_thread(detect_device, self._set_device, lambda exc: None, key="device")

    def _set_device(self, device: DeviceInfo) -> None:
        self.device = device
        self.device_changed.emit()

    def recent_models(self) -> list[str]:
        value = self.settings.value(RECENT_MODELS, [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or []) if v]

    def remember_model(self, name: str) -> None:
        recent = [name] + [m for m in self.recent_models() if m != name]
        self.settings.setValue(RECENT_MODELS, recent[:MAX_RECENT])
