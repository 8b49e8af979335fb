"""The main window: a sidebar of pages, the pages, menus with shortcuts, and a status bar with the
training device and the active run. Window geometry, the last page and splitter positions are
kept in QSettings."""

from __future__ import annotations

import html

from PySide6.QtCore import QByteArray, QRect, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence, QResizeEvent
from PySide6.QtWidgets import (QHBoxLayout, QListWidget, QListWidgetItem, QMainWindow, QMessageBox,
                               QStackedWidget, QWidget)

from studio import __version__
from studio.core.model_presence import BUILDING, FAILED
from studio.gui.app_context import AppContext
from studio.gui.pages import page_classes
from studio.gui.resources import icon
from studio.gui.theme import CHOICES
from studio.gui.widgets.elided_label import ElidedLabel
from studio.gui.widgets.run_summary import eta_text
from studio.gui.worker_task import WorkerTask

SIDEBAR_WIDTH, SIDEBAR_COMPACT_WIDTH = 168, 52
COMPACT_BELOW = 1180        # window widths below this show the sidebar as icons only
STATUS_EVERY_MS = 250       # the status bar's run line is redrawn at most this often


class MainWindow(QMainWindow):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.setWindowTitle("LoRA Studio")
        self.setWindowIcon(icon("app", "#2f6feb", 64))
        self.sidebar = QListWidget()
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setFixedWidth(SIDEBAR_WIDTH)
        self.sidebar.setIconSize(QSize(20, 20))
        self.sidebar.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.sidebar_compact = False
        self.stack = QStackedWidget()
        self.page_classes = page_classes()
        self._built: dict[int, QWidget] = {}
        self._pending_pages: list[int] = []   # built one per turn after the first paint
        for page_class in self.page_classes:
            self.stack.addWidget(QWidget())            # placeholder until the page is first needed
            item = QListWidgetItem(page_class.title)
            item.setToolTip(page_class.title)
            self.sidebar.addItem(item)
        self.sidebar.currentRowChanged.connect(self.show_page_index)
        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.sidebar)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        # Elided, so a long device line or workspace path never widens the window past the screen.
        self.device_label = ElidedLabel("Detecting the training device…")
        self.run_label = ElidedLabel("")
        self.home_label = ElidedLabel(f"Workspace: {ctx.workspace.home}", Qt.TextElideMode.ElideMiddle)
        self.statusBar().addWidget(self.device_label)
        self.statusBar().addWidget(self.run_label, 1)
        self.statusBar().addPermanentWidget(self.home_label)
        ctx.device_changed.connect(self._show_device)
        ctx.demo_model_changed.connect(self._show_demo_model)
        ctx.status_message.connect(self._status_message)
        ctx.show_page.connect(self.show_page)
        self._status_run: str | None = None
        self._status_timer = QTimer(self, singleShot=True, interval=STATUS_EVERY_MS)
        self._status_timer.timeout.connect(self._show_run_status)
        ctx.runs.run_event.connect(self._run_status)
        ctx.runs.run_ended.connect(self._run_ended)
        ctx.theme.changed.connect(self._restyle)
        self._build_menus()
        self._restyle()
        self._restore()

    # ---- pages ------------------------------------------------------------------------------------
    def page_at(self, index: int) -> QWidget:
        """The page at `index`, built on first use (so start-up builds only the page shown)."""
        if index not in self._built:
            page = self.page_classes[index](self.ctx)
            placeholder = self.stack.widget(index)
            self.stack.insertWidget(index, page)
            self.stack.removeWidget(placeholder)
            placeholder.deleteLater()
            self._built[index] = page
        return self._built[index]

    @property
    def pages(self) -> list[QWidget]:
        return [self.page_at(i) for i in range(len(self.page_classes))]

    def build_remaining_pages(self) -> None:
        """After the window is shown: build the other pages so that switching is instant, one page
        per turn of the event loop (the page shown first, then in sidebar order), so that clicks
        and paints get in between: all of them in one turn held the window for seconds in a large
        workspace. A page asked for meanwhile (`page_at`) is built at once and skipped here."""
        current = self.stack.currentIndex()
        order = [current, *(i for i in range(len(self.page_classes)) if i != current)]
        self._pending_pages = [i for i in order if i not in self._built]
        self._build_next_page()

    def _build_next_page(self) -> None:
        pending = self._pending_pages
        while pending and pending[0] in self._built:
            pending.pop(0)
        if not pending:
            return
        self.page_at(pending.pop(0))
        if pending:
            QTimer.singleShot(0, self, self._build_next_page)

    def build_all_pages(self) -> None:
        """Every page now, in this turn (tests and layout checks that look at all of them)."""
        for index in range(len(self.page_classes)):
            self.page_at(index)

    def show_page_index(self, index: int) -> None:
        if not 0 <= index < len(self.page_classes):
            return
        page = self.page_at(index)
        self.stack.setCurrentIndex(index)
        if self.sidebar.currentRow() != index:
            self.sidebar.setCurrentRow(index)
        if hasattr(page, "on_shown"):
            page.on_shown()

    def show_page(self, title: str) -> None:
        for i, page_class in enumerate(self.page_classes):
            if page_class.title == title:
                self.show_page_index(i)

    def page(self, title: str) -> QWidget:
        index = next(i for i, c in enumerate(self.page_classes) if c.title == title)
        return self.page_at(index)

    # ---- menus and shortcuts --------------------------------------------------------------------------
    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        quit_action = QAction("Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        view = bar.addMenu("&View")
        for i, page_class in enumerate(self.page_classes):
            action = QAction(page_class.title, self, shortcut=QKeySequence(f"Ctrl+{i + 1}"))
            action.triggered.connect(lambda _checked=False, index=i: self.show_page_index(index))
            view.addAction(action)
            entries = getattr(page_class, "menu", [])
            menu = bar.addMenu(page_class.title) if entries else None
            for text, shortcut, method in entries:
                page_action = QAction(text, self, shortcut=QKeySequence(shortcut))
                page_action.triggered.connect(lambda _checked=False, index=i, name=method: self._run_page_action(index, name))
                menu.addAction(page_action)
                self.addAction(page_action)
        view.addSeparator()
        themes = view.addMenu("Theme")
        group = QActionGroup(self)
        for choice in CHOICES:
            action = QAction(choice.capitalize() + (" (follow the desktop)" if choice == "system" else ""), self,
                             checkable=True, checked=self.ctx.theme.choice == choice)
            action.triggered.connect(lambda _checked=False, c=choice: self.ctx.theme.set_choice(c))
            group.addAction(action)
            themes.addAction(action)
        file_menu.addAction(quit_action)
        help_menu = bar.addMenu("&Help")
        shortcuts = QAction("Keyboard shortcuts", self, shortcut=QKeySequence("F1"))
        shortcuts.triggered.connect(self._show_shortcuts)
        about = QAction("About LoRA Studio", self)
        about.triggered.connect(lambda: QMessageBox.about(
            self, "LoRA Studio", f"LoRA Studio {__version__}\nFine-tune open LLMs with LoRA/QLoRA.\n"
                                 f"Workspace: {self.ctx.workspace.home}"))
        help_menu.addAction(shortcuts)
        help_menu.addAction(about)

    def _run_page_action(self, index: int, method: str) -> None:
        self.show_page_index(index)
        getattr(self.page_at(index), method)()

    def shortcut_rows(self) -> list[tuple[str, str, str]]:
        """(menu, key, action) for every shortcut of the menus, in menu order: the F1 list and the
        README's list are checked against it."""
        rows: list[tuple[str, str, str]] = []
        for menu_action in self.menuBar().actions():
            menu = menu_action.menu()
            if menu is None:
                continue
            for action in menu.actions():
                if not action.shortcut().isEmpty() and action.text():
                    rows.append((menu_action.text().replace("&", ""),
                                 action.shortcut().toString(QKeySequence.SequenceFormat.NativeText),
                                 action.text().replace("&", "")))
        return rows

    def _show_shortcuts(self) -> QMessageBox:
        """A table (keys in their own column, grouped by menu): spaces cannot align a proportional font."""
        cells = []
        menu = ""
        for name, key, text in self.shortcut_rows():
            if name != menu:
                menu = name
                cells.append(f"<tr><td colspan=2 style='padding-top:6px'><b>{html.escape(name)}</b></td></tr>")
            cells.append(f"<tr><td style='padding-right:18px'><code>{html.escape(key)}</code></td>"
                         f"<td>{html.escape(text)}</td></tr>")
        box = QMessageBox(QMessageBox.Icon.NoIcon, "Keyboard shortcuts", f"<table>{''.join(cells)}</table>",
                          QMessageBox.StandardButton.Close, self)
        box.setObjectName("shortcuts")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.open()
        return box

    # ---- status bar -------------------------------------------------------------------------------------
    def _show_device(self) -> None:
        device = self.ctx.device
        if device is not None:
            self.device_label.setText(("GPU: " if device.kind == "cuda" else "") + device.describe())

    def _run_status(self, run_id: str, event: dict) -> None:
        """A worker may send hundreds of events a second: the label is redrawn a few times a second."""
        if event.get("type") not in ("progress", "stage", "hello"):
            return
        self._status_run = run_id
        if not self._status_timer.isActive():
            self._status_timer.start()

    def _show_run_status(self) -> None:
        run_id = self._status_run
        if run_id is None or run_id not in self.ctx.runs.infos:
            return
        history = self.ctx.runs.history(run_id)
        if history.status not in ("running", "created"):
            return
        text = f"Training {run_id}: step {history.step}/{history.max_steps or '?'}"
        loss = history.final_loss
        if loss is not None:
            text += f", loss {loss:.4f}"
        if history.eta_s:
            text += f", {eta_text(history.eta_s)}"
        self.run_label.setText(text)

    def _show_demo_model(self) -> None:
        """The first launch builds the demo base model: said for as long as it takes (a status
        message goes after 8 s, and the build can take longer while torch is imported)."""
        if self._status_run is not None:
            return                                    # a run's progress has the label
        state = self.ctx.demo_model_state
        self.run_label.setText(
            "Building the demo base model (only on the first launch)…" if state == BUILDING else
            "The demo base model could not be built: restart the app to try again, or run `studio demo`"
            if state == FAILED else "")

    def _status_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def _run_ended(self, run_id: str, status: str) -> None:
        self._status_run = None
        self.run_label.setText(f"Run {run_id}: {status}")

    def _restyle(self) -> None:
        colors = self.ctx.theme.colors()
        for i, page_class in enumerate(self.page_classes):
            self.sidebar.item(i).setIcon(icon(page_class.icon_name, colors["text"]))

    # ---- window state -----------------------------------------------------------------------------------
    def _restore(self) -> None:
        settings = self.ctx.settings
        geometry = settings.value("window/geometry")
        available = self.screen().availableGeometry() if self.screen() else None
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        if not self.restored_fits(available):  # first launch, or saved on a bigger screen
            size = first_size(available.size() if available else None)
            self.set_sidebar_compact(size.width() < COMPACT_BELOW)   # before the size, which it makes possible
            self.resize(size)
            if available is not None:
                self.move(available.topLeft())
        state = settings.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        self.show_page_index(int(settings.value("window/page", 0) or 0))

    def set_sidebar_compact(self, compact: bool) -> None:
        """Icons only, on a narrow window: the pages get the width (names stay as tooltips)."""
        if compact == self.sidebar_compact:
            return
        self.sidebar_compact = compact
        self.sidebar.setFixedWidth(SIDEBAR_COMPACT_WIDTH if compact else SIDEBAR_WIDTH)
        for i, page_class in enumerate(self.page_classes):
            self.sidebar.item(i).setText("" if compact else page_class.title)

    def resizeEvent(self, event: QResizeEvent) -> None:
        self.set_sidebar_compact(event.size().width() < COMPACT_BELOW)
        super().resizeEvent(event)

    def restored_fits(self, available: QRect | None) -> bool:
        frame = self.frameGeometry()
        return (self.ctx.settings.contains("window/geometry") and available is not None
                and frame.width() <= available.width() and frame.height() <= available.height())

    def save_state(self) -> None:
        settings = self.ctx.settings
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())
        settings.setValue("window/page", self.stack.currentIndex())
        settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        active = self.ctx.runs.active_run()
        if active is not None and not self.property("no_confirm"):
            answer = QMessageBox.question(
                self, "A run is training",
                f"Run {active} is still training. Quit anyway? It will save a checkpoint and stop; "
                "you can resume it later from the Runs page.")
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.ctx.runs.shutdown()
        for task in self.findChildren(WorkerTask):     # previews and downloads: nothing to keep
            task.kill()
            task.process.waitForFinished(2000)
        self.save_state()
        event.accept()


FIRST_SIZE = QSize(1440, 900)


def first_size(available: QSize | None) -> QSize:
    """The window's size on first launch: 1440x900, but never more than 92% of the screen's free
    area (a 1366x768 laptop gets a window that fits, title bar and task bar included)."""
    if available is None or available.isEmpty():
        return FIRST_SIZE
    return QSize(min(FIRST_SIZE.width(), int(available.width() * 0.92)),
                 min(FIRST_SIZE.height(), int(available.height() * 0.92)))
