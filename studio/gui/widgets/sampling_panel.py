"""The settings both chat columns share: system prompt, temperature, top-p, max new tokens, seed.

One set for both columns on purpose: with the same settings and seed, the adapter is the only
difference between the two answers. The limits match core.chat_protocol.Sampling.validate.
"""

from __future__ import annotations

from PySide6.QtWidgets import QDoubleSpinBox, QFormLayout, QLabel, QPlainTextEdit, QSpinBox, QVBoxLayout, QWidget

from studio.core.chat_protocol import Sampling

MAX_SEED = 2**31 - 1


class SamplingPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        defaults = Sampling()
        self.system = QPlainTextEdit()
        self.system.setObjectName("chat-system")
        self.system.setPlaceholderText("Optional: instructions sent before the conversation, to both columns")
        self.system.setFixedHeight(84)
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
        layout.addSpacing(4)
        layout.addLayout(form)
        layout.addWidget(note)

    def sampling(self) -> Sampling:
        return Sampling(round(self.temperature.value(), 4), round(self.top_p.value(), 4), self.max_new_tokens.value(),
                        self.seed.value()).validate()

    def system_prompt(self) -> str:
        return self.system.toPlainText().strip()

    def next_seed(self) -> None:
        self.seed.setValue((self.seed.value() + 1) % (MAX_SEED + 1))
