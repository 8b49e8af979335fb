"""Runs: every run in the workspace; for the selected one, live plots, stage, progress with the
elapsed time and a smoothed ETA, the worker log, the answers to held-out prompts at each
evaluation (Predictions), Cancel and Resume; tick several runs to overlay their loss curves. A run
trained by another process (a terminal, `studio train --detach`, this app before a crash) shows
live too, and Cancel stops it through its run folder.

Plots are redrawn by a 10 Hz timer and only when the selected run's history changed, so a worker
sending hundreds of events a second costs the GUI a few redraws, not hundreds.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, QTimer, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox, QSplitter, QTabWidget, QTextBrowser, QVBoxLayout, QWidget

from studio.core.errors import StudioError
from studio.core.memory import format_bytes
from studio.core.objective_summary import describe_figures, describe_objective, last_figures_of_history, \
    objective_of_config
from studio.core.eta import duration_text, run_seconds
from studio.core.runs import WORKER_LOG, latest_checkpoint, saved_as_note
from studio.core.tracking import TrackingLink, tracking_links
from studio.gui.app_context import AppContext
from studio.gui.widgets.cards import card, page_header
from studio.gui.widgets.log_view import LogView
from studio.gui.widgets.metric_plot import MetricPlot
from studio.gui.widgets.prediction_table import PredictionTable
from studio.gui.widgets.run_list import RunList
from studio.gui.widgets.run_plots import RunPlots
from studio.gui.widgets.run_summary import RunSummary

FRAME_MS = 100
LIST_EVERY = 5          # frames between refreshes of the run list's rows
LOG_EVERY = 5


class RunsPage(QWidget):
    title = "Runs"
    icon_name = "runs"
    menu = [("Cancel the selected run", "Ctrl+.", "cancel"), ("Resume the selected run", "Ctrl+R", "resume")]

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.setObjectName("page")
        self.ctx = ctx
        self.selected: str | None = None
        self._drawn: tuple[str | None, int] = (None, -1)
        self._compare_drawn: tuple = ()
        self._frame = 0

        self.list = RunList(ctx.runs, ctx.theme)
        self.list.run_selected.connect(self.select_run)
        self.list.compare_changed.connect(lambda _ids: self._draw_compare(force=True))
        self.summary = RunSummary()
        self.summary.cancel_clicked.connect(self.cancel)
        self.summary.resume_clicked.connect(self.resume)
        self.summary.log_clicked.connect(lambda: self.tabs.setCurrentWidget(self.log))
        self.plots = RunPlots(ctx.theme)
        self.log = LogView()
        self.compare = MetricPlot(ctx.theme, "Loss of the ticked runs")
        self.details = QTextBrowser()
        self.details.setOpenExternalLinks(False)
        self.details.anchorClicked.connect(lambda url: QDesktopServices.openUrl(url))
        self.tabs = QTabWidget()
        self.predictions = PredictionTable(ctx.theme)
        self.tabs.addTab(self.log, "Log")
        self.tabs.addTab(self.predictions, "Predictions")
        self.tabs.addTab(self.compare, "Compare")
        self.tabs.addTab(self.details, "Details")

        right = QVBoxLayout()
        right.setContentsMargins(0, 0, 0, 0)
        right.addWidget(self.summary)
        vertical = QSplitter(Qt.Orientation.Vertical)
        vertical.addWidget(self.plots)
        vertical.addWidget(self.tabs)
        vertical.setSizes([460, 220])
        right.addWidget(vertical, 1)
        holder = QWidget()
        holder.setLayout(right)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(card(self.list, "Runs"))
        splitter.addWidget(holder)
        splitter.setSizes([560, 880])      # the list shows start, duration, base, rank and losses
        self.splitter = splitter

        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 14, 18, 14)
        layout.setSpacing(10)
        layout.addLayout(page_header("Runs", "Live and finished runs of this workspace; tick runs to compare."))
        layout.addWidget(splitter, 1)

        ctx.runs.run_started.connect(self.list.select)
        ctx.runs.run_ended.connect(self._run_ended)
        ctx.runs.notice.connect(ctx.status_message.emit)
        self.timer = QTimer(self)
        self.timer.setInterval(FRAME_MS)
        self.timer.timeout.connect(self._tick)
        self.timer.start()
        self.list.rebuild()

    def on_shown(self) -> None:
        self.ctx.runs.refresh_in_background()

    # ---- selection and drawing ----------------------------------------------------------------------
    def select_run(self, run_id: str) -> None:
        if run_id == self.selected:       # the list re-selects it after a rebuild: nothing to redo
            return
        self.selected = run_id
        self.plots.clear()
        info = self.ctx.runs.infos.get(run_id)
        self.log.show_file(info.path / WORKER_LOG if info else None)
        self._redraw(force=True)

    def _tick(self) -> None:
        self._frame += 1
        self._redraw()
        if self._frame % LIST_EVERY == 0:
            self.list.refresh_rows()
            self._draw_compare()
            if self.selected in self.ctx.runs.infos:     # elapsed and time left move between events
                self.summary.show_time(self.ctx.runs.history(self.selected))
        if self._frame % LOG_EVERY == 0 and self.selected and self.ctx.runs.history(self.selected).status == "running":
            self.log.poll()

    def _redraw(self, force: bool = False, all_plots: bool = True) -> None:
        run_id = self.selected
        if run_id is None or run_id not in self.ctx.runs.infos:
            return
        version = self.ctx.runs.version(run_id)
        if not force and self._drawn == (run_id, version):
            self.plots.refresh_next(self.ctx.runs.history(run_id), version)   # plots still behind
            return
        self._drawn = (run_id, version)
        runs = self.ctx.runs
        history = runs.history(run_id)
        info = runs.infos[run_id]
        live = history.status in ("running", "created")
        can_resume = (not live and history.status in ("cancelled", "failed") and runs.active_run() is None
                      and latest_checkpoint(info.path) is not None)
        self.summary.show_run(info.name or run_id, history, can_cancel=live, can_resume=can_resume)
        self.predictions.show_history(history)       # rebuilds only after a new predictions event
        if (live and not force) or not all_plots:
            self.plots.refresh_next(history, version)
        else:
            self.plots.show_history(history, version)
        if force or not live:
            self.log.poll()
            self._show_details(run_id)

    def _run_ended(self, _run_id: str, _status: str) -> None:
        self._redraw(force=True, all_plots=False)     # the plots catch up one per frame

    def _draw_compare(self, force: bool = False) -> None:
        ids = self.list.checked()
        key = tuple((run_id, self.ctx.runs.version(run_id)) for run_id in ids)
        if not force and key == self._compare_drawn:
            return
        self._compare_drawn = key
        labels = {}
        for run_id in ids:
            info = self.ctx.runs.infos.get(run_id)
            label = info.name if info and info.name else run_id
            if info and info.config:
                label += f" (r={info.config.lora.rank})"
            labels[label] = run_id
        self.compare.retain(set(labels))
        for label, run_id in labels.items():
            self.compare.set_series(label, self.ctx.runs.history(run_id).series["loss"])

    def _show_details(self, run_id: str) -> None:
        info = self.ctx.runs.infos[run_id]
        history = self.ctx.runs.history(run_id)
        rows = [("Run folder", f"<a href='{QUrl.fromLocalFile(str(info.path)).toString()}'>{info.path}</a>")]
        if info.config:
            c = info.config
            rows += [("Base model", c.model.name_or_path), ("Data", c.data.path),
                     ("Objective", html.escape(describe_objective(objective_of_config(c)))),
                     ("LoRA", f"rank {c.lora.rank}, alpha {c.lora.alpha:g}, targets {', '.join(c.lora.targets)}"),
                     ("Training", f"lr {c.train.lr:g}, batch {c.train.batch_size} × {c.train.grad_accum}, "
                                  f"max length {c.data.max_len}")]
        tokens = history.data_stats.get("tokens") or {}
        if tokens:
            rows.append(("Examples", f"{history.data_stats.get('train_examples')} train / "
                                     f"{history.data_stats.get('eval_examples')} eval; mean {tokens.get('mean')} "
                                     f"tokens, longest {tokens.get('max')}"))
        if history.stage_times:
            rows.append(("Stage times", ", ".join(f"{k} {v:.1f} s" for k, v in history.stage_times.items())
                         + (f" (of the training, {history.prediction_time:.1f} s answered prediction samples)"
                            if history.prediction_seconds else "")))
        if history.warnings:
            rows.append(("Notes", "<br>".join(html.escape(w) for w in history.warnings)))
        if history.best_eval_loss is not None:
            rows.append(("Best eval loss", f"{history.best_eval_loss:.4f}"))
        if figures := describe_figures(last_figures_of_history(history)):
            rows.append(("Preference", figures))          # last train and eval accuracy and margin
        memory = history.series["mem_bytes"]
        if memory:
            rows.append(("Peak memory", format_bytes(max(memory.values()))))
        done = history.done or {}
        if done.get("adapter"):
            name = str(done.get("adapter_name") or "")
            shown = saved_as_note(info.name, name) or name
            rows.append(("Adapter", html.escape(f"{shown}: {done['adapter']}" if shown else str(done["adapter"]))))
        seconds = run_seconds(history)
        if seconds is not None and history.status not in ("running", "created"):
            rows.append(("Total time", duration_text(seconds)))
        ckpt = latest_checkpoint(info.path)
        if ckpt:
            rows.append(("Last checkpoint", ckpt.name))
        rows += [(link.title, _link_html(link)) for link in tracking_links(info.path)]
        self.details.setHtml("<table cellspacing=4>" + "".join(
            f"<tr><td style='color:gray;padding-right:12px'>{k}</td><td>{v}</td></tr>" for k, v in rows) + "</table>")

    # ---- actions -------------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Cancel the selected run, whoever trains it (this app, a terminal, a detached worker)."""
        if self.selected is None:
            return
        try:
            self.ctx.runs.cancel(self.selected)
        except StudioError as exc:       # it ended meanwhile
            self.ctx.status_message.emit(str(exc).splitlines()[0])
            self._redraw(force=True)
            return
        where = "" if self.ctx.runs.is_driven_here(self.selected) else " (it runs in another process)"
        self.ctx.status_message.emit(f"Cancelling{where}: the worker saves a checkpoint, then stops.")

    def resume(self) -> None:
        if self.selected is None:
            return
        try:
            self.ctx.runs.resume(self.selected)
        except StudioError as exc:
            QMessageBox.information(self, "Cannot resume now", str(exc))
            return
        self._redraw(force=True)


def _link_html(link: TrackingLink) -> str:
    """A tracker's folder (or server URL) as a link the Details tab opens with the desktop's file
    manager or browser (anchorClicked -> QDesktopServices.openUrl), with how to view it below."""
    url = QUrl.fromLocalFile(link.target) if link.local else QUrl(link.target)
    return (f"<a href='{html.escape(url.toString(), quote=True)}'>{html.escape(link.target)}</a>"
            f"<br><span style='color:gray'>{html.escape(link.note)}</span>")
