"""The Export dialog from the Library page: a real merged export of a tiny adapter through the export
worker, with progress and the verification figures; bad input shown with its fix; adapter-only zips."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from helpers import make_adapter

pytestmark = pytest.mark.slow


@pytest.fixture()
def export_page(app, tiny_model: Path):  # noqa: ANN001, ANN201
    ctx, window = app
    make_adapter(tiny_model, ctx.workspace.adapters_dir / "tiny", seed=3)
    window.show_page("Library")
    page = window.page("Library")
    page.refresh()
    page.select("tiny")
    return ctx, window, page


def test_merged_export_runs_the_worker_and_shows_the_verification(export_page, qtbot, tmp_path: Path) -> None:
    ctx, window, page = export_page
    dialog = page.export()
    qtbot.addWidget(dialog)
    out = tmp_path / "merged"
    dialog.out_edit.setText(str(out))
    dialog.dtype.setCurrentIndex(dialog.dtype.findData("fp32"))
    dialog.shard.setText("50MB")
    assert dialog.verify.isChecked()                                      # on by default
    stages: list[str] = []
    dialog.start()
    assert dialog.running and dialog.cancel_button.isVisible() and not dialog.export_button.isEnabled()
    dialog.task.event.connect(lambda e: stages.append(e.get("name", "")) if e.get("type") == "stage" else None)
    qtbot.waitUntil(lambda: not dialog.running, timeout=600_000)
    assert dialog.status == "completed", dialog.banner.body.text()
    assert {"merge", "save", "verify"} <= set(stages)
    assert dialog.figures.isVisible()
    text = dialog.figures.plain_text()
    assert text.startswith("Verified: the merged model gives the same results as base model + adapter.")
    report = dialog.figures.report
    assert report["passed"] and report["max_abs_diff"] <= report["tolerance"]
    assert f"Greedy answers agree: {report['greedy_agree']} of {report['prompts']} prompts" in text
    assert "Largest logit difference" in text and "allowed up to" in text
    assert dialog.banner.title.text() == "Exported and verified" and dialog.open_button.isVisible()
    assert json.loads((out / "config.json").read_text())["model_type"] == "llama"
    assert (out / "README.md").is_file() and not list(out.glob("adapter_*"))
    dialog.close()
    assert not dialog.isVisible()


def test_bad_input_is_shown_with_the_fix_and_adapter_only_zip_works(export_page, qtbot, tmp_path: Path) -> None:
    ctx, window, page = export_page
    dialog = page.export()
    qtbot.addWidget(dialog)
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "something.txt").write_text("x")
    dialog.out_edit.setText(str(taken))
    dialog.start()                                                        # refused before any worker starts
    assert dialog.task is None and not dialog.running
    assert dialog.banner.title.text() == "The export cannot start"
    assert "already exists" in dialog.banner.body.text() and "Fix:" in dialog.banner.body.text()
    dialog.shard.setText("lots")
    dialog.out_edit.clear()
    dialog.start()
    assert "is not a size" in dialog.banner.body.text()

    dialog.adapter_only.setChecked(True)
    assert dialog.zip.isEnabled() and not dialog.dtype.isEnabled()
    dialog.zip.setChecked(True)
    dialog.out_edit.setText(str(tmp_path / "shared"))
    dialog.start()
    qtbot.waitUntil(lambda: not dialog.running, timeout=30_000)
    assert dialog.status == "completed" and dialog.banner.title.text() == "Adapter exported"
    names = zipfile.ZipFile(tmp_path / "shared.zip").namelist()
    assert "shared/adapter_config.json" in names and "shared/adapter_model.safetensors" in names
