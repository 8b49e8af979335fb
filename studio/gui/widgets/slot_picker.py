"""A chat slot's picker: a menu of what a column can hold, not a box to type into.

The entries are core.slots.SlotChoice: the base model alone, the library's usable adapters
(name, base model and date; the tooltip has the details), and run checkpoints. "Adapter
folder…" at the end picks a PEFT folder anywhere, which then joins the menu. A long entry is
elided in the middle (both ends of a name tell adapters apart) and the full text is the tooltip.
Typing a letter jumps to the entries that start with it, as in any Qt menu.

The menu lists the checkpoints of the RECENT_RUNS newest runs only: a workspace of 1,000 runs has
2,000 of them, and filling two menus with every one held the window for 0.1 s at each listing.
"Run checkpoint…" chooses among all of them (the spec run:RUN@STEP works as before), and one
chosen there, or given by spec, joins the menu.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPaintEvent
from PySide6.QtWidgets import QComboBox, QFileDialog, QInputDialog, QStyle, QStyleOptionComboBox, QStylePainter, QWidget

from studio.core.slots import SlotChoice

BROWSE = "\0browse"                  # the data of the "Adapter folder…" entry
CHECKPOINTS = "\0checkpoints"        # the data of the "Run checkpoint…" entry
RECENT_RUNS = 10                     # runs whose checkpoints the menu itself lists
ROLE = Qt.ItemDataRole.UserRole + 1  # the SlotChoice of an entry
MIN_CHARS = 14


class SlotPicker(QComboBox):
    choice_changed = Signal()

    def __init__(self, name: str, tip: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.setEditable(False)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(MIN_CHARS)
        self.view().setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.tip = tip
        self._previous = -1
        self.all_choices: list[SlotChoice] = []   # the whole listing; the menu shows menu_choices of it
        self.activated.connect(self._activated)
        self.currentIndexChanged.connect(self._changed)

    # ---- entries ------------------------------------------------------------------------------------------
    def set_choices(self, choices: list[SlotChoice], keep: str) -> None:
        """Fill the menu; select `keep` (a spec), adding it when the menu does not have it."""
        extra = [self.choice_at(i) for i in range(self.count())]
        extra = [c for c in extra if c is not None and c.kind == "folder" and c.spec not in {x.spec for x in choices}]
        self.all_choices = choices
        shown = menu_choices(choices)
        self.blockSignals(True)
        self.clear()
        for choice in [*shown, *extra]:
            self._add(choice)
        if len(shown) < len(choices):
            self.addItem("Run checkpoint…", CHECKPOINTS)
            self.setItemData(self.count() - 1, f"Choose a checkpoint of any run: the menu lists those of the "
                                               f"{RECENT_RUNS} newest runs", Qt.ItemDataRole.ToolTipRole)
        self.addItem("Adapter folder…", BROWSE)
        self.setItemData(self.count() - 1, "Choose a PEFT adapter folder (adapter_config.json and its weights) "
                                           "anywhere on this computer", Qt.ItemDataRole.ToolTipRole)
        self.blockSignals(False)
        self.select(keep)

    def _add(self, choice: SlotChoice, at: int | None = None) -> int:
        index = self.count() if at is None else at
        self.insertItem(index, choice.text, choice.spec)
        self.setItemData(index, choice, ROLE)
        self.setItemData(index, choice.detail or choice.text, Qt.ItemDataRole.ToolTipRole)
        return index

    def select(self, spec: str) -> None:
        """Choose the entry of `spec`; one the menu does not list (a folder, an adapter not read yet)
        is added as it is, before "Adapter folder…", and Load reports it if it cannot be used."""
        index = self.findData(spec)
        known = next((c for c in self.all_choices if c.spec == spec), None) if index < 0 else None
        if known is not None:               # a checkpoint the menu leaves out: it joins the menu
            first = min(i for i in (self.findData(CHECKPOINTS), self.findData(BROWSE), self.count()) if i >= 0)
            index = self._add(known, at=first)
        elif index < 0:
            folder = "/" in spec or "\\" in spec
            name = Path(spec).name if folder else spec
            detail = spec if folder else f"{spec}: not in the adapter list; Load checks it"
            browse = self.findData(BROWSE)
            index = self._add(SlotChoice(spec, f"{name} (folder)" if folder else spec, "folder", detail=detail,
                                         label=name), at=browse if browse >= 0 else None)
        self.setCurrentIndex(index)
        self._changed()

    def choice_at(self, index: int) -> SlotChoice | None:
        value = self.itemData(index, ROLE)
        return value if isinstance(value, SlotChoice) else None

    def choice(self) -> SlotChoice | None:
        return self.choice_at(self.currentIndex())

    def spec(self) -> str:
        choice = self.choice()
        return choice.spec if choice is not None else ""

    # ---- events -------------------------------------------------------------------------------------------
    def _changed(self, *_args: object) -> None:
        choice = self.choice()
        if choice is None:
            self.setToolTip(self.tip)
            return
        self._previous = self.currentIndex()
        self.setToolTip(f"{choice.detail or choice.text}\n\n{self.tip}")
        self.choice_changed.emit()

    def _activated(self, index: int) -> None:
        if self.itemData(index) == CHECKPOINTS:
            self._choose_checkpoint()
            return
        if self.itemData(index) != BROWSE:
            return
        folder = QFileDialog.getExistingDirectory(self, "Choose an adapter folder", str(Path.home()))
        if folder:
            self.select(folder)
        else:
            self.setCurrentIndex(self._previous if 0 <= self._previous < self.count() else 0)

    def _choose_checkpoint(self) -> None:
        """Every run checkpoint of the listing, newest run first, in a dialog of its own."""
        checkpoints = [c for c in self.all_choices if c.kind == "checkpoint"]
        texts = [c.text for c in checkpoints]
        text, ok = QInputDialog.getItem(self, "Run checkpoint", "Checkpoint:", texts, 0, False)
        if ok and text in texts:
            self.select(checkpoints[texts.index(text)].spec)
        else:
            self.setCurrentIndex(self._previous if 0 <= self._previous < self.count() else 0)

    def showPopup(self) -> None:  # noqa: N802 - Qt's name
        """As wide as the longest entry (up to most of the screen), so the menu shows whole names."""
        view = self.view()
        want = view.sizeHintForColumn(0) + view.verticalScrollBar().sizeHint().width() + 24
        screen = self.screen().availableGeometry().width() if self.screen() else 1024
        view.setMinimumWidth(max(self.width(), min(want, int(screen * 0.6))))
        super().showPopup()

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        painter = QStylePainter(self)
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, option)
        room = self.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, option,
                                           QStyle.SubControl.SC_ComboBoxEditField, self).width()
        option.currentText = self.fontMetrics().elidedText(option.currentText, Qt.TextElideMode.ElideMiddle,
                                                           max(0, room - 4))
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, option)

    def shown_text(self) -> str:
        """The text as painted (elided to the room it has), for tests."""
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        room = self.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, option,
                                           QStyle.SubControl.SC_ComboBoxEditField, self).width()
        return self.fontMetrics().elidedText(self.currentText(), Qt.TextElideMode.ElideMiddle, max(0, room - 4))


def checkpoint_run(spec: str) -> str:
    """The run of a checkpoint spec: run:RUN or run:RUN@STEP."""
    return spec.removeprefix("run:").split("@", 1)[0]


def menu_choices(choices: list[SlotChoice]) -> list[SlotChoice]:
    """What the menu itself lists: everything but checkpoints of runs older than the RECENT_RUNS
    newest ones (the listing has runs newest first)."""
    runs: set[str] = set()
    shown = []
    for choice in choices:
        if choice.kind == "checkpoint":
            run = checkpoint_run(choice.spec)
            if run not in runs:
                if len(runs) == RECENT_RUNS:
                    continue
                runs.add(run)
        shown.append(choice)
    return shown
