"""The architecture's one rule, checked: core imports neither Qt nor the ML stack, the CLI starts
without torch, and the GUI never imports torch/transformers/peft/bitsandbytes, even with its main
window built and shown."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import studio.core

ML = ("torch", "transformers", "peft", "bitsandbytes", "accelerate")
QT = ("PySide6", "pyqtgraph")


def imported_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint('\\n'.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(result.stdout.split())


def test_core_imports_neither_qt_nor_ml_stack() -> None:
    modules = [m.name for m in pkgutil.walk_packages(studio.core.__path__, "studio.core.")]
    assert len(modules) > 10
    loaded = imported_after("\n".join(f"import {m}" for m in modules))
    assert not loaded & set(ML + QT), loaded & set(ML + QT)


def test_cli_starts_without_the_ml_stack() -> None:
    loaded = imported_after("import studio.cli; studio.cli.build_parser()")
    assert not loaded & set(ML + QT)


def test_gui_never_imports_the_ml_stack() -> None:
    import studio.gui

    modules = [m.name for m in pkgutil.walk_packages(studio.gui.__path__, "studio.gui.")]
    assert len(modules) > 20
    code = "\n".join([
        "import os, tempfile", "os.environ['QT_QPA_PLATFORM'] = 'offscreen'",
        *(f"import {m}" for m in modules),
        "from PySide6.QtCore import QSettings",
        "from studio.gui.app import build",
        "home = tempfile.mkdtemp()",
        "ctx, window = build(home, QSettings(home + '/gui.ini', QSettings.Format.IniFormat))",
        "window.show()",
        "[window.show_page_index(i) for i in range(len(window.pages))]",
        "from PySide6.QtWidgets import QApplication; QApplication.processEvents()",
    ])
    loaded = imported_after(code)
    assert {"PySide6", "pyqtgraph"} <= loaded
    assert not loaded & set(ML), loaded & set(ML)
