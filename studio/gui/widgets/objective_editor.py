"""What the run optimises: SFT, DPO, ORPO or KTO, each with a line on what it is for, the settings
that apply to it (and only those), the adapter it starts from and the model it is compared with.

The four objectives are radio buttons, not a drop-down, so a person sees at once what each one
does and which data it reads. The `pref` rows are hidden when they do not apply: beta for the
three preference objectives (with what it means for the one picked: DPO and KTO keep the adapter
near the reference, ORPO weighs its penalty), the DPO loss for DPO, the two weights for KTO.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QButtonGroup, QFormLayout, QGridLayout, QLabel, QRadioButton, QVBoxLayout, QWidget

from studio.core.config import OBJECTIVE_CHOICES
from studio.core.errors import StudioError
from studio.gui.config_model import ConfigModel
from studio.gui.widgets.field_editor import label, make_editor
from studio.gui.widgets.init_adapter_picker import InitAdapterPicker

KEY = "train.objective"
EXPLAIN = {
    "sft": "learn to write the answers (chat, alpaca, completion or text data)",
    "dpo": "prefer the chosen answer of each pair over the rejected one, staying near a reference",
    "orpo": "learn the chosen answers and push the rejected ones down; no reference model",
    "kto": "answers labelled desirable or undesirable, no pairs needed",
}
DATA = {
    "sft": "", "dpo": "Data: pairs (prompt, chosen, rejected).", "orpo": "Data: pairs (prompt, chosen, rejected).",
    "kto": "Data: labelled answers (prompt, completion, label).",
}
BETA_MEANING = {
    "dpo": "Beta: how far the adapter may move from the reference; higher keeps it closer.",
    "kto": "Beta: how far the adapter may move from the reference; higher keeps it closer.",
    "orpo": "Beta is ORPO's λ: the weight of the penalty on the rejected answers.",
}
APPLIES = {"pref.beta": ("dpo", "orpo", "kto"), "pref.dpo_loss": ("dpo",),
           "pref.desirable_weight": ("kto",), "pref.undesirable_weight": ("kto",)}


def reference_text(objective: str, init_adapter: str) -> str:
    """The model the objective compares the adapter with (engine/preference_training.py)."""
    if objective == "orpo":
        return "none: ORPO needs no reference model"
    if objective not in ("dpo", "kto"):
        return ""
    if init_adapter:
        return f"the adapter {init_adapter} (a frozen copy)"
    return "the base model (the adapter switched off)"


class ClickLabel(QLabel):
    """An explanation that selects its radio button when clicked, as the button's own text would."""
    clicked = Signal()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        self.clicked.emit()
        super().mousePressEvent(event)


class ObjectiveEditor(QWidget):
    def __init__(self, model: ConfigModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.choices = QWidget()
        self.choices.setObjectName(KEY)
        self.choices.setToolTip(model.help(KEY))
        self.group = QButtonGroup(self)
        self.buttons: dict[str, QRadioButton] = {}
        grid = QGridLayout(self.choices)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(4)
        for row, name in enumerate(OBJECTIVE_CHOICES):
            button = QRadioButton(name.upper())
            button.setObjectName(f"objective:{name}")
            button.setToolTip(model.help(KEY))
            self.group.addButton(button, row)
            explain = ClickLabel(EXPLAIN[name])
            explain.setWordWrap(True)
            explain.setProperty("role", "muted")
            explain.clicked.connect(button.click)
            grid.addWidget(button, row, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(explain, row, 1)
            self.buttons[name] = button
        grid.setColumnStretch(1, 1)
        self.group.idClicked.connect(lambda index: self._pick(OBJECTIVE_CHOICES[index]))

        self.data_note = QLabel()
        self.data_note.setObjectName("objective-data")
        self.data_note.setProperty("role", "muted")
        self.data_note.setWordWrap(True)
        self.init_adapter = InitAdapterPicker(model)
        self.form = QFormLayout()
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.form.addRow(label("train.init_adapter"), self.init_adapter)
        self.editors = {key: make_editor(model, key) for key in APPLIES}
        self.beta_meaning = QLabel()
        self.beta_meaning.setObjectName("beta-meaning")
        self.beta_meaning.setProperty("role", "muted")
        self.beta_meaning.setWordWrap(True)
        for key, editor in self.editors.items():
            editor.setMaximumWidth(160)
            self.form.addRow(label(key), editor)
            if key == "pref.beta":
                self.form.addRow("", self.beta_meaning)
        self.reference = QLabel()
        self.reference.setObjectName("objective-reference")
        self.reference.setWordWrap(True)
        self.form.addRow("Reference", self.reference)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addWidget(self.choices)
        layout.addWidget(self.data_note)
        layout.addLayout(self.form)
        model.changed.connect(lambda key: self.update_shown() if key in ("", KEY, "train.init_adapter") else None)
        self.update_shown()

    def _pick(self, objective: str) -> None:
        try:
            self.model.set(KEY, objective)
        except StudioError as exc:        # cannot happen for a listed choice; never fail silently
            self.choices.setToolTip(f"{exc}\n\n{self.model.help(KEY)}")

    def update_shown(self) -> None:
        """Check the config's objective and show the settings that apply to it."""
        objective = str(self.model.get(KEY))
        if objective in self.buttons and not self.buttons[objective].isChecked():
            self.buttons[objective].setChecked(True)
        for key, editor in self.editors.items():
            self.form.setRowVisible(editor, objective in APPLIES[key])
        meaning = BETA_MEANING.get(objective, "")
        self.form.setRowVisible(self.beta_meaning, bool(meaning))
        self.beta_meaning.setText(meaning)
        self.form.labelForField(self.editors["pref.beta"]).setText("Beta (λ)" if objective == "orpo" else "Beta")
        reference = reference_text(objective, str(self.model.get("train.init_adapter") or ""))
        self.form.setRowVisible(self.reference, bool(reference))
        self.reference.setText(reference)
        self.data_note.setText(DATA.get(objective, ""))
        self.data_note.setVisible(bool(DATA.get(objective)))
