"""The Predictions tab: a finished run's answers at each evaluation, and live updates that rebuild
the table only when a new predictions event arrived."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from studio.core import protocol
from studio.core.config import RunConfig
from studio.core.run_history import RunHistory
from studio.core.run_setup import create_run
from studio.core.runs import EVENTS
from studio.gui.theme import Theme
from studio.gui.widgets.prediction_table import PredictionTable

TICKETS = [("I was charged twice for my Pro plan. " * 8, "billing"), ("my package has not arrived", "shipping")]


def predictions(step: int, answers: list[str], seconds: float = 0.25) -> dict:
    rows = []
    for (prompt, expected), answer in zip(TICKETS, answers):
        rows.append({"prompt": prompt, "expected": expected, "answer": answer, "exact": answer == expected,
                     "similarity": 1.0 if answer == expected else 0.4, "tokens": 3, "finish": "eos",
                     "source": "eval.jsonl:1"})
    exact = sum(r["exact"] for r in rows) / len(rows)
    return protocol.make("predictions", step=step, epoch=1.0, rows=rows, exact_match=exact,
                         mean_similarity=sum(r["similarity"] for r in rows) / len(rows), seconds=seconds,
                         max_new_tokens=48)


def texts(table: PredictionTable, column: int) -> list[str]:
    return [table.table.item(row, column).text() for row in range(table.table.rowCount())]


def test_runs_page_shows_the_predictions_of_a_finished_run(app, qtbot, tiny_model: Path) -> None:
    ctx, window = app
    config = RunConfig(name="predicted")
    config.model.name_or_path, config.data.path = str(tiny_model), "train.jsonl"
    run_dir = create_run(ctx.workspace, config)
    events = [protocol.make("hello", pid=0), protocol.make("stage", name="train"),
              predictions(10, ["refund", "ship"]), predictions(20, ["billing", "shipping"]),
              protocol.make("stage", name="save", previous="train", seconds=12.0),
              protocol.make("done", status="completed")]
    (run_dir / EVENTS).write_text("".join(protocol.encode(e) + "\n" for e in events), encoding="utf-8")
    window.show_page("Runs")
    ctx.runs.refresh()
    page = window.page("Runs")
    page.list.select(run_dir.name)
    page.select_run(run_dir.name)
    page.tabs.setCurrentWidget(page.predictions)
    table = page.predictions
    assert page.tabs.tabText(page.tabs.indexOf(table)) == "Predictions"
    qtbot.waitUntil(lambda: table.table.rowCount() == 2, timeout=5000)
    assert texts(table, 2) == ["billing", "shipping"] and texts(table, 3) == ["✓", "✓"]
    assert texts(table, 1) == ["billing", "shipping"]
    assert table.table.item(0, 0).toolTip().startswith(TICKETS[0][0])      # the full prompt
    assert "At step 20: exact match 2/2 (100%)" in table.header.text()
    assert "0% at the first of 2 evaluations" in table.header.text()
    assert "0.5 s in all" in table.header.text()
    assert "answered prediction samples" in page.details.toPlainText()

    table.steps.setCurrentIndex(table.steps.findData(10))                   # an older evaluation
    table.steps.activated.emit(table.steps.currentIndex())
    assert texts(table, 2) == ["refund", "ship"] and texts(table, 3) == ["✗", "✗"]
    assert texts(table, 4) == ["0.40", "0.40"]


def test_table_follows_the_latest_evaluation_and_skips_redundant_rebuilds(qtbot, tmp_path: Path) -> None:
    table = PredictionTable(Theme(QSettings(str(tmp_path / "gui.ini"), QSettings.Format.IniFormat)))
    qtbot.addWidget(table)
    history = RunHistory()
    table.show_history(history)
    assert table.table.rowCount() == 0 and "No predictions yet" in table.header.text()

    history.apply(predictions(5, ["", "ship"]))
    table.show_history(history)
    assert texts(table, 2) == ["(nothing)", "ship"] and table.steps.isHidden()
    first = table.table.item(0, 2)
    table.show_history(history)                          # nothing new: the same cells stay
    assert table.table.item(0, 2) is first

    history.apply(predictions(10, ["billing", "ship"]))
    table.show_history(history)
    assert texts(table, 2) == ["billing", "ship"] and not table.steps.isHidden()
    assert "At step 10: exact match 1/2 (50%)" in table.header.text()

    table.steps.setCurrentIndex(table.steps.findData(5))      # picked by hand: stays while new ones arrive
    table.steps.activated.emit(table.steps.currentIndex())
    history.apply(predictions(15, ["billing", "shipping"]))
    table.show_history(history)
    assert texts(table, 2) == ["(nothing)", "ship"] and table.steps.count() == 4

    table.show_history(RunHistory())                          # another run
    assert table.table.rowCount() == 0
