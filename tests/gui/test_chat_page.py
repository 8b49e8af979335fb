"""The Chat page with a real chat worker: the tiny demo base model, the trained demo adapter and
`quick` (a 4-step adapter), from the session's trained workspace.

One window and one worker serve the module (starting the worker and loading the base is the slow
part); every test loads what it needs, which only attaches adapters once the base is in memory.
The worker is killed in the last test, on purpose.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from helpers import write_jsonl
from studio.core.demo_data import DEMO_NAME, SYSTEM
from studio.core.votes import read_votes, tally_for

pytestmark = pytest.mark.slow
LOAD_MS = 300_000          # the shared 2-core machines are slow under load
ANSWER_MS = 120_000
TICKET = "Hi, my package for order 12345 has not arrived. Thanks."


@pytest.fixture(scope="module")
def chat(qapp, trained_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:  # noqa: ANN001
    """(ctx, window, page) on a private copy of the trained workspace, Chat page shown."""
    from studio.gui.app import build

    tmp = tmp_path_factory.mktemp("chat-gui")
    home = tmp / "home"
    shutil.copytree(trained_home, home, ignore=shutil.ignore_patterns("*.lock"))
    ctx, window = build(home, QSettings(str(tmp / "gui.ini"), QSettings.Format.IniFormat))
    window.setProperty("no_confirm", True)
    window.resize(1440, 900)
    window.show()
    window.show_page("Chat")
    page = window.page("Chat")
    page.sampling.system.setPlainText(SYSTEM)
    page.sampling.max_new_tokens.setValue(8)
    yield ctx, window, page
    page.session.close()
    window.close()


def load(page, qtbot, spec_a: str, spec_b: str, blind: bool = False) -> None:  # noqa: ANN001
    qtbot.waitUntil(lambda: len(page.slots.choices) > 1, timeout=10_000)
    page.slots.set_specs(spec_a, spec_b)
    page.slots.blind.setChecked(blind)
    page.slots.load_button.click()
    qtbot.waitUntil(lambda: page.session.is_loaded or page.banner.isVisible(), timeout=LOAD_MS)
    assert page.session.is_loaded, page.banner.title.text() + page.banner.body.text()


def ask(page, qtbot, text: str) -> None:  # noqa: ANN001
    page.composer.input.setPlainText(text)
    page.composer.send_button.click()
    assert page.request is not None
    qtbot.waitUntil(lambda: page.request is None, timeout=ANSWER_MS)


def test_both_columns_stream_at_once_and_save(chat, qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    ctx, window, page = chat
    qtbot.waitUntil(lambda: len(page.slots.choices) > 1, timeout=10_000)
    assert [c.spec for c in page.slots.choices][:2] == ["base", DEMO_NAME]
    assert any(c.kind == "checkpoint" and c.spec.endswith("@4") for c in page.slots.choices)   # quick's run
    load(page, qtbot, "base", DEMO_NAME)
    assert page.columns["b"].title.text() == f"B · {DEMO_NAME}"
    timeline: list[tuple] = []
    page.session.token.connect(lambda _r, slot, text: timeline.append(("token", slot, page.columns[slot].streaming)))
    page.session.answered.connect(lambda _r, slot, event: timeline.append(("answered", slot, event)))
    ask(page, qtbot, TICKET)

    first_answer = next(i for i, e in enumerate(timeline) if e[0] == "answered")
    for slot in ("a", "b"):
        shown = [e[2] for e in timeline[:first_answer] if e[:2] == ("token", slot)]
        assert shown and shown[0], f"no token of {slot} was shown before the first answer finished"
        done = next(i for i, e in enumerate(timeline) if e[:2] == ("answered", slot))
        event = timeline[done][2]             # each column is answered when its own stream ends
        streamed = [e[2] for e in timeline[:done] if e[:2] == ("token", slot)]
        assert streamed[-1] == event["text"]                     # the streamed text is what the worker reported
        assert page.conversation.columns[slot].messages[-1] == {"role": "assistant", "content": event["text"]}
        assert event["text"] in page.columns[slot].plain_text()
        assert "tokens/s" in page.columns[slot].footer.text()
        assert event["tokens_per_s"] > 0 and event["prompt_s"] > 0 and "First token after" in \
            page.columns[slot].footer.toolTip()
    assert page.conversation.columns["b"].messages[-1]["content"] == "shipping"     # the adapter learned it

    saved = page.save_conversation(tmp_path / "conversation.json")
    data = json.loads(saved.read_text())
    assert data["columns"]["b"]["label"] == DEMO_NAME and data["system"] == SYSTEM
    assert [m["role"] for m in data["columns"]["a"]["messages"]] == ["user", "assistant"]


def test_the_trained_system_prompt_is_offered(chat, qtbot) -> None:  # noqa: ANN001
    ctx, window, page = chat
    sampling = page.sampling
    qtbot.waitUntil(lambda: len(page.slots.choices) > 1, timeout=10_000)
    sampling.system.clear()
    sampling.edited = False                            # as on a fresh page: nothing typed yet
    try:
        page.slots.set_specs("base", "base")
        assert sampling.system_prompt() == ""
        page.slots.set_specs("base", DEMO_NAME)          # training recorded it in the adapter's studio.json
        assert sampling.system_prompt() == SYSTEM
        assert f"from {DEMO_NAME}'s training data" in sampling.system_note.text()
        assert "600 of 600 training examples" in sampling.system_note.toolTip()
        checkpoint = next(c for c in page.slots.choices if c.kind == "checkpoint" and c.label == DEMO_NAME)
        assert checkpoint.system_prompt is not None and checkpoint.system_prompt.text == SYSTEM   # its run's adapter
    finally:
        sampling.system.setPlainText(SYSTEM)


def test_same_spec_and_seed_give_the_same_text(chat, qtbot) -> None:  # noqa: ANN001
    ctx, window, page = chat
    load(page, qtbot, "quick", "quick")
    page.sampling.temperature.setValue(1.0)
    page.sampling.seed.setValue(5)
    try:
        ask(page, qtbot, TICKET)
        a, b = (page.conversation.columns[s].messages[-1]["content"] for s in ("a", "b"))
        assert a and a == b
        page.regenerate()                    # the next seed, the same turn again
        assert page.sampling.seed.value() == 6
        qtbot.waitUntil(lambda: page.request is None, timeout=ANSWER_MS)
        assert len(page.conversation.columns["a"].messages) == 2
        assert page.conversation.columns["a"].messages[-1] == page.conversation.columns["b"].messages[-1]
    finally:
        page.sampling.temperature.setValue(0.0)


def test_blind_vote_is_recorded_and_revealed(chat, qtbot) -> None:  # noqa: ANN001
    ctx, window, page = chat
    load(page, qtbot, "base", DEMO_NAME, blind=True)
    assert page.votes.isVisible() and page.columns["a"].title.text() == "A"
    assert not page.votes.buttons["a"].isEnabled()
    ask(page, qtbot, TICKET)
    assert page.votes.buttons["a"].isEnabled()
    shown_a, shown_b = page.labels["a"], page.labels["b"]
    assert {shown_a, shown_b} == {"base", DEMO_NAME}
    page.votes.buttons["a"].click()

    votes = read_votes(ctx.workspace)
    assert [(v.a, v.b, v.winner, v.blind, v.prompt) for v in votes] == [(shown_a, shown_b, "a", True, TICKET)]
    tally = tally_for(ctx.workspace, "base", DEMO_NAME)
    assert tally.total == 1 and tally.win_rate(shown_a) == 1.0
    assert page.columns["a"].title.text() == f"A · {shown_a}"            # revealed
    result = page.votes.result.text()
    assert f"A was {shown_a}, B was {shown_b}" in result and f"{shown_a} 100%" in result and f"{shown_b} 0%" in result
    assert not page.votes.buttons["b"].isEnabled()                      # one vote per answer


def test_prompt_set_table_and_export(chat, qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    ctx, window, page = chat
    load(page, qtbot, "base", DEMO_NAME)
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [
        {"prompt": TICKET, "expected": "shipping"},
        {"prompt": "I was charged twice for my Pro plan.", "expected": "billing"},
        {"prompt": "the app crashes when I open the settings screen."}])
    panel = page.prompt_set
    page.tabs.setCurrentWidget(panel)
    panel.set_file(prompts)
    panel.run_button.click()
    qtbot.waitUntil(lambda: not panel.running and len(panel.rows) == 3 and not panel.progress.isVisible(),
                    timeout=3 * ANSWER_MS)
    table = panel.table
    assert table.rowCount() == 3, panel.summary.text()
    assert [table.item(r, 2).text() for r in range(3)] == ["shipping", "billing", ""]
    assert table.item(0, 5).text() == "shipping" and table.item(0, 6).text() == "✓"
    assert table.item(0, 3).text() == panel.rows[0].answers["a"] and table.item(0, 4).text() != "✓"
    assert table.item(2, 6).text() == ""                                 # no expected answer: no score
    assert "exact match" in panel.summary.text()

    panel.export(tmp_path / "table.csv")
    panel.export(tmp_path / "table.jsonl")
    with open(tmp_path / "table.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["b_answer"] for r in rows][:1] == ["shipping"] and rows[0]["b_exact"] == "True"
    lines = [json.loads(line) for line in (tmp_path / "table.jsonl").read_text().splitlines()]
    assert lines[0]["a_spec"] == "base" and lines[0]["b_spec"] == DEMO_NAME and len(lines) == 3
    page.tabs.setCurrentIndex(0)


def test_load_failure_and_a_dead_worker_are_reported(chat, qtbot) -> None:  # noqa: ANN001
    ctx, window, page = chat
    page.slots.set_specs("base", "no-such-adapter")
    page.slots.load_button.click()
    qtbot.waitUntil(page.banner.isVisible, timeout=LOAD_MS)
    assert "could not be loaded" in page.banner.title.text() and "no-such-adapter" in page.banner.body.text()
    assert "Fix:" in page.banner.body.text() and page.slots.load_button.isEnabled()

    load(page, qtbot, "base", DEMO_NAME)
    page.session.task.kill()                                            # as if it ran out of memory
    qtbot.waitUntil(lambda: "stopped unexpectedly" in page.banner.title.text(), timeout=30_000)
    assert "Load again" in page.banner.body.text() or page.banner.buttons.count() > 1
    assert "press Load" in page.banner.body.text()
    assert page.slots.load_button.isEnabled() and not page.composer.send_button.isEnabled()
    assert window.isVisible()


def test_a_message_typed_while_loading_is_sent_once_loaded(chat, qtbot) -> None:  # noqa: ANN001
    ctx, window, page = chat
    qtbot.waitUntil(lambda: len(page.slots.choices) > 1, timeout=10_000)
    page.slots.set_specs("base", DEMO_NAME)
    page.slots.load_button.click()
    page.composer.input.setPlainText(TICKET)
    page.composer._send()                              # Enter, while the worker loads
    assert page.pending == TICKET and "sent as soon as the models are loaded" in page.slots.status.text()
    qtbot.waitUntil(lambda: page.session.is_loaded, timeout=LOAD_MS)
    qtbot.waitUntil(lambda: page.request is None and bool(page.conversation.columns["b"].messages), timeout=ANSWER_MS)
    assert page.conversation.columns["b"].messages[0]["content"] == TICKET
    assert page.pending is None
    # the random-init demo base is explained, not left to look broken
    assert page.banner.isVisible() and "random weights" in page.banner.title.text()
