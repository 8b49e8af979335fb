"""Files that need another objective or modality are refused as a whole: `studio data check` and
`studio train` exit 2 with a message that names what the file is and what it is for, and train
writes nothing. A fix they suggest is an explicit mapping that trains what it says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import studio, write_jsonl

CONVERSATION = [{"role": "user", "content": "2+2?"}]
CASES = {
    "trl-standard": ([{"prompt": "2+2?", "chosen": "4", "rejected": "5"}],
                     ["TRL's standard preference layout", "DPO", "--columns prompt=prompt,completion=chosen",
                      "train it with --objective dpo (or orpo)"]),
    "trl-conversational": ([{"prompt": CONVERSATION, "chosen": [{"role": "assistant", "content": "4"}],
                             "rejected": [{"role": "assistant", "content": "5"}]}],
                           ["TRL's conversational preference layout", "DPO or ORPO"]),
    "implicit-prompt": ([{"chosen": CONVERSATION + [{"role": "assistant", "content": "4"}],
                          "rejected": CONVERSATION + [{"role": "assistant", "content": "5"}]}],
                        ["prompt inside chosen/rejected", "--format chat --columns messages=chosen"]),
    "llama-factory-sharegpt": ([{"conversations": [{"from": "human", "value": "2+2?"}],
                                 "chosen": {"from": "gpt", "value": "4"}, "rejected": {"from": "gpt", "value": "5"}}],
                               ["LLaMA-Factory's ShareGPT preference layout", "--objective dpo"]),
    "openai-preference": ([{"input": {"messages": CONVERSATION},
                            "preferred_output": [{"role": "assistant", "content": "4"}],
                            "non_preferred_output": [{"role": "assistant", "content": "5"}]}],
                          ["OpenAI's preference fine-tuning layout", "DPO", "--objective dpo"]),
    "trl-kto": ([{"prompt": "2+2?", "completion": "4", "label": True},
                 {"prompt": "2+2?", "completion": "5", "label": False}],
                ["KTO data (TRL's unpaired preference layout)", "undesirable",
                 "train it with --objective kto"]),
    "llama-factory-kto": ([{"messages": CONVERSATION + [{"role": "assistant", "content": "4"}], "label": True},
                           {"messages": CONVERSATION + [{"role": "assistant", "content": "5"}], "label": False}],
                          ["KTO data (LLaMA-Factory's KTO layout)", "--objective kto"]),
    "kto-tag-column": ([{"messages": CONVERSATION + [{"role": "assistant", "content": "4"}], "kto_tag": True}],
                       ["kto_tag", "KTO", "--objective kto"]),
    "llama-factory-images": ([{"messages": [{"role": "user", "content": "<image>Who is this?"},
                                            {"role": "assistant", "content": "A cat."}], "images": ["cat.jpg"]}],
                             ["holds images (column 'images' and <image> placeholders", "text-only"]),
    "audio-column": ([{"messages": CONVERSATION + [{"role": "assistant", "content": "4"}], "audios": ["a.wav"]}],
                     ["holds audio", "multimodal"]),
    "openai-image-part": ([{"messages": [{"role": "user", "content": [
                              {"type": "text", "text": "What is it?"}, {"type": "image_url", "image_url": {"url": "x"}}]},
                              {"role": "assistant", "content": "A cat."}]}],
                          ["content part of type 'image_url'", "holds images"]),
    "prompt-only": ([{"prompt": "2+2?"}, {"prompt": "3+3?"}], ["prompts without answers", "GRPO"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_data_check_names_what_the_file_is_for(tmp_path: Path, name: str) -> None:
    rows, fragments = CASES[name]
    result = studio("data", "check", str(write_jsonl(tmp_path / f"{name}.jsonl", rows)), "--json")
    assert result.returncode == 2, result.stdout + result.stderr
    error = json.loads(result.stdout)["error"]
    text = error["message"] + " " + error["hint"]
    for fragment in fragments:
        assert fragment in text, text
    assert "--skip-bad-rows" not in text and "planned" not in text


@pytest.mark.parametrize("name", ["trl-standard", "trl-kto", "llama-factory-images", "prompt-only"])
def test_train_refuses_and_writes_nothing(tiny_model: Path, tmp_path: Path, name: str) -> None:
    rows, fragments = CASES[name]
    home = tmp_path / "home"
    result = studio("train", "--model", str(tiny_model), "--data", str(write_jsonl(tmp_path / "d.jsonl", rows)),
                    "--max-steps", "1", home=home)
    assert result.returncode == 2, result.stdout + result.stderr
    assert fragments[0] in result.stderr and "Traceback" not in result.stderr
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())
    assert not (home / "adapters").exists() or not any((home / "adapters").iterdir())


def test_the_suggested_mapping_trains_the_chosen_answers_and_names_the_rest(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "pref.jsonl", CASES["trl-standard"][0])
    result = studio("data", "check", str(path), "--format", "completion", "--columns",
                    "prompt=prompt,completion=chosen", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["kept"] == 1 and report["warnings"] == [
        "column not used for training: rejected (the completion format reads chosen, prompt)"]
