"""Blind mode's voting row: "Which answer is better?" A / B / tie, then who was who, and the tally.

The bar only records and shows; the page decides when a vote is allowed (after both answers are
in, once per answer). Votes go to <home>/votes.jsonl through core.votes with the real labels of
the left and right columns, so the shuffle never changes the tally; the win rate shown is the
pair's (wins + ties / 2) / votes over every vote in the workspace.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from studio.core.votes import PairTally


def tally_text(entry: PairTally) -> str:
    if not entry.total:
        return "No votes for this pair yet."
    ties = f", {entry.ties} tie{'s' if entry.ties != 1 else ''}" if entry.ties else ""
    return (f"{entry.total} vote{'s' if entry.total != 1 else ''}{ties} · win rate: "
            f"{entry.first} {entry.win_rate(entry.first):.0%}, {entry.second} {entry.win_rate(entry.second):.0%}")


class VoteBar(QFrame):
    voted = Signal(str)              # "a", "b" or "tie"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.question = QLabel("Which answer is better?")
        self.question.setProperty("role", "heading")
        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 8, 12, 8)
        row.addWidget(self.question)
        for winner, text in (("a", "A is better"), ("tie", "Tie"), ("b", "B is better")):
            button = QPushButton(text)
            button.setObjectName(f"vote-{winner}")
            button.clicked.connect(lambda _checked=False, w=winner: self.voted.emit(w))
            row.addWidget(button)
            self.buttons[winner] = button
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.result.setProperty("role", "muted")
        row.addSpacing(10)
        row.addWidget(self.result, 1)
        self.allow(False)

    def allow(self, enabled: bool) -> None:
        for button in self.buttons.values():
            button.setEnabled(enabled)

    def show_result(self, text: str) -> None:
        self.result.setText(text)
