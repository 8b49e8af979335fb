"""The workers the GUI uses instead of importing transformers: preview-data and download."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from helpers import ROOT, write_jsonl


def run_worker(*args: str, env: dict | None = None) -> list[dict]:
    result = subprocess.run([sys.executable, "-m", "studio.engine", *args], capture_output=True, text=True,
                            cwd=ROOT, timeout=300, env={**os.environ, **(env or {})})
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_preview_matches_the_training_tokenization(tiny_model: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from studio.engine.tokenization import explain_example, tokenize_records

    rows = [{"messages": [{"role": "user", "content": "x" * n}, {"role": "assistant", "content": "ok"}]}
            for n in (5, 40, 300)]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    events = run_worker("preview-data", "--model", str(tiny_model), "--data", str(data), "--max-len", "64",
                        "--examples", "0,2")
    assert events[-1]["type"] == "done" and events[-1]["status"] == "completed", events[-2:]
    stats = next(e for e in events if e["type"] == "token_stats")
    masks = {e["index"]: e for e in events if e["type"] == "label_mask"}

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    lengths: list[int] = []
    _, expected, _ = tokenize_records(tokenizer, rows, ["a", "b", "c"], 64, "assistant", lengths_out=lengths)
    assert stats["lengths"] == lengths and stats["stats"] == json.loads(json.dumps(expected.to_dict()))
    assert stats["stats"]["truncated"] == 1 and stats["records"] == 3
    assert sorted(masks) == [0, 2]
    assert [tuple(t) for t in masks[0]["tokens"]] == explain_example(tokenizer, rows[0], 64, "assistant")


def test_offline_hub_model_fails_fast_and_clearly() -> None:
    started = time.monotonic()
    events = run_worker("download", "--model", "someone/not-cached-model", env={"HF_HUB_OFFLINE": "1"})
    assert time.monotonic() - started < 30
    error = next(e for e in events if e["type"] == "error")
    assert error["kind"] == "model" and "not in the Hugging Face cache" in error["message"]
    assert "local model folder" in error["hint"]
    assert events[-1] == {**events[-1], "type": "done", "status": "failed"}


def test_download_progress_becomes_events() -> None:
    from studio.engine.download import progress_class

    class Recorder:
        def __init__(self) -> None:
            self.events: list[dict] = []

        def emit(self, type_: str, **fields: object) -> None:
            self.events.append({"type": type_, **fields})

    recorder = Recorder()
    bar_class = progress_class(recorder, "org/model")
    with open(os.devnull, "w") as sink:
        written = bar_class(total=1000, unit="B", desc="Reconstructing", file=sink)
        transfer = bar_class(total=0, unit="B", desc="Downloading bytes", file=sink)
        for _ in range(4):
            written.update(250)
            transfer.update(100)
    assert recorder.events[-1] == {"type": "download", "repo": "org/model", "done_bytes": 1000, "total_bytes": 1000}
    assert all(e["total_bytes"] == 1000 for e in recorder.events)         # the transfer bar is not reported


def test_preview_counts_pair_tokens_as_trl_does(tiny_model: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer
    from trl.data_utils import _tokenize, common_prefix_length

    user = [{"role": "user", "content": "What is the capital of France?"}]
    rows = [{"prompt": user, "chosen": [{"role": "assistant", "content": "Paris."}],
             "rejected": [{"role": "assistant", "content": "It is Lyon, of course."}]},
            {"prompt": "The sky is", "chosen": " blue.", "rejected": " a green sea."}]
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)
    events = run_worker("preview-data", "--model", str(tiny_model), "--data", str(data), "--max-len", "64",
                        "--set", "train.objective=dpo")
    assert events[-1]["type"] == "done" and events[-1]["status"] == "completed", events[-2:]
    pairs = next(e for e in events if e["type"] == "pair_tokens")
    stats = next(e for e in events if e["type"] == "token_stats")

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    expected = []
    for row in rows:          # TRL's DPOTrainer tokenize_fn, EOS appended to text answers as it does
        text = isinstance(row["prompt"], str)
        end = tokenizer.eos_token if text else []
        prompt = _tokenize(tokenizer, row["prompt"], **({} if text else {"add_generation_prompt": True}))["input_ids"]
        whole = [_tokenize(tokenizer, row["prompt"] + row[k] + end)["input_ids"] for k in ("chosen", "rejected")]
        n = min(common_prefix_length(prompt, w) for w in whole)
        expected.append([n, len(whole[0]) - n, len(whole[1]) - n])
    assert pairs["keys"] == ["prompt", "chosen", "rejected"] and pairs["lengths"] == expected
    assert sorted(stats["lengths"]) == sorted(p + a for p, *answers in expected for a in answers)
    assert stats["stats"]["examples"] == 4 and stats["records"] == 2
    assert not any(e["type"] == "label_mask" for e in events)     # a preference objective trains the answers
