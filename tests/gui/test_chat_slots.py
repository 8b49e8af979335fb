"""The Chat page without a model: slot pickers that are menus of what the library holds, the system
prompt prefilled from the adapter's training data, and each column's own figures as they arrive.
(The page with a real chat worker is test_chat_page.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from damaged_adapters import seed_damaged
from helpers import fake_adapter

SYSTEM = "Classify the ticket: billing, shipping, account, bug or refund."
LONG = "support-tickets-llama-3.2-1b-instruct-rank16-lr2e-4-third-attempt-final"


def record(name: str, system_prompt: dict | None = None, setting: str = "") -> dict:
    out = {"name": name, "created": "2026-01-05T10:00:00+00:00",
           "base_model": {"name_or_path": "/models/some-base"},
           "config": {"data": {"format": "chat", "system_prompt": setting}}, "metrics": {"steps": 300}}
    if system_prompt is not None:
        out["system_prompt"] = system_prompt
    return out


@pytest.fixture()
def page(app, qtbot):  # noqa: ANN001, ANN201
    ctx, window = app
    ads = ctx.workspace.adapters_dir
    fake_adapter(ads / "tickets", studio_json=record("tickets", {"text": SYSTEM, "source": "records",
                                                                 "records": 540, "of": 600}))
    fake_adapter(ads / "old-style", studio_json=record("old-style", setting="Answer in French."))
    fake_adapter(ads / "plain", studio_json=record("plain", None))
    fake_adapter(ads / LONG, studio_json=record(LONG, None))
    seed_damaged(ads, ["studio-not-json", "weights-missing"])
    window.show_page("Chat")
    chat = window.page("Chat")
    chat.slots.refresh()
    qtbot.waitUntil(lambda: any(c.spec == "tickets" for c in chat.slots.choices), timeout=10_000)
    return chat


def test_slots_are_menus_of_the_library(page) -> None:  # noqa: ANN001
    picker = page.slots.slot_b
    assert not picker.isEditable() and not page.slots.slot_a.isEditable()
    specs = [picker.itemData(i) for i in range(picker.count())]
    assert specs[0] == "base" and {"tickets", "old-style", "plain", LONG} <= set(specs)
    assert not {"studio-not-json", "weights-missing"} & set(specs)                    # broken adapters are not offered
    assert picker.itemText(picker.count() - 1) == "Adapter folder…"
    tickets = specs.index("tickets")
    assert "some-base" in picker.itemText(tickets) and "2026-01-05" in picker.itemText(tickets)
    tip = picker.itemData(tickets, 3)                                             # Qt.ToolTipRole
    assert "/models/some-base" in tip and "300 steps" in tip
    page.slots.set_specs("base", LONG)
    assert page.slots.specs() == {"a": "base", "b": LONG}
    picker.resize(220, picker.height())
    shown = picker.shown_text()
    assert "…" in shown and shown.startswith(LONG[:6]) and shown.endswith(picker.currentText()[-6:])
    assert LONG in picker.toolTip()


def test_a_spec_the_menu_lacks_is_kept_for_load_to_check(page) -> None:  # noqa: ANN001
    page.slots.set_specs("base", "no-such-adapter")
    assert page.slots.specs()["b"] == "no-such-adapter"
    picker = page.slots.slot_b
    assert picker.itemText(picker.count() - 1) == "Adapter folder…"               # still the last entry
    page.slots.refresh()                                                          # a refresh keeps the choice
    page.slots.set_specs("base", "tickets")
    assert page.slots.specs()["b"] == "tickets"


def test_system_prompt_is_prefilled_from_the_adapter(page, qtbot) -> None:  # noqa: ANN001
    sampling = page.sampling
    page.slots.set_specs("base", "tickets")
    assert sampling.system_prompt() == SYSTEM
    assert sampling.system_note.isVisibleTo(page) and "tickets's training data" in sampling.system_note.text()
    assert "540 of 600" in sampling.system_note.toolTip()
    page.slots.set_specs("base", "plain")                                         # nothing known: our text goes
    assert sampling.system_prompt() == "" and not sampling.system_note.isVisibleTo(page)
    page.slots.set_specs("old-style", "base")                                     # trained before the record
    assert sampling.system_prompt() == "Answer in French."
    assert "data.system_prompt setting" in sampling.system_note.toolTip()

    sampling.system.setPlainText("Be brief.")                                     # the person's text wins
    page.slots.set_specs("base", "tickets")
    assert sampling.system_prompt() == "Be brief." and "use it" in sampling.system_note.text()
    sampling.system.clear()                                                       # cleared on purpose: stays empty
    page.slots.set_specs("plain", "tickets")
    assert sampling.system_prompt() == "" and "None is sent" in sampling.system_note.text()
    sampling.system_note.linkActivated.emit("use")
    assert sampling.system_prompt() == SYSTEM and not sampling.edited


def test_each_column_shows_its_own_figures_when_it_ends(page) -> None:  # noqa: ANN001
    page.slots.set_specs("base", "tickets")
    page._loading_specs = {"a": "base", "b": "tickets"}
    page.start_conversation("/models/some-base")
    page.conversation.ask("Where is my parcel?")
    page.request = "g1"
    for slot in ("a", "b"):
        page.columns[slot].begin_answer()
        page._token("g1", slot, "xy")
    page._answered("g1", "b", {"text": "shipping", "tokens": 8, "tokens_per_s": 812.5, "finish_reason": "eos",
                               "prompt_tokens": 115, "prompt_s": 0.004, "first_token_s": 0.01, "wall_s": 0.02})
    page._token("g1", "a", "z")                                                    # A still streams
    assert page.columns["b"].footer.text() == "8 tokens · 812.5 tokens/s"
    assert "115 tokens read in 4 ms" in page.columns["b"].footer.toolTip()
    assert "own decoding speed" in page.columns["b"].footer.toolTip()
    assert page.columns["a"].footer.text().startswith("Generating…")
    assert page.request == "g1"                                                    # not done until A ends


def test_cli_chat_takes_the_adapter_system_prompt(page, tmp_path: Path) -> None:  # noqa: ANN001
    from studio.cli.chat_cmd import trained_system

    ws = page.ctx.workspace
    prefill = trained_system(ws, {"a": "base", "b": "tickets"})
    assert prefill is not None and prefill.text == SYSTEM and prefill.note == "from tickets's training data"
    assert trained_system(ws, {"a": "base", "b": "plain"}) is None
    assert trained_system(ws, {"a": "base", "b": "no-such-adapter"}) is None        # the worker says why on load
    folder = fake_adapter(tmp_path / "elsewhere", studio_json=record("elsewhere", {"text": "Hi.", "source": "setting"}))
    assert trained_system(ws, {"a": str(folder)}).text == "Hi."


def test_slot_b_offers_the_first_adapter_that_lands_unless_the_user_picked(app, qtbot) -> None:  # noqa: ANN001
    ctx, window = app
    window.show_page("Chat")
    bar = window.page("Chat").slots
    bar.refresh()
    qtbot.waitUntil(lambda: bool(bar.choices), timeout=10_000)
    assert bar.specs()["b"] == "base"                        # an empty library: the first launch
    fake_adapter(ctx.workspace.adapters_dir / "first-run", studio_json=record("first-run", None))
    bar.refresh()
    qtbot.waitUntil(lambda: any(c.spec == "first-run" for c in bar.choices), timeout=10_000)
    assert bar.specs()["b"] == "first-run"                   # the run's adapter, not the base again
    bar.slot_b.activated.emit(0)                             # the user picks the base on purpose
    bar.slot_b.select("base")
    fake_adapter(ctx.workspace.adapters_dir / "second-run", studio_json=record("second-run", None))
    bar.refresh()
    qtbot.waitUntil(lambda: any(c.spec == "second-run" for c in bar.choices), timeout=10_000)
    assert bar.specs()["b"] == "base"
