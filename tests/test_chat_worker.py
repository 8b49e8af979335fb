"""The inference worker for real: one base model, adapters attached by name, two slots streaming at once.

One worker serves the whole module (loading the base and attaching adapters is what is being
tested, and it is the slow part); the workspace has the trained demo adapter and a 4-step one.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import last_json, studio
from studio.core.chat_client import ChatClient
from studio.core.chat_protocol import Sampling
from studio.core.demo_data import SYSTEM
from studio.core.errors import StudioError
from studio.core.prompt_sets import eval_prompts, run_prompt_set, summarize
from studio.core.workspace import Workspace

pytestmark = pytest.mark.slow
DEMO = "demo-ticket-classifier"


@pytest.fixture(scope="module")
def client(trained_home: Path) -> Iterator[ChatClient]:
    with ChatClient(trained_home) as chat_client:
        yield chat_client


@pytest.fixture(scope="module")
def held_out(trained_home: Path) -> list:
    items, origin, warnings = eval_prompts(Workspace.open(trained_home), DEMO)
    assert origin.endswith("eval.jsonl") and warnings == [] and len(items) == 100
    return items


def test_two_slots_stream_at_the_same_time(client: ChatClient, held_out: list) -> None:
    events: list[dict] = []
    loaded = client.load("", {"a": "base", "b": DEMO}, on_event=events.append)   # base taken from studio.json
    assert loaded["base"].endswith("demo/base-model") and loaded["slots"]["a"]["adapter"] is None
    assert loaded["slots"]["b"]["adapter"] and loaded["slots"]["b"]["template_differs"] is False
    assert [e["what"] for e in events if e["type"] == "progress"][-1] == DEMO
    tokens: list[dict] = []
    item = held_out[0]
    answers = client.generate({"a": item.turn, "b": item.turn}, Sampling(max_new_tokens=16),
                              on_event=lambda e: tokens.append(e) if e["type"] == "token" else None)
    order = [t["slot"] for t in tokens]
    assert order.index("b") < len(order) - 1 - order[::-1].index("a"), order   # interleaved, not one after the other
    assert "".join(t["text"] for t in tokens if t["slot"] == "b") == answers["b"]["text"]
    assert answers["b"]["text"] == item.expected and answers["b"]["finish_reason"] == "eos"
    assert answers["a"]["text"] != answers["b"]["text"]
    assert answers["a"]["tokens_per_s"] > 0 and answers["b"]["prompt_tokens"] == answers["a"]["prompt_tokens"]


def test_demo_adapter_labels_held_out_prompts(client: ChatClient, held_out: list) -> None:
    client.load("", {"a": "base", "b": DEMO})
    rows = run_prompt_set(held_out[:30], lambda turns: client.generate(turns, Sampling(max_new_tokens=12)), ["a", "b"])
    summary = summarize(rows, {"a": "base", "b": DEMO})
    assert summary["b"]["accuracy"] >= 0.9, summary
    assert summary["a"]["accuracy"] <= 0.1, summary


def test_same_adapter_and_seed_give_identical_answers(client: ChatClient, held_out: list) -> None:
    loaded = client.load("", {"a": "quick", "b": "quick"})
    assert loaded["slots"]["a"]["adapter"] == loaded["slots"]["b"]["adapter"]   # attached once
    turn = held_out[1].turn
    first = client.generate({"a": turn, "b": turn}, Sampling(temperature=1.0, top_p=0.95, max_new_tokens=24, seed=11))
    assert first["a"]["text"] == first["b"]["text"] and first["a"]["tokens"] == first["b"]["tokens"]
    again = client.generate({"a": turn, "b": turn}, Sampling(temperature=1.0, top_p=0.95, max_new_tokens=24, seed=11))
    assert again["a"]["text"] == first["a"]["text"]
    other_seed = client.generate({"a": turn}, Sampling(temperature=1.0, top_p=0.95, max_new_tokens=24, seed=12))
    assert other_seed["a"]["text"] != first["a"]["text"]


def test_different_adapters_give_different_answers(client: ChatClient, held_out: list) -> None:
    loaded = client.load("", {"a": DEMO, "b": "quick"})
    assert loaded["slots"]["a"]["adapter"] != loaded["slots"]["b"]["adapter"]
    differ = 0
    for item in held_out[2:8]:
        answers = client.generate({"a": item.turn, "b": item.turn}, Sampling(max_new_tokens=12))
        assert answers["a"]["text"] == item.expected
        differ += answers["b"]["text"] != answers["a"]["text"]
    # the 4-step adapter answers some tickets right too, by chance: it must not answer all as the demo does
    assert differ >= 2, differ


def test_stop_ends_a_generation(client: ChatClient, held_out: list) -> None:
    client.load("", {"a": "base", "b": DEMO})
    seen: list[dict] = []

    def on_event(event: dict) -> None:
        if event["type"] == "token" and event["slot"] == "a":
            seen.append(event)
            if len(seen) == 2:
                client.stop(slot="a")

    answers = client.generate({"a": held_out[0].turn, "b": held_out[0].turn}, Sampling(max_new_tokens=1000),
                              on_event=on_event)
    assert answers["a"]["finish_reason"] == "stopped" and answers["a"]["tokens"] < 40
    assert answers["b"]["text"] == held_out[0].expected      # the other slot was not stopped


def test_checkpoints_of_a_run_and_detaching(client: ChatClient, trained_home: Path, held_out: list) -> None:
    run = next(p for p in (trained_home / "runs").iterdir() if p.name.endswith("-quick"))
    loaded = client.load("", {"a": f"run:{run.name}", "b": str(run / "checkpoints" / "checkpoint-2")})
    assert loaded["slots"]["a"]["label"] == f"{run.name}@checkpoint-4"
    assert loaded["slots"]["b"]["kind"] == "checkpoint"
    answers = client.generate({"a": held_out[0].turn, "b": held_out[0].turn}, Sampling(max_new_tokens=8))
    assert answers["a"]["tokens"] > 0 and answers["b"]["tokens"] > 0
    plain = client.load(str(trained_home / "demo" / "base-model"), {"a": "base", "b": "base"})
    assert all(s["adapter"] is None for s in plain["slots"].values())     # adapters no slot uses are dropped
    again = client.generate({"a": held_out[0].turn}, Sampling(max_new_tokens=8))
    assert again["a"]["tokens"] > 0


def test_errors_are_reported_and_the_worker_stays_up(client: ChatClient, held_out: list) -> None:
    with pytest.raises(StudioError, match="no adapter 'no-such-adapter'"):
        client.load("", {"a": "base", "b": "no-such-adapter"})
    client.load("", {"a": "base", "b": DEMO})
    with pytest.raises(StudioError, match="slot 'c' is not loaded"):
        client.generate({"c": held_out[0].turn}, Sampling())
    answers = client.generate({"b": held_out[0].turn}, Sampling(max_new_tokens=12))
    assert answers["b"]["text"] == held_out[0].expected


def test_adapter_trained_with_another_template_uses_it_and_warns(client: ChatClient, trained_home: Path,
                                                                tmp_path: Path, held_out: list) -> None:
    folder = tmp_path / "other-template"
    shutil.copytree(trained_home / "adapters" / "quick", folder)
    record = json.loads((folder / "studio.json").read_text())
    record["chat_template"] = ("{% for m in messages %}### {{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                               "{% if add_generation_prompt %}### assistant: {% endif %}")
    (folder / "studio.json").write_text(json.dumps(record))
    client.load("", {"a": "quick", "b": str(folder)})
    warnings = [w for w in client.state.warnings if w.get("kind") == "chat_template"]
    assert warnings and warnings[-1]["slot"] == "b"
    answers = client.generate({"a": held_out[0].turn, "b": held_out[0].turn}, Sampling(max_new_tokens=4))
    assert answers["b"]["prompt_tokens"] > answers["a"]["prompt_tokens"]


def test_chat_and_compare_commands(copy_home: Path, tmp_path: Path, held_out: list) -> None:
    item = held_out[3]
    result = studio("chat", "--b", DEMO, "--prompt", item.text, "--system", SYSTEM, "--max-new-tokens", "12",
                    "--seed", "3", "--json", "--save", str(tmp_path / "conv.json"), home=copy_home)
    assert result.returncode == 0, result.stderr
    out = last_json(result.stdout)
    assert out["a"]["spec"] == "base" and out["b"]["spec"] == DEMO
    assert out["b"]["text"] == item.expected and out["a"]["text"] != item.expected
    saved = json.loads((tmp_path / "conv.json").read_text())
    assert saved["columns"]["b"]["messages"][-1] == {"role": "assistant", "content": item.expected}

    # without --system: the one the adapter was trained with (recorded in its studio.json)
    result = studio("chat", "--b", DEMO, "--prompt", item.text, "--max-new-tokens", "12", "--json", home=copy_home)
    assert result.returncode == 0, result.stderr
    out = last_json(result.stdout)
    assert out["system"] == SYSTEM and "600 of 600 training examples" in out["system_from"]
    assert out["b"]["text"] == item.expected
    result = studio("chat", "--b", DEMO, "--prompt", item.text, "--max-new-tokens", "12", "--system", "", "--json",
                    home=copy_home)
    assert result.returncode == 0 and last_json(result.stdout)["system"] == ""        # none, on purpose

    csv_out, jsonl_out = tmp_path / "table.csv", tmp_path / "table.jsonl"
    result = studio("compare", "--b", DEMO, "--limit", "10", "--max-new-tokens", "12", "--out", str(csv_out),
                    "--out", str(jsonl_out), "--json", home=copy_home)
    assert result.returncode == 0, result.stderr
    out = last_json(result.stdout)
    assert out["count"] == 10 and out["summary"]["b"]["accuracy"] >= 0.9 and out["summary"]["a"]["accuracy"] <= 0.1
    rows = [json.loads(line) for line in jsonl_out.read_text().splitlines()]
    assert len(rows) == 10 and rows[0]["expected"] == held_out[0].expected and rows[0]["b_spec"] == DEMO
    with open(csv_out, newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert [r["b_answer"] for r in table] == [r["b_answer"] for r in rows]
