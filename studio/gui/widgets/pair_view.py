"""One preference pair (or KTO row) as a preference objective reads it: the prompt on top, the
chosen and rejected answers side by side below, each with its length.

Seeing the two answers next to each other is how a person checks a pair file before a DPO run:
that chosen really is the better answer, that the two are not the same, that neither is cut off.
The lengths are in tokens once the preview worker has counted them with the model's tokenizer
(the way TRL tokenizes: the prompt rendered with the generation prompt, the answers after it),
and in characters until then; the heading of each part says which. A KTO row has one answer,
labelled desirable or undesirable.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QTextBrowser, QVBoxLayout, QWidget

from studio.core.datasets import Record
from studio.gui.theme import Theme
from studio.gui.widgets.records_table import turn_text


CHARACTERS = "characters: token lengths appear once the base model's tokenizer has counted them"


def part_text(value: str | list[dict[str, Any]] | None) -> str:
    """A prompt or an answer as plain text: the text itself, or one "role: text" paragraph per turn."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if all(m["role"] == "assistant" for m in value):         # an answer: its text, the heading says whose
        return "\n\n".join(turn_text(m) for m in value)
    return "\n\n".join(f"{m['role']}: {turn_text(m)}" for m in value)


class PairPart(QWidget):
    """A titled, read-only text box: the prompt, or one answer."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"pair:{name}")
        self.title = QLabel()
        self.title.setProperty("role", "heading")
        self.text = QTextBrowser()
        self.text.setOpenLinks(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.title)
        layout.addWidget(self.text, 1)

    def show_part(self, title: str, text: str, color: str = "") -> None:
        self.title.setText(title)
        self.title.setStyleSheet(f"color: {color};" if color else "")
        self.text.setPlainText(text)


class PairView(QWidget):
    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.theme = theme
        self.records: list[Record] = []
        self.lengths: list[list[int] | None] = []
        self.keys: list[str] = []
        self.unit_note = CHARACTERS
        self.index = 0
        self.number = QSpinBox()
        self.number.setObjectName("pair-number")
        self.number.setPrefix("Pair ")
        self.number.setMinimumWidth(130)
        self.number.setKeyboardTracking(False)
        self.number.valueChanged.connect(lambda n: self.show_record(n - 1))
        self.source = QLabel()
        self.source.setProperty("role", "muted")
        self.unit = QLabel()
        self.unit.setObjectName("pair-unit")
        self.unit.setProperty("role", "muted")
        self.unit.setWordWrap(True)
        self.prompt = PairPart("prompt")
        self.chosen = PairPart("chosen")
        self.rejected = PairPart("rejected")
        top = QHBoxLayout()
        top.addWidget(self.number)
        top.addWidget(self.source, 1)
        answers = QHBoxLayout()
        answers.setSpacing(10)
        answers.addWidget(self.chosen, 1)
        answers.addWidget(self.rejected, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(top)
        layout.addWidget(self.unit)
        layout.addWidget(self.prompt, 1)         # answers get the room: they are what is compared
        layout.addLayout(answers, 2)
        theme.changed.connect(lambda: self.show_record(self.index))

    def set_records(self, records: list[Record]) -> None:
        """The records of a preference or KTO file (others are not shown); token lengths reset."""
        self.records = [r for r in records if r.kind in ("preference", "kto")]
        self.lengths, self.keys = [], []
        self.unit_note = CHARACTERS
        kto = bool(self.records) and self.records[0].kind == "kto"
        self.number.setPrefix("Example " if kto else "Pair ")
        self.number.blockSignals(True)
        self.number.setRange(1, max(1, len(self.records)))
        self.number.setValue(1)
        self.number.blockSignals(False)
        self.show_record(0)

    def set_lengths(self, keys: list[str], lengths: list[list[int] | None], tokenizer: str = "") -> None:
        """Token lengths per record from the preview worker's pair_tokens event."""
        self.keys, self.lengths = list(keys), list(lengths)
        self.unit_note = f"tokens, counted with the tokenizer of {tokenizer} as TRL counts them" if tokenizer \
            else "tokens, counted as TRL counts them"
        self.show_record(self.index)

    def clear_lengths(self, why: str) -> None:
        """Back to character counts, saying why (no model chosen, a worker error, ...)."""
        self.keys, self.lengths = [], []
        self.unit_note = f"characters: {why}"
        self.show_record(self.index)

    def show_record(self, index: int) -> None:
        if not self.records:
            self.index = 0
            self.source.setText("")
            self.unit.setText("")
            for part in (self.prompt, self.chosen, self.rejected):
                part.show_part("", "")
            return
        self.index = max(0, min(index, len(self.records) - 1))
        if self.number.value() != self.index + 1:
            self.number.blockSignals(True)
            self.number.setValue(self.index + 1)
            self.number.blockSignals(False)
        record = self.records[self.index]
        self.source.setText(f"of {len(self.records):,} · {record.source}")
        tokens = self._tokens(self.index)
        if tokens or not self.keys:
            self.unit.setText(f"Lengths in {self.unit_note}")
        else:
            self.unit.setText("Lengths in characters: the chat template rejected this row")
        colors = self.theme.colors()
        self.prompt.show_part(self._title("Prompt", "prompt", record.prompt, tokens), part_text(record.prompt))
        if record.kind == "preference":
            self.chosen.show_part(self._title("✓ Chosen (preferred)", "chosen", record.chosen, tokens),
                                  part_text(record.chosen), colors["good"])
            self.rejected.show_part(self._title("✗ Rejected", "rejected", record.rejected, tokens),
                                    part_text(record.rejected), colors["bad"])
            self.rejected.show()
        else:
            label = "✓ Desirable" if record.label else "✗ Undesirable"
            self.chosen.show_part(self._title(f"{label} completion", "completion", record.completion, tokens),
                                  part_text(record.completion), colors["good" if record.label else "bad"])
            self.rejected.hide()

    def _tokens(self, index: int) -> dict[str, int]:
        row = self.lengths[index] if index < len(self.lengths) else None
        return dict(zip(self.keys, row)) if row else {}

    @staticmethod
    def _title(name: str, key: str, value: Any, tokens: dict[str, int]) -> str:
        if key in tokens:
            return f"{name} · {tokens[key]:,} tokens"
        return f"{name} · {len(part_text(value)):,} characters"

    def plain_summary(self) -> str:
        """The headings, for tests and accessibility: what the view says about the current row."""
        parts = [self.prompt, self.chosen] + ([self.rejected] if self.rejected.isVisibleTo(self) else [])
        return " | ".join(html.unescape(p.title.text()) for p in parts)
