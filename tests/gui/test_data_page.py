"""The Data page: open files, detected format and mapping, rejected rows, token lengths and the
label mask from the real preview worker."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QComboBox

from helpers import chat, write_jsonl


def data_page(window):  # noqa: ANN001, ANN201
    window.show_page("Data")
    return window.page("Data")


def test_open_csv_detects_format_and_mapping_changes_records(app, qtbot, tmp_path: Path) -> None:
    ctx, window = app
    page = data_page(window)
    csv = tmp_path / "qa.csv"
    csv.write_text("q,a,notes\nWhat is 2+2?,4,x\nCapital of France?,Paris,y\n", encoding="utf-8")
    page.open_file(csv)
    qtbot.waitUntil(lambda: page.banner.isVisible(), timeout=5000)
    assert "cannot tell the dataset format" in page.banner.body.text()    # q/a are not known names

    index = page.mapping.format.findData("completion")
    page.mapping.format.setCurrentIndex(index)
    qtbot.waitUntil(lambda: "column:prompt" in {c.objectName() for c in page.findChildren(QComboBox)}, timeout=5000)
    assert page.banner.isVisible()                                          # still no prompt column
    page.mapping.combos["prompt"].setCurrentText("q")
    page.mapping.combos["completion"].setCurrentText("a")
    qtbot.waitUntil(lambda: page.table.records_model.rowCount() == 2, timeout=5000)
    assert ctx.config.get("data.format") == "completion"
    assert ctx.config.get("data.columns") == {"prompt": "q", "completion": "a"}
    model = page.table.records_model
    assert model.data(model.index(1, 1)) == "Capital of France?" and model.data(model.index(1, 2)) == "Paris"
    assert not page.banner.isVisible()


def test_rejected_rows_are_listed_and_clickable(app, qtbot, tmp_path: Path) -> None:
    _ctx, window = app
    page = data_page(window)
    rows = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
            '{"messages": [broken', {"messages": [{"role": "user", "content": "no answer"}]}]
    page.open_file(write_jsonl(tmp_path / "mixed.jsonl", rows))
    qtbot.waitUntil(lambda: page.problems.tree.topLevelItemCount() == 2, timeout=5000)
    assert page.tabs.tabText(2) == "Problems (2)"
    assert page.table.records_model.rowCount() == 1
    first = page.problems.tree.topLevelItem(0)
    assert (first.text(0), first.text(1)) == ("mixed.jsonl:2", "invalid JSON")
    page.problems.select(1)
    assert "no assistant message" in page.problems.raw.toPlainText()
    assert '"no answer"' in page.problems.raw.toPlainText()              # the line as it is in the file
    assert page.banner.isVisible() and "2 of 3 rows" in page.banner.title.text()


def test_drop_a_file_opens_it(app, qtbot, tmp_path: Path) -> None:
    ctx, window = app
    page = data_page(window)
    path = write_jsonl(tmp_path / "dropped.jsonl", [{"text": "some text to learn"}])
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    page.dropEvent(event)
    assert ctx.config.get("data.path") == str(path)
    qtbot.waitUntil(lambda: page.table.records_model.rowCount() == 1, timeout=5000)


def test_token_lengths_and_label_mask_come_from_the_tokenizer(app, qtbot, small_data: Path) -> None:
    ctx, window = app
    page = data_page(window)
    qtbot.waitUntil(lambda: len(page.histogram.lengths) == 120 and 0 in page.masks.masks, timeout=120_000)
    first = json.loads(small_data.read_text().splitlines()[0])
    answer = first["messages"][-1]["content"]
    tokens = page.masks.masks[0]["tokens"]
    trained = "".join(text for text, counts in tokens if counts)
    assert trained == answer + "<|eos|>"                                  # only the answer (and EOS) is trained
    assert "<|user|>" in "".join(text for text, _ in tokens)
    assert ctx.longest_example == int(page.histogram.lengths.max())
    ctx.config.set("data.max_len", 100)                                   # recounted without tokenizing again
    longer = int((page.histogram.lengths > 100).sum())
    assert longer > 0 and f"{longer:,} (" in page.histogram.summary.text()
    assert page.histogram.cutoff.value() == 100


def test_tool_call_file_shows_its_notes_calls_and_label_mask(app, qtbot, tmp_path: Path) -> None:
    ctx, window = app
    page = data_page(window)
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}
    rows = [{"messages": [{"role": "user", "content": "Find 7 — 七"},
                          {"role": "assistant", "tool_calls": [{"type": "function",
                                                                "function": {"name": "lookup", "arguments": {"n": 7}}}]},
                          {"role": "tool", "content": "found"},
                          {"role": "assistant", "content": "Found it 👍", "weight": 1}],
             "tools": [tool], "ticket": 7}]
    page.open_file(write_jsonl(tmp_path / "tools.jsonl", rows))
    qtbot.waitUntil(lambda: page.report is not None and page.report.path.endswith("tools.jsonl"), timeout=5000)
    assert page.notes.isVisible() and "1 tool call," in page.notes.text() and "column not used for training: ticket" in page.notes.text()
    assert not page.banner.isVisible()                                      # a warning, not an error
    model = page.table.records_model
    assert 'tool: found' in model.data(model.index(0, 1)) and "tools: lookup" in model.data(model.index(0, 1))
    qtbot.waitUntil(lambda: 0 in page.masks.masks, timeout=120_000)
    tokens = page.masks.masks[0]["tokens"]
    text = "".join(t for t, _ in tokens)
    assert "七" in text and "👍" in text and "\ufffd" not in text           # characters never split
    assert "".join(t for t, on in tokens if on) == \
        '<tool_call>{"name": "lookup", "arguments": {"n": 7}}</tool_call><|eos|>Found it 👍<|eos|>'
    assert '"name": "lookup"' in page.masks.text.toPlainText()


def test_preference_file_is_refused_with_what_it_is_for(app, qtbot, tmp_path: Path) -> None:
    _ctx, window = app
    page = data_page(window)
    page.open_file(write_jsonl(tmp_path / "pref.jsonl", [{"prompt": "2+2?", "chosen": "4", "rejected": "5"}]))
    qtbot.waitUntil(lambda: page.banner.isVisible() and "preference" in page.banner.body.text(), timeout=5000)
    assert "DPO" in page.banner.body.text() and page.table.records_model.rowCount() == 0


def test_eval_file_that_is_the_training_file_is_warned(app, qtbot, small_data: Path, tmp_path: Path) -> None:
    ctx, window = app
    page = data_page(window)
    ctx.config.set("data.eval_path", str(small_data))
    qtbot.waitUntil(lambda: page.notes.isVisible() and "eval file is the training file" in page.notes.text(),
                    timeout=20_000)
    rows = small_data.read_text().splitlines()
    write_jsonl(tmp_path / "eval.jsonl", rows[:3] + [json.dumps(chat("a new question", "refund"))])
    ctx.config.set("data.eval_path", str(tmp_path / "eval.jsonl"))
    qtbot.waitUntil(lambda: "3 of 4 eval examples (75%) are also in the training data" in page.notes.text(),
                    timeout=20_000)


def test_preference_pairs_show_side_by_side_with_token_lengths(app, qtbot, tmp_path: Path) -> None:
    ctx, window = app
    page = data_page(window)
    user = [{"role": "user", "content": "What is the capital of France?"}]
    rows = [{"prompt": user, "chosen": [{"role": "assistant", "content": "Paris."}],
             "rejected": [{"role": "assistant", "content": "Lyon, I believe."}]},
            {"prompt": [{"role": "user", "content": "2+2?"}], "chosen": [{"role": "assistant", "content": "4"}],
             "rejected": [{"role": "assistant", "content": "five"}]}]
    ctx.config.set("train.objective", "dpo")
    page.open_file(write_jsonl(tmp_path / "pairs.jsonl", rows))
    qtbot.waitUntil(lambda: page.report is not None and page.report.path.endswith("pairs.jsonl"), timeout=5000)
    assert not page.banner.isVisible() and page.tabs.currentWidget() is page.pairs
    assert not page.tabs.isTabVisible(1)                               # no label mask for a preference objective
    assert "layout: TRL conversational preference, explicit prompt (2 rows); 2 preference pairs" in page.notes.text()
    model = page.table.records_model
    assert model.data(model.index(0, 2)) == "✓ Paris. ⏎ ✗ Lyon, I believe."
    pairs = page.pairs
    assert pairs.chosen.text.toPlainText() == "Paris." and pairs.rejected.text.toPlainText() == "Lyon, I believe."
    assert "6 characters" in pairs.chosen.title.text()                  # until the worker has counted tokens
    qtbot.waitUntil(lambda: bool(pairs.lengths), timeout=120_000)
    # The demo tokenizer is byte-level: an answer is its characters plus the end-of-turn token.
    assert pairs.chosen.title.text() == "✓ Chosen (preferred) · 7 tokens"
    assert pairs.rejected.title.text() == "✗ Rejected · 17 tokens"
    assert "tokens, counted with the tokenizer of" in pairs.unit.text()
    page.table.selectRow(1)
    assert pairs.index == 1 and pairs.rejected.text.toPlainText() == "five"
    assert pairs.rejected.title.text() == "✗ Rejected · 5 tokens"


def test_kto_rows_show_their_label(app, qtbot, tmp_path: Path) -> None:
    ctx, window = app
    page = data_page(window)
    ctx.config.set("train.objective", "kto")
    page.open_file(write_jsonl(tmp_path / "kto.jsonl", [{"prompt": "2+2 is", "completion": " 4", "label": True},
                                                        {"prompt": "2+2 is", "completion": " 5", "label": False}]))
    qtbot.waitUntil(lambda: page.report is not None and page.report.path.endswith("kto.jsonl"), timeout=5000)
    pairs = page.pairs
    assert pairs.chosen.title.text().startswith("✓ Desirable completion") and not pairs.rejected.isVisibleTo(pairs)
    pairs.show_record(1)
    assert pairs.chosen.title.text().startswith("✗ Undesirable completion")
    assert page.table.records_model.data(page.table.records_model.index(1, 2)) == "✗ undesirable:  5"
    ctx.config.set("train.objective", "dpo")                           # the same file for DPO is refused
    qtbot.waitUntil(lambda: page.banner.isVisible(), timeout=5000)
    assert "dpo needs preference pairs" in page.banner.body.text() and "--objective kto" in page.banner.body.text()
    assert page.table.records_model.rowCount() == 0 and not page.tabs.isTabVisible(3)
