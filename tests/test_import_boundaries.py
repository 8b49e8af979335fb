"""The architecture's one rule, checked: core imports neither Qt nor the ML stack, the CLI starts
without torch, and (once it exists) the GUI never imports torch/transformers/peft/bitsandbytes."""

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
