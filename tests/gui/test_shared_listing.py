"""One listing of the workspace for the Runs page and the Chat slot menus, read off the GUI thread
(RunManager.refresh_in_background): every run folder is parsed once, whoever asks."""

from __future__ import annotations

import threading

from helpers import fake_adapter

from studio.core import protocol, runs as core_runs
from studio.core.listing_cache import forget_shared_caches
from studio.core.run_setup import create_run
from studio.core.runs import CHECKPOINTS, COMPLETE_MARK, EVENTS
from studio.gui import run_manager


def write_runs(ctx, count: int) -> list[str]:  # noqa: ANN001
    ids = []
    for i in range(count):
        config = ctx.config.snapshot()
        config.name = f"listed-{i}"
        run_dir = create_run(ctx.workspace, config)
        ckpt = run_dir / CHECKPOINTS / "checkpoint-2"
        ckpt.mkdir(parents=True)
        (ckpt / COMPLETE_MARK).write_text("ok", encoding="utf-8")
        events = [protocol.make("hello", pid=1), protocol.make("progress", step=2, max_steps=2),
                  protocol.make("done", status="completed")]
        (run_dir / EVENTS).write_text("".join(protocol.encode(e) + "\n" for e in events), encoding="utf-8")
        ids.append(run_dir.name)
    return ids


def test_runs_page_and_slot_menus_share_one_listing_read_off_the_gui_thread(app, qtbot, monkeypatch) -> None:  # noqa: ANN001
    ctx, window = app
    forget_shared_caches()
    ids = write_runs(ctx, 3)
    fake_adapter(ctx.workspace.adapters_dir / "shared", studio_json={"name": "shared"})
    parsed: list[str] = []
    listings: list[threading.Thread] = []
    parse, list_runs = core_runs._parse_run, core_runs.list_runs

    def counting_parse(run_dir):  # noqa: ANN001, ANN202
        parsed.append(run_dir.name)
        return parse(run_dir)

    def counting_list(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        listings.append(threading.current_thread())
        return list_runs(*args, **kwargs)

    monkeypatch.setattr(core_runs, "_parse_run", counting_parse)
    monkeypatch.setattr(core_runs, "list_runs", counting_list)          # what core.slots would call
    monkeypatch.setattr(run_manager, "list_runs", counting_list)

    window.show_page("Runs")                 # the Runs page asks for a listing when shown
    window.show_page("Chat")                 # the Chat page's slot bar asks too, at build and when shown
    chat = window.page("Chat")
    specs = {f"run:{run_id}@2" for run_id in ids}
    qtbot.waitUntil(lambda: specs <= {c.spec for c in chat.slots.choices} and not ctx.runs._listing, timeout=20_000)

    assert sorted(parsed) == sorted(ids)                                 # each run's files parsed once
    assert 1 <= len(listings) <= 2                                       # one listing, plus one asked for meanwhile
    assert all(t is not threading.main_thread() for t in listings)       # none of it on the GUI thread
    assert set(ids) <= set(ctx.runs.infos)
    assert chat.slots.choices is ctx.runs.slot_choices                   # the menus are the shared listing's
    assert any(a.name == "shared" for a in ctx.runs.adapters)
    assert window.page("Runs").list.items.keys() >= set(ids)

    chat.slots.refresh()                     # asked again with nothing changed: nothing is parsed again
    qtbot.waitUntil(lambda: not ctx.runs._listing, timeout=10_000)
    assert sorted(parsed) == sorted(ids)


def test_a_run_changed_on_disk_is_shown_fresh_after_the_next_listing(app, qtbot) -> None:  # noqa: ANN001
    ctx, window = app
    [run_id] = write_runs(ctx, 1)
    ctx.runs.refresh()
    assert ctx.runs.infos[run_id].history.step == 2
    events = ctx.workspace.run_dir(run_id) / EVENTS
    with open(events, "a", encoding="utf-8") as fh:         # a later attempt (resumed elsewhere) logged more
        for event in (protocol.make("hello", pid=2), protocol.make("progress", step=5, max_steps=5),
                      protocol.make("done", status="completed")):
            fh.write(protocol.encode(event) + "\n")
    with qtbot.waitSignal(ctx.runs.runs_changed, timeout=10_000):      # the Runs list rebuilds from it
        ctx.runs.refresh_in_background()
    assert ctx.runs.history(run_id).step == 5 and ctx.runs.infos[run_id].history.attempts == 2
