"""Dataset import: every format and file type, detection, mapping, and every kind of bad row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import chat, write_jsonl
from studio.core.datasets import fingerprint, import_dataset, require_clean, split_records
from studio.core.errors import DataError

MESSAGES = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]


def test_openai_chat_jsonl(tmp_path: Path) -> None:
    report = import_dataset(write_jsonl(tmp_path / "a.jsonl", [chat("q1", "a1", "sys"), chat("q2", "a2")]))
    assert report.format == "chat" and report.detected
    assert [r.messages for r in report.records][1] == [{"role": "user", "content": "q2"},
                                                       {"role": "assistant", "content": "a2"}]
    assert report.records[0].source == "a.jsonl:1"


def test_sharegpt_maps_roles_and_system(tmp_path: Path) -> None:
    row = {"system": "be brief", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}
    report = import_dataset(write_jsonl(tmp_path / "s.jsonl", [row]))
    assert report.format == "sharegpt"
    assert report.records[0].messages == [{"role": "system", "content": "be brief"},
                                          {"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]


def test_alpaca_with_input_system_and_history(tmp_path: Path) -> None:
    rows = [{"instruction": "Translate", "input": "chat", "output": "cat", "system": "S",
             "history": [["hi", "hello"]]}, {"instruction": "Say hi", "input": "", "output": "hi"}]
    report = import_dataset(write_jsonl(tmp_path / "al.jsonl", rows))
    assert report.format == "alpaca"
    assert report.records[0].messages == [
        {"role": "system", "content": "S"}, {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"}, {"role": "user", "content": "Translate\n\nchat"},
        {"role": "assistant", "content": "cat"}]
    assert report.records[1].messages[0] == {"role": "user", "content": "Say hi"}


@pytest.mark.parametrize("cols", [("prompt", "completion"), ("question", "answer"), ("query", "response")])
def test_completion_and_its_aliases(tmp_path: Path, cols: tuple[str, str]) -> None:
    report = import_dataset(write_jsonl(tmp_path / "c.jsonl", [{cols[0]: "2+2=", cols[1]: "4"}]))
    assert report.format == "completion"
    assert (report.records[0].prompt, report.records[0].completion) == ("2+2=", "4")


def test_explicit_mapping_overrides_detection(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "m.jsonl", [{"q": "a?", "a": "b", "text": "ignored"}])
    assert import_dataset(path).format == "text"
    report = import_dataset(path, "completion", {"prompt": "q", "completion": "a"})
    assert (report.records[0].prompt, report.records[0].completion, report.detected) == ("a?", "b", False)


def test_mapping_to_missing_column_lists_columns(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "m.jsonl", [{"q": "a?", "a": "b"}])
    with pytest.raises(DataError, match="(?s)no column 'question'.*a, q"):
        import_dataset(path, "completion", {"prompt": "question", "completion": "a"})


def test_undetectable_format_says_which_columns(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        import_dataset(write_jsonl(tmp_path / "x.jsonl", [{"foo": 1, "bar": 2}]))
    assert "bar, foo" in str(info.value) and "--format" in info.value.hint


def test_text_file_paragraphs_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "book.txt"
    path.write_text("First para\nstill first.\n\n\nSecond para.\n", encoding="utf-8")
    report = import_dataset(path)
    assert report.format == "text"
    assert [r.text for r in report.records] == ["First para\nstill first.", "Second para."]
    assert [r.source for r in report.records] == ["book.txt:1", "book.txt:5"]


def test_csv_with_multiline_cell_and_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text('prompt,completion\n"two\nlines",ok\nfine,yes\nbroken\n', encoding="utf-8")
    report = import_dataset(path)
    assert [r.prompt for r in report.records] == ["two\nlines", "fine"]
    assert [r.source for r in report.records] == ["d.csv:2", "d.csv:4"]
    assert str(report.errors[0]) == "d.csv:5: wrong number of fields: 1 fields, the header has 2"


def test_parquet_and_saved_dataset_folder(tmp_path: Path) -> None:
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [chat("q", "a"), {"messages": [{"role": "user", "content": "only a question"}]}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "d.parquet")
    report = import_dataset(tmp_path / "d.parquet")
    assert len(report.records) == 1
    assert str(report.errors[0]) == "d.parquet: row 2: no assistant message: the conversation has no assistant answer to learn from"
    datasets.Dataset.from_list([{"text": "hello world"}]).save_to_disk(str(tmp_path / "saved"))
    assert import_dataset(tmp_path / "saved").records[0].text == "hello world"


def test_json_array_reports_line_of_each_record(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text('[\n  {"text": "a"},\n  {"text": ""},\n  {"text": "c"}\n]\n', encoding="utf-8")
    report = import_dataset(path)
    assert [r.text for r in report.records] == ["a", "c"]
    assert str(report.errors[0]) == "d.json:3: empty content: 'text' is empty"
    (tmp_path / "w.json").write_text(json.dumps({"data": [{"text": "x"}]}))
    assert import_dataset(tmp_path / "w.json").records[0].text == "x"


def test_every_bad_row_reported_with_line_and_reason(tmp_path: Path) -> None:
    rows = [
        chat("ok", "fine"),
        '{"messages": [}',                                                    # 2 invalid JSON
        {"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]},  # 3
        {"messages": [{"role": "user", "content": "   "}, {"role": "assistant", "content": "y"}]},  # 4
        {"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "y"}]},     # 5
        {"messages": [{"role": "user"}]},                                      # 6 missing content
        {"messages": "hello"},                                                 # 7 wrong type
        "[1, 2]",                                                              # 8 not an object
        {"messages": [{"role": "user", "content": "q"}]},                      # 9 nothing to learn
        {"other": 1},                                                          # 10 missing field
    ]
    report = import_dataset(write_jsonl(tmp_path / "bad.jsonl", rows))
    assert len(report.records) == 1 and report.rejected == 9
    lines = {e.line: e.category for e in report.errors}
    assert lines == {2: "invalid JSON", 3: "unknown role", 4: "empty content", 5: "wrong type",
                     6: "missing field", 7: "wrong type", 8: "not a record", 9: "no assistant message",
                     10: "missing field"}
    assert report.reasons()["wrong type"] == 2
    with pytest.raises(DataError) as info:
        require_clean(report, allow_skip=False)
    assert "9 of 10 rows were rejected" in str(info.value) and "--skip-bad-rows" in info.value.hint
    require_clean(report, allow_skip=True)


def test_non_utf8_line_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "latin.jsonl"
    path.write_bytes(json.dumps(chat("ok", "fine")).encode() + b"\n" + '{"text": "caf\xe9"}'.encode("latin-1") + b"\n")
    report = import_dataset(path, "chat")
    assert report.errors[0].category == "not UTF-8 text" and report.errors[0].line == 2
    assert "re-save the file as UTF-8" in report.errors[0].detail


@pytest.mark.parametrize("name,content,words", [
    ("empty.jsonl", b"", "is empty"),
    ("d.xlsx", b"PK..", "unknown file type '.xlsx'"),
    ("d.parquet", b"not parquet at all", "not a readable Parquet file"),
    ("d.json", b'"just a string"', "must hold a list of records"),
])
def test_unreadable_files_give_one_clear_error(tmp_path: Path, name: str, content: bytes, words: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=words):
        import_dataset(path)


def test_missing_file_and_enormous_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        import_dataset(tmp_path / "nope.jsonl")
    big = {"text": "x" * 5_000_000}
    report = import_dataset(write_jsonl(tmp_path / "big.jsonl", [big]))
    assert len(report.records[0].text) == 5_000_000


def test_split_is_seeded_and_fingerprint_ignores_file_format(tmp_path: Path) -> None:
    rows = [chat(f"q{i}", f"a{i}") for i in range(50)]
    report = import_dataset(write_jsonl(tmp_path / "d.jsonl", rows))
    train, evals = split_records(report.records, 0.1, seed=3)
    again, _ = split_records(report.records, 0.1, seed=3)
    assert len(evals) == 5 and len(train) == 45 and train == again
    (tmp_path / "d.json").write_text(json.dumps(rows))
    assert fingerprint(import_dataset(tmp_path / "d.json").records) == fingerprint(report.records)
    assert split_records(report.records, 0.0, 1) == (report.records, [])
