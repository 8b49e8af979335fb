"""The run config being edited, shared by the Data and Train pages.

One RunConfig lives here; editors call `set("lora.rank", 8)` and listen to `changed(key)`, so
the Data page's max length, the Train page's memory estimate and the command line shown to copy
always describe the same run. Values are converted and checked with config_io's rules; a value
a field cannot hold is refused with the same message the CLI prints.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from studio.core.config import RunConfig, field_help
from studio.core.config_io import config_from_plain, config_to_dict, get_value, set_value


class ConfigModel(QObject):
    changed = Signal(str)      # dotted key, or "" when the whole config was replaced

    def __init__(self, config: RunConfig | None = None) -> None:
        super().__init__()
        self._config = config or RunConfig()

    @property
    def config(self) -> RunConfig:
        return self._config

    def snapshot(self) -> RunConfig:
        """An independent copy (a queued or started run must not change when editing goes on)."""
        return config_from_plain(config_to_dict(self._config))

    def get(self, key: str) -> Any:
        return get_value(self._config, key)

    def set(self, key: str, value: Any) -> None:
        if get_value(self._config, key) == value:
            return
        set_value(self._config, key, value, where=key)
        self.changed.emit(key)

    def replace(self, config: RunConfig) -> None:
        self._config = config
        self.changed.emit("")

    def help(self, key: str) -> str:
        return field_help(self._config, key)
