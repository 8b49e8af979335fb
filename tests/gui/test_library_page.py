"""The Library page over a workspace with good, broken and damaged adapters: the listing and its
fields, rename/tags/notes/delete/restore reflected on disk, the lineage card and its run, Compare,
search and sort, and imports that are refused or do not match a base model. Nothing here loads a
model: the adapters are PEFT-shaped folders with tiny fake weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from helpers import fake_adapter
from studio.core.library import read_adapter
from studio.core.library_ops import list_trash
from studio.core.run_setup import create_run
from studio.gui.widgets.adapter_table import COLUMNS


def lineage(name: str, rank: int, lr: float, run_id: str = "", tags: list | None = None) -> dict:
    return {"name": name, "created": f"2026-01-0{rank % 9 + 1}T10:00:00+00:00", "run_id": run_id,
            "base_model": {"name_or_path": "some/base", "hash": None, "revision": "main"},
            "dataset": {"path": "/data/tickets.jsonl", "fingerprint": "sha256:abc"},
            "config": {"lora": {"rank": rank, "alpha": 2 * rank, "targets": ["q_proj", "v_proj"]},
                       "train": {"lr": lr, "epochs": 3}},
            "metrics": {"final_train_loss": 1.0 / rank, "best_eval_loss": 1.5 / rank},
            "loss_history": [[s, 3.0 / (1 + s)] for s in range(0, 40, 4)], "eval_history": [[20, 0.4]],
            "tags": tags or [], "notes": ""}


@pytest.fixture()
def library(app, qtbot):  # noqa: ANN001, ANN201
    """(ctx, window, page) with alpha (from a run in this workspace), beta, and two damaged folders."""
    ctx, window = app
    ws = ctx.workspace
    run_id = create_run(ws, ctx.config.snapshot()).name
    fake_adapter(ws.adapters_dir / "alpha", rank=8, studio_json=lineage("alpha", 8, 1e-4, run_id, ["good"]))
    fake_adapter(ws.adapters_dir / "beta", rank=4, studio_json=lineage("beta", 4, 3e-4))
    half = ws.adapters_dir / "half-written"                  # the weights never arrived
    half.mkdir()
    (half / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 8}')
    garbled = ws.adapters_dir / "garbled"                    # a damaged config
    garbled.mkdir()
    (garbled / "adapter_config.json").write_text('{"peft_type": ')
    ctx.runs.refresh()
    window.show_page("Library")
    page = window.page("Library")
    page.refresh()
    return ctx, window, page


def row(page, name: str) -> dict[str, str]:  # noqa: ANN001
    r = page.table.row_of(name)
    assert r >= 0, name
    return {c: page.table.proxy.index(r, i).data() for i, c in enumerate(COLUMNS)}


def test_lists_adapters_with_their_fields_and_broken_folders(library, qtbot) -> None:
    ctx, window, page = library
    assert page.table.proxy.rowCount() == 4
    alpha = row(page, "alpha")
    assert alpha["Base model"] == "some/base" and alpha["Rank"] == "8" and alpha["Targets"] == "q_proj, v_proj"
    assert alpha["Dataset"] == "tickets.jsonl" and alpha["Created"] == "2026-01-09"
    assert alpha["Final loss"] == "0.1250" and alpha["Best eval"] == "0.1875" and alpha["Tags"] == "good"
    for name, reason in (("half-written", "weights are missing"), ("garbled", "not valid JSON")):
        index = page.table.proxy.index(page.table.row_of(name), 0)
        assert reason in row(page, name)["Base model"]
        assert reason in index.data(Qt.ItemDataRole.ToolTipRole)
        assert index.data(Qt.ItemDataRole.DecorationRole) is not None               # the warning icon
        assert index.data(Qt.ItemDataRole.ForegroundRole).color().name() == ctx.theme.colors()["disabled"]

    page.select("half-written")                               # the card says why; the panel keeps working
    qtbot.waitUntil(lambda: page.card.title.text() == "half-written", timeout=10_000)
    assert page.card.banner.isVisible() and "weights are missing" in page.card.banner.body.text()
    assert not page.buttons["export"].isEnabled()
    page.select("alpha")
    qtbot.waitUntil(lambda: page.card.title.text() == "alpha", timeout=10_000)
    assert "sha256:abc" in page.card.findChild(type(page.card.title), "lineage-data-fingerprint").text()
    assert len(page.card.spark.train) == 10 and page.card.spark.eval == [(20.0, 0.4)]
    assert page.buttons["export"].isEnabled()


def test_open_run_from_the_lineage_card(library, qtbot) -> None:
    ctx, window, page = library
    page.select("alpha")
    qtbot.waitUntil(lambda: page.card.title.text() == "alpha" and page.card.run_button.isEnabled(), timeout=10_000)
    run_id = page.card.card["run"]["run_id"]
    page.card.run_button.click()
    assert window.stack.currentWidget() is window.page("Runs")
    assert window.page("Runs").list.current_run() == run_id


def test_rename_tags_notes_delete_and_restore_change_the_folders(library, qtbot) -> None:
    ctx, window, page = library
    ws = ctx.workspace
    page.select("beta")
    page.rename("beta-renamed")
    assert not (ws.adapters_dir / "beta").exists()
    assert read_adapter(ws.adapters_dir / "beta-renamed").name == "beta-renamed"
    assert page.table.selected_names() == ["beta-renamed"] and row(page, "beta-renamed")["Rank"] == "4"

    page.edit_tags("keep, v2")
    assert read_adapter(ws.adapters_dir / "beta-renamed").tags == ["keep", "v2"]
    page.edit_tags("v2")
    assert read_adapter(ws.adapters_dir / "beta-renamed").tags == ["v2"] and row(page, "beta-renamed")["Tags"] == "v2"
    page.edit_notes("lr 3e-4 was too high")
    assert read_adapter(ws.adapters_dir / "beta-renamed").notes == "lr 3e-4 was too high"

    page.rename("alpha")                                      # a taken name: said in the banner, nothing changes
    assert page.banner.isVisible() and "already exists" in page.banner.body.text()
    assert (ws.adapters_dir / "beta-renamed").is_dir()

    page.delete(confirm=False)
    assert not (ws.adapters_dir / "beta-renamed").exists() and page.table.row_of("beta-renamed") == -1
    [entry] = list_trash(ws)
    assert entry.name == "beta-renamed" and page.trash_toggle.text() == "Trash (1)"
    page.trash_toggle.click()
    assert page.stack.currentWidget() is page.trash and page.trash.tree.topLevelItemCount() == 1
    page.trash.select_entry(entry.entry)
    page.trash.restore.click()
    assert (ws.adapters_dir / "beta-renamed").is_dir() and list_trash(ws) == []
    assert page.stack.currentWidget() is page.table and page.table.selected_names() == ["beta-renamed"]
    assert read_adapter(ws.adapters_dir / "beta-renamed").notes == "lr 3e-4 was too high"


def test_compare_highlights_the_settings_that_differ(library, qtbot) -> None:
    ctx, window, page = library
    page.table.select_names(["alpha", "beta"])
    assert page.buttons["compare"].isEnabled() and page.buttons["combine"].isEnabled()
    dialog = page.compare()
    qtbot.addWidget(dialog)
    differing = dialog.differing_keys()
    assert {"config.lora.rank", "config.train.lr", "peft.r"} <= set(differing)
    assert "dataset.fingerprint" not in differing
    highlight = ctx.theme.colors()["warn_soft"]
    for i, diff_row in enumerate(dialog.rows):
        item = dialog.table.topLevelItem(i)
        assert (item.background(1).color().name() == highlight) == diff_row.differs, diff_row.key
    rank = next(i for i, r in enumerate(dialog.rows) if r.key == "config.lora.rank")
    assert [dialog.table.topLevelItem(rank).text(c) for c in range(3)] == ["config.lora.rank", "8", "4"]
    dialog.only_differences.setChecked(True)
    shown = [r.key for i, r in enumerate(dialog.rows) if not dialog.table.topLevelItem(i).isHidden()]
    assert shown == differing
    page.table.select_names(["alpha", "garbled"])             # a broken adapter cannot be compared
    assert not page.buttons["compare"].isEnabled()


def test_search_sort_and_refresh_from_disk(library, qtbot) -> None:
    ctx, window, page = library
    page.search.setText("good")                               # a tag
    assert page.table.proxy.rowCount() == 1 and row(page, "alpha")
    page.search.clear()
    page.table.sortByColumn(COLUMNS.index("Final loss"), Qt.SortOrder.AscendingOrder)
    names = [page.table.proxy.index(r, 0).data() for r in range(page.table.proxy.rowCount())]
    assert names[:2] == ["alpha", "beta"]                     # 0.125 < 0.25; broken (no loss) last
    page.table.sortByColumn(COLUMNS.index("Final loss"), Qt.SortOrder.DescendingOrder)
    names = [page.table.proxy.index(r, 0).data() for r in range(page.table.proxy.rowCount())]
    assert names[:2] == ["beta", "alpha"]
    shutil.copytree(ctx.workspace.adapters_dir / "alpha", ctx.workspace.adapters_dir / "alpha-copy")
    qtbot.waitUntil(lambda: page.table.row_of("alpha-copy") >= 0, timeout=10_000)   # the folder watcher


def test_imports_refuse_pickles_and_say_when_the_base_is_unknown(library, qtbot, tmp_path: Path) -> None:
    ctx, window, page = library
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
    (pickled / "adapter_model.bin").write_bytes(b"not really a pickle")
    page.importer.import_path(pickled)
    qtbot.waitUntil(lambda: not page.importer.busy, timeout=20_000)
    assert page.banner.title.text() == "Import refused: the weights are a pickle"
    assert "can run any code" in page.banner.body.text() and "Convert and import" in page.banner.body.text()
    assert [page.banner.buttons.itemAt(i).widget().text() for i in range(1, page.banner.buttons.count())] == \
        ["Convert and import", "Cancel"]
    assert not (ctx.workspace.adapters_dir / "pickled").exists()

    foreign = fake_adapter(tmp_path / "foreign", base="someone/unknown-model")
    page.importer.import_path(foreign)
    qtbot.waitUntil(lambda: not page.importer.busy, timeout=20_000)
    qtbot.waitUntil(lambda: page.table.selected_names() == ["foreign"], timeout=5000)
    assert "does not match a base model known here" in page.banner.title.text()
    assert "not on this machine" in page.banner.body.text()
    assert read_adapter(ctx.workspace.adapters_dir / "foreign").broken == ""


def test_combine_checks_the_choice_before_a_worker_starts(library, qtbot) -> None:
    ctx, window, page = library
    page.table.select_names(["alpha", "beta"])
    dialog = page.combine()
    qtbot.addWidget(dialog)
    assert list(dialog.weights) == ["alpha", "beta"] and dialog.weights["alpha"].value() == 0.5
    dialog.combination.setCurrentIndex(dialog.combination.findData("linear"))   # needs equal ranks: 8 and 4
    dialog.start()
    assert dialog.task is None and dialog.banner.title.text() == "Cannot combine these adapters"
    assert "one rank" in dialog.banner.body.text() and "cat or svd" in dialog.banner.body.text()


def test_damaged_folders_of_every_kind_are_listed_broken_and_the_page_keeps_working(app, qtbot) -> None:  # noqa: ANN001
    """Each damage of tests/damaged_adapters.py: a greyed row whose tooltip says why, a card that says
    why (never the card's own error), and the good adapter next to them still works."""
    import html

    from damaged_adapters import seed_damaged

    ctx, window = app
    ws = ctx.workspace
    expected = seed_damaged(ws.adapters_dir)
    fake_adapter(ws.adapters_dir / "good", rank=8, studio_json=lineage("good", 8, 1e-4))
    window.show_page("Library")
    page = window.page("Library")
    page.refresh()
    assert page.table.proxy.rowCount() == len(expected) + 1
    for name, fragment in expected.items():
        index = page.table.proxy.index(page.table.row_of(name), 0)
        assert fragment in index.data(Qt.ItemDataRole.ToolTipRole), name
        assert fragment in row(page, name)["Base model"]
        page.select(name)
        qtbot.waitUntil(lambda n=name: page.card.title.text() == n, timeout=10_000)
        assert page.card.banner.isVisible() and html.escape(fragment) in page.card.banner.body.text(), name
        assert not page.buttons["export"].isEnabled()
    page.select("good")
    qtbot.waitUntil(lambda: page.card.title.text() == "good", timeout=10_000)
    assert page.buttons["export"].isEnabled() and row(page, "good")["Rank"] == "8"


def test_empty_library_says_how_to_get_an_adapter(app, qtbot) -> None:  # noqa: ANN001
    from PySide6.QtWidgets import QPushButton

    ctx, window = app
    window.show_page("Library")
    page = window.page("Library")
    page.refresh()
    qtbot.waitUntil(lambda: page.stack.currentWidget() is page.empty, timeout=10_000)
    buttons = {b.text(): b for b in page.empty.findChildren(QPushButton)}
    assert {"Go to Train", "Import a folder…", "Import a .zip…"} <= set(buttons)
    buttons["Go to Train"].click()
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.page("Train"), timeout=5000)
