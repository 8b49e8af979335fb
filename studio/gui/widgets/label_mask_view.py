"""One example as the model sees it: the rendered chat template, token by token, with the tokens
that count toward the loss highlighted.

This is where a person checks that the template and the masking are right before spending a GPU
hour: the answer should be highlighted, the prompt and the special tokens of the template not
(unless loss is on all tokens). Token boundaries are shown by alternating shades.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QTextBrowser, QVBoxLayout, QWidget

from studio.gui.theme import Theme


class LabelMaskView(QWidget):
    example_requested = Signal(int)          # an example index the preview has not explained yet

    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.theme = theme
        self.masks: dict[int, dict[str, Any]] = {}
        self.count = 0
        self.example = QSpinBox()
        self.example.setRange(1, 1)
        self.example.setPrefix("Example ")
        self.example.setMinimumWidth(130)
        self.example.setKeyboardTracking(False)
        self.example.valueChanged.connect(self._show_current)
        self.source = QLabel()
        self.source.setProperty("role", "muted")
        self.legend = QLabel()
        self.text = QTextBrowser()
        self.text.setOpenLinks(False)
        self.counts = QLabel()
        self.counts.setProperty("role", "muted")
        top = QHBoxLayout()
        top.addWidget(self.example)
        top.addWidget(self.source, 1)
        top.addWidget(self.legend)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(top)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.counts)
        theme.changed.connect(self._show_current)
        self.clear("Pick a base model on the Train page to see how an example is tokenized.")

    def clear(self, message: str) -> None:
        self.masks.clear()
        self.text.setHtml(f"<p style='color:gray'>{html.escape(message)}</p>")
        self.counts.clear()
        self.source.clear()

    def set_count(self, count: int) -> None:
        self.count = count
        self.example.setRange(1, max(count, 1))

    def add_mask(self, event: dict[str, Any]) -> None:
        self.masks[int(event["index"])] = event
        if int(event["index"]) == self.example.value() - 1:
            self._show_current()

    def _show_current(self, *_args: object) -> None:
        colors = self.theme.colors()
        self.legend.setText(f"<span style='background:{colors['mask_on']}'>&nbsp;trained&nbsp;</span>&nbsp;"
                            f"<span style='background:{colors['mask_off']}'>&nbsp;context (masked)&nbsp;</span>")
        index = self.example.value() - 1
        mask = self.masks.get(index)
        if mask is None:
            if self.count:
                self.text.setHtml("<p style='color:gray'>Tokenizing this example…</p>")
                self.example_requested.emit(index)
            return
        self.source.setText(mask.get("source", ""))
        if mask.get("problem"):
            self.text.setHtml(f"<p style='color:{colors['bad']}'>The chat template rejected this example: "
                              f"{html.escape(mask['problem'])}</p>")
            return
        self.text.setHtml(render_tokens(mask["tokens"], colors))
        trained = sum(1 for _, counts in mask["tokens"] if counts)
        self.counts.setText(f"{len(mask['tokens']):,} tokens, {trained:,} count toward the loss")


def render_tokens(tokens: list[list[Any]], colors: dict[str, str]) -> str:
    """HTML with one span per token; line breaks kept and shown as ⏎."""
    shades = {True: (colors["mask_on"], _darker(colors["mask_on"])),
              False: (colors["mask_off"], _darker(colors["mask_off"]))}
    parts = []
    for i, (text, counts) in enumerate(tokens):
        background = shades[bool(counts)][i % 2]
        shown = html.escape(text).replace("\n", "⏎\n")
        weight = "font-weight:600;" if counts else f"color:{colors['muted']};"
        parts.append(f"<span style='background:{background};{weight}'>{shown or '∅'}</span>")
    return (f"<div style='font-family:monospace;font-size:10pt;line-height:150%;white-space:pre-wrap;"
            f"color:{colors['text']}'>"
            + "".join(parts) + "</div>")


def _darker(color: str) -> str:
    value = int(color.lstrip("#"), 16)
    r, g, b = (value >> 16) & 255, (value >> 8) & 255, value & 255
    shift = -14 if (r + g + b) > 380 else 14
    return "#{:02x}{:02x}{:02x}".format(*(max(0, min(255, c + shift)) for c in (r, g, b)))
