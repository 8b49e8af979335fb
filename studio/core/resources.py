"""Finding the files LoRA Studio ships (icons, the style sheet, presets) wherever it runs.

The files live in `resources/` at the top of the repository. They are found in three layouts:

- a source checkout (also `pip install -e .`): `<repo>/resources/`;
- an installed wheel: `site-packages/studio/resources/` (setup.py maps `resources/` to the
  package `studio.resources`, so the wheel carries them as package data);
- a frozen app (PyInstaller): `<sys._MEIPASS>/studio/resources/` (packaging/studio.spec puts
  them there), with `<sys._MEIPASS>/resources/` accepted too.

The package's own folder comes first so an installed copy never picks up a checkout's files by
accident. No Qt here: the CLI (`studio install-desktop`, presets) needs these files too.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

MARKER = Path("style") / "app.qss"


def candidates() -> list[Path]:
    package = Path(__file__).resolve().parents[1]           # .../studio
    found = [package / "resources"]
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        found += [Path(bundle) / "studio" / "resources", Path(bundle) / "resources"]
    found.append(package.parent / "resources")               # a source checkout
    return found


@lru_cache(maxsize=1)
def resources_dir() -> Path:
    tried = candidates()
    for candidate in tried:
        if (candidate / MARKER).is_file():
            return candidate
    raise FileNotFoundError("LoRA Studio's resources folder is missing (looked in "
                            + ", ".join(str(p) for p in tried) + "); reinstall the package")


def resource_path(relative: str) -> Path:
    return resources_dir() / relative


def read_text(relative: str) -> str:
    return resource_path(relative).read_text(encoding="utf-8")
