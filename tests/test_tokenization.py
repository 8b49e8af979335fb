"""Chat-template rendering and loss masks: only the answers count, with any template."""

from __future__ import annotations

import pytest

from studio.engine.demo_model import build_tokenizer
from studio.engine.tokenization import IGNORE, encode_record, explain_example, tokenize_records

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
# Drops all but the last assistant turn's content, like templates that strip earlier reasoning.
REWRITING = ("{% for m in messages %}{% if m['role'] == 'assistant' and not loop.last %}<|assistant|>...<|eos|>"
             "{% else %}<|{{ m['role'] }}|>{{ m['content'] }}<|eos|>{% endif %}{% endfor %}"
             "{% if add_generation_prompt %}<|assistant|>{% endif %}")


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


def target_text(tok, example) -> str:
    return tok.decode([t for t, label in zip(example["input_ids"], example["labels"]) if label != IGNORE])


def test_only_assistant_turns_count_including_end_of_turn(tok) -> None:
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "Q1"},
                {"role": "assistant", "content": "A1"}, {"role": "user", "content": "Q2"},
                {"role": "assistant", "content": "A2"}]
    ex = encode_record(tok, {"messages": messages}, 512, "assistant")[0]
    assert target_text(tok, ex) == "A1<|eos|>A2<|eos|>"
    everything = encode_record(tok, {"messages": messages}, 512, "all")[0]
    assert everything["labels"] == everything["input_ids"]


def test_works_with_a_chatml_template(tok) -> None:
    tok = build_tokenizer()
    tok.chat_template = CHATML
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    ex = encode_record(tok, {"messages": messages}, 512, "assistant")[0]
    assert target_text(tok, ex) == "hello<|im_end|>\n"


def test_template_that_rewrites_history_falls_back_to_last_turn(tok) -> None:
    tok = build_tokenizer()
    tok.chat_template = REWRITING
    messages = [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"},
                {"role": "user", "content": "Q2"}, {"role": "assistant", "content": "A2"}]
    ex = encode_record(tok, {"messages": messages}, 512, "assistant")[0]
    assert target_text(tok, ex) == "A2<|eos|>"


def test_completion_masks_prompt_and_adds_eos(tok) -> None:
    ex = encode_record(tok, {"prompt": "2+2=", "completion": "4"}, 64, "assistant")[0]
    assert target_text(tok, ex) == "4<|eos|>"
    assert tok.decode(ex["input_ids"]) == "2+2=4<|eos|>"


def test_long_text_is_chunked_not_truncated(tok) -> None:
    examples = encode_record(tok, {"text": "abcdefghij" * 10}, 32, "all")
    assert [e["length"] for e in examples] == [32, 32, 32, 5]
    assert sum(e["length"] for e in examples) == 101  # 100 bytes + eos: nothing lost


def test_truncation_and_dropped_examples_are_counted(tok) -> None:
    records = [{"prompt": "p" * 50, "completion": "answer"}, {"prompt": "short", "completion": "ok"},
               {"messages": [{"role": "user", "content": "q" * 40}, {"role": "assistant", "content": "a"}]}]
    examples, stats, rejected = tokenize_records(tok, records, ["f:1", "f:2", "f:3"], 30, "assistant")
    assert (stats.truncated, stats.dropped_no_target, len(examples), rejected) == (2, 2, 1, [])
    assert (stats.min, stats.max) == (8, 57)  # "short"+"ok"+eos; 50 p + "answer" + eos
    assert sum(stats.histogram[1]) == 3


def test_template_errors_become_row_rejections(tok) -> None:
    tok = build_tokenizer()
    tok.chat_template = "{{ raise_exception('roles must alternate') }}"
    _, _, rejected = tokenize_records(tok, [{"messages": [{"role": "user", "content": "q"},
                                                          {"role": "assistant", "content": "a"}]}],
                                      ["d.jsonl:7"], 64, "assistant")
    assert rejected == [("d.jsonl:7", "the chat template rejected the conversation: roles must alternate")]


def test_explain_example_marks_target_tokens(tok) -> None:
    pieces = explain_example(tok, {"messages": [{"role": "user", "content": "q"},
                                                {"role": "assistant", "content": "ab"}]}, 64, "assistant")
    assert [p for p, on in pieces if on] == ["a", "b", "<|eos|>"]
    assert "".join(p for p, _ in pieces) == "<|user|>q<|eos|><|assistant|>ab<|eos|>"
