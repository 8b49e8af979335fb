"""What tells runs apart without training one: the list's Objective column, the saved adapter name
with a note when a version suffix was added (list tooltip, summary, `studio runs show`), and the
summary's elapsed time next to the ETA, counted down between events, or the total once it ended."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from studio.cli import main
from studio.core import protocol
from studio.core.run_history import RunHistory
from studio.core.run_setup import create_run
from studio.gui.widgets.run_list import COLUMNS
from studio.gui.widgets.run_summary import RunSummary


def finished_run(ws, config, objective: str, saved_as: str, seconds: float = 245.0) -> str:  # noqa: ANN001
    """A completed run folder whose adapter was saved as `saved_as`."""
    config.train.objective = objective
    run_dir = create_run(ws, config)
    start = time.time() - 3600
    events = [{**protocol.make("hello", pid=1), "t": start},
              {**protocol.make("progress", step=6, max_steps=6, eta_s=0.0), "t": start + seconds - 1},
              {**protocol.make("done", status="completed", adapter_name=saved_as,
                               adapter=str(ws.adapters_dir / saved_as)), "t": start + seconds}]
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return run_dir.name


def test_runs_list_shows_objective_and_the_name_it_was_saved_under(app, qtbot, capsys) -> None:  # noqa: ANN001
    ctx, window = app
    renamed = finished_run(ctx.workspace, ctx.config.snapshot(), "dpo", "gui-test-v2")
    kept = finished_run(ctx.workspace, ctx.config.snapshot(), "sft", "gui-test")
    ctx.runs.refresh()
    window.show_page("Runs")
    page = window.page("Runs")
    page.list.rebuild()
    item = page.list.items[renamed]
    assert item.text(COLUMNS.index("Objective")) == "dpo"
    assert page.list.items[kept].text(COLUMNS.index("Objective")) == "sft"
    assert item.text(0) == "gui-test-v2"
    assert "saved as gui-test-v2 (gui-test was taken)" in item.toolTip(0)
    assert "was taken" not in page.list.items[kept].toolTip(0)
    assert item.text(COLUMNS.index("Time")) == "4m 05s"

    page.list.select(renamed)
    qtbot.waitUntil(lambda: page.selected == renamed, timeout=5000)
    assert page.summary.stage.text() == "Adapter saved to the library as gui-test-v2 (gui-test was taken)"
    assert page.summary.timing.text() == "took 4m 05s"                   # a finished run: its total, no ETA

    assert main(["runs", "show", renamed, "--home", str(ctx.workspace.home)]) == 0
    out = capsys.readouterr().out
    assert "saved_as       gui-test-v2 (gui-test was taken)" in out
    assert "objective      dpo" in out and "took 4m 05s" in out
    assert main(["runs", "show", kept, "--home", str(ctx.workspace.home), "--json"]) == 0
    run = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["run"]
    assert run["adapter_name"] == "gui-test" and run["saved_as"] is None and run["objective"] == "sft"


def test_summary_shows_elapsed_and_counts_the_eta_down(qtbot) -> None:  # noqa: ANN001
    summary = RunSummary()
    qtbot.addWidget(summary)
    now = time.time()
    history = RunHistory()
    history.apply({**protocol.make("hello", pid=1), "t": now - 192})
    history.apply({**protocol.make("progress", step=40, max_steps=100, eta_s=100.0), "t": now})
    summary.show_run("ticket-bot", history, can_cancel=True, can_resume=False)
    assert re.fullmatch(r"elapsed 3m 1[23]s · about 1m 40s left", summary.timing.text())   # a slow machine: +1 s
    assert summary.progress.format() == "step 40 of 100"                 # the time is beside the bar, not in it
    history.eta_at = now - 40                                             # 40 s without an event (an evaluation)
    summary.show_time(history)
    assert summary.timing.text().endswith("about 1m 00s left")
