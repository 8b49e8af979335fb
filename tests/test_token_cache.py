"""Tokenized data is cached in the workspace: a second run on the same data skips tokenization,
and anything that changes the tokens (data, max_len, loss_on, tokenizer) misses the cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import last_json, studio, write_jsonl
from studio.core.config import RunConfig
from studio.core.datasets import import_dataset
from studio.core.run_history import read_events
from studio.core.runs import EVENTS


@pytest.fixture()
def setup(tiny_model: Path, demo_data, tmp_path: Path):
    from transformers import AutoTokenizer

    data = write_jsonl(tmp_path / "train.jsonl", demo_data[0].read_text().splitlines()[:30])
    config = RunConfig()
    config.data.path, config.data.max_len = str(data), 256
    return AutoTokenizer.from_pretrained(tiny_model), import_dataset(data).records, config, tmp_path / "cache"


def test_second_tokenization_comes_from_the_cache(setup) -> None:
    from studio.engine.training import tokenize

    tokenizer, records, config, cache = setup
    first, stats, hit = tokenize(tokenizer, records, config, cache)
    assert not hit and len(list(cache.iterdir())) == 1
    second, stats_again, hit_again = tokenize(tokenizer, records, config, cache)
    assert hit_again and stats_again == json.loads(json.dumps(stats))
    assert second["input_ids"] == first["input_ids"] and second["labels"] == first["labels"]
    assert second["length"] == first["length"]


@pytest.mark.parametrize("change", ["max_len", "loss_on", "data", "chat_template"])
def test_anything_that_changes_the_tokens_misses_the_cache(setup, change: str) -> None:
    from studio.engine.training import tokenize

    tokenizer, records, config, cache = setup
    tokenize(tokenizer, records, config, cache)
    if change == "max_len":
        config.data.max_len = 128
    elif change == "loss_on":
        config.data.loss_on = "all"
    elif change == "data":
        records = records[:-1]
    else:
        tokenizer.chat_template = tokenizer.chat_template.replace("<|eos|>", "<|eos|>\n")
    _, _, hit = tokenize(tokenizer, records, config, cache)
    assert not hit and len(list(cache.iterdir())) == 2


def test_a_damaged_entry_is_tokenized_again(setup) -> None:
    from studio.engine.training import tokenize

    tokenizer, records, config, cache = setup
    tokenize(tokenizer, records, config, cache)
    entry = next(cache.iterdir())
    for arrow in (entry / "dataset").glob("*.arrow"):
        arrow.write_bytes(b"not arrow")
    _, _, hit = tokenize(tokenizer, records, config, cache)
    assert not hit
    _, _, hit = tokenize(tokenizer, records, config, cache)
    assert hit


def test_second_run_on_the_same_data_skips_tokenization(home: Path, tiny_model: Path, demo_data,
                                                        tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "train.jsonl", demo_data[0].read_text().splitlines()[:40])
    seen = []
    for _ in range(2):
        result = studio("train", "--model", str(tiny_model), "--data", str(data), "--max-steps", "1",
                        "--eval-split", "0.1", "--json", home=home)
        assert result.returncode == 0, result.stderr
        events = read_events(Path(last_json(result.stdout)["run_dir"]) / EVENTS)
        seen.append(next(e for e in events if e["type"] == "data_stats"))
    assert seen[0]["from_cache"] is False and seen[1]["from_cache"] is True
    assert seen[0]["tokens"] == seen[1]["tokens"] and seen[0]["train_examples"] == seen[1]["train_examples"]
    assert len(list((home / "cache" / "tokenized").iterdir())) == 2  # the train and the eval split
