"""Importing a PEFT adapter (a folder or a .zip) into the library from the app: `studio adapters import`.

The copy, the zip checks and the base-model check are `core.adapter_import.import_adapter`, run off
the GUI thread. The outcome goes to the page's banner: imported and matching a base model here;
imported but with no known base (or a wrong one), said plainly; or refused. Pickled weights are
refused with the core's explanation, and the banner offers the explicit opt-in ("Convert and
import"), which converts them to safetensors in a worker (torch.load(weights_only=True)).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from studio.core.adapter_import import ImportResult, PickleRefused, import_adapter
from studio.core.errors import StudioError
from studio.core.worker_process import run_to_done
from studio.core.workspace import Workspace
from studio.gui.background import run_in_thread
from studio.gui.widgets.message_banner import MessageBanner

ZIP_FILTER = "Zip archives (*.zip);;All files (*)"


def convert_pickle(folder: Path) -> None:
    """adapter_model.bin -> adapter_model.safetensors in a worker (runs no code from the pickle)."""
    run_to_done(["convert-adapter", "--folder", str(folder)])


class ImportFlow(QObject):
    finished = Signal(str)          # the new adapter's name; "" when nothing was imported

    def __init__(self, workspace: Workspace, banner: MessageBanner, parent: QWidget) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.banner = banner
        self.parent_widget = parent
        self.busy = False

    def ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.parent_widget, "Import a PEFT adapter folder", str(Path.home()))
        if folder:
            self.import_path(Path(folder))

    def ask_zip(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.parent_widget, "Import a zipped PEFT adapter", str(Path.home()),
                                              ZIP_FILTER)
        if path:
            self.import_path(Path(path))

    def import_path(self, source: Path, allow_pickle: bool = False) -> None:
        if self.busy:
            return
        self.busy = True
        self.banner.show_message(f"Importing {source.name}…", str(source), level="warn")
        ws = self.workspace
        run_in_thread(lambda: import_adapter(ws, source, allow_pickle=allow_pickle, converter=convert_pickle),
                      self._done, lambda exc: self._failed(exc, source), key=f"import-{id(self)}")

    def _done(self, result: ImportResult) -> None:
        self.busy = False
        base = result.base
        details = [f"Imported {result.source} as {result.name}."]
        if result.converted_pickle:
            details.append("The pickle weights were converted to adapter_model.safetensors (no code was run).")
        if result.skipped:
            details.append("Left out: " + ", ".join(result.skipped))
        details.append(base.message)
        details += base.problems[1:]
        if base.ok:
            self.banner.show_message(f"{result.name} is in the library", "\n".join(details), level="ok",
                                     actions=[("Dismiss", self.banner.hide)])
        else:
            self.banner.show_message(
                f"{result.name} was imported, but it does not match a base model known here", "\n".join(details),
                "check it against the right base with `studio adapters import --base MODEL`, or download that base "
                "model; until then chat and export cannot use it", level="warn",
                actions=[("Dismiss", self.banner.hide)])
        self.finished.emit(result.name)

    def _failed(self, exc: BaseException, source: Path) -> None:
        self.busy = False
        if isinstance(exc, PickleRefused):
            self.banner.show_message(
                "Import refused: the weights are a pickle", exc.message,
                "get a safetensors version of the adapter; or, only if you trust where it came from, press "
                "Convert and import: the weights are read with torch.load(weights_only=True), which refuses to "
                "run code, and saved as safetensors", level="error",
                actions=[("Convert and import", lambda: self.import_path(source, allow_pickle=True)),
                         ("Cancel", self.banner.hide)])
        elif isinstance(exc, StudioError):
            self.banner.show_message(f"Could not import {source.name}", exc.message, exc.hint, level="error",
                                     actions=[("Dismiss", self.banner.hide)])
        else:
            self.banner.show_message(f"Could not import {source.name}", f"{type(exc).__name__}: {exc}",
                                     "check that the folder is readable and the disk has room", level="error",
                                     actions=[("Dismiss", self.banner.hide)])
        self.finished.emit("")
