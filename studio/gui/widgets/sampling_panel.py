"""The settings both chat columns share: system prompt, temperature, top-p, max new tokens, seed.

One set for both columns on purpose: with the same settings and seed, the adapter is the only
difference between the two answers. The limits match core.chat_protocol.Sampling.validate.

The system prompt is prefilled with the one the slots' adapter was trained with (`offer_system`,
from core.slots.system_prefill), and a note under it says where it came from. Once the person
edits or clears the field, what they typed wins: a later offer only shows a "Use it" link.
"""

from __future__ import annotations

import html

from PySide6.QtWidgets import QDoubleSpinBox, QFormLayout, QLabel, QPlainTextEdit, QSpinBox, QVBoxLayout, QWidget

from studio.core.chat_protocol import Sampling
from studio.core.slots import SystemPrefill

MAX_SEED = 2**31 - 1
NAME_CHARS = 32          # longer adapter names are elided in the middle in the note (whole in its tooltip)


def short(name: str) -> str:
    return name if len(name) <= NAME_CHARS else f"{name[:NAME_CHARS // 2]}…{name[-(NAME_CHARS // 2 - 1):]}"


class SamplingPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        defaults = Sampling()
        self.system = QPlainTextEdit()
        self.system.setObjectName("chat-system")
        self.system.setPlaceholderText("Optional: instructions sent before the conversation, to both columns")
        self.system.setFixedHeight(84)
        self.system.textChanged.connect(self._system_edited)
        self.system_note = QLabel("")
        self.system_note.setObjectName("chat-system-note")
        self.system_note.setProperty("role", "muted")
        self.system_note.setWordWrap(True)
        self.system_note.linkActivated.connect(self._note_link)
        self.system_note.hide()
        self.offered: SystemPrefill | None = None     # what the slots' adapters were trained with
        self.edited = False                           # the person changed the field: theirs wins
        self._filling = False
        self.temperature = QDoubleSpinBox()
        self.temperature.setObjectName("chat-temperature")
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setDecimals(2)
        self.temperature.setValue(defaults.temperature)
        self.temperature.setToolTip("0 = greedy: always the most likely token, the same answer every time. "
                                    "Higher values give more varied answers.")
        self.top_p = QDoubleSpinBox()
        self.top_p.setObjectName("chat-top-p")
        self.top_p.setRange(0.05, 1.0)
        self.top_p.setSingleStep(0.05)
        self.top_p.setDecimals(2)
        self.top_p.setValue(defaults.top_p)
        self.top_p.setToolTip("Sample only from the smallest set of tokens whose probability adds up to this "
                              "(1 = all tokens). Used when the temperature is above 0.")
        self.max_new_tokens = QSpinBox()
        self.max_new_tokens.setObjectName("chat-max-new-tokens")
        self.max_new_tokens.setRange(1, 32768)
        self.max_new_tokens.setValue(defaults.max_new_tokens)
        self.max_new_tokens.setToolTip("The longest answer, in tokens; an answer that reaches it is cut off.")
        self.seed = QSpinBox()
        self.seed.setObjectName("chat-seed")
        self.seed.setRange(0, MAX_SEED)
        self.seed.setValue(defaults.seed)
        self.seed.setToolTip("The sampling seed, the same for both columns. Regenerate moves to the next seed "
                             "when the temperature is above 0, so the answers change.")
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Temperature", self.temperature)
        form.addRow("Top-p", self.top_p)
        form.addRow("Max new tokens", self.max_new_tokens)
        form.addRow("Seed", self.seed)
        note = QLabel("Both columns use these settings and the same seed.")
        note.setProperty("role", "muted")
        note.setWordWrap(True)
        system_label = QLabel("System prompt")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(system_label)
        layout.addWidget(self.system)
        layout.addWidget(self.system_note)
        layout.addSpacing(4)
        layout.addLayout(form)
        layout.addWidget(note)

    def sampling(self) -> Sampling:
        return Sampling(round(self.temperature.value(), 4), round(self.top_p.value(), 4), self.max_new_tokens.value(),
                        self.seed.value()).validate()

    def system_prompt(self) -> str:
        return self.system.toPlainText().strip()

    # ---- the system prompt the adapters were trained with -----------------------------------------------
    def offer_system(self, prefill: SystemPrefill | None) -> None:
        """What the slots now hold was trained with `prefill` (None: nothing known). Fills the
        field unless the person has edited it, and says where the text came from."""
        previous, self.offered = self.offered, prefill
        if not self.edited:
            if prefill is not None:
                self._fill(prefill.text)
            elif previous is not None and self.system.toPlainText() == previous.text:
                self._fill("")                        # our prefill, for slots that no longer have it
        self._show_note()

    def use_offered(self) -> None:
        if self.offered is not None:
            self._fill(self.offered.text)
            self.edited = False
            self._show_note()

    def _fill(self, text: str) -> None:
        self._filling = True
        try:
            self.system.setPlainText(text)
        finally:
            self._filling = False

    def _system_edited(self) -> None:
        """The person typed: theirs wins from now on, unless it is the offered prompt itself (then a
        later slot change may still replace it). An empty field counts once a prompt was offered:
        clearing it is a choice; before any offer it is a fresh field."""
        if not self._filling:
            text = self.system.toPlainText()
            self.edited = text != self.offered.text if self.offered is not None else bool(text.strip())
            self._show_note()

    def _note_link(self, link: str) -> None:
        if link == "use":
            self.use_offered()

    def _show_note(self) -> None:
        offer = self.offered
        if offer is None:
            self.system_note.hide()
            self.system.setToolTip("")
            return
        text = self.system.toPlainText()
        names = html.escape(" and ".join(short(n) for n in offer.adapters), quote=False)
        was = "was" if len(offer.adapters) == 1 else "were"
        if text == offer.text:
            note = "Prefilled " + html.escape(offer.note.replace(offer.adapters[0], short(offer.adapters[0])),
                                              quote=False) + "."
        elif not text.strip():
            note = f"None is sent. {names} {was} trained with one: <a href='use'>use it</a>"
        else:
            note = f"Yours is sent. {names} {was} trained with another: <a href='use'>use it</a>"
        if offer.others:
            others = " and ".join(short(n) for n in offer.others)
            note += "<br>" + html.escape(f"{others}: trained with another one.", quote=False)
        self.system_note.setText(note)
        self.system_note.setToolTip(offer.explanation + "\n\n" + offer.text)
        self.system.setToolTip(offer.explanation)
        self.system_note.show()

    def next_seed(self) -> None:
        self.seed.setValue((self.seed.value() + 1) % (MAX_SEED + 1))
