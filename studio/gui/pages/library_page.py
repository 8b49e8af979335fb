"""Library: every adapter of the workspace, its lineage, and what can be done with it.

A view over the library's core functions, so each action here is a `studio adapters ...`
command too: list/search (`list --search`), the lineage card (`show`), Compare (`diff`),
rename, tags, notes, delete to the trash and restore (`rename|tag|untag|notes|rm|restore`),
import (`import`), Export (`studio export`) and Combine (`studio merge-adapters`). The folders are
the truth: the list is re-read when the page is shown, when a run ends, when the adapters folder
changes, and after every action. A damaged folder is a greyed row that says why.
"""

from __future__ import annotations

from PySide6.QtCore import QFileSystemWatcher, QPoint, Qt, QTimer, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QHBoxLayout, QInputDialog, QLabel, QLineEdit, QMenu, QMessageBox, QPushButton,
                               QSplitter, QStackedWidget, QVBoxLayout, QWidget)

from studio.core.adapter_details import lineage_card
from studio.core.errors import StudioError
from studio.core.library import AdapterInfo, list_adapters, search_adapters
from studio.core.library_ops import TrashEntry, delete_adapter, empty_trash, list_trash, rename_adapter, \
    restore_adapter, set_notes, set_tags
from studio.gui.app_context import AppContext
from studio.gui.background import invalidate, run_in_thread
from studio.gui.dialogs.compare_dialog import CompareDialog
from studio.gui.dialogs.export_dialog import ExportDialog
from studio.gui.library_import import ImportFlow
from studio.gui.resources import icon
from studio.gui.widgets.adapter_table import AdapterTable
from studio.gui.widgets.cards import card, page_header
from studio.gui.widgets.empty_library import EmptyLibrary
from studio.gui.widgets.lineage_card import LineageCard
from studio.gui.widgets.message_banner import MessageBanner
from studio.gui.widgets.reflow_columns import ReflowColumns
from studio.gui.widgets.trash_view import TrashView


