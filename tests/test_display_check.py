"""The app names the system packages it lacks instead of letting Qt abort the process."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from helpers import studio
from studio.core.display_check import chosen_platform, install_hint, missing_libraries

LDD_OUTPUT = """\tlinux-vdso.so.1 (0x00007ffd5b1f2000)
\tlibQt6XcbQpa.so.6 => /opt/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-cursor.so.0 => not found
\tlibxkbcommon-x11.so.0 => not found
\tlibxcb-cursor.so.0 => not found
\tlibweird.so.3 => not found
"""


def test_missing_libraries_become_install_commands() -> None:
    missing = missing_libraries(LDD_OUTPUT)
    assert missing == ["libweird.so.3", "libxcb-cursor.so.0", "libxkbcommon-x11.so.0"]
    hint = install_hint(missing)
    assert "sudo apt install libxcb-cursor0 libxkbcommon-x11-0" in hint
    assert "sudo dnf install xcb-util-cursor libxkbcommon-x11" in hint
    assert "libweird.so.3" in hint and "apt-file search" in hint


def test_the_plugin_qt_will_pick() -> None:
    assert chosen_platform({"DISPLAY": ":0"}) == "xcb"
    assert chosen_platform({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}) == "wayland"
    assert chosen_platform({"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"}) == "offscreen"
    assert chosen_platform({}) == ""


def desktop_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, library: str) -> None:
    """An X11 session whose dynamic linker (a stand-in `ldd` first on PATH) reports `library` missing."""
    fake = tmp_path / "bin" / "ldd"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\necho '\t{library} => not found'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DISPLAY", ":97")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Qt platform plugins checked are Linux's")
def test_studio_gui_without_the_libraries_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real command, with a dynamic linker that reports libxcb-cursor missing (as on a stock
    desktop): exit 2 with the package to install, no Qt abort, no traceback."""
    desktop_missing(tmp_path, monkeypatch, "libxcb-cursor.so.0")
    result = studio("gui", home=tmp_path / "home", timeout=60)
    assert result.returncode == 2, result.stderr
    assert "libxcb-cursor.so.0" in result.stderr and "sudo apt install libxcb-cursor0" in result.stderr
    assert "Traceback" not in result.stderr and "qt.qpa.plugin" not in result.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Qt platform plugins checked are Linux's")
def test_studio_doctor_lists_each_check_with_its_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    desktop_missing(tmp_path, monkeypatch, "libxkbcommon-x11.so.0")
    result = studio("doctor", "--json", home=tmp_path / "home", timeout=60)
    assert result.returncode == 1, result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    qt = checks["Qt platform libraries"]
    assert qt["status"] == "fail" and "libxkbcommon-x11.so.0" in qt["detail"]
    assert "sudo apt install libxkbcommon-x11-0" in qt["fix"]
    assert checks["torch"]["status"] == "ok" and checks["write access"]["status"] == "ok"
    assert {"Python", "transformers", "peft", "device", "display", "disk (workspace)"} <= set(checks)
    text = studio("doctor", home=tmp_path / "home", timeout=60)
    assert "FAIL  Qt platform libraries" in text.stdout and "fix: install them" in text.stdout
