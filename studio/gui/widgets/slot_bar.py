"""What the two chat columns hold: the base model, slot A and slot B, blind mode, and Load.

Each slot is the base model alone, a library adapter, or a complete checkpoint of a run (also a
run that is still training), listed by core.slots.slot_choices off the GUI thread as a part of the
app's one workspace listing (RunManager.refresh_in_background, shared with the Runs page) and shown in a
SlotPicker (a menu, with "Adapter folder…" for a PEFT folder anywhere). The base model defaults
to the one the adapters were trained on ("" lets the worker read it from them); its box stays
editable, for a hub id or a model folder.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QGridLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QWidget)

from studio.core.slots import BASE, SlotChoice
from studio.gui.app_context import AppContext
from studio.gui.widgets.slot_picker import SlotPicker

AUTO_BASE = "The adapters' own base model"


def combo_value(combo: QComboBox) -> str:
    """The item's data when an item is chosen, else what was typed."""
    text = combo.currentText().strip()
    index = combo.currentIndex()
    if index >= 0 and combo.itemText(index) == text:
        return str(combo.itemData(index) if combo.itemData(index) is not None else text)
    return text


class SlotBar(QWidget):
    load_clicked = Signal()
    choices_ready = Signal()
    slots_changed = Signal()                 # what slot A or B holds changed (by the user or a refresh)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.choices: list[SlotChoice] = []
        ctx.runs.listing_changed.connect(self._listed)
        ctx.runs.listing_failed.connect(self._fill_failed)
        self.base = self._combo("chat-base", 20, "The base model both columns run on. The adapters' own base model "
                                "is the one they were trained on; choose another only if it has the same layers.")
        tip = ("Slot {}: the base model alone, an adapter from the library, a checkpoint of a run, or an "
               "adapter folder (the last entry)")
        self.slot_a = SlotPicker("chat-slot-a", tip.format("A"))
        self.slot_b = SlotPicker("chat-slot-b", tip.format("B"))
        for picker in (self.slot_a, self.slot_b):
            picker.choice_changed.connect(self.slots_changed)
        # Slot B offers the newest adapter until the user picks something: the first launch fills
        # the menus before its first run, whose adapter should then be offered, not the base again.
        self._b_picked = False
        self.slot_b.activated.connect(self._b_was_picked)
        self.quant = QComboBox()
        self.quant.setObjectName("chat-quant")
        self.quant.addItems(["none", "4bit", "8bit"])
        self.quant.setToolTip("Load the base model quantized (4bit/8bit need bitsandbytes and save memory)")
        self.blind = QCheckBox("Blind")
        self.blind.setObjectName("chat-blind")
        self.blind.setToolTip("Shuffle the slots and show them as A and B; vote for the better answer, then see "
                              "which was which. Votes are kept in the workspace.")
        self.load_button = QPushButton("Load")
        self.load_button.setObjectName("chat-load")
        self.load_button.setProperty("primary", True)
        self.load_button.clicked.connect(self.load_clicked)
        self.progress = QProgressBar()
        self.progress.setObjectName("chat-progress")
        self.progress.setMaximumWidth(220)
        self.progress.hide()
        self.status = QLabel("Choose what each column holds, then Load.")
        self.status.setProperty("role", "muted")
        self.status.setWordWrap(True)

        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        grid.addWidget(QLabel("Base model"), 0, 0)
        grid.addWidget(self.base, 0, 1, 1, 3)
        grid.addWidget(QLabel("Quantization"), 0, 4)
        grid.addWidget(self.quant, 0, 5)
        grid.addWidget(QLabel("Slot A"), 1, 0)
        grid.addWidget(self.slot_a, 1, 1)
        grid.addWidget(QLabel("Slot B"), 1, 2)
        grid.addWidget(self.slot_b, 1, 3)
        grid.addWidget(self.blind, 1, 4)
        grid.addWidget(self.load_button, 1, 5)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        status_row = QHBoxLayout()
        status_row.addWidget(self.progress)
        status_row.addWidget(self.status, 1)
        grid.addLayout(status_row, 2, 0, 1, 6)

    def _combo(self, name: str, width: int, tip: str) -> QComboBox:
        combo = QComboBox(self)
        combo.setObjectName(name)
        combo.setEditable(True)
        combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(width)
        combo.setToolTip(tip)
        return combo

    # ---- choices ------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Ask for a new listing of the library and the runs (the app's one listing, shared with
        the Runs page and read off the GUI thread: RunManager); keeps what is chosen. The menus
        fill when it is in, and after every later listing that changed them; a bar made after a
        listing is filled from it at once."""
        if self.ctx.runs.slot_choices is not None and not self.choices:
            self._fill(self.ctx.runs.slot_choices)
        self.ctx.runs.refresh_in_background()

    def _listed(self) -> None:
        if self.ctx.runs.slot_choices is not None:
            self._fill(self.ctx.runs.slot_choices)

    def _fill_failed(self, exc: BaseException) -> None:
        self.status.setText(f"Could not read the adapter library: {exc}")
        self._fill([SlotChoice(BASE, "Base model alone", BASE)])

    def _fill(self, choices: list[SlotChoice]) -> None:
        self.choices = choices
        adapters = [c for c in choices if c.kind != BASE]
        for picker, default in ((self.slot_a, BASE), (self.slot_b, adapters[0].spec if adapters else BASE)):
            keep = picker.spec()
            if picker is self.slot_b and not self._b_picked and keep == BASE:
                keep = default
            picker.blockSignals(True)
            picker.set_choices(choices, keep or default)
            picker.blockSignals(False)
        self._fill_bases(adapters)
        self.choices_ready.emit()
        self.slots_changed.emit()

    def _fill_bases(self, adapters: list[SlotChoice]) -> None:
        current = combo_value(self.base) if self.base.count() else None
        demo = str(self.ctx.demo_dir / "base-model")
        models = [m for m in [self.ctx.config.get("model.name_or_path"), demo, *self.ctx.recent_models(),
                              *(c.base_model for c in adapters)] if m]
        self.base.blockSignals(True)
        self.base.clear()
        if adapters:
            self.base.addItem(AUTO_BASE, "")
        for model in dict.fromkeys(models):
            self.base.addItem(("Demo model: " if model == demo else "") + model, model)
        self._select(self.base, current if current is not None else ("" if adapters else models[0] if models else ""))
        self.base.lineEdit().setCursorPosition(0)
        self.base.blockSignals(False)

    @staticmethod
    def _select(combo: QComboBox, value: str) -> None:
        index = combo.findData(value)
        if index >= 0:
            combo.setCurrentIndex(index)
        else:
            combo.setEditText(value)

    def _b_was_picked(self, _index: int) -> None:
        self._b_picked = True

    def set_specs(self, spec_a: str, spec_b: str, base: str | None = None) -> None:
        self._b_picked = True
        self.slot_a.select(spec_a)
        self.slot_b.select(spec_b)
        if base is not None:
            self._select(self.base, base)

    def specs(self) -> dict[str, str]:
        return {"a": self.slot_a.spec() or BASE, "b": self.slot_b.spec() or BASE}

    def chosen(self) -> dict[str, SlotChoice | None]:
        return {"a": self.slot_a.choice(), "b": self.slot_b.choice()}

    def base_model(self) -> str:
        value = combo_value(self.base)
        return "" if value == AUTO_BASE else value.removeprefix("Demo model: ")

    def label_of(self, spec: str) -> str:
        return next((c.text for c in self.choices if c.spec == spec), spec)

    # ---- progress -----------------------------------------------------------------------------------------
    def show_progress(self, message: str, step: int, steps: int) -> None:
        self.progress.show()
        if steps:
            self.progress.setRange(0, steps)
            self.progress.setValue(step)
        else:
            self.progress.setRange(0, 0)
        self.status.setText(message)

    def show_status(self, text: str) -> None:
        self.progress.hide()
        self.status.setText(text)

    def set_enabled(self, enabled: bool) -> None:
        for widget in (self.base, self.slot_a, self.slot_b, self.quant, self.blind, self.load_button):
            widget.setEnabled(enabled)
