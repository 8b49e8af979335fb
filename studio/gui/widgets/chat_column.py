"""One column of the A/B chat: a heading, the conversation so far, and the answer streaming in.

The finished turns are drawn as HTML (user turns in a tinted box, each answer followed by its
token count and speed); the answer being generated is appended token by token at the end of the
document with a text cursor, which costs nothing per token, unlike re-rendering the HTML. The
speed is the column's own (the worker's decode rate for this slot alone: see
engine/generation.py), shown as soon as this column's answer ends, whatever the other one does.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QTextBrowser, QVBoxLayout, QWidget

from studio.gui.theme import Theme
from studio.gui.widgets.elided_label import ElidedLabel


def stats_text(stats: dict[str, Any]) -> str:
    """"12 tokens · 48.3 tokens/s" plus why it ended when that is not the usual end of an answer."""
    parts = []
    if stats.get("tokens") is not None:
        parts.append(f"{stats['tokens']} tokens")
    if stats.get("tokens_per_s"):
        parts.append(f"{float(stats['tokens_per_s']):.1f} tokens/s")
    reason = stats.get("finish_reason")
    if reason == "stopped":
        parts.append("stopped")
    elif reason == "length":
        parts.append("hit the max new tokens")
    elif reason == "error":
        parts.append("failed")
    return " · ".join(parts)


def stats_tip(stats: dict[str, Any]) -> str:
    """The footer's tooltip: where the time went, and what tokens/s counts."""
    lines = []
    if stats.get("prompt_tokens") is not None and stats.get("prompt_s") is not None:
        lines.append(f"Prompt: {stats['prompt_tokens']} tokens read in {_ms(stats['prompt_s'])}")
    if stats.get("first_token_s") is not None:
        lines.append(f"First token after {_ms(stats['first_token_s'])}")
    if stats.get("wall_s") is not None:
        lines.append(f"Whole answer: {_ms(stats['wall_s'])}")
    if stats.get("tokens_per_s"):
        lines.append("tokens/s is this column's own decoding speed: neither the prompt nor the other column's "
                     "turns are counted, so it is what the column would get alone.")
    return "\n".join(lines)


def _ms(seconds: Any) -> str:
    value = float(seconds or 0)
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


class ChatColumn(QFrame):
    def __init__(self, slot: str, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.slot = slot
        self.theme = theme
        self.messages: list[dict[str, str]] = []
        self.stats: list[dict[str, Any]] = []
        self.streaming = ""                    # the answer coming in now ("" when none)
        self._cursor: QTextCursor | None = None
        self.title = ElidedLabel(slot.upper(), Qt.TextElideMode.ElideMiddle)   # a long adapter name: both ends
        self.title.setProperty("role", "heading")
        self.subtitle = QLabel("")
        self.subtitle.setProperty("role", "muted")
        self.view = QTextBrowser()
        self.view.setObjectName(f"chat-{slot}")
        self.view.setOpenLinks(False)
        self.view.setFrameShape(QFrame.Shape.NoFrame)
        self.footer = QLabel("")
        self.footer.setWordWrap(True)        # wraps rather than widen its column: both columns stay equal
        self.footer.setProperty("role", "muted")
        head = QHBoxLayout()
        head.addWidget(self.title)
        head.addSpacing(8)
        head.addWidget(self.subtitle, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 8)
        layout.setSpacing(6)
        layout.addLayout(head)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.footer)
        theme.changed.connect(self.render)
        self.render()

    def set_heading(self, title: str, subtitle: str = "") -> None:
        self.title.setText(title)
        self.subtitle.setText(subtitle)
        self.subtitle.setToolTip(subtitle)

    # ---- content --------------------------------------------------------------------------------------------
    def show_conversation(self, messages: list[dict[str, str]], stats: list[dict[str, Any]]) -> None:
        self.messages, self.stats = list(messages), list(stats)
        self.streaming = ""
        self._cursor = None
        self.render()

    def begin_answer(self) -> None:
        """An answer starts: draw the turns so far and put the cursor where the tokens go."""
        self.streaming = ""
        self.render()
        cursor = QTextCursor(self.view.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        self._cursor = cursor
        self.footer.setText("Generating…")

    def append_token(self, text: str) -> None:
        self.streaming += text
        if self._cursor is None:
            self.begin_answer()
        assert self._cursor is not None
        self._cursor.insertText(text)
        bar = self.view.verticalScrollBar()
        if bar.value() >= bar.maximum() - 40:        # follow the answer unless the user scrolled up
            bar.setValue(bar.maximum())
        self.footer.setText(f"Generating… {len(self.streaming)} characters")

    def end_answer(self, stats: dict[str, Any]) -> None:
        self._cursor = None
        self.streaming = ""
        self.show_stats(stats)

    def show_stats(self, stats: dict[str, Any]) -> None:
        self.footer.setText(stats_text(stats))
        self.footer.setToolTip(stats_tip(stats))

    def clear(self) -> None:
        self.footer.setText("")
        self.footer.setToolTip("")
        self.show_conversation([], [])

    def render(self) -> None:
        c = self.theme.colors()
        blocks = []
        answers = iter(self.stats)
        for message in self.messages:
            text = html.escape(message.get("content", "")).replace("\n", "<br>")
            if message.get("role") == "user":
                blocks.append(f"<table width='100%' cellpadding='8' style='margin-top:6px'>"
                              f"<tr><td bgcolor='{c['accent_soft']}' style='color:{c['text']}'>{text}</td></tr></table>")
            elif message.get("role") == "assistant":
                stats = stats_text(next(answers, {}))
                blocks.append(f"<p style='margin:8px 2px 2px 2px; color:{c['text']}'>{text}</p>")
                if stats:
                    blocks.append(f"<p style='margin:0 2px 6px 2px; color:{c['muted']}; font-size:small'>{stats}</p>")
        if not self.messages:
            blocks.append(f"<p style='color:{c['muted']}'>The answers of this column appear here.</p>")
        blocks.append(f"<p style='margin:8px 2px 2px 2px; color:{c['text']}'></p>")
        self.view.setHtml("".join(blocks))
        self.view.verticalScrollBar().setValue(self.view.verticalScrollBar().maximum())

    def plain_text(self) -> str:
        """What the column shows, as text (for tests and copying)."""
        return self.view.toPlainText()
