"""The Library's extra screenshot for `studio gui --screenshot`: the Export dialog after a real,
verified merged export of the newest adapter (into a temporary folder, removed afterwards), so the
picture shows the verification figures a user sees."""

from __future__ import annotations

import tempfile
from pathlib import Path

from studio.gui.screenshots import settle, wait_until

EXPORT_TIMEOUT_S = 600


def export_dialog_shot(window, out_dir: Path) -> list[Path]:  # noqa: ANN001 - MainWindow
    """library-export-light.png, or nothing when the library holds no usable adapter."""
    window.ctx.theme.set_choice("light")
    window.show_page("Library")
    page = window.page("Library")
    page.refresh()
    usable = [a for a in page.table.source.adapters if not a.broken]
    if not usable:
        return []
    page.select(max(usable, key=lambda a: a.created).name)
    with tempfile.TemporaryDirectory(prefix="studio-export-shot-") as tmp:
        dialog = page.export()
        if dialog is None:
            return []
        dialog.out_edit.setText(str(Path(tmp) / "merged"))
        dialog.start()
        wait_until(lambda: not dialog.running, EXPORT_TIMEOUT_S, 200)
        settle()
        path = out_dir / "library-export-light.png"
        dialog.grab().save(str(path))
        dialog.close()
    return [path]
