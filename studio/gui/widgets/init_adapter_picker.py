"""`train.init_adapter` as a list: a fresh LoRA, or one of the library's adapters to continue.

Picking an adapter copies its shape (rank, alpha, targets, dropout, rsLoRA, DoRA) into the lora
section: the worker loads the adapter as it is (peft's own config), so the lora editors, the
parameter count and the memory estimate must describe that shape, not the one typed before. The
LoRA and target editors then say that the shape comes from the adapter and cannot be edited.

A config that names an adapter this library does not have (loaded from a YAML of another
machine, or deleted since) still shows the name, marked missing: Train then says why it cannot
start (core/init_adapter.py), and the person sees which value to change.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QComboBox, QWidget

from studio.core.adapter_details import read_peft_config
from studio.core.errors import StudioError
from studio.core.library import AdapterInfo
from studio.core.objective_summary import objective_of_record
from studio.gui.config_model import ConfigModel

KEY = "train.init_adapter"
FRESH = "fresh LoRA"


def adapter_shape(info: AdapterInfo) -> dict[str, Any]:
    """The lora settings the adapter was made with, as config keys (only those it records)."""
    shape: dict[str, Any] = {}
    if info.rank:
        shape["lora.rank"] = int(info.rank)
    if info.alpha:
        shape["lora.alpha"] = float(info.alpha)
    if info.targets:
        shape["lora.targets"] = list(info.targets)
    peft = read_peft_config(info.path)
    for name, key, kind in (("lora_dropout", "lora.dropout", float), ("use_rslora", "lora.rslora", bool),
                            ("use_dora", "lora.dora", bool)):
        if isinstance(peft.get(name), (int, float, bool)):
            shape[key] = kind(peft[name])
    return shape


def describe_adapter(info: AdapterInfo) -> str:
    """What the list shows for one adapter: its name, objective and rank."""
    objective = objective_of_record(info.studio).get("name", "sft")
    return f"{info.name}  ({objective}, rank {info.rank})" if info.rank else f"{info.name}  ({objective})"


class InitAdapterPicker(QComboBox):
    def __init__(self, model: ConfigModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.adapters: dict[str, AdapterInfo] = {}
        self._updating = False
        self.setObjectName(KEY)
        self.setToolTip(model.help(KEY))
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(16)
        self.currentIndexChanged.connect(self._picked)
        model.changed.connect(lambda key: self._fill() if key in ("", KEY) else None)
        self._fill()

    def set_adapters(self, adapters: list[AdapterInfo]) -> None:
        """The library's usable adapters (broken ones cannot be started from)."""
        self.adapters = {a.name: a for a in adapters if not a.broken}
        self._fill()

    def _fill(self) -> None:
        """The items (rebuilt only when they change: this also runs inside the combo's own
        currentIndexChanged, when a pick sets the config) and the config's choice selected."""
        current = str(self.model.get(KEY) or "")
        items = [(FRESH, "", "Train a new LoRA with the shape set in LoRA adapter and Target modules")]
        items += [(describe_adapter(info), name, f"{info.base_model}\n{info.path}")
                  for name, info in self.adapters.items()]
        if current and current not in self.adapters:
            items.append((f"{current}  (not in the library)", current, "Train will say why it cannot start from it"))
        self._updating = True
        try:
            if [(self.itemText(i), self.itemData(i)) for i in range(self.count())] != [i[:2] for i in items]:
                self.clear()
                for text, name, tip in items:
                    self.addItem(text, name)
                    self.setItemData(self.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
            self.setCurrentIndex(max(0, self.findData(current)))
        finally:
            self._updating = False
        if current in self.adapters:     # a loaded config, or the list read after it: show the real shape
            QTimer.singleShot(0, self, self._adopt_shape)

    def _adopt_shape(self) -> None:
        info = self.adapters.get(str(self.model.get(KEY) or ""))
        try:
            for key, value in (adapter_shape(info) if info else {}).items():
                self.model.set(key, value)       # set() emits only when the value changes
        except StudioError as exc:
            self.setToolTip(f"{exc}\n\n{self.model.help(KEY)}")

    def _picked(self, index: int) -> None:
        if self._updating or index < 0:
            return
        try:
            self.model.set(KEY, str(self.itemData(index) or ""))     # _fill then copies the adapter's shape
        except StudioError as exc:
            self.setToolTip(f"{exc}\n\n{self.model.help(KEY)}")
            return
        self.setToolTip(self.model.help(KEY))
