"""The export's verification figures in plain words: did the merged model come out as base + adapter?

Reads the worker's `result` event of kind "verification" (engine/export_verify.compare_merged):
the largest logit difference against its tolerance, how many greedy answers agree, and how much
the adapter itself moves the logits (if less than the tolerance, the check cannot tell the merged
model from the base, and says so).
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from studio.gui.theme import Theme


def verdict(report: dict[str, Any]) -> str:
    if report.get("passed"):
        return "Verified: the merged model gives the same results as base model + adapter."
    return "Verification failed: the merged model does not match base model + adapter."


def figure_rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    source = str(report.get("prompt_source") or "-")          # a file, or "built-in prompts"
    rows = [
        ("Result", "passed" if report.get("passed") else "FAILED"),
        ("Largest logit difference", f"{report['max_abs_diff']:.3g} (allowed up to {report['tolerance']:.3g}: "
                                     f"{report['relative_tolerance']:g} × logit scale {report['logit_scale']:.3g})"),
        ("Greedy answers agree", f"{report['greedy_agree']} of {report['prompts']} prompts"),
        ("Precision", str(report.get("dtype", "-"))),
        ("Prompts from", source),
        ("Adapter's own effect", f"{report['adapter_effect']:.3g} (how far the adapter moves the logits)"),
    ]
    trained = report.get("as_trained")
    if trained:
        rows.append((f"As trained ({trained['quant']})", f"same answer on {trained['same_answer']} of "
                     f"{trained['prompts']} prompts; the gap is the quantization the adapter was trained on"))
    return rows


class VerificationFigures(QLabel):
    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("verification-figures")
        self.theme = theme
        self.report: dict[str, Any] | None = None
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hide()

    def show_report(self, report: dict[str, Any] | None) -> None:
        self.report = report
        if not report:
            self.clear()
            self.hide()
            return
        colors = self.theme.colors()
        color = colors["good"] if report.get("passed") else colors["bad"]
        cells = "".join(
            f"<tr><td style='color:{colors['muted']};padding-right:14px'>{html.escape(k)}</td>"
            f"<td>{html.escape(v)}</td></tr>" for k, v in figure_rows(report))
        note = ""
        if report.get("inconclusive"):
            note = ("<p style='color:%s'>On these prompts the adapter changes the logits by less than the "
                    "tolerance, so this check cannot tell the merged model from the base model.</p>" % colors["warn"])
        problems = "".join(f"<li>{html.escape(p)}</li>" for p in (report.get("problems") or [])[:4])
        self.setText(f"<p style='color:{color};font-weight:600'>{html.escape(verdict(report))}</p>"
                     f"<table cellspacing=2>{cells}</table>{note}" + (f"<ul>{problems}</ul>" if problems else ""))
        self.show()

    def plain_text(self) -> str:
        """The figures as text (for tests and the clipboard)."""
        if not self.report:
            return ""
        return verdict(self.report) + "\n" + "\n".join(f"{k}: {v}" for k, v in figure_rows(self.report))
