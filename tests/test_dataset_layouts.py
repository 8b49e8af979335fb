"""Files in the layouts other tools document (OpenAI, TRL, Axolotl, LLaMA-Factory), written here:
each is read as its format means, rendered with the demo model's template (which renders tools
and reasoning), and exactly the tokens it says to train are trained."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import chat_templates as T
from helpers import write_jsonl
from studio.core.datasets import import_dataset
from studio.core.errors import DataError
from studio.engine.demo_model import build_tokenizer
from studio.engine.tokenization import describe_example

WEATHER = {"name": "get_weather", "description": "Current weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
TOOL = {"type": "function", "function": WEATHER}
CALL = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
TOOL_PROMPT = f"Tools you can call:\n{json.dumps(TOOL)}<|eos|>"


def views(path: Path, template: str | None = None, loss_on: str = "assistant", **options: str) -> list[dict]:
    tokenizer = build_tokenizer()
    if template:
        tokenizer.chat_template = template
    report = import_dataset(path, loss_on=loss_on, **options)
    assert not report.errors, report.describe()
    return [describe_example(tokenizer, r.to_dict(), 4096, loss_on) for r in report.records]


def test_openai_weight_zero_turns_are_context(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "openai.jsonl", [{"messages": [
        {"role": "system", "content": "S"}, {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1", "weight": 0}, {"role": "user", "content": "Q2"},
        {"role": "assistant", "content": "A2", "weight": 1}]}])
    [view] = views(path)
    assert view["text"] == "<|system|>S<|eos|><|user|>Q1<|eos|><|assistant|>A1<|eos|><|user|>Q2<|eos|><|assistant|>A2<|eos|>"
    assert view["trained_text"] == "A2<|eos|>"
    assert import_dataset(path).turns == {"assistant_turns": 2, "untrained_turns": 1}


def test_openai_weight_must_be_0_or_1_on_assistant_turns(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "w.jsonl", [
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "weight": 0.5}]},
        {"messages": [{"role": "user", "content": "q", "weight": 1}, {"role": "assistant", "content": "a"}]},
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "weight": 0}]}])
    details = [e.detail for e in import_dataset(path).errors]
    assert "'weight' must be 0 or 1, got 0.5" in details[0]
    assert "applies to assistant turns only" in details[1]
    assert "every assistant turn is marked not to be trained" in details[2]


def test_axolotl_turn_train_flags_also_train_a_user_turn(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "axolotl.jsonl", [{"conversations": [
        {"from": "system", "value": "S", "train": False}, {"from": "human", "value": "Q1", "train": False},
        {"from": "gpt", "value": "A1", "train": True}, {"from": "human", "value": "Q2", "train": True},
        {"from": "gpt", "value": "A2", "train": False}]}])
    [view] = views(path)
    assert view["text"] == "<|system|>S<|eos|><|user|>Q1<|eos|><|assistant|>A1<|eos|><|user|>Q2<|eos|><|assistant|>A2<|eos|>"
    assert view["trained_text"] == "A1<|eos|><|user|>Q2<|eos|>"


def test_axolotl_train_detail_offsets_are_inclusive(tmp_path: Path) -> None:
    answer = "I'm doing very well, thank you!"
    path = write_jsonl(tmp_path / "detail.jsonl", [{"conversations": [
        {"from": "human", "value": "How are you?"},
        {"from": "gpt", "value": answer, "train_detail": [
            {"begin_offset": 0, "end_offset": 8, "train": False}, {"begin_offset": 9, "end_offset": 18, "train": True},
            {"begin_offset": 19, "end_offset": 30, "train": False}]}]}])
    [view] = views(path)
    assert view["text"] == f"<|user|>How are you?<|eos|><|assistant|>{answer}<|eos|>"
    assert view["trained_text"] == " very well<|eos|>"


def test_content_parts_with_their_own_train_flag_and_value_key(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "parts.jsonl", [{"messages": [
        {"role": "user", "content": [{"type": "text", "value": "Summarise: "}, {"type": "text", "text": "a long text"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Draft: no. ", "train": False},
                                          {"type": "text", "text": "Final: short."}]}]}])
    [view] = views(path)
    assert view["text"] == "<|user|>Summarise: a long text<|eos|><|assistant|>Draft: no. Final: short.<|eos|>"
    assert view["trained_text"] == "Final: short.<|eos|>"


@pytest.mark.parametrize("layout", ["openai", "trl", "llama-factory"])
def test_tool_calling_layouts_train_the_calls_and_answers_not_the_results(tmp_path: Path, layout: str) -> None:
    if layout == "openai":     # arguments as JSON text, ids, content null
        row = {"messages": [{"role": "user", "content": "Weather in Paris?"},
                            {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function",
                             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
                            {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"},
                            {"role": "assistant", "content": "It is 18C and sunny."}], "tools": [TOOL]}
    elif layout == "trl":      # arguments as a dict, no content key, the tools column as JSON text per tool
        row = {"messages": [{"role": "user", "content": "Weather in Paris?"},
                            {"role": "assistant", "tool_calls": [{"type": "function", "function": {
                                "name": "get_weather", "arguments": {"city": "Paris"}}}]},
                            {"role": "tool", "name": "get_weather", "content": "18C and sunny"},
                            {"role": "assistant", "content": "It is 18C and sunny."}], "tools": [json.dumps(TOOL)]}
    else:                      # LLaMA-Factory's ShareGPT tool layout (glaive): function_call / observation
        row = {"conversations": [{"from": "human", "value": "Weather in Paris?"},
                                 {"from": "function_call", "value": json.dumps({"name": "get_weather",
                                                                               "arguments": {"city": "Paris"}})},
                                 {"from": "observation", "value": "18C and sunny"},
                                 {"from": "gpt", "value": "It is 18C and sunny."}], "tools": json.dumps([WEATHER])}
    [view] = views(write_jsonl(tmp_path / f"{layout}.jsonl", [row]))
    assert view["text"] == (f"<|system|>{TOOL_PROMPT}<|user|>Weather in Paris?<|eos|><|assistant|>{CALL}<|eos|>"
                            "<|tool|>18C and sunny<|eos|><|assistant|>It is 18C and sunny.<|eos|>")
    assert view["trained_text"] == f"{CALL}<|eos|>It is 18C and sunny.<|eos|>"


def test_tool_layout_with_a_system_column_keeps_it(tmp_path: Path) -> None:
    row = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}],
           "system": "You are a weather bot.", "tools": json.dumps([WEATHER])}
    [view] = views(write_jsonl(tmp_path / "sys.jsonl", [row]))
    assert view["text"].startswith(f"<|system|>You are a weather bot.\n{TOOL_PROMPT}<|user|>Hi")


@pytest.mark.parametrize("key", ["reasoning_content", "thinking", "reasoning"])
def test_reasoning_fields_reach_the_template_and_are_trained(tmp_path: Path, key: str) -> None:
    path = write_jsonl(tmp_path / "think.jsonl", [{"messages": [
        {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4", key: "Two and two make four."}]}])
    [view] = views(path)
    assert view["text"] == "<|user|>2+2?<|eos|><|assistant|><think>Two and two make four.</think>4<|eos|>"
    assert view["trained_text"] == "<think>Two and two make four.</think>4<|eos|>"


def test_reasoning_inline_or_dropped_when_the_template_cannot_show_it(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "think.jsonl", [{"messages": [
        {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4", "reasoning_content": "2 and 2"}]}])
    [inline] = views(path, T.CHATML, reasoning="inline")
    assert inline["trained_text"] == "<think>\n2 and 2\n</think>\n\n4<|im_end|>\n"
    [dropped] = views(path, T.CHATML, reasoning="drop")
    assert dropped["trained_text"] == "4<|im_end|>\n"
    assert import_dataset(path, reasoning="drop").turns["reasoning_dropped"] == 1


def test_trl_conversational_prompt_completion(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "pc.jsonl", [
        {"prompt": [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"},
                    {"role": "user", "content": "Q2"}], "completion": [{"role": "assistant", "content": "A2"}]}])
    [view] = views(path)
    assert view["text"] == "<|user|>Q1<|eos|><|assistant|>A1<|eos|><|user|>Q2<|eos|><|assistant|>A2<|eos|>"
    assert view["trained_text"] == "A2<|eos|>"          # the prompt's assistant turn is context (as in TRL)


def test_a_json_file_holding_one_conversation_is_one_record(tmp_path: Path) -> None:
    (tmp_path / "one.json").write_text(json.dumps({"conversations": [
        {"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}], "system": "S"}, indent=2))
    [view] = views(tmp_path / "one.json")
    assert view["text"] == "<|system|>S<|eos|><|user|>Q<|eos|><|assistant|>A<|eos|>"
    assert [r.source for r in import_dataset(tmp_path / "one.json").records] == ["one.json: row 1"]


def test_txt_with_one_document_per_line_keeps_them_apart(tmp_path: Path) -> None:
    path = tmp_path / "docs.txt"
    path.write_text("First document.\nSecond document.\nThird document.\n", encoding="utf-8")
    merged = import_dataset(path)
    assert len(merged.records) == 1 and "--text-unit line" in merged.warnings[0]
    lines = views(path, text_unit="line")
    assert [v["trained_text"] for v in lines] == ["First document.<|eos|>", "Second document.<|eos|>",
                                                   "Third document.<|eos|>"]
    assert [r.source for r in import_dataset(path, text_unit="line").records] == ["docs.txt:1", "docs.txt:2", "docs.txt:3"]
    assert len(import_dataset(path, text_unit="document").records) == 1


def test_unused_columns_and_turn_fields_are_named(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "extra.jsonl", [
        {"id": 1, "source": "web", "messages": [{"role": "user", "content": "q", "lang": "en"},
                                                 {"role": "assistant", "content": "a", "refusal": None}]}])
    warnings = import_dataset(path).warnings
    assert warnings[0].startswith("columns not used for training: id, source")
    assert warnings[1] == "turn fields not used for training: 'lang' (1 turn)"     # a None value is not a field


def test_parquet_rows_with_every_key_set_to_none(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"messages": [{"role": "user", "content": "q", "weight": None, "tool_calls": None},
                          {"role": "assistant", "content": "a", "weight": 0, "tool_calls": None},
                          {"role": "user", "content": "q2", "weight": None, "tool_calls": None},
                          {"role": "assistant", "content": "b", "weight": 1, "tool_calls": None}]}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "d.parquet")
    [view] = views(tmp_path / "d.parquet")
    assert view["trained_text"] == "b<|eos|>"


def test_a_tool_result_cannot_claim_tool_calls_and_bad_arguments_are_named(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": [
            {"type": "function", "function": {"name": "f", "arguments": "{not json"}}]}]},
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "tools": "nope"}])
    errors = import_dataset(path).errors
    assert [e.category for e in errors] == ["invalid tool call", "invalid tools"]
    assert "arguments of 'f' are not valid JSON" in errors[0].detail


def test_media_content_parts_refuse_the_file(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "vision.jsonl", [{"messages": [
        {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                     {"type": "image_url", "image_url": {"url": "cat.png"}}]},
        {"role": "assistant", "content": "A cat."}]}])
    with pytest.raises(DataError, match="image_url.*holds images"):
        import_dataset(path)


def test_openai_legacy_function_calling(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "functions.jsonl", [{"messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "function_call": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
        {"role": "function", "name": "get_weather", "content": "18C and sunny"},
        {"role": "assistant", "content": "It is 18C and sunny."}], "functions": [WEATHER]}])
    [view] = views(path)
    assert view["text"] == (f"<|system|>{TOOL_PROMPT}<|user|>Weather in Paris?<|eos|><|assistant|>{CALL}<|eos|>"
                            "<|tool|>18C and sunny<|eos|><|assistant|>It is 18C and sunny.<|eos|>")
    assert view["trained_text"] == f"{CALL}<|eos|>It is 18C and sunny.<|eos|>"
    assert import_dataset(path).warnings == []


def test_odd_but_valid_turn_fields_and_malformed_ones(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "odd.jsonl", [
        {"messages": [{"role": "user", "content": "q", "tool_calls": []},            # exports write [] for "no call"
                      {"role": "assistant", "content": "a", "tool_calls": [],
                       "thinking": [{"type": "thinking", "thinking": "hm"}]}]},       # reasoning as parts
        {"messages": [{"role": "user", "content": "q"},
                      {"role": "assistant", "content": "a", "thinking": {"text": "hm"}}]},
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "abc",
                                                         "train_detail": [{"begin_offset": True, "end_offset": 1,
                                                                           "train": False}]}]}])
    report = import_dataset(path)
    assert report.records[0].messages[1] == {"role": "assistant", "content": "a", "reasoning_content": "hm"}
    assert [(e.line, e.category) for e in report.errors] == [(2, "wrong type"), (3, "wrong type")]
    assert "'thinking' must be text" in report.errors[0].detail


def test_loss_on_all_keeps_a_row_whose_answers_are_all_weight_zero(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "w0.jsonl", [{"messages": [
        {"role": "user", "content": "Q"}, {"role": "assistant", "content": "A", "weight": 0}]}])
    assert import_dataset(path).errors[0].category == "nothing to train"
    [view] = views(path, loss_on="all")
    assert view["trained_text"] == "<|user|>Q<|eos|><|assistant|>"


def test_sft_split_with_preference_columns_trains_its_messages(tmp_path: Path) -> None:
    # As HuggingFaceH4's ultrafeedback_binarized train_sft: prompt, chosen, rejected and the SFT messages.
    conversation = [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]
    path = write_jsonl(tmp_path / "train_sft.jsonl", [{
        "prompt": "2+2?", "prompt_id": "x1", "messages": conversation, "chosen": conversation,
        "rejected": [conversation[0], {"role": "assistant", "content": "5"}], "score_chosen": 9.0}])
    report = import_dataset(path)
    assert report.format == "chat" and len(report.records) == 1
    assert report.warnings[0].startswith("columns not used for training: chosen, prompt, prompt_id, rejected, score_chosen")
