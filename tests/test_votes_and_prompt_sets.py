"""Blind votes and their tally, prompt files and the exported comparison table, saved conversations.

No model runs here: these are the torch-free parts the chat pane and `studio compare` build on.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

from helpers import chat, last_json, studio, write_jsonl
from studio.core.chat_protocol import ChatState, Sampling, generate_command
from studio.core.conversation import Conversation
from studio.core.errors import ConfigError, DataError, WorkspaceError
from studio.core.prompt_sets import CompareRow, PromptItem, export_rows, load_prompt_file, run_prompt_set, score, \
    summarize
from studio.core.votes import blind_order, read_votes, record_vote, tally, tally_for
from studio.core.workspace import Workspace


def test_votes_tally_and_win_rate(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "home")
    for a, b, winner in [("base", "tuned", "b"), ("tuned", "base", "a"), ("base", "tuned", "tie"),
                         ("base", "tuned", "a"), ("tuned", "other", "a")]:
        record_vote(ws, a, b, winner, prompt="q")
    pairs = {(p.first, p.second): p for p in tally(read_votes(ws))}
    pair = pairs[("base", "tuned")]
    assert (pair.wins_first, pair.wins_second, pair.ties, pair.total) == (1, 2, 1, 4)
    assert pair.win_rate("tuned") == pytest.approx(2.5 / 4) and pair.win_rate("base") == pytest.approx(1.5 / 4)
    assert pairs[("other", "tuned")].wins_second == 1
    assert tally_for(ws, "tuned", "base").total == 4 and tally_for(ws, "x", "y").total == 0
    with pytest.raises(WorkspaceError, match="not one of"):
        record_vote(ws, "base", "tuned", "c")
    # a damaged line (an editor, a full disk) is skipped, the rest still counts
    path = ws.home / "votes.jsonl"
    path.write_text(path.read_text() + '{"a": "base", "b": \n')
    assert len(read_votes(ws)) == 5
    assert not list(ws.home.glob(".tmp-*"))


def test_blind_order_is_a_fair_coin() -> None:
    rng = random.Random(1)
    orders = [blind_order("x", "y", rng) for _ in range(200)]
    swapped = sum(s for _, _, s in orders)
    assert 70 < swapped < 130
    assert all((a, b) == (("y", "x") if s else ("x", "y")) for a, b, s in orders)


def test_votes_cli(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert studio("votes", "record", "base", "tuned", "b", "--prompt", "hi", home=home).returncode == 0
    assert studio("votes", "record", "tuned", "base", "tie", home=home).returncode == 0
    out = last_json(studio("votes", "show", "--json", home=home).stdout)
    assert out["votes"] == 2
    assert out["pairs"] == [{"pair": ["base", "tuned"], "wins": {"base": 0, "tuned": 1}, "ties": 1, "total": 2,
                             "win_rate": {"base": 0.25, "tuned": 0.75}}]
    shown = studio("votes", "show", home=home)
    assert "base vs tuned: 2 votes" in shown.stdout and "75%" in shown.stdout


def test_prompt_files(tmp_path: Path) -> None:
    txt = tmp_path / "p.txt"
    txt.write_text("first question\n\n  second question \n")
    items = load_prompt_file(txt)
    assert [i.text for i in items] == ["first question", "second question"] and items[0].expected is None
    plain = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "2+2?", "expected": "4"}, {"prompt": "capital of France?"}])
    items = load_prompt_file(plain)
    assert [(i.text, i.expected) for i in items] == [("2+2?", "4"), ("capital of France?", None)]
    assert items[0].turn == [{"role": "user", "content": "2+2?"}]
    chats = write_jsonl(tmp_path / "c.jsonl", [chat("q1", "a1", system="sys"), chat("q2", "a2")])
    items = load_prompt_file(chats, limit=1)
    assert len(items) == 1 and items[0].expected == "a1" and items[0].turn[-1] == {"role": "user", "content": "q1"}
    completions = write_jsonl(tmp_path / "pc.jsonl", [{"prompt": "Once upon", "completion": " a time"}])
    assert load_prompt_file(completions)[0].turn == "Once upon"       # raw text, as trained
    with pytest.raises(DataError, match="does not exist"):
        load_prompt_file(tmp_path / "missing.txt")


def test_scores() -> None:
    assert score(" billing\n", "billing") == (True, 1.0)
    exact, similarity = score("billings", "billing")
    assert exact is False and 0.9 < similarity < 1
    assert score("x", None) == (None, None)


def test_run_and_export_table(tmp_path: Path) -> None:
    items = [PromptItem([{"role": "user", "content": "ticket one"}], "billing", "e.jsonl:1"),
             PromptItem([{"role": "user", "content": 'a "quoted", comma'}], "refund", "e.jsonl:2"),
             PromptItem("raw prompt", None, "e.jsonl:3")]
    asked = []

    def fake_generate(turns: dict) -> dict:
        asked.append(turns)
        return {"a": {"text": "???", "tokens": 3, "tokens_per_s": 10.0},
                "b": {"text": "billing" if len(asked) == 1 else "refunds", "tokens": 2, "tokens_per_s": 9.0}}

    rows = run_prompt_set(items, fake_generate, ["a", "b"])
    assert asked[0] == {"a": items[0].turn, "b": items[0].turn}       # the same prompt to both slots
    labels = {"a": "base", "b": "tuned"}
    summary = summarize(rows, labels)
    assert summary["b"]["exact"] == 1 and summary["b"]["scored"] == 2 and summary["a"]["accuracy"] == 0
    csv_path = export_rows(rows, labels, tmp_path / "out" / "table.csv")
    with open(csv_path, newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert [r["prompt"] for r in table] == ["ticket one", 'a "quoted", comma', "raw prompt"]
    assert table[0]["b_answer"] == "billing" and table[0]["b_exact"] == "True" and table[1]["b_exact"] == "False"
    assert table[0]["a_spec"] == "base" and table[2]["expected"] == ""
    jsonl = export_rows(rows, labels, tmp_path / "table.jsonl")
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert lines[1]["b_similarity"] == score("refunds", "refund")[1] and lines[2]["a_exact"] is None
    with pytest.raises(DataError, match="csv or .jsonl"):
        export_rows(rows, labels, tmp_path / "table.xlsx")


def test_conversation_multi_turn_regenerate_save_load(tmp_path: Path) -> None:
    conv = Conversation.ab("base", "tuned", system="be brief", sampling=Sampling(0.7, 0.9, 32, 5))
    turns = conv.ask("hello")
    assert turns == {"a": [{"role": "user", "content": "hello"}], "b": [{"role": "user", "content": "hello"}]}
    conv.answer("a", "hi from base", {"tokens": 3, "tokens_per_s": 12.5})
    conv.answer("b", "hi from tuned", {"tokens": 4, "tokens_per_s": 11.0})
    again = conv.undo_answers()
    assert again == turns and conv.columns["a"].stats == []
    conv.answer("a", "hello!", {"tokens": 2, "tokens_per_s": 10.0})
    conv.answer("b", "hey", {"tokens": 1, "tokens_per_s": 9.0})
    second = conv.ask("and then?")
    assert second["b"][-2:] == [{"role": "assistant", "content": "hey"}, {"role": "user", "content": "and then?"}]
    conv.answer("a", "fine")
    with pytest.raises(DataError, match="no question waiting"):
        conv.answer("a", "twice")
    saved = conv.save(tmp_path / "conv.json")
    back = Conversation.load(saved)
    assert back.columns["b"].messages == conv.columns["b"].messages and back.sampling == conv.sampling
    assert back.system == "be brief"
    md = conv.save(tmp_path / "conv.md").read_text()
    assert "## A: base" in md and "**Assistant:** hey" in md and "10.0 tokens/s" in md
    with pytest.raises(DataError, match="not a LoRA Studio conversation"):
        Conversation.load(write_jsonl(tmp_path / "x.json", [{"a": 1}]))


def test_sampling_validation_and_chat_state() -> None:
    with pytest.raises(ConfigError, match="--temperature"):
        Sampling(temperature=-1).validate()
    with pytest.raises(ConfigError, match="--top-p"):
        Sampling(top_p=0).validate()
    command = generate_command("r1", {"a": [{"role": "user", "content": "q"}], "b": "raw"}, Sampling())
    assert command["slots"] == [{"slot": "a", "messages": [{"role": "user", "content": "q"}]},
                                {"slot": "b", "prompt": "raw"}]
    state = ChatState()
    state.expect("r1", ["a", "b"])
    for event in [{"type": "token", "id": "r1", "slot": "a", "text": "he", "index": 0},
                  {"type": "token", "id": "r1", "slot": "b", "text": "x", "index": 0},
                  {"type": "token", "id": "r1", "slot": "a", "text": "llo", "index": 1},
                  {"type": "generated", "id": "r1", "slot": "a", "text": "hello", "tokens": 2, "tokens_per_s": 5.0}]:
        state.apply(event)
    assert state.answers["r1"]["a"].text == "hello" and state.answers["r1"]["a"].done
    assert state.answers["r1"]["b"].text == "x" and state.status == "generating"
    state.apply({"type": "generated", "id": "r1", "slot": "b", "text": "xy", "tokens": 2})
    assert state.status == "ready"
