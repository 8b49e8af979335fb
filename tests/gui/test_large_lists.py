"""Lists that must stay cheap in a large workspace (issue 19): the Runs list keeps its rows and
works out only the ones that changed, the Library table formats each row once per listing, the
slot menus list only recent checkpoints yet can still choose any, and the main window builds its
pages one per turn of the event loop. Behaviour only: no timings."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QInputDialog

from studio.core.run_history import RunHistory
from studio.core.runs import RunInfo
from studio.core.slots import BASE, SlotChoice
from studio.core.library import AdapterInfo
from studio.gui.widgets import adapter_table, run_list, slot_picker
from studio.gui.widgets.slot_picker import BROWSE, CHECKPOINTS, RECENT_RUNS, SlotPicker


class FakeTheme(QObject):
    changed = Signal()

    def colors(self) -> dict[str, str]:
        return {"accent": "#2f6feb", "good": "#1a7f37", "warn": "#9a6700", "bad": "#cf222e", "muted": "#5f6b7a",
                "disabled": "#999999"}


class FakeRuns(QObject):
    """What RunList reads of a RunManager."""
    runs_changed = Signal()

    def __init__(self, run_ids: list[str]) -> None:
        super().__init__()
        self.infos = {r: self.info(r) for r in run_ids}

    @staticmethod
    def info(run_id: str, status: str = "completed") -> RunInfo:
        history = RunHistory()
        history.status, history.step, history.max_steps, history.started = status, 4, 4, 1_700_000_000.0
        return RunInfo(run_id, Path("/nowhere") / run_id, history, None)

    def run_ids(self) -> list[str]:
        return sorted(self.infos, reverse=True)

    def history(self, run_id: str) -> RunHistory:
        return self.infos[run_id].history

    def version(self, _run_id: str) -> int:
        return 0

    def trained_elsewhere(self, _run_id: str) -> bool:
        return False


def test_run_list_keeps_rows_and_recomputes_only_changed_ones(qtbot, monkeypatch) -> None:  # noqa: ANN001
    runs = FakeRuns([f"run-{i:03d}" for i in range(30)])
    view = run_list.RunList(runs, FakeTheme())
    qtbot.addWidget(view)
    view.show()
    view.rebuild()
    assert view.topLevelItemCount() == 30 and view.current_run() == "run-029"   # newest first
    kept = view.items["run-010"]
    view.set_checked(["run-010"])

    worked: list[str] = []
    original = view._refresh_row
    monkeypatch.setattr(view, "_refresh_row", lambda item, run_id, *rest: worked.append(run_id) or original(
        item, run_id, *rest))
    view.refresh_rows()
    assert worked == []                                    # nothing changed: no row worked out again

    runs.infos["run-005"] = runs.info("run-005", "failed")  # a new listing replaced one run
    del runs.infos["run-000"]
    runs.infos["run-100"] = runs.info("run-100", "running")
    runs.runs_changed.emit()
    assert set(worked) == {"run-005", "run-100"}
    assert "run-000" not in view.items and view.topLevelItemCount() == 30
    assert view.items["run-010"] is kept and view.checked() == ["run-010"]     # same row, tick kept
    assert view.items["run-005"].text(1) == "failed" and view.items["run-100"].text(1) == "100%"
    assert view.current_run() == "run-029"
    worked.clear()
    view.refresh_rows()
    assert worked == ["run-100"]                           # a live row: its duration moves on its own


def test_run_list_columns_fit_their_contents(qtbot) -> None:  # noqa: ANN001
    runs = FakeRuns([f"run-{i:03d}" for i in range(5)])
    runs.infos["run-003"].history.status = "a status much longer than any other one"
    view = run_list.RunList(runs, FakeTheme())
    qtbot.addWidget(view)
    view.show()
    view.rebuild()
    qtbot.wait(20)
    for column in range(1, len(run_list.COLUMNS)):      # what ResizeToContents would give
        assert view.columnWidth(column) == max(view.header().sectionSizeHint(column), view.sizeHintForColumn(column))


def adapters(n: int) -> list[AdapterInfo]:
    return [AdapterInfo(f"adapter-{i:03d}", Path(f"/lib/adapter-{i:03d}"), base_model="/models/some-base",
                        rank=8 * (i % 3 + 1), created=f"2026-01-{i % 28 + 1:02d}T10:00:00", final_loss=1.0 / (i + 1), size_bytes=1000 * i)
            for i in range(n)]


def test_adapter_table_formats_rows_once_and_fits_figures(qtbot, monkeypatch) -> None:  # noqa: ANN001
    table = adapter_table.AdapterTable(FakeTheme())
    qtbot.addWidget(table)
    table.resize(1200, 400)
    table.show()
    table.set_adapters(adapters(40))
    calls: list[int] = []
    monkeypatch.setattr(adapter_table, "cell_text", lambda *args: calls.append(1) or "")
    table.sortByColumn(6, adapter_table.Qt.SortOrder.AscendingOrder)               # final loss, as numbers
    table.viewport().repaint()
    assert calls == []                                      # painting and sorting read the cached texts
    losses = [table.proxy.index(r, 6).data() for r in range(table.proxy.rowCount())]
    assert losses == sorted(losses, key=float)
    qtbot.wait(20)
    for column, width in enumerate(adapter_table.WIDTHS):
        if not width:
            assert table.columnWidth(column) == max(table.horizontalHeader().sectionSizeHint(column),
                                                    table.sizeHintForColumn(column))


def slot_listing(runs: int) -> list[SlotChoice]:
    """As core.slots lists them: base, adapters, then two checkpoints per run, newest run first."""
    choices = [SlotChoice(BASE, "Base model alone", BASE), SlotChoice("tickets", "tickets", "library")]
    for i in reversed(range(runs)):
        for step in (4, 2):
            choices.append(SlotChoice(f"run:r{i:03d}@{step}", f"r{i:03d} @ step {step}", "checkpoint"))
    return choices


def test_slot_menu_lists_recent_checkpoints_and_can_choose_any(qtbot, monkeypatch) -> None:  # noqa: ANN001
    picker = SlotPicker("slot", "tip")
    qtbot.addWidget(picker)
    listing = slot_listing(3 * RECENT_RUNS)
    picker.set_choices(listing, BASE)
    specs = [picker.itemData(i) for i in range(picker.count())]
    assert specs[:2] == [BASE, "tickets"] and specs[-2:] == [CHECKPOINTS, BROWSE]
    runs = {s.removeprefix("run:").split("@")[0] for s in specs if str(s).startswith("run:")}
    assert runs == {f"r{i:03d}" for i in range(2 * RECENT_RUNS, 3 * RECENT_RUNS)}   # the newest runs'

    picker.select("run:r001@2")                         # by spec (a saved choice, set_specs): the real entry
    assert picker.spec() == "run:r001@2" and picker.choice().kind == "checkpoint"
    assert picker.itemData(picker.count() - 1) == BROWSE
    picker.set_choices(listing, picker.spec())          # a new listing keeps it
    assert picker.spec() == "run:r001@2" and picker.choice().kind == "checkpoint"

    monkeypatch.setattr(QInputDialog, "getItem", lambda *args: ("r002 @ step 4", True))
    picker._activated(picker.findData(CHECKPOINTS))      # "Run checkpoint…": every checkpoint of the listing
    assert picker.spec() == "run:r002@4"

    few = slot_listing(2)
    picker.set_choices(few, BASE)                       # nothing left out: no "Run checkpoint…"
    assert picker.findData(CHECKPOINTS) < 0 and picker.count() == len(few) + 1


def test_pages_are_built_one_per_turn(app, qtbot) -> None:  # noqa: ANN001
    _ctx, window = app
    assert len(window._built) == 1                      # the page shown
    window.build_remaining_pages()
    assert len(window._built) <= 2                      # at most one more in this turn, the rest on later ones
    qtbot.waitUntil(lambda: len(window._built) == len(window.page_classes), timeout=30_000)


def test_a_listing_fills_the_run_list_over_several_turns(qtbot, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(run_list, "SLICE_S", 0.0)          # one row per turn
    runs = FakeRuns([])
    view = run_list.RunList(runs, FakeTheme())
    qtbot.addWidget(view)
    view.show()
    runs.infos = {f"run-{i:03d}": FakeRuns.info(f"run-{i:03d}") for i in range(6)}
    runs.runs_changed.emit()
    assert len(view.items) == 6                             # every row is there at once...
    assert sum(1 for item in view.items.values() if item.text(1)) < 6   # ...their texts follow
    view.refresh_rows()                                     # the page's timer: one more slice, not all
    qtbot.waitUntil(lambda: all(item.text(1) == "completed" for item in view.items.values()), timeout=5000)
    qtbot.waitUntil(lambda: view.current_run() == "run-005", timeout=5000)
    assert view.isSortingEnabled()
    view.rebuild()                                          # asked directly: all at once
    assert all(item.text(1) for item in view.items.values())