class LibraryPage(QWidget):
    title = "Library"
    icon_name = "library"
    menu = [("Import adapter…", "Ctrl+I", "import_folder"), ("Export the selected adapter…", "Ctrl+E", "export"),
            ("Compare the two selected adapters", "", "compare")]

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.setObjectName("page")
        self.ctx = ctx
        self.adapters: list[AdapterInfo] = []
        self.banner = MessageBanner()
        self.importer = ImportFlow(ctx.workspace, self.banner, self)
        self.importer.finished.connect(self._imported)

        self.search = QLineEdit()
        self.search.setObjectName("library-search")
        self.search.setPlaceholderText("Search names, base models, datasets, tags and notes")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda _text: self._show_rows())
        self.table = AdapterTable(ctx.theme)
        self.table.selection_changed.connect(self._selection_changed)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.doubleClicked.connect(lambda _index: self.export())
        self.trash = TrashView()
        self.trash.restore_clicked.connect(self.restore)
        self.trash.empty_clicked.connect(self.empty_trash)
        self.empty = EmptyLibrary(lambda: ctx.show_page.emit("Train"), lambda: self.import_folder(),
                                  lambda: self.import_zip())
        self.stack = QStackedWidget()
        self.stack.addWidget(self.table)
        self.stack.addWidget(self.trash)
        self.stack.addWidget(self.empty)
        self.card = LineageCard(ctx.theme)
        self.card.open_run.connect(self.open_run)
        self.card.export_clicked.connect(self.export)
        self.card.open_folder.connect(self._open_selected_folder)

        self.buttons: dict[str, QPushButton] = {}
        for key, text, slot in (("import", "Import…", None), ("rename", "Rename…", self.rename),
                                ("tags", "Tags…", self.edit_tags), ("notes", "Notes…", self.edit_notes),
                                ("delete", "Delete", self.delete), ("compare", "Compare", self.compare),
                                ("combine", "Combine…", self.combine), ("export", "Export…", self.export)):
            button = QPushButton(text)
            button.setObjectName(f"library-{key}")
            if slot is not None:
                button.clicked.connect(lambda _checked=False, s=slot: s())
            self.buttons[key] = button
        import_menu = QMenu(self)
        import_menu.addAction("Adapter folder…", self.import_folder)
        import_menu.addAction("Zip archive…", self.import_zip)
        self.buttons["import"].setMenu(import_menu)
        self.buttons["import"].setToolTip("Copy a PEFT adapter folder or .zip into the library "
                                          "(studio adapters import)")
        self.buttons["export"].setProperty("primary", True)
        self.buttons["compare"].setToolTip("Select two adapters (Ctrl+click) to see their settings side by side")
        self.buttons["combine"].setToolTip("Select two or more adapters of one base model to combine them by weight")
        self.trash_toggle = QPushButton("Trash")
        self.trash_toggle.setObjectName("library-trash")
        self.trash_toggle.setCheckable(True)
        self.trash_toggle.setToolTip("Deleted adapters, to restore")
        self.trash_toggle.toggled.connect(self.show_trash)
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.buttons["import"])
        top.addWidget(self.trash_toggle)
        groups = []
        for keys, lead in ((("rename", "tags", "notes", "delete"), False), (("compare", "combine", "export"), True)):
            group = QWidget()
            row = QHBoxLayout(group)
            row.setContentsMargins(0, 0, 0, 0)
            if lead:
                row.addStretch(1)
            for key in keys:
                row.addWidget(self.buttons[key])
            if not lead:
                row.addStretch(1)
            groups.append((group, 1))
        self.action_row = ReflowColumns(groups, spacing=8)   # two rows on a laptop screen

        left = QWidget()
        column = QVBoxLayout(left)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(top)
        column.addWidget(self.stack, 1)
        column.addWidget(self.action_row)
        self.list_card = card(left, "Adapters")
        self.list_title = self.list_card.findChild(QLabel)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.list_card)
        splitter.addWidget(card(self.card, "Lineage"))
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([1010, 390])
        self.splitter = splitter

        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 14, 18, 14)
        layout.setSpacing(10)
        layout.addLayout(page_header("Library", "The adapters of this workspace: lineage, compare, export."))
        layout.addWidget(self.banner)
        layout.addWidget(splitter, 1)

        self._watcher = QFileSystemWatcher(self)
        self._debounce = QTimer(self, singleShot=True, interval=300)
        self._debounce.timeout.connect(self._refresh_if_shown)
        self._watcher.directoryChanged.connect(lambda _path: self._debounce.start())
        ctx.runs.run_ended.connect(lambda _run_id, _status: self._refresh_if_shown())
        ctx.theme.changed.connect(self._restyle)
        self._restyle()
        self._read_key = f"library-{id(self)}"
        self.refresh()

    # ---- reading -------------------------------------------------------------------------------------
    def on_shown(self) -> None:
        self.refresh_in_background()

    def _refresh_if_shown(self) -> None:
        """Changes on disk while the page is hidden are read when it is shown (on_shown): reading
        every adapter as a run ends would hold up the window at that moment."""
        if self.isVisible():
            self.refresh_in_background()

    def refresh(self) -> None:
        """Re-read the library and the trash from disk now (the folders are the truth): after an
        action of this page, whose result must show at once. A background read still running is
        older than this one: its result is dropped."""
        invalidate(self._read_key)
        self._show_read(self._read())

    def refresh_in_background(self) -> None:
        """Re-read off the GUI thread: every adapter folder is walked for its size, 0.1-0.4 s for a
        few dozen adapters, which held the window each time the page was shown."""
        run_in_thread(self._read, self._show_read,
                      lambda exc: self.ctx.status_message.emit(f"Reading the library failed: {exc}"),
                      key=self._read_key)

    def _read(self) -> tuple[list[AdapterInfo], list[TrashEntry]]:
        return list_adapters(self.ctx.workspace.adapters_dir), list_trash(self.ctx.workspace)

    def _show_read(self, result: tuple[list[AdapterInfo], list[TrashEntry]]) -> None:
        ws = self.ctx.workspace
        self.adapters, entries = result
        self.trash.set_entries(entries)
        self._trash_label()
        watched = [str(p) for p in (ws.adapters_dir, ws.trash_dir) if p.is_dir()]
        missing = [p for p in watched if p not in self._watcher.directories()]
        if missing:
            self._watcher.addPaths(missing)
        self._show_rows()

    def _show_rows(self) -> None:
        rows = search_adapters(self.adapters, self.search.text())
        self.table.set_adapters(rows)
        if self.stack.currentWidget() is not self.trash:   # nothing at all yet: say how to get one
            self.stack.setCurrentWidget(self.table if self.adapters else self.empty)
        if not self.table.selected_names() and rows and self.stack.currentWidget() is self.table:
            self.table.select_names([self.table.proxy.index(0, 0).data(Qt.ItemDataRole.UserRole)])

    def select(self, name: str) -> None:
        if self.stack.currentWidget() is self.trash:
            self.show_trash(False)
        self.table.select_names([name])

    def selected(self) -> list[AdapterInfo]:
        return self.table.selected()

    def _selection_changed(self, names: list[str]) -> None:
        chosen = self.table.selected()
        usable = [a for a in chosen if not a.broken]
        one = len(chosen) == 1
        for key in ("rename", "tags", "notes"):
            self.buttons[key].setEnabled(one)
        self.buttons["delete"].setEnabled(bool(chosen))
        self.buttons["export"].setEnabled(one and bool(usable))
        self.buttons["compare"].setEnabled(len(usable) == 2 and len(chosen) == 2)
        self.buttons["combine"].setEnabled(len(usable) >= 2 and len(usable) == len(chosen))
        if one:
            self._load_card(names[0])
        else:
            self.card.show_card(None)

    def _load_card(self, name: str) -> None:
        ws = self.ctx.workspace
        run_in_thread(lambda: lineage_card(ws, name), self.card.show_card,
                      lambda exc: self.card.show_card(None, str(exc)), key=f"lineage-{id(self)}")

    # ---- changing the library ------------------------------------------------------------------------
    def _act(self, what: str, action) -> object | None:  # noqa: ANN001 - a callable
        """Run one library change; a StudioError is shown in the banner, the page keeps working."""
        try:
            result = action()
        except StudioError as exc:
            self.banner.show_message(f"Could not {what}", exc.message, exc.hint, level="error",
                                     actions=[("Dismiss", self.banner.hide)])
            return None
        self.banner.hide()
        return result

    def rename(self, new_name: str | None = None) -> None:
        chosen = self.selected()
        if len(chosen) != 1:
            return
        old = chosen[0].name
        if new_name is None:
            new_name, ok = QInputDialog.getText(self, "Rename adapter", f"New name for {old}:", text=old)
            if not ok or new_name.strip() in ("", old):
                return
        info = self._act(f"rename {old}", lambda: rename_adapter(self.ctx.workspace, old, new_name.strip()))
        if info is not None:
            self.refresh()
            self.select(info.name)
            self.ctx.status_message.emit(f"Renamed {old} to {info.name}.")

    def edit_tags(self, text: str | None = None) -> None:
        """Set the tags to a comma-separated list (tags added and removed as `studio adapters tag/untag`)."""
        chosen = self.selected()
        if len(chosen) != 1:
            return
        info = chosen[0]
        if text is None:
            text, ok = QInputDialog.getText(self, "Tags", f"Tags of {info.name}, separated by commas:",
                                            text=", ".join(info.tags))
            if not ok:
                return
        wanted = [t.strip() for t in text.split(",") if t.strip()]
        current = {t.casefold() for t in info.tags}
        add = [t for t in wanted if t.casefold() not in current]
        remove = [t for t in info.tags if t.casefold() not in {w.casefold() for w in wanted}]
        if self._act(f"change the tags of {info.name}",
                     lambda: set_tags(self.ctx.workspace, info.name, add=add, remove=remove)) is not None:
            self.refresh()

    def edit_notes(self, text: str | None = None) -> None:
        chosen = self.selected()
        if len(chosen) != 1:
            return
        info = chosen[0]
        if text is None:
            text, ok = QInputDialog.getMultiLineText(self, "Notes", f"Notes on {info.name}:", info.notes)
            if not ok:
                return
        if self._act(f"save the notes of {info.name}", lambda: set_notes(self.ctx.workspace, info.name, text)):
            self.refresh()

    def delete(self, confirm: bool = True) -> None:
        names = self.table.selected_names()
        if not names:
            return
        if confirm and QMessageBox.question(
                self, "Delete adapters", f"Move {', '.join(names)} to the trash? You can restore "
                + ("them" if len(names) > 1 else "it") + " from the Trash view.") != QMessageBox.StandardButton.Yes:
            return
        trashed = [e for name in names if (e := self._act(f"delete {name}",
                                                          lambda n=name: delete_adapter(self.ctx.workspace, n)))]
        self.table.select_names([])
        self.refresh()
        if trashed:
            self.ctx.status_message.emit(f"Moved {', '.join(names)} to the trash; Trash → Restore brings it back.")

    def show_trash(self, on: bool) -> None:
        self.trash_toggle.blockSignals(True)
        self.trash_toggle.setChecked(on)
        self.trash_toggle.blockSignals(False)
        self.stack.setCurrentWidget(self.trash if on else self.table if self.adapters else self.empty)
        self.list_title.setText("Trash" if on else "Adapters")
        self._trash_label()
        self.action_row.setVisible(not on)
        self.buttons["import"].setVisible(not on)
        self.search.setEnabled(not on)
        if not on:
            self._selection_changed(self.table.selected_names())

    def _trash_label(self) -> None:
        count = len(self.trash.entries)
        if self.stack.currentWidget() is self.trash:
            self.trash_toggle.setText("Back to the adapters")
        else:
            self.trash_toggle.setText(f"Trash ({count})" if count else "Trash")

    def restore(self, entries: list[str] | None = None) -> None:
        refs = entries if entries is not None else self.trash.selected_entries()
        restored = [info for ref in refs if (info := self._act(
            "restore the adapter", lambda r=ref: restore_adapter(self.ctx.workspace, r)))]
        self.refresh()
        if restored:
            self.select(restored[-1].name)
            self.ctx.status_message.emit(f"Restored {', '.join(i.name for i in restored)}.")

    def empty_trash(self, confirm: bool = True) -> None:
        count = len(self.trash.entries)
        if not count or confirm and QMessageBox.question(
                self, "Empty the trash", f"Delete the {count} adapter(s) in the trash for good? This cannot be "
                "undone.") != QMessageBox.StandardButton.Yes:
            return
        self._act("empty the trash", lambda: empty_trash(self.ctx.workspace))
        self.refresh()

    # ---- import, compare, export, combine ------------------------------------------------------------
    def import_folder(self) -> None:
        self.importer.ask_folder()

    def import_zip(self) -> None:
        self.importer.ask_zip()

    def _imported(self, name: str) -> None:
        self.refresh()
        if name:
            self.select(name)

    def compare(self) -> CompareDialog | None:
        chosen = [a for a in self.selected() if not a.broken]
        if len(chosen) != 2:
            return None
        dialog = CompareDialog(chosen[0], chosen[1], self.ctx.theme, self)     # the page, its parent, keeps it
        dialog.show()
        return dialog

    def export(self) -> ExportDialog | None:
        chosen = self.selected()
        if len(chosen) != 1 or chosen[0].broken:
            return None
        dialog = ExportDialog(self.ctx.workspace, chosen[0], self.ctx.theme, self)
        dialog.show()
        return dialog

    def combine(self) -> QWidget | None:
        from studio.gui.dialogs.combine_dialog import CombineDialog

        chosen = self.selected()
        if len(chosen) < 2 or any(a.broken for a in chosen):
            return None
        dialog = CombineDialog(self.ctx.workspace, chosen, self)
        dialog.combined.connect(self._imported)
        dialog.show()
        return dialog

    def open_run(self, run_id: str) -> None:
        """Show the run that made the adapter on the Runs page."""
        self.ctx.show_page.emit("Runs")
        window = self.window()
        if hasattr(window, "page"):
            window.page("Runs").list.select(run_id)

    def _open_selected_folder(self) -> None:
        chosen = self.selected()
        if len(chosen) == 1:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(chosen[0].path)))

    def _context_menu(self, pos: QPoint) -> None:
        if not self.table.indexAt(pos).isValid():
            return
        menu = QMenu(self)
        for key in ("export", "compare", "combine", "rename", "tags", "notes", "delete"):
            button = self.buttons[key]
            action = menu.addAction(button.text(), button.click)
            action.setEnabled(button.isEnabled())
        menu.addSeparator()
        menu.addAction("Open folder", self._open_selected_folder)
        menu.exec(self.table.viewport().mapToGlobal(pos))

    def _restyle(self) -> None:
        colors = self.ctx.theme.colors()
        for key, name in (("delete", "trash"), ("export", "export"), ("import", "download")):
            self.buttons[key].setIcon(icon(name, "#ffffff" if key == "export" else colors["text"], 16))
        self.trash_toggle.setIcon(icon("trash", colors["text"], 16))
