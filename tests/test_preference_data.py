"""Preference pairs (DPO, ORPO) and labelled answers (KTO) in the layouts TRL, LLaMA-Factory and
OpenAI document, written here: each is read into TRL's own dataset layout (what the trainers take
unchanged), bad rows are listed with file:line and reason, and an objective that does not fit the
data says which objective the data is for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import studio, write_jsonl
from studio.core.datasets import eval_overlap, fingerprint, import_dataset, split_records
from studio.core.errors import DataError

USER = [{"role": "user", "content": "What is 2+2?"}]
GOOD = [{"role": "assistant", "content": "4"}]
BAD = [{"role": "assistant", "content": "5"}]
PAIR = {"prompt": USER, "chosen": GOOD, "rejected": BAD}
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}


def read(tmp_path: Path, rows: list, objective: str = "dpo", **options: str):
    return import_dataset(write_jsonl(tmp_path / "data.jsonl", rows), objective=objective, **options)


def only(tmp_path: Path, row: dict, objective: str = "dpo", **options: str) -> dict:
    report = read(tmp_path, [row], objective, **options)
    assert not report.errors, report.describe()
    [record] = report.records
    return record.to_dict()


# ---- layouts --------------------------------------------------------------------------------------
def test_trl_standard_explicit_prompt_stays_text(tmp_path: Path) -> None:
    report = read(tmp_path, [{"prompt": "The sky is", "chosen": " blue.", "rejected": " green."}])
    assert report.format == "preference" and report.detected
    assert report.records[0].to_dict() == {"prompt": "The sky is", "chosen": " blue.", "rejected": " green."}
    assert report.layouts == {"TRL standard preference, explicit prompt": 1}
    assert report.summary()["pairs"] == 1


def test_trl_standard_implicit_prompt_splits_at_a_word(tmp_path: Path) -> None:
    # TRL's extract_prompt cuts at the first differing character; a word boundary keeps words whole.
    assert only(tmp_path, {"chosen": "The sky is blue.", "rejected": "The sky is black."}) == {
        "prompt": "The sky is", "chosen": " blue.", "rejected": " black."}


def test_trl_conversational_explicit_prompt_with_tools(tmp_path: Path) -> None:
    call = [{"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}]
    row = only(tmp_path, {"prompt": USER, "chosen": call, "rejected": BAD, "tools": [WEATHER]})
    assert row["prompt"] == USER and row["rejected"] == BAD and row["tools"] == [WEATHER]
    assert row["chosen"][0]["tool_calls"][0]["function"]["arguments"] == {"city": "Paris"}   # parsed, as for chat


def test_trl_conversational_implicit_prompt_is_the_shared_turns(tmp_path: Path) -> None:
    context = [{"role": "system", "content": "Be brief."}, *USER, {"role": "assistant", "content": "Sum?"},
               {"role": "user", "content": "Yes."}]
    report = read(tmp_path, [{"chosen": context + GOOD, "rejected": context + BAD}])
    assert report.records[0].to_dict() == {"prompt": context, "chosen": GOOD, "rejected": BAD}
    assert report.layouts == {"TRL conversational preference, implicit prompt": 1}


def test_a_text_prompt_beside_whole_conversations_is_extracted_as_trl_does(tmp_path: Path) -> None:
    # HuggingFaceH4's preference sets: prompt text, chosen/rejected whole conversations, and messages.
    row = {"prompt": "What is 2+2?", "chosen": USER + GOOD, "rejected": USER + BAD, "messages": USER + GOOD}
    report = read(tmp_path, [row])
    assert report.records[0].to_dict() == PAIR
    assert report.warnings == ["column not used for training: messages (the preference format reads chosen, input, "
                               "instruction, prompt, rejected, system, tools)"]
    assert read(tmp_path, [row], "sft").format == "chat"          # for SFT its messages are the data


def test_llama_factory_sharegpt_preference_with_system(tmp_path: Path) -> None:
    report = read(tmp_path, [{"conversations": [{"from": "human", "value": "What is 2+2?"}],
                              "chosen": {"from": "gpt", "value": "4"}, "rejected": {"from": "gpt", "value": "5"},
                              "system": "Be brief."}])
    assert report.mapping == {"prompt": "conversations"}
    assert report.records[0].to_dict() == {"prompt": [{"role": "system", "content": "Be brief."}, *USER],
                                           "chosen": GOOD, "rejected": BAD}
    assert report.layouts == {"LLaMA-Factory sharegpt preference": 1}


def test_llama_factory_alpaca_preference_is_conversational(tmp_path: Path) -> None:
    row = only(tmp_path, {"instruction": "Add the numbers.", "input": "2+2", "chosen": "4", "rejected": "5",
                          "system": "Be brief."})
    assert row == {"prompt": [{"role": "system", "content": "Be brief."},
                              {"role": "user", "content": "Add the numbers.\n\n2+2"}], "chosen": GOOD, "rejected": BAD}


def test_openai_preference_fine_tuning_layout(tmp_path: Path) -> None:
    report = read(tmp_path, [{"input": {"messages": USER, "tools": [WEATHER], "parallel_tool_calls": True},
                              "preferred_output": GOOD, "non_preferred_output": BAD}])
    assert report.mapping == {"prompt": "input", "chosen": "preferred_output", "rejected": "non_preferred_output"}
    assert report.records[0].to_dict() == {**PAIR, "tools": [WEATHER]}
    assert report.warnings == ["fields not used for training: 'input.parallel_tool_calls' (1 row)"]
    # the same file with the format named (no mapping given) is read the same way
    assert import_dataset(tmp_path / "data.jsonl", "preference", objective="dpo").records == report.records


def test_columns_map_other_names(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"question": "2+2 is", "good": " 4", "bad": " 5"}])
    report = import_dataset(path, "preference", {"prompt": "question", "chosen": "good", "rejected": "bad"},
                            objective="orpo")
    assert report.records[0].to_dict() == {"prompt": "2+2 is", "chosen": " 4", "rejected": " 5"}


def test_kto_trl_unpaired_standard_and_conversational(tmp_path: Path) -> None:
    report = read(tmp_path, [{"prompt": "2+2 is", "completion": " 4", "label": True},
                             {"prompt": USER, "completion": BAD, "label": False}], "kto")
    assert report.format == "kto"
    assert [r.to_dict() for r in report.records] == [{"prompt": "2+2 is", "completion": " 4", "label": True},
                                                     {"prompt": USER, "completion": BAD, "label": False}]
    assert report.summary()["desirable"] == 1 and report.summary()["undesirable"] == 1


@pytest.mark.parametrize("column, tag", [("messages", "kto_tag"), ("conversations", "kto_tag"), ("messages", "label")])
def test_kto_llama_factory_last_assistant_turn_is_the_completion(tmp_path: Path, column: str, tag: str) -> None:
    turns = [*USER, {"role": "assistant", "content": "Sum?"}, {"role": "user", "content": "Yes."}, *BAD]
    if column == "conversations":
        turns = [{"from": {"user": "human", "assistant": "gpt"}[t["role"]], "value": t["content"]} for t in turns]
    row = only(tmp_path, {column: turns, tag: False}, "kto")
    assert row == {"prompt": [*USER, {"role": "assistant", "content": "Sum?"}, {"role": "user", "content": "Yes."}],
                   "completion": BAD, "label": False}


def test_kto_unpairs_preference_pairs_and_says_so(tmp_path: Path) -> None:
    report = read(tmp_path, [PAIR, {"prompt": "2+2 is", "chosen": " 4", "rejected": " 5"}], "kto")
    assert [r.to_dict() for r in report.records] == [
        {"prompt": USER, "completion": GOOD, "label": True}, {"prompt": USER, "completion": BAD, "label": False},
        {"prompt": "2+2 is", "completion": " 4", "label": True}, {"prompt": "2+2 is", "completion": " 5", "label": False}]
    assert [r.source for r in report.records] == ["data.jsonl:1", "data.jsonl:1", "data.jsonl:2", "data.jsonl:2"]
    assert any("2 preference pairs were unpaired into 4 examples" in w and "unpair_preference_dataset" in w
               for w in report.warnings)


def test_fingerprint_split_and_overlap_work_on_pairs(tmp_path: Path) -> None:
    rows = [{"prompt": f"{i}+{i} is", "chosen": f" {2 * i}", "rejected": f" {2 * i + 1}"} for i in range(10)]
    records = read(tmp_path, rows).records
    conversational = read(tmp_path, [{"prompt": USER, "chosen": GOOD, "rejected": BAD}]).records
    assert fingerprint(records) == fingerprint(read(tmp_path, rows).records) != fingerprint(conversational)
    train, evals = split_records(records, 0.2, seed=0)
    assert len(train) == 8 and len(evals) == 2 and eval_overlap(train, evals) == ""
    assert "2 of 2 eval examples" in eval_overlap(records, evals)


# ---- row errors -----------------------------------------------------------------------------------
ROW_ERRORS = [
    ({"prompt": USER, "chosen": GOOD, "rejected": GOOD}, "identical answers", "nothing to learn"),
    ({"prompt": "2+2 is", "chosen": " 4", "rejected": ""}, "empty content", "'rejected' is empty"),
    ({"prompt": USER, "chosen": GOOD, "rejected": None}, "missing field", "no 'rejected'"),
    ({"prompt": USER, "chosen": [{"role": "assistant", "content": ""}], "rejected": BAD}, "empty content",
     "no text and no tool call"),
    ({"prompt": USER + GOOD, "chosen": GOOD, "rejected": BAD}, "prompt does not end where an answer starts",
     "ends with an assistant turn"),
    ({"prompt": USER, "chosen": USER + GOOD, "rejected": BAD}, "not an answer", "'chosen' turn 1 is a user turn"),
    ({"chosen": USER + GOOD, "rejected": [{"role": "user", "content": "3+3?"}] + BAD}, "no shared prompt",
     "differ from their first turn"),
    ({"chosen": USER + GOOD + USER + GOOD, "rejected": USER + BAD + USER + GOOD}, "differ before the last turns",
     "differ at turn 2"),
    ({"chosen": "Blue.", "rejected": "Green."}, "no shared prompt", "add a prompt column"),
    ({"prompt": [{"role": "system", "content": "S"}], "chosen": GOOD, "rejected": BAD},
     "prompt does not end where an answer starts", "must end with the user's"),
]


def test_bad_pairs_are_listed_with_line_and_reason(tmp_path: Path) -> None:
    report = read(tmp_path, [PAIR] + [row for row, _, _ in ROW_ERRORS])
    assert len(report.records) == 1
    assert [(e.line, e.category) for e in report.errors] == [(i + 2, c) for i, (_, c, _) in enumerate(ROW_ERRORS)]
    for error, (_, _, detail) in zip(report.errors, ROW_ERRORS):
        assert detail in error.detail, str(error)


@pytest.mark.parametrize("label", ["true", 1, None])
def test_a_kto_label_must_be_a_boolean(tmp_path: Path, label: object) -> None:
    report = read(tmp_path, [{"prompt": "q", "completion": "a", "label": True},
                             {"prompt": "q", "completion": "b", "label": label}], "kto")
    [error] = report.errors
    assert error.where == "data.jsonl:2"
    if label is None:
        assert error.category == "missing field"
    else:
        assert error.category == "wrong type" and "must be true or false (a JSON boolean)" in error.detail
        assert "without quotes" in error.detail


def test_turn_training_flags_are_reported_not_honoured(tmp_path: Path) -> None:
    report = read(tmp_path, [{"prompt": USER, "chosen": [{**GOOD[0], "weight": 0}], "rejected": BAD}])
    assert report.records[0].chosen == GOOD                  # no private "train" key reaches TRL's template
    assert report.warnings == ["turn fields not used for training: 'weight' (1 turn)"]


# ---- objective and data --------------------------------------------------------------------------
def test_dpo_refuses_sft_data_naming_its_objective(tmp_path: Path) -> None:
    rows = [{"messages": USER + GOOD}]
    with pytest.raises(DataError) as caught:
        read(tmp_path, rows, "dpo")
    assert caught.value.message == ("dpo needs preference pairs (prompt, chosen, rejected); data.jsonl holds chat "
                                    "data for supervised fine-tuning (--objective sft)")
    with pytest.raises(DataError, match="kto needs answers labelled desirable"):
        read(tmp_path, rows, "kto")


def test_dpo_and_orpo_refuse_kto_data_pointing_at_kto(tmp_path: Path) -> None:
    for objective in ("dpo", "orpo"):
        with pytest.raises(DataError) as caught:
            read(tmp_path, [{"prompt": "q", "completion": "a", "label": True}], objective)
        assert "holds KTO data" in caught.value.message and "--objective kto" in caught.value.hint


def test_sft_with_a_preference_format_named_points_at_dpo(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"question": "q", "good": "a", "bad": "b"}])
    with pytest.raises(DataError) as caught:
        import_dataset(path, "preference", {"prompt": "question", "chosen": "good", "rejected": "bad"})
    assert "--objective dpo (or orpo)" in caught.value.hint


def test_prompt_only_data_is_refused_for_dpo(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="dpo needs preference pairs .* prompts without answers"):
        read(tmp_path, [{"prompt": "q1"}, {"prompt": "q2"}], "dpo")


# ---- the command line ----------------------------------------------------------------------------
def test_data_check_prints_layout_and_counts(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "pairs.jsonl", [PAIR, PAIR | {"rejected": GOOD}])
    result = studio("data", "check", str(path), "--objective", "dpo")
    assert result.returncode == 2, result.stderr            # the identical pair is a rejected row
    assert "format preference (detected); 1 kept, 1 rejected" in result.stdout
    assert "layout: TRL conversational preference, explicit prompt (1 row); 1 preference pair" in result.stdout
    assert "pairs.jsonl:2: identical answers" in result.stdout
    report = json.loads(studio("data", "check", str(path), "--objective", "kto", "--json").stdout)
    assert (report["objective"], report["desirable"], report["undesirable"]) == ("kto", 1, 1)


def test_data_show_prints_each_part_as_trl_renders_it(tiny_model: Path, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "pairs.jsonl", [PAIR])
    result = studio("data", "show", str(path), "--objective", "dpo", "--model", str(tiny_model), "--json")
    assert result.returncode == 0, result.stderr
    view = json.loads(result.stdout)
    assert view["parts"] == {"prompt": "<|user|>What is 2+2?<|eos|><|assistant|>", "chosen": "4<|eos|>",
                             "rejected": "5<|eos|>"}
    assert view["tokens"] == {"prompt": 15, "chosen": 2, "rejected": 2}     # byte-level: characters + <|eos|>
    assert "layout: TRL conversational preference, explicit prompt (1 row); 1 preference pair" in result.stderr
