"""Tool-call and reasoning conversations train end to end on the tiny model, whose template renders
tools and reasoning; what the run trained on is what `studio data show` shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import last_json, studio, write_jsonl
from studio.core.run_history import RunHistory
from studio.core.runs import EVENTS

pytestmark = pytest.mark.slow

SCHEMA = {"type": "function", "function": {"name": "lookup_order", "description": "Find an order by its number",
                                           "parameters": {"type": "object",
                                                          "properties": {"number": {"type": "integer"}}}}}


def tool_row(n: int) -> dict:
    return {"messages": [
        {"role": "user", "content": f"Where is order {n}?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": f"c{n}", "type": "function", "function": {"name": "lookup_order", "arguments": json.dumps({"number": n})}}]},
        {"role": "tool", "tool_call_id": f"c{n}", "content": f"order {n}: shipped"},
        {"role": "assistant", "content": f"Order {n} has shipped."}], "tools": [SCHEMA], "ticket": n}


def reasoning_row(n: int) -> dict:
    return {"messages": [{"role": "user", "content": f"What is {n} + {n}?"},
                         {"role": "assistant", "content": str(2 * n), "reasoning_content": f"{n} twice is {2 * n}."}]}


def test_tool_calls_and_reasoning_train_and_show_what_they_train(tiny_model: Path, home: Path, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "agent.jsonl", [tool_row(n) if n % 2 else reasoning_row(n) for n in range(1, 17)])

    shown = studio("data", "show", str(data), "--model", str(tiny_model), "--row", "1", "--row", "2", "--json")
    assert shown.returncode == 0, shown.stderr
    tool_view, reasoning_view = [json.loads(line) for line in shown.stdout.splitlines()]
    assert json.dumps(SCHEMA) in tool_view["text"]                               # the schema is in the prompt
    assert tool_view["trained_text"] == ('<tool_call>{"name": "lookup_order", "arguments": {"number": 1}}</tool_call>'
                                         "<|eos|>Order 1 has shipped.<|eos|>")
    assert "shipped<|eos|><|assistant|>" not in tool_view["trained_text"]        # not the tool's result
    assert reasoning_view["trained_text"] == "<think>2 twice is 4.</think>4<|eos|>"
    assert "column not used for training: ticket" in shown.stderr

    result = studio("train", "--model", str(tiny_model), "--data", str(data), "--max-steps", "4", "--batch-size", "4",
                    "--eval-split", "0", "--name", "agent", home=home)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "column not used for training: ticket" in result.stdout + result.stderr
    assert "8 tool calls" in result.stdout + result.stderr
    run_dir = next((home / "runs").iterdir())
    history = RunHistory.from_file(run_dir / EVENTS)
    assert history.status == "completed" and (home / "adapters" / "agent" / "adapter_model.safetensors").is_file()
    turns = history.data_stats["turns"]
    assert (turns["tool_calls"], turns["tool_results"], turns["reasoning_turns"], turns["records_with_tools"]) == (8, 8, 8, 8)

    # The labels training used (from the tokenized cache) are the ones `data show` printed.
    from datasets import load_from_disk
    from transformers import AutoTokenizer

    [entry] = (home / "cache" / "tokenized").iterdir()
    first = load_from_disk(str(entry / "dataset"))[0]
    assert first["input_ids"] == tool_view["input_ids"] and first["labels"] == tool_view["labels"]
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    trained = tokenizer.decode([t for t, label in zip(first["input_ids"], first["labels"]) if label != -100])
    assert trained == tool_view["trained_text"]


def test_a_template_that_cannot_render_tools_stops_the_run_before_the_model_loads(tiny_model: Path, home: Path,
                                                                                   tmp_path: Path) -> None:
    import chat_templates

    template = tmp_path / "chatml.jinja"
    template.write_text(chat_templates.CHATML, encoding="utf-8")
    data = write_jsonl(tmp_path / "tools.jsonl", [tool_row(n) for n in range(1, 5)])
    result = studio("train", "--model", str(tiny_model), "--data", str(data), "--chat-template", str(template),
                    "--max-steps", "1", "--json", home=home)
    assert result.returncode == 2, result.stderr + result.stdout
    error = last_json(result.stdout)["error"]
    assert "does not render tool definitions" in error["message"] and "--chat-template" in error["hint"]
    events = [json.loads(line) for line in (next((home / "runs").iterdir()) / EVENTS).read_text().splitlines()]
    assert "load_model" not in [e.get("name") for e in events if e["type"] == "stage"]
