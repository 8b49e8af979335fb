"""Prediction samples during training: greedy answers to held-out prompts at each evaluation.

The slow tests train the tiny model for real and check the `predictions` events against an
independent greedy generation with plain transformers + peft on the saved adapter; the others
check the replay (RunHistory) and the end-of-turn detection without a model.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers import chat, last_json, studio, write_jsonl
from studio.core.config import RunConfig
from studio.core.prompt_sets import score
from studio.core.run_history import PREDICTION_EVALS, RunHistory
from studio.core.run_setup import create_run
from studio.core.runs import EVENTS
from studio.core.worker_process import WorkerProcess
from studio.core.workspace import Workspace

ROW_FIELDS = {"prompt", "expected", "answer", "exact", "similarity", "tokens", "finish", "source"}


@pytest.fixture()
def data(demo_data: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    train = write_jsonl(tmp_path / "train.jsonl", demo_data[0].read_text().splitlines()[:96])
    held_out = write_jsonl(tmp_path / "eval.jsonl", demo_data[1].read_text().splitlines()[:8])
    return train, held_out


def new_run(home: Path, tiny_model: Path, data: tuple[Path, Path], name: str, quant: str = "none",
            **train: object) -> Path:
    config = RunConfig(name=name)
    config.model.name_or_path, config.model.quant = str(tiny_model), quant
    config.data.path, config.data.eval_path = str(data[0]), str(data[1])
    config.data.max_len = 256
    config.lora.rank, config.lora.dropout = 8, 0.0
    t = config.train
    t.lr, t.batch_size, t.max_steps, t.eval_every, t.save_every, t.log_every = 3e-3, 8, 6, 3, 0, 1
    for key, value in train.items():
        setattr(config.train, key, value)
    return create_run(Workspace.open(home), config)


def train(run_dir: Path) -> list[dict]:
    worker = WorkerProcess(["train", "--run-dir", str(run_dir)])
    events = list(worker.events())
    assert worker.wait() == 0, [e for e in events if e["type"] == "error"]
    return events


def independent_answers(tiny_model: Path, adapter: Path, prompts: list[list[dict]], max_new_tokens: int) -> list[str]:
    """Greedy answers of the saved adapter with plain transformers + peft, as a user would get them."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), str(adapter)).eval()
    answers = []
    for messages in prompts:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                                 do_sample=False, eos_token_id=tokenizer.eos_token_id,
                                 pad_token_id=tokenizer.pad_token_id)
        answers.append(tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip())
    return answers


@pytest.mark.slow
def test_each_evaluation_answers_the_same_held_out_prompts_greedily(home: Path, tiny_model: Path, data) -> None:
    run_dir = new_run(home, tiny_model, data, "samples", sample_predictions=2, sample_max_tokens=12)
    events = train(run_dir)
    predictions = [e for e in events if e["type"] == "predictions"]
    evals = [e for e in events if e["type"] == "eval"]
    assert [p["step"] for p in predictions] == [e["step"] for e in evals] == [3, 6]
    assert not [e for e in events if e["type"] == "warning" and e.get("kind") == "predictions"]

    held_out = [json.loads(line)["messages"] for line in data[1].read_text().splitlines()[:2]]
    for event in predictions:
        assert event["max_new_tokens"] == 12 and event["seconds"] > 0
        rows = event["rows"]
        assert len(rows) == 2 and all(set(r) == ROW_FIELDS for r in rows)
        # the first two eval records, in file order, at every evaluation
        assert [r["prompt"] for r in rows] == [m[1]["content"] for m in held_out]
        assert [r["expected"] for r in rows] == [m[2]["content"] for m in held_out]
        for row in rows:
            assert (row["exact"], row["similarity"]) == score(row["answer"], row["expected"])
            assert 0 < row["tokens"] <= 12 and row["finish"] in ("eos", "length")
            assert row["source"].startswith("eval.jsonl:")
        assert event["exact_match"] == sum(r["exact"] for r in rows) / 2

    # The answers at the last evaluation are what greedy decoding of the saved adapter gives.
    done = next(e for e in events if e["type"] == "done")
    expected = independent_answers(tiny_model, Path(done["adapter"]), [m[:2] for m in held_out], 12)
    assert [r["answer"] for r in predictions[-1]["rows"]] == expected

    history = RunHistory.from_file(run_dir / EVENTS)
    assert sorted(history.predictions) == [3, 6] and history.latest_predictions["rows"] == predictions[-1]["rows"]
    assert history.exact_match == {p["step"]: p["exact_match"] for p in predictions}
    assert history.prediction_time == pytest.approx(sum(p["seconds"] for p in predictions), abs=1e-3)
    assert history.stage_times["train"] >= history.prediction_time    # a part of the train stage

    shown = studio("runs", "show", run_dir.name, "--json", home=home)
    assert shown.returncode == 0, shown.stderr
    run = last_json(shown.stdout)["run"]
    assert run["predictions"]["step"] == 6 and run["predictions"]["rows"] == predictions[-1]["rows"]
    assert run["exact_match"] == {"3": predictions[0]["exact_match"], "6": predictions[1]["exact_match"]}
    assert run["prediction_seconds"] == history.prediction_time
    text = studio("runs", "show", run_dir.name, home=home)
    assert text.returncode == 0, text.stderr
    assert "predictions    step 6: exact match" in text.stdout
    assert "exact match by evaluation:" in text.stdout
    assert text.stdout.count("expected '") == 2


