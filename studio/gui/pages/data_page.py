"""Data: open (or drop) a dataset, check its format and columns, see what training will see.

Reading and validating happens off the GUI thread with the same importer as `studio data
check` and training. Token lengths and the label mask need the model's tokenizer, which the GUI
may not import: they come from the `preview-data` worker, restarted (debounced) whenever the
data, the model, the max length or the loss setting changes.

The data is read for the Train page's objective (train.objective): a preference file (DPO, ORPO,
KTO) shows its pairs in the Pair tab, prompt above and the two answers side by side with their
lengths (tokens from the worker, characters until then); the label mask does not apply to them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (QFileDialog, QGridLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QScrollArea,
                               QSizePolicy, QSplitter, QTabWidget, QVBoxLayout, QWidget)

from studio.core.config import DataOptions
from studio.core.datasets import ImportReport, describe_turns, eval_overlap, import_options
from studio.core.datasets.records import describe_layouts
from studio.core.errors import StudioError
from studio.core.model_info import find_model_folder
from studio.core.model_presence import missing_model_text
from studio.gui.app_context import AppContext
from studio.gui.background import run_in_thread
from studio.gui.widgets.field_editor import make_editor
from studio.gui.widgets.format_mapping import FormatMapping
from studio.gui.widgets.label_mask_view import LabelMaskView
from studio.gui.widgets.message_banner import MessageBanner
from studio.gui.widgets.pair_view import PairView
from studio.gui.widgets.cards import card, page_header
from studio.gui.widgets.problems_list import ProblemsList
from studio.gui.widgets.records_table import RecordsTable
from studio.gui.widgets.token_histogram import TokenHistogram
from studio.gui.worker_task import WorkerTask

DATA_FILTER = "Datasets (*.jsonl *.ndjson *.json *.csv *.tsv *.parquet *.pq *.txt *.md);;All files (*)"
IMPORT_KEYS = {"", "data.path", "data.format", "data.columns", "data.system_prompt", "data.text_unit",
               "data.reasoning", "data.loss_on", "data.eval_path", "train.objective"}
# Settings the preview worker takes as --set: the data's own, and what decides the tokenizer and template.
PREVIEW_SETTINGS = ("data.text_unit", "data.reasoning", "model.revision", "model.chat_template",
                    "model.trust_remote_code", "train.objective")
PREVIEW_KEYS = IMPORT_KEYS | {"data.max_len", "model.name_or_path", *PREVIEW_SETTINGS}
PREVIEW_EXAMPLES = 8


class DataPage(QWidget):
    title = "Data"
    icon_name = "data"
    menu = [("Open dataset…", "Ctrl+O", "choose_file")]

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.setObjectName("page")
        self.ctx = ctx
        self.report: ImportReport | None = None
        self.preview: WorkerTask | None = None
        self._preview_stale = True
        self.setAcceptDrops(True)

        self.path = QLineEdit()
        self.path.setReadOnly(True)
        self.path.setPlaceholderText("Open a JSONL, JSON, CSV, Parquet or text file, or drop it on this page")
        open_button = QPushButton("Open…")
        open_button.setObjectName("open-data")
        open_button.clicked.connect(self.choose_file)
        self.mapping = FormatMapping()
        self.mapping.format.setToolTip(ctx.config.help("data.format"))
        self.mapping.format_chosen.connect(self._format_chosen)
        self.mapping.mapping_changed.connect(lambda mapping: ctx.config.set("data.columns", mapping))
        self.summary = QLabel()
        self.summary.setProperty("role", "muted")
        self.summary.setWordWrap(True)
        self.notes = QLabel()             # what the file holds that training does not use, per-turn controls
        self.notes.setObjectName("data-notes")
        self.notes.setWordWrap(True)
        # Wrap to the card's width rather than widen the window to one line of text.
        self.notes.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.notes.hide()
        self.banner = MessageBanner()

        source = QVBoxLayout()
        row = QHBoxLayout()
        row.addWidget(QLabel("Dataset"))
        row.addWidget(self.path, 1)
        row.addWidget(open_button)
        source.addLayout(row)
        source.addWidget(self.mapping)
        source.addWidget(self.summary)
        source.addWidget(self.notes)

        self.eval_file = QLineEdit()
        self.eval_file.setObjectName("data.eval_path")
        self.eval_file.setPlaceholderText("none: hold out a share of the data")
        self.eval_file.setToolTip(ctx.config.help("data.eval_path"))
        self.eval_file.editingFinished.connect(lambda: ctx.config.set("data.eval_path", self.eval_file.text().strip()))
        eval_browse = QPushButton("Browse…")
        eval_browse.clicked.connect(self._choose_eval_file)
        split = QGridLayout()
        split.setHorizontalSpacing(8)
        split.addWidget(QLabel("Eval share"), 0, 0)
        split.addWidget(make_editor(ctx.config, "data.eval_split"), 0, 1)
        split.addWidget(QLabel("Max length"), 0, 2)
        split.addWidget(make_editor(ctx.config, "data.max_len"), 0, 3)
        split.addWidget(QLabel("Eval file"), 1, 0)
        split.addWidget(self.eval_file, 1, 1, 1, 2)
        split.addWidget(eval_browse, 1, 3)
        split.addWidget(QLabel("Loss on"), 2, 0)
        split.addWidget(make_editor(ctx.config, "data.loss_on"), 2, 1)
        split.addWidget(make_editor(ctx.config, "data.skip_bad_rows"), 2, 2, 1, 2)
        split.addWidget(QLabel("Reasoning"), 3, 0)
        split.addWidget(make_editor(ctx.config, "data.reasoning"), 3, 1)
        split.addWidget(QLabel("Text unit"), 4, 0)
        split.addWidget(make_editor(ctx.config, "data.text_unit"), 4, 1)
        template = make_editor(ctx.config, "model.chat_template")
        template.setPlaceholderText("the tokenizer's own")
        template_browse = QPushButton("Browse…")
        template_browse.clicked.connect(self._choose_template)
        split.addWidget(QLabel("Template"), 5, 0)
        split.addWidget(template, 5, 1, 1, 2)
        split.addWidget(template_browse, 5, 3)
        split.setColumnStretch(1, 1)
        split.setColumnStretch(3, 1)

        top = QHBoxLayout()
        top.addWidget(card(source, "Source"), 3)
        top.addWidget(card(split, "Split and tokens"), 2)

        self.table = RecordsTable()
        self.tabs = QTabWidget()
        self.histogram = TokenHistogram(ctx.theme)
        self.masks = LabelMaskView(ctx.theme)
        self.masks.example_requested.connect(self._explain)
        self.problems = ProblemsList()
        self.pairs = PairView(ctx.theme)
        self.table.record_selected.connect(self.pairs.show_record)
        self.tabs.addTab(self.histogram, "Token lengths")
        self.tabs.addTab(self.masks, "Label mask")
        self.tabs.addTab(self.problems, "Problems")
        self.tabs.addTab(self.pairs, "Pair")
        self.tabs.setTabVisible(3, False)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(card(self.table, "Records (as training will see them)"))
        splitter.addWidget(self.tabs)
        splitter.setSizes([620, 560])
        self.splitter = splitter

        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 14, 18, 14)
        layout.setSpacing(10)
        layout.addLayout(page_header("Data", "Check what the model will be trained on before training."))
        # Below the header the page scrolls as a whole when a banner and the settings need more height
        # than a laptop screen has, instead of forcing the window taller than the screen.
        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(0, 0, 0, 0)
        body_layout.setSpacing(10)
        body_layout.addLayout(top)
        body_layout.addWidget(self.banner)
        body_layout.addWidget(splitter, 1)
        scroll = QScrollArea()
        scroll.setObjectName("data-body")
        scroll.setWidget(body)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setMinimumHeight(420)
        layout.addWidget(scroll, 1)

        self._preview_timer = QTimer(self, singleShot=True, interval=600)
        self._preview_timer.timeout.connect(self.start_preview)
        ctx.config.changed.connect(self._config_changed)
        self.reload()                       # the config's dataset, read off the GUI thread

    # ---- loading --------------------------------------------------------------------------------
    def choose_file(self) -> None:
        start = str(Path(self.ctx.config.get("data.path") or Path.home()).parent)
        path, _ = QFileDialog.getOpenFileName(self, "Open a dataset", start, DATA_FILTER)
        if path:
            self.open_file(Path(path))

    def open_file(self, path: Path) -> None:
        config = self.ctx.config
        config.set("data.format", "auto")
        config.set("data.columns", {})
        if config.get("data.path") == str(path):
            self.reload()
        config.set("data.path", str(path))

    def reload(self) -> None:
        data = self.ctx.config.config.data
        self.path.setText(data.path)
        self.eval_file.setText(data.eval_path)
        if not data.path:
            self.summary.setText("No dataset yet.")
            return
        self.summary.setText(f"Reading {Path(data.path).name}…")
        options = replace(data, columns=dict(data.columns))
        objective = self.ctx.config.config.train.objective
        run_in_thread(lambda: import_with_eval_check(options, objective), self._show_report, self._show_error,
                      key=f"import-{id(self)}")

    def _show_report(self, report: ImportReport) -> None:
        self.report = report
        self.banner.hide()
        data = self.ctx.config.config.data
        self.mapping.show_report(data.format, report.format, report.columns, report.mapping)
        self.table.set_records(report.records)
        self._show_pairs(report)
        self.problems.set_errors(Path(report.path), report.errors, report.reasons())
        self.tabs.setTabText(2, f"Problems ({report.rejected})" if report.rejected else "Problems")
        how = "detected" if report.detected else "chosen"
        self.summary.setText(f"{report.rows_total:,} rows · {len(report.records):,} kept · {report.rejected:,} "
                             f"rejected · {report.file_type.upper()} file, format {report.format} ({how})")
        self._show_notes(report)
        self.masks.set_count(len(report.records))
        if report.rejected:
            first = report.errors[0]
            self.banner.show_message(
                f"{report.rejected} of {report.rows_total} rows cannot be used",
                f"First: {first}", "fix the rows listed under Problems, or tick 'Skip bad rows' to train on the "
                f"{len(report.records):,} good ones", level="warn",
                actions=[("Show problems", lambda: self.tabs.setCurrentWidget(self.problems))])
        self._preview_timer.start(0)

    def _show_pairs(self, report: ImportReport | None) -> None:
        """The Pair tab instead of the Label mask for preference and KTO data."""
        paired = bool(report and report.layouts)
        self.pairs.set_records(report.records if report and paired else [])
        was_pairs = self.tabs.isTabVisible(3)
        self.tabs.setTabText(3, "Labelled answer" if paired and report and report.records
                             and report.records[0].kind == "kto" else "Pair")
        self.tabs.setTabVisible(3, paired)
        self.tabs.setTabVisible(1, not paired)
        if paired and not was_pairs:
            self.tabs.setCurrentWidget(self.pairs)
        elif not paired and was_pairs:
            self.tabs.setCurrentWidget(self.histogram)

    def _show_notes(self, report: ImportReport | None) -> None:
        lines = [describe_turns(report.turns)] if report and report.turns else []
        if report and report.layouts:
            lines.insert(0, describe_layouts(report.layouts, report.preference_counts()))
        lines += [f"⚠ {w}" for w in (report.warnings if report else [])]
        self.notes.setText("\n".join(lines))
        self.notes.setProperty("role", "warn" if report and report.warnings else "muted")
        self.notes.style().polish(self.notes)
        self.notes.setVisible(bool(lines))

    def _show_error(self, exc: BaseException) -> None:
        self.report = None
        self._show_notes(None)
        self.table.set_records([])
        self._show_pairs(None)
        if isinstance(exc, StudioError):
            self.banner.show_message("This dataset cannot be read", f"{exc.where + ': ' if exc.where else ''}"
                                     f"{exc.message}", exc.hint)
            self.summary.setText("")
        else:
            self.banner.show_message("Reading the dataset failed", f"{type(exc).__name__}: {exc}")
        self.histogram.set_message("")
        self.masks.clear("")

    def _format_chosen(self, fmt: str) -> None:
        self.ctx.config.set("data.columns", {})
        self.ctx.config.set("data.format", fmt)

    def _choose_template(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a chat template", str(Path.home()),
                                              "Chat templates (*.jinja *.j2 *.json);;All files (*)")
        if path:
            self.ctx.config.set("model.chat_template", path)

    def _choose_eval_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an evaluation file", str(Path.home()), DATA_FILTER)
        if path:
            self.ctx.config.set("data.eval_path", path)

    def _config_changed(self, key: str) -> None:
        if key in IMPORT_KEYS:
            self.reload()
        elif key in PREVIEW_KEYS:
            if key == "data.max_len":
                self.histogram.set_max_len(int(self.ctx.config.get("data.max_len")))
            self._preview_timer.start()
        if key in ("", "data.eval_path"):
            self.eval_file.setText(self.ctx.config.get("data.eval_path"))

    def on_shown(self) -> None:
        if self._preview_stale:
            self._preview_timer.start(0)

    # ---- token preview (worker) -------------------------------------------------------------------
    def start_preview(self, examples: list[int] | None = None) -> None:
        """Tokenize in a worker; only while the page is visible (it costs a process and a few seconds)."""
        config = self.ctx.config.config
        if self.report is None or not self.report.records:
            return
        if examples is None and not self.isVisible():
            self._preview_stale = True
            return
        self._preview_stale = False
        model = config.model.name_or_path
        if not model or find_model_folder(model, config.model.revision) is None:
            message = missing_model_text(model, self.ctx.demo_dir, self.ctx.demo_model_state, "token lengths")
            self.histogram.set_message(message)
            self.masks.clear(message)
            self.pairs.clear_lengths(message[0].lower() + message[1:])
            return
        if self.preview is not None and self.preview.running and examples is None:
            self.preview.kill()
        wanted = examples if examples is not None else list(range(PREVIEW_EXAMPLES))
        if examples is None:
            self.masks.clear("Tokenizing…")
            self.masks.set_count(len(self.report.records))
            self.histogram.set_message(f"Tokenizing {len(self.report.records):,} records with the tokenizer of "
                                       f"{Path(model).name}…")
        columns = ",".join(f"{k}={v}" for k, v in config.data.columns.items())
        args = ["preview-data", "--model", model, "--data", config.data.path, "--format", config.data.format,
                "--columns", columns, "--system-prompt", config.data.system_prompt,
                "--max-len", str(config.data.max_len), "--loss-on", config.data.loss_on,
                "--examples", ",".join(str(i) for i in wanted)]
        for key in PREVIEW_SETTINGS:
            args += ["--set", f"{key}={self.ctx.config.get(key)}"]
        task = WorkerTask(args, self)
        task.event.connect(self._preview_event)
        if examples is None:
            self.preview = task
        task.start()

    def _explain(self, index: int) -> None:
        if self.preview is None or not self.preview.running:
            self.start_preview([index])

    def _preview_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "token_stats":
            self.histogram.set_stats(event["stats"], event.get("lengths", []), int(self.ctx.config.get("data.max_len")))
            self.ctx.set_longest_example(int(event["stats"].get("max") or 0) or None)
        elif kind == "label_mask":
            self.masks.add_mask(event)
        elif kind == "pair_tokens":
            model = Path(self.ctx.config.get("model.name_or_path")).name
            self.pairs.set_lengths(event["keys"], event["lengths"], model)
        elif kind == "error":
            message = f"{event.get('message', '')}\nFix: {event.get('hint', '')}"
            self.histogram.set_message(message)
            self.masks.clear(message)
            self.pairs.clear_lengths("the preview worker failed (see Token lengths)")

    # ---- drag and drop ------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_file(Path(urls[0].toLocalFile()))
            event.acceptProposedAction()


def import_with_eval_check(options: DataOptions, objective: str = "sft") -> ImportReport:
    """The training file's report for `objective`, warning when the eval file is it or shares its examples."""
    report = import_options(options, objective=objective)
    if options.eval_path and report.records:
        try:
            evals = import_options(options, options.eval_path, objective=objective).records
        except StudioError:
            return report        # the eval file's own problems show when training checks it
        overlap = eval_overlap(report.records, evals, options.path, options.eval_path)
        if overlap:
            report.warnings.append(overlap)
    return report
