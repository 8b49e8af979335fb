"""Which linear layers get a LoRA adapter: the model's real layer groups with their shapes and the
parameters each choice trains at the current rank, plus the usual presets.

Ticking every group stores `all-linear` (what peft expands the same way), anything else the
names, so the config and the command line stay short and match `studio inspect`.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from studio.core.model_info import ModelInfo
from studio.gui.config_model import ConfigModel

ATTENTION = {"q_proj", "k_proj", "v_proj", "o_proj", "query_key_value", "c_attn", "qkv_proj", "Wqkv", "out_proj",
             "dense", "wo", "wq", "wk", "wv"}
MAX_ROWS_SHOWN = 12
MLP = {"gate_proj", "up_proj", "down_proj", "fc1", "fc2", "c_fc", "c_proj", "w1", "w2", "w3", "gate_up_proj"}


class TargetModules(QWidget):
    def __init__(self, model: ConfigModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.info: ModelInfo | None = None
        self.table = QTableWidget(0, 4)
        self.table.setObjectName("target-modules")
        self.table.setHorizontalHeaderLabels(["Layer", "Count", "Out × in", "Trained"])
        for column, tip in enumerate(["the layer's name in every block", "how many layers of this name the model has",
                                      "the weight's shape: output × input features",
                                      "parameters LoRA trains on these layers at the current rank"]):
            self.table.horizontalHeaderItem(column).setToolTip(tip)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        header = self.table.horizontalHeader()
        for column in (0, 1, 2, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.verticalHeader().setDefaultSectionSize(26)
        self.table.itemChanged.connect(self._ticked)
        self.table.setToolTip(model.help("lora.targets"))
        self.note = QLabel()
        self.note.setProperty("role", "muted")
        self.note.setWordWrap(True)
        self.from_adapter = QLabel()        # shown while the run starts from a library adapter
        self.from_adapter.setObjectName("targets-from-adapter")
        self.from_adapter.setWordWrap(True)
        self.from_adapter.hide()
        self.presets: list[QPushButton] = []
        presets = QHBoxLayout()
        presets.setContentsMargins(0, 0, 0, 0)
        for text, names in (("Attention", ATTENTION), ("MLP", MLP), ("All linear", None)):
            button = QPushButton(text)
            button.setObjectName(f"preset:{text}")
            button.setToolTip("Adapt " + ("every linear layer (all-linear)" if names is None else
                                          f"the {text.lower()} layers only"))
            button.clicked.connect(lambda _c=False, n=names: self.apply_preset(n))
            presets.addWidget(button)
            self.presets.append(button)
        presets.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.from_adapter)
        layout.addLayout(presets)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.note)
        model.changed.connect(self._config_changed)
        self._show_source()

    def set_model_info(self, info: ModelInfo | None, problem: str = "") -> None:
        self.info = info
        self.note.setText("" if info else (problem and f"Layers unknown: {problem}."))
        self._rebuild()

    def selected(self) -> list[str]:
        targets = list(self.model.get("lora.targets"))
        if self.info is None:
            return targets
        return list(self.info.groups) if targets == ["all-linear"] else [t for t in targets if t in self.info.groups]

    def apply_preset(self, names: set[str] | None) -> None:
        if names is None or self.info is None:
            self.model.set("lora.targets", ["all-linear"])
            return
        chosen = [g for g in self.info.groups if g in names]
        if chosen:
            self.model.set("lora.targets", chosen if len(chosen) < len(self.info.groups) else ["all-linear"])

    def _ticked(self, item: QTableWidgetItem) -> None:
        if item.column() != 0 or self.info is None or self.table.signalsBlocked():
            return
        chosen = [self.table.item(r, 0).text() for r in range(self.table.rowCount())
                  if self.table.item(r, 0).checkState() == Qt.CheckState.Checked]
        if not chosen:
            self.note.setText("At least one layer must be adapted.")
            self._rebuild()
            return
        self.model.set("lora.targets", ["all-linear"] if len(chosen) == len(self.info.groups) else chosen)

    def _config_changed(self, key: str) -> None:
        if key in ("", "lora.targets", "lora.rank", "lora.dora"):
            self._rebuild()
        if key in ("", "train.init_adapter"):
            self._show_source()

    def _show_source(self) -> None:
        """A run that starts from a library adapter keeps that adapter's targets: not editable here."""
        name = str(self.model.get("train.init_adapter") or "")
        self.from_adapter.setText(f"Taken from the init adapter {name}: it keeps the layers it was trained on."
                                  if name else "")
        self.from_adapter.setVisible(bool(name))
        self.table.setEnabled(not name)
        for button in self.presets:
            button.setEnabled(not name)

    def _rebuild(self) -> None:
        self.table.blockSignals(True)
        self.table.setRowCount(0)
        if self.info is not None:
            rank, dora = int(self.model.get("lora.rank")), bool(self.model.get("lora.dora"))
            chosen = set(self.selected())
            for row, group in enumerate(self.info.groups.values()):
                self.table.insertRow(row)
                name = QTableWidgetItem(group.name)
                name.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
                name.setCheckState(Qt.CheckState.Checked if group.name in chosen else Qt.CheckState.Unchecked)
                cells = [name, QTableWidgetItem(str(group.count)),
                         QTableWidgetItem(f"{group.out_features:,} × {group.in_features:,}"),
                         QTableWidgetItem(f"{group.lora_params(rank, dora):,}")]
                for column, cell in enumerate(cells):
                    if column:
                        cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    self.table.setItem(row, column, cell)
        self.table.blockSignals(False)
        # Never narrower than its columns: a cut-off figure reads as another number.
        self.table.resizeColumnsToContents()
        header = self.table.horizontalHeader()
        self.table.setMinimumWidth(sum(max(header.sectionSize(c), header.sectionSizeHint(c))
                                       for c in range(self.table.columnCount())) + 2 * self.table.frameWidth() + 2)
        rows = min(self.table.rowCount(), MAX_ROWS_SHOWN)   # the page scrolls, not a box inside it
        self.table.setMinimumHeight(header.sizeHint().height() + rows * self.table.verticalHeader().defaultSectionSize()
                                    + 2 * self.table.frameWidth() + 2)