@pytest.mark.slow
def test_samples_off_emit_nothing_and_samples_on_do_not_change_the_training(home: Path, tiny_model: Path,
                                                                           data) -> None:
    off_dir = new_run(home, tiny_model, data, "off", sample_predictions=0)
    events = train(off_dir)
    assert not [e for e in events if e["type"] == "predictions"]
    assert [e["step"] for e in events if e["type"] == "eval"] == [3, 6]
    assert RunHistory.from_file(off_dir / EVENTS).latest_predictions is None
    # the same run with samples: same seed, same losses (generation draws no random numbers)
    on_dir = new_run(home, tiny_model, data, "on", sample_predictions=2)
    train(on_dir)
    on, off = RunHistory.from_file(on_dir / EVENTS), RunHistory.from_file(off_dir / EVENTS)
    assert len(on.predictions) == 2
    assert on.series["loss"] == off.series["loss"] and on.series["eval_loss"] == off.series["eval_loss"]


@pytest.mark.slow
def test_samples_work_with_4bit_and_gradient_checkpointing(home: Path, tiny_model: Path, data) -> None:
    run_dir = new_run(home, tiny_model, data, "qlora", quant="4bit", sample_predictions=1, sample_max_tokens=6,
                      grad_checkpointing=True, max_steps=4, eval_every=2)
    events = train(run_dir)
    predictions = [e for e in events if e["type"] == "predictions"]
    assert [p["step"] for p in predictions] == [2, 4]
    assert all(len(p["rows"]) == 1 and 0 < p["rows"][0]["tokens"] <= 6 for p in predictions)
    assert not [e for e in events if e["type"] == "warning" and e.get("kind") == "predictions"]
    losses = RunHistory.from_file(run_dir / EVENTS).points("loss")[1]
    assert len(losses) == 4 and all(loss == loss for loss in losses)     # trained on after each sample


def test_prompts_are_the_first_held_out_records_with_an_answer(tmp_path: Path) -> None:
    from studio.engine.demo_model import build_tokenizer
    from studio.engine.prediction_samples import sample_prompts
    from studio.engine.training import load_records

    tokenizer = build_tokenizer()
    config = RunConfig()
    config.data.skip_bad_rows = True          # the row without an answer is left out, as training leaves it
    config.data.path = str(write_jsonl(tmp_path / "train.jsonl", [chat("train?", "no")]))
    config.data.eval_path = str(write_jsonl(tmp_path / "chat.jsonl", [
        {"messages": [{"role": "user", "content": "no answer yet"}]}, chat("first?", "one", "Be brief."),
        chat("x" * 400, "too long"), chat("second?", "two"), chat("third?", "three")]))
    prompts = sample_prompts(tokenizer, load_records(config)[1], 2, 256)
    assert [(p.text, p.expected) for p in prompts] == [("first?", "one"), ("second?", "two")]
    rendered = tokenizer.apply_chat_template([{"role": "system", "content": "Be brief."},
                                              {"role": "user", "content": "first?"}],
                                             tokenize=False, add_generation_prompt=True)
    assert tokenizer.decode(prompts[0].ids) == rendered and rendered.endswith("<|assistant|>")

    config.data.eval_path = str(write_jsonl(tmp_path / "completion.jsonl", [{"prompt": "2+2=", "completion": "4"}]))
    [prompt] = sample_prompts(tokenizer, load_records(config)[1], 4, 256)
    assert prompt.ids == tokenizer("2+2=", add_special_tokens=True)["input_ids"] and prompt.expected == "4"

    config.data.eval_path = str(write_jsonl(tmp_path / "text.jsonl", [{"text": "plain text has no answer"}]))
    assert sample_prompts(tokenizer, load_records(config)[1], 4, 256) == []


def test_stop_ids_include_the_templates_end_of_turn_token() -> None:
    from chat_templates import CHATML
    from studio.engine.demo_model import build_tokenizer
    from studio.engine.prediction_samples import stop_ids

    tokenizer = build_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tokenizer.chat_template = CHATML
    model = SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=2))
    assert stop_ids(model, tokenizer) == sorted({2, tokenizer.convert_tokens_to_ids("<|im_end|>")})


def predictions_event(step: int, exact: list[bool]) -> dict:
    rows = [{"prompt": f"q{i}", "expected": "a", "answer": "a" if e else "b", "exact": e,
             "similarity": 1.0 if e else 0.0} for i, e in enumerate(exact)]
    return {"v": 1, "type": "predictions", "step": step, "rows": rows, "exact_match": sum(exact) / len(exact),
            "mean_similarity": sum(exact) / len(exact), "seconds": 0.5}


def test_history_keeps_recent_rows_and_every_score() -> None:
    history = RunHistory()
    for step in range(1, PREDICTION_EVALS + 11):
        history.apply(predictions_event(step * 10, [step % 2 == 0, True]))
    assert len(history.predictions) == PREDICTION_EVALS and min(history.predictions) == 110
    assert len(history.exact_match) == PREDICTION_EVALS + 10 and history.exact_match[10] == 0.5
    assert history.latest_predictions["step"] == (PREDICTION_EVALS + 10) * 10
    assert history.prediction_time == pytest.approx(0.5 * (PREDICTION_EVALS + 10))
    assert history.prediction_events == PREDICTION_EVALS + 10

    history.apply(predictions_event(200, [False, False]))   # re-done after a resume: replaces the old one
    assert history.predictions[200]["exact_match"] == 0.0 and history.exact_match[200] == 0.0
    assert history.latest_predictions["step"] == (PREDICTION_EVALS + 10) * 10
    assert len(history.prediction_seconds) == PREDICTION_EVALS + 10
    history.apply(predictions_event(10, [True, True]))      # re-done, older than every kept one
    assert 10 not in history.predictions and history.exact_match[10] == 1.0
