"""The system prompt an adapter was trained with: found in its records or its setting, recorded in
studio.json, read back for the Chat page and `studio chat` (torch-free; no model)."""

from __future__ import annotations

import json
from pathlib import Path

from studio.core.adapter_record import check_record
from studio.core.datasets import Record, import_dataset
from studio.core.datasets.system_prompts import (RECORDS, SETTING, TrainedSystemPrompt, most_common_system_prompt,
                                                 recorded_system_prompt, trained_system_prompt)
from studio.core.slots import system_prefill

SYSTEM = "Classify the ticket: billing, shipping, account, bug or refund."


def chat(system: str | None, user: str = "hi", answer: str = "ok") -> Record:
    messages = ([{"role": "system", "content": system}] if system is not None else []) + [
        {"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return Record("chat", messages=messages)


def test_the_system_message_most_records_begin_with() -> None:
    records = [chat(SYSTEM)] * 7 + [chat("Be brief.")] * 2 + [chat(None)]
    found = most_common_system_prompt(records)
    assert found == TrainedSystemPrompt(SYSTEM, RECORDS, 7, 10)
    assert found.origin() == "the system message of 7 of 10 training examples"
    assert found.to_dict() == {"text": SYSTEM, "source": RECORDS, "records": 7, "of": 10}


def test_no_prompt_when_it_is_not_most_records() -> None:
    assert most_common_system_prompt([chat(SYSTEM)] * 5 + [chat(None)] * 5) is None        # half is not most
    assert most_common_system_prompt([chat("a"), chat("b"), chat("c")]) is None
    assert most_common_system_prompt([chat(None)] * 3) is None
    assert most_common_system_prompt([]) is None
    assert most_common_system_prompt([Record("completion", prompt="p", completion="c")] * 3) is None
    assert most_common_system_prompt([chat("   ")] * 3) is None                                # blank is none


def test_conversational_preference_prompts_count() -> None:
    prompt = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "hi"}]
    records = [Record("preference", prompt=prompt, chosen="a", rejected="b")] * 3
    assert most_common_system_prompt(records).text == SYSTEM
    assert most_common_system_prompt([Record("preference", prompt="raw", chosen="a", rejected="b")]) is None


def test_the_setting_wins_when_it_reached_the_records(tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]}
            for i in range(4)]
    rows.append({"messages": [{"role": "system", "content": "Own."}, {"role": "user", "content": "q"},
                              {"role": "assistant", "content": "a"}]})
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    records = import_dataset(data, system_prompt="Be a ticket bot.").records     # added to the 4 without one
    assert trained_system_prompt(records, "Be a ticket bot.") == TrainedSystemPrompt("Be a ticket bot.", SETTING,
                                                                                     total=5)
    plain = import_dataset(data).records
    assert trained_system_prompt(plain, "") is None                   # 1 of 5 has one: no single prompt
    completion = [Record("completion", prompt="p", completion="c")] * 3
    assert trained_system_prompt(completion, "Be a ticket bot.") is None   # the setting never reached them


def test_studio_json_round_trip_and_old_records() -> None:
    recorded = {"system_prompt": TrainedSystemPrompt(SYSTEM, RECORDS, 600, 600).to_dict()}
    clean, problems = check_record(recorded)
    assert problems == [] and recorded_system_prompt(clean) == TrainedSystemPrompt(SYSTEM, RECORDS, 600, 600)
    assert recorded_system_prompt({"system_prompt": None, "config": {"data": {"system_prompt": "x"}}}) is None
    # an adapter trained before the field: its recorded config's data.system_prompt
    old = {"config": {"data": {"format": "chat", "system_prompt": SYSTEM}}}
    assert recorded_system_prompt(old) == TrainedSystemPrompt(SYSTEM, SETTING)
    assert recorded_system_prompt({"config": {"data": {"system_prompt": ""}}}) is None
    assert recorded_system_prompt({}) is None
    _clean, problems = check_record({"system_prompt": {"text": 5}})
    assert problems and "system_prompt.text" in problems[0]


def test_prefill_for_two_slots() -> None:
    demo = TrainedSystemPrompt(SYSTEM, RECORDS, 600, 600)
    assert system_prefill([("quick", None)]) is None
    prefill = system_prefill([("quick", None), ("demo", demo)])
    assert prefill.text == SYSTEM and prefill.note == "from demo's training data" and prefill.others == []
    assert "600 of 600" in prefill.explanation
    both = system_prefill([("demo", demo), ("demo-v2", TrainedSystemPrompt(SYSTEM, SETTING))])
    assert both.adapters == ["demo", "demo-v2"] and both.note == "from demo's and demo-v2's training data"
    other = system_prefill([("demo", demo), ("terse", TrainedSystemPrompt("Be terse.", SETTING))])
    assert other.text == SYSTEM and other.others == ["terse"] and "terse was trained with another one" in \
        other.explanation
