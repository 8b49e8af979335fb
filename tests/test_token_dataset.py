"""Tokenizing in chunks and on several processes gives exactly what one pass over the records gives."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.engine import token_dataset, tokenization
from studio.engine.demo_model import build_tokenizer
from studio.engine.token_dataset import tokenized_dataset
from studio.engine.token_stats import TokenTally
from studio.engine.tokenization import IGNORE, TemplateProblem, _labels_in_spans, encode_record

REJECTING = ("{% for m in messages %}{% if 'bad' in m['content'] %}{{ raise_exception('no bad rows') }}{% endif %}"
             "<|{{ m['role'] }}|>{{ m['content'] }}<|eos|>{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}")


def mixed_records() -> list[dict]:
    """Chat, prompt/completion and text rows; some the template rejects, some with nothing to learn."""
    rows: list[dict] = []
    for i in range(53):
        if i % 11 == 3:
            rows.append({"messages": [{"role": "user", "content": f"bad {i}"}, {"role": "assistant", "content": "x"}]})
        elif i % 7 == 0:
            rows.append({"prompt": "q" * (40 + i), "completion": f"a{i}"})       # answer cut away at max_len 40
        elif i % 5 == 0:
            rows.append({"text": f"plain text {i} " * (i % 4 + 1)})
        else:
            rows.append({"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": f"q{i}"},
                                      {"role": "assistant", "content": f"answer {i}"}]})
    return rows


@pytest.fixture()
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokenization, "CHUNK_ROWS", 5)
    monkeypatch.setattr(token_dataset, "CHUNK_ROWS", 5)


@pytest.mark.parametrize("procs", [1, 3])
def test_chunks_and_processes_give_the_single_pass_result(small_chunks: None, procs: int) -> None:
    if procs > 1 and not sys.platform.startswith("linux"):
        pytest.skip("forked processes are used on Linux only")
    tok = build_tokenizer()
    tok.chat_template = REJECTING
    records = mixed_records()
    sources = [f"d.jsonl:{i + 1}" for i in range(len(records))]
    # One record at a time, as tokenization worked before chunks: the reference.
    reference = TokenTally(40)
    expected = []
    for record, source in zip(records, sources):
        try:
            expected += reference.add(encode_record(tok, record, 40, "assistant"))
        except TemplateProblem as exc:
            reference.rejected.append((source, f"the chat template rejected the conversation: {exc}"))

    dataset, stats, rejected = tokenized_dataset(tok, records, sources, 40, "assistant", procs=procs)
    assert rejected == reference.rejected and len(rejected) == 5
    assert stats == reference.stats() and stats.dropped_no_target > 0 and stats.truncated > 0
    assert dataset.to_list() == expected
    assert dataset.features["input_ids"].feature.dtype == "int32"


def test_a_dataset_with_nothing_to_learn_is_none() -> None:
    tok = build_tokenizer()
    dataset, stats, rejected = tokenized_dataset(tok, [{"prompt": "q" * 50, "completion": "a"}], ["d:1"], 20,
                                                 "assistant")
    assert dataset is None and stats.dropped_no_target == 1 and rejected == []


def test_processes_only_for_large_data_and_at_most_one_per_core() -> None:
    assert token_dataset.worker_count(100) == 1
    if sys.platform.startswith("linux"):
        import os

        cores = len(os.sched_getaffinity(0))
        assert token_dataset.worker_count(10_000_000) == min(cores, token_dataset.MAX_PROCS)


def labels_one_by_one(ids: list[int], starts: list[int], spans: list[tuple[int, int]]) -> list[int]:
    return [tok if any(s <= start < e for s, e in spans) else IGNORE for tok, start in zip(ids, starts)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=0, max_size=40), st.lists(st.integers(0, 6), max_size=12))
def test_labels_in_spans_match_the_definition(steps: list[int], bounds: list[int]) -> None:
    starts = [sum(steps[: i + 1]) for i in range(len(steps))]          # sorted, repeats allowed
    ids = [100 + i for i in range(len(starts))]
    cuts = [sum(bounds[: i + 1]) for i in range(len(bounds))]
    spans = [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts) - 1, 2)]  # sorted, disjoint, maybe empty
    offsets = [(s, s + 1) for s in starts]
    assert _labels_in_spans(ids, offsets, spans) == labels_one_by_one(ids, starts, spans)
