"""The Linux menu entry: a freedesktop .desktop file and the app icon, installed per user.

    $XDG_DATA_HOME/applications/lora-studio.desktop           (default ~/.local/share/...)
    $XDG_DATA_HOME/icons/hicolor/scalable/apps/lora-studio.svg
    $XDG_DATA_HOME/icons/hicolor/256x256/apps/lora-studio.png

Exec points at the `studio` that runs this code (the frozen app, or the console script of the
environment it is installed in), so the menu opens the same install the user set up. The
file name matches the app's Qt desktop file name ("lora-studio"), which lets Wayland desktops
pair the window with its entry. Uninstalling removes exactly these files, nothing else. No
cache tool is run: desktops watch these folders, and a cache written here would outlive the
uninstall.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from studio import __version__
from studio.core.errors import StudioError
from studio.core.resources import resource_path
from studio.core.worker_process import frozen_program

APP_ID = "lora-studio"


@dataclass(frozen=True)
class DesktopFiles:
    entry: Path
    icon_svg: Path
    icon_png: Path

    def all(self) -> list[Path]:
        return [self.entry, self.icon_svg, self.icon_png]


def data_home() -> Path:
    """$XDG_DATA_HOME if set to an absolute path (the spec says to ignore a relative one)."""
    value = os.environ.get("XDG_DATA_HOME", "")
    return Path(value) if value and os.path.isabs(value) else Path.home() / ".local" / "share"


def desktop_files(base: Path | None = None) -> DesktopFiles:
    base = base or data_home()
    icons = base / "icons" / "hicolor"
    return DesktopFiles(entry=base / "applications" / f"{APP_ID}.desktop",
                        icon_svg=icons / "scalable" / "apps" / f"{APP_ID}.svg",
                        icon_png=icons / "256x256" / "apps" / f"{APP_ID}.png")


def studio_command() -> list[str]:
    """How to start this install of studio from a menu (no shell, no PATH assumed)."""
    program = frozen_program()
    if program:
        return [program]
    script = Path(sys.executable).with_name("studio.exe" if os.name == "nt" else "studio")
    if script.is_file():
        return [str(script)]
    found = shutil.which("studio")
    if found:
        return [str(Path(found).resolve())]
    return [sys.executable, "-m", "studio"]


def exec_line(command: list[str]) -> str:
    """The Exec key: arguments quoted as the Desktop Entry spec wants (double quotes, with
    backslash before ", `, $ and \\)."""
    def quote(arg: str) -> str:
        if arg and not any(c in arg for c in ' \t\n"\'\\><~|&;$*?#()`='):
            return arg
        escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
        return f'"{escaped}"'

    return " ".join(quote(a) for a in command)


def entry_text(command: list[str]) -> str:
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.5",
        "Name=LoRA Studio",
        "GenericName=LLM fine-tuning",
        "Comment=Fine-tune open LLMs with LoRA/QLoRA on your own GPU",
        f"Exec={exec_line([*command, 'gui'])}",
        f"Icon={APP_ID}",
        "Terminal=false",
        "Categories=Development;Science;ArtificialIntelligence;",
        "Keywords=LoRA;QLoRA;LLM;fine-tuning;PEFT;",
        f"StartupWMClass={APP_ID}",
        f"X-LoRA-Studio-Version={__version__}",
        "",
    ])


def install(base: Path | None = None, command: list[str] | None = None) -> DesktopFiles:
    _require_linux()
    files = desktop_files(base)
    for path in files.all():
        path.parent.mkdir(parents=True, exist_ok=True)
    files.entry.write_text(entry_text(command or studio_command()), encoding="utf-8")
    shutil.copyfile(resource_path("icons/lora-studio.svg"), files.icon_svg)
    shutil.copyfile(resource_path("icons/lora-studio.png"), files.icon_png)
    return files


def uninstall(base: Path | None = None) -> list[Path]:
    """Remove the entry and the icons; returns the files that were there."""
    _require_linux()
    files = desktop_files(base)
    removed = [path for path in files.all() if path.is_file()]
    for path in removed:
        path.unlink()
    return removed


def _require_linux() -> None:
    if not sys.platform.startswith(("linux", "freebsd")):
        raise StudioError("install-desktop writes a Linux (freedesktop) menu entry",
                          hint="on Windows start `LoRA Studio.exe` from the app folder (pin it to Start); "
                               "on macOS drag `LoRA Studio.app` into Applications")

