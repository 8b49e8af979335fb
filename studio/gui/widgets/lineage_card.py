"""One adapter's lineage: base model (and whether it is still here, unchanged), data fingerprint,
settings, metrics, a loss thumbnail, the run it came from, its files.

Shows the plain dict of `core.adapter_details.lineage_card` (what `studio adapters show --json`
prints), so the card and the command cannot disagree.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QGridLayout, QHBoxLayout, QLabel, QPushButton, QScrollArea, QSizePolicy,
                               QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from studio.core.adapter_details import base_model_text, run_text, short_value
from studio.core.memory import format_bytes
from studio.core.objective_summary import describe_figures, describe_objective, last_figures_of_metrics
from studio.gui.theme import Theme
from studio.gui.widgets.message_banner import MessageBanner
from studio.gui.widgets.sparkline import Sparkline, as_points

CHECK_LEVEL = {"match": "ok", "fits": "ok", "different": "warn", "unknown": "warn", "mismatch": "error"}
CHECK_TITLE = {"match": "Base model found", "fits": "Fits a base model on this machine",
               "different": "The base model changed", "unknown": "Base model not on this machine",
               "mismatch": "Does not fit its base model"}
SETTING_SECTIONS = ("model", "lora", "train", "data")
LONG_TOKEN = 22          # characters that fit the card at 1024x700 (the whole in the tooltip)


def fit_token(token: str, width: int = LONG_TOKEN) -> str:
    """A path keeps its last folders ("…/demo/base-model"), anything else its start ("sha256:e755…"):
    a label cannot wrap inside a word, and one long word would widen the whole card."""
    if len(token) <= width:
        return token
    if "/" in token.rstrip("/"):
        parts, tail = token.rstrip("/").split("/"), ""
        while parts and len(parts[-1]) + len(tail) + 2 <= width:
            tail = "/" + parts.pop() + tail
        return "…" + tail if tail else token[: width - 1] + "…"
    return token[: width - 1] + "…"


def fit_text(value: str) -> str:
    return " ".join(fit_token(word) for word in value.split(" "))


class LineageCard(QScrollArea):
    open_run = Signal(str)
    export_clicked = Signal()
    open_folder = Signal()

    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lineage-card")
        self.theme = theme
        self.card: dict[str, Any] = {}
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.title = QLabel("Select an adapter")
        self.title.setProperty("role", "heading")
        self.title.setWordWrap(True)        # a long adapter name wraps rather than widening the card
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner = MessageBanner()
        self.rows = QGridLayout()
        self.rows.setHorizontalSpacing(12)
        self.rows.setVerticalSpacing(5)
        self.rows.setColumnStretch(1, 1)
        self.spark = Sparkline(theme)
        self.run_button = QPushButton("Open run")
        self.run_button.setObjectName("open-run")
        self.run_button.clicked.connect(lambda: self.open_run.emit(str((self.card.get("run") or {}).get("run_id"))))
        self.export_button = QPushButton("Export…")
        self.export_button.clicked.connect(self.export_clicked.emit)
        folder_button = QPushButton("Open folder")
        folder_button.clicked.connect(self.open_folder.emit)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.export_button)
        buttons.addWidget(folder_button)
        buttons.addStretch(1)
        self.settings = QTreeWidget()
        self.settings.setObjectName("lineage-settings")
        self.settings.setHeaderLabels(["Setting", "Value"])
        self.settings.setColumnWidth(0, 170)
        self.settings.setMinimumHeight(220)
        self.settings.setUniformRowHeights(True)
        self.body = QWidget()
        layout = QVBoxLayout(self.body)
        layout.setContentsMargins(2, 2, 6, 2)
        layout.setSpacing(8)
        layout.addWidget(self.title)
        layout.addWidget(self.banner)
        layout.addLayout(self.rows)
        layout.addWidget(self.spark)
        layout.addLayout(buttons)
        layout.addWidget(self.settings, 1)
        self.setWidget(self.body)
        self.show_card(None)
        # Never narrower than its content: the horizontal scroll bar is off, so the splitter
        # beside it must not squeeze the card until its text is cut off at the right edge.
        self.setMinimumWidth(self.body.minimumSizeHint().width() + self.verticalScrollBar().sizeHint().width()
                             + 2 * self.frameWidth())

    def show_card(self, card: dict[str, Any] | None, error: str = "") -> None:
        """The adapter's card; None (nothing selected) or an error hide the details."""
        self.card = card or {}
        while self.rows.count():
            item = self.rows.takeAt(0)
            widget = item.widget()
            if widget is not None:   # out of the card now: deleteLater alone leaves it findable
                widget.setParent(None)
                widget.deleteLater()
        self.settings.clear()
        has = bool(card)
        for widget in (self.spark, self.run_button, self.export_button, self.settings):
            widget.setVisible(has)
        self.banner.hide()
        if card is None:
            self.title.setText("Cannot show this adapter" if error else "Select an adapter to see its lineage")
            if error:
                self.banner.show_message("Cannot read the adapter", error, level="error")
            return
        self.title.setText(card["name"])
        broken = card.get("broken")
        check = card.get("base_check") or {}
        if broken:
            self.banner.show_message("This adapter cannot be used", broken,
                                     "delete it (it goes to the trash), or train or import it again", level="error")
        elif check:
            self.banner.show_message(CHECK_TITLE.get(check["status"], "Base model"), check.get("message", ""),
                                     "; ".join(check.get("problems", [])[1:]),
                                     level=CHECK_LEVEL.get(check["status"], "warn"))
        for key, value in self._rows(card):
            self._add_row(key, value)
        self.spark.set_series(as_points(card.get("loss_history")), as_points(card.get("eval_history")))
        self.spark.setVisible(not broken)
        run = card.get("run") or {}
        self.run_button.setEnabled(bool(run.get("exists")))
        self.run_button.setToolTip(f"Show run {run['run_id']} on the Runs page" if run.get("exists") else
                                   f"{run_text(run)}: the Runs page shows this workspace's runs" if run else
                                   "This adapter did not come from a run in this workspace")
        self.export_button.setEnabled(not broken)
        self._fill_settings(card)

    def _rows(self, card: dict[str, Any]) -> list[tuple[str, str]]:
        base = card.get("base_model_record") or {}
        data = card.get("dataset_record") or {}
        run = card.get("run")
        metrics = {k: v for k, v in (card.get("metrics") or {}).items() if v is not None}
        rows = [("Base model", base_model_text(card) or "-"), ("Base revision", base.get("revision") or "-"),
                ("Base hash", base.get("hash") or "-"), ("Quantization", base.get("quant") or "-"),
                ("Dataset", card.get("dataset") or "-"), ("Data fingerprint", data.get("fingerprint") or "-"),
                ("LoRA", f"rank {card.get('rank')}, alpha {card.get('alpha')}, targets "
                         f"{', '.join(card.get('targets') or []) or '-'}"),
                ("Objective", describe_objective(card.get("objective") or {"name": "sft"})),
                ("Created", (card.get("created") or "-")[:19].replace("T", " ")),
                ("Metrics", ", ".join(f"{k.replace('_', ' ')} {short_value(v)}" for k, v in metrics.items()) or "-"),
                ("Size", f"{format_bytes(card.get('size_bytes') or 0)} in {len(card.get('files') or [])} files"),
                ("Tags", ", ".join(card.get("tags") or []) or "-"), ("Notes", card.get("notes") or "-")]
        figures = describe_figures(last_figures_of_metrics(metrics))      # the last preference accuracy, margin
        if figures:
            rows.insert([key for key, _ in rows].index("Objective") + 1, ("Preference", figures))
        if run:
            rows.append(("Run", run_text(run)))
        if card.get("imported"):
            rows.append(("Imported from", str(card["imported"].get("from", "-"))))
        rows.append(("Folder", card.get("path") or "-"))
        return rows

    def _add_row(self, key: str, value: str) -> None:
        row = self.rows.rowCount()
        name = QLabel(key)
        name.setProperty("role", "muted")
        name.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        text = QLabel(html.escape(fit_text(value)))
        text.setWordWrap(True)
        text.setMinimumWidth(40)             # never wider than the card: long words are shortened above
        text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        text.setObjectName(f"lineage-{key.lower().replace(' ', '-')}")
        text.setToolTip(value if fit_text(value) != value or len(value) > 60 else "")
        self.rows.addWidget(name, row, 0)
        self.rows.addWidget(text, row, 1)

    def _fill_settings(self, card: dict[str, Any]) -> None:
        config = card.get("config") or {}
        sections = [(s, config.get(s)) for s in SETTING_SECTIONS if isinstance(config.get(s), dict)]
        sections += [(s, v) for s, v in config.items() if isinstance(v, dict) and s not in SETTING_SECTIONS]
        sections.append(("peft (adapter_config.json)", card.get("peft") or {}))
        for title, values in sections:
            parent = QTreeWidgetItem([title, ""])
            parent.setFirstColumnSpanned(True)
            self.settings.addTopLevelItem(parent)
            for key, value in values.items():
                child = QTreeWidgetItem([str(key), short_value(value)])
                child.setToolTip(1, str(value))
                parent.addChild(child)
            parent.setExpanded(title in ("lora", "train"))
