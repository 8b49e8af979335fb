"""Can Qt open a window here? Checked before Qt loads, because Qt cannot be asked afterwards.

On Linux, Qt's platform plugin (xcb for X11, wayland) needs system libraries that PySide6's
wheel does not carry; the first one missing on a stock desktop is usually libxcb-cursor0. Qt
then prints "could not load the Qt platform plugin" and aborts the whole process, so no Python
code gets a say. This module finds the plugin Qt will pick, asks the dynamic linker (`ldd`)
which of its libraries are missing, and names the packages that provide them. It imports
neither Qt nor torch: it only locates PySide6's files.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

# soname -> (Debian/Ubuntu, Fedora, Arch) package
PACKAGES: dict[str, tuple[str, str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm", "xcb-util-wm"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image", "xcb-util-image"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms", "xcb-util-keysyms"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util", "xcb-util"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb", "libxcb"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb", "libxcb"),
    "libxcb-glx.so.0": ("libxcb-glx0", "libxcb", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb", "libx11"),
    "libX11.so.6": ("libx11-6", "libX11", "libx11"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon", "libxkbcommon"),
    "libwayland-client.so.0": ("libwayland-client0", "libwayland-client", "wayland"),
    "libwayland-cursor.so.0": ("libwayland-cursor0", "libwayland-cursor", "wayland"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl", "libglvnd"),
    "libGL.so.1": ("libgl1", "libglvnd-glx", "libglvnd"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl", "libglvnd"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype", "freetype2"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs", "dbus"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2", "glib2"),
    "libSM.so.6": ("libsm6", "libSM", "libsm"),
    "libICE.so.6": ("libice6", "libICE", "libice"),
}
NOT_FOUND = re.compile(r"^\s*(\S+)\s*=>\s*not found", re.MULTILINE)


@dataclass
class DisplayProblem:
    """Why a window cannot open, in words, and the command that fixes it."""

    message: str
    hint: str
    missing: list[str] = field(default_factory=list)


def chosen_platform(env: dict[str, str]) -> str:
    """The platform plugin Qt will try first (Qt 6 prefers Wayland in a Wayland session)."""
    explicit = env.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if explicit:
        return explicit
    if env.get("WAYLAND_DISPLAY") and env.get("XDG_SESSION_TYPE") == "wayland":
        return "wayland"
    return "xcb" if env.get("DISPLAY") else ("wayland" if env.get("WAYLAND_DISPLAY") else "")


def missing_libraries(ldd_output: str) -> list[str]:
    return sorted(set(NOT_FOUND.findall(ldd_output)))


def install_hint(missing: list[str]) -> str:
    known = [PACKAGES[m] for m in missing if m in PACKAGES]
    unknown = [m for m in missing if m not in PACKAGES]
    parts = []
    if known:
        debian = " ".join(dict.fromkeys(k[0] for k in known))
        fedora = " ".join(dict.fromkeys(k[1] for k in known))
        arch = " ".join(dict.fromkeys(k[2] for k in known))
        parts.append(f"install them: `sudo apt install {debian}` (Debian, Ubuntu), `sudo dnf install {fedora}` "
                     f"(Fedora), `sudo pacman -S {arch}` (Arch)")
    if unknown:
        parts.append(f"find the package that provides {', '.join(unknown)} with your distribution's file search "
                     "(e.g. `apt-file search`)")
    return "; ".join(parts) + "; the README's \"System packages\" section lists them all; `studio doctor` checks the rest"


def check_platform_libraries(env: dict[str, str] | None = None, ldd: str | None = None) -> DisplayProblem | None:
    """The missing libraries of the plugin Qt will load, or None when it can load (or we cannot tell)."""
    if not sys.platform.startswith("linux"):
        return None
    env = dict(os.environ) if env is None else env
    platform = chosen_platform(env)
    if platform not in ("xcb", "wayland"):
        return None
    ldd = ldd or shutil.which("ldd")
    spec = importlib.util.find_spec("PySide6")
    if ldd is None or spec is None or not spec.submodule_search_locations:
        return None
    qt = Path(list(spec.submodule_search_locations)[0]) / "Qt"
    files = [qt / "plugins" / "platforms" / f"libq{platform}.so"]
    files += [qt / "lib" / "libQt6XcbQpa.so.6"] if platform == "xcb" else [qt / "lib" / "libQt6WaylandClient.so.6"]
    output = ""
    for file in files:
        if file.is_file():
            try:
                output += subprocess.run([ldd, str(file)], capture_output=True, text=True, timeout=20).stdout
            except (OSError, subprocess.SubprocessError):
                return None
    missing = missing_libraries(output)
    if not missing:
        return None
    return DisplayProblem(
        f"the window cannot open: Qt's {platform} display plugin needs system libraries that are not installed "
        f"({', '.join(missing)})", install_hint(missing), missing)
