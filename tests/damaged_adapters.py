"""Damaged adapter folders of every kind, for the library, import and GUI tests.

Each entry of DAMAGES turns a good PEFT-shaped adapter folder (helpers.fake_adapter: rank 4,
base "some/base") into one damaged way, and names a fragment of the reason the library must give
for it. `seed_damaged(adapters_dir)` writes them all, one folder (or file) per kind.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path

from helpers import fake_adapter

CONFIG = "adapter_config.json"
WEIGHTS = "adapter_model.safetensors"
GOOD_CONFIG = {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "base_model_name_or_path": "some/base",
               "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM"}


def safetensors_bytes(header: object, data: bytes = b"", length: int | None = None) -> bytes:
    """A safetensors file from a header (any JSON) and data; `length` overrides the 8-byte prefix."""
    head = json.dumps(header).encode()
    return struct.pack("<Q", len(head) if length is None else length) + head + data


def _config(**changes: object) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        (folder / CONFIG).write_text(json.dumps({**GOOD_CONFIG, **changes}))
    return damage


def _write(name: str, data: bytes | str) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        path = folder / name
        path.write_bytes(data) if isinstance(data, bytes) else path.write_text(data)
    return damage


def _studio(record: object) -> Callable[[Path], None]:
    return _write("studio.json", json.dumps(record))


def _truncate(folder: Path) -> None:
    raw = (folder / WEIGHTS).read_bytes()
    (folder / WEIGHTS).write_bytes(raw[:-7])


def _header_longer_than_file(folder: Path) -> None:
    raw = (folder / WEIGHTS).read_bytes()
    (folder / WEIGHTS).write_bytes(struct.pack("<Q", len(raw) * 10) + raw[8:])


def _folder_instead(name: str) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        (folder / name).unlink()
        (folder / name).mkdir()
        (folder / name / "inside.txt").write_text("a folder where a file should be")
    return damage


def _no_weights(folder: Path) -> None:
    (folder / WEIGHTS).unlink()


def _pickle_only(folder: Path) -> None:
    (folder / WEIGHTS).unlink()
    (folder / "adapter_model.bin").write_bytes(b"pickle bytes")


A = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
# kind -> (how to damage a good folder, a fragment of the reason the library gives)
DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "config-wrong-types": (_config(r="eight", target_modules=5, base_model_name_or_path=[1]), 'r = "eight"'),
    "config-absurd-rank": (_config(r=10**9), "r = 1000000000 is not a whole number from 1 to 4096"),
    "config-targets-number": (_config(target_modules=5), "target_modules = 5"),
    "config-base-list": (_config(base_model_name_or_path=[1]), "base_model_name_or_path = [1]"),
    "config-base-nul": (_config(base_model_name_or_path="some\u0000base"), "not a usable path"),
    "config-alpha-text": (_config(lora_alpha="high"), 'lora_alpha = "high"'),
    "config-dropout-2": (_config(lora_dropout=2), "lora_dropout = 2"),
    "config-unknown-type": (_config(peft_type="MAGIC"), 'peft_type = "MAGIC" is not an adapter type'),
    "config-bad-rank-pattern": (_config(rank_pattern={"(q_proj": 8}), "not a regular expression"),
    "config-not-json": (_write(CONFIG, "{'peft_type': LORA"), "adapter_config.json is not valid JSON"),
    "config-a-list": (_write(CONFIG, "[1, 2]"), "holds a list, not a JSON object"),
    "config-no-peft-type": (_write(CONFIG, "{}"), "has no peft_type"),
    "config-deep": (_write(CONFIG, "[" * 100_000 + "]" * 100_000), "adapter_config.json is not valid JSON"),
    "config-is-a-folder": (_folder_instead(CONFIG), "adapter_config.json is a folder, not a file"),
    "weights-rank-mismatch": (_config(r=8), "do not belong together"),
    "weights-header-not-json": (_write(WEIGHTS, struct.pack("<Q", 16) + b"this is not json"), "header is not JSON"),
    "weights-header-a-list": (_write(WEIGHTS, safetensors_bytes([1, 2])), "header is a list"),
    "weights-header-too-long": (_header_longer_than_file, "the header claims to be"),
    "weights-header-absurd": (_write(WEIGHTS, struct.pack("<Q", 2**62) + b"{}"), "more than the 100 MB"),
    "weights-truncated": (_truncate, "it is cut short"),
    "weights-tiny": (_write(WEIGHTS, b"\x01\x02"), "too short to be a safetensors file"),
    "weights-unknown-dtype": (_write(WEIGHTS, safetensors_bytes(
        {A: {"dtype": "F7", "shape": [4, 8], "data_offsets": [0, 128]}}, bytes(128))), 'dtype = "F7"'),
    "weights-bad-shape": (_write(WEIGHTS, safetensors_bytes(
        {A: {"dtype": "F32", "shape": [4, -8], "data_offsets": [0, 128]}}, bytes(128))), "shape = [4, -8]"),
    "weights-offsets-wrong": (_write(WEIGHTS, safetensors_bytes(
        {A: {"dtype": "F32", "shape": [4, 8], "data_offsets": [0, 64]}}, bytes(64))), "does not span"),
    "weights-missing": (_no_weights, "the weights are missing"),
    "weights-pickle-only": (_pickle_only, "weights are pickle (adapter_model.bin)"),
    "weights-is-a-folder": (_folder_instead(WEIGHTS), "adapter_model.safetensors is a folder"),
    "studio-wrong-types": (_studio({"base_model": [1], "tags": [3], "metrics": {"final_train_loss": "low"}}),
                           "base_model = [1] is not an object"),
    "studio-resolved-path-number": (_studio({"base_model": {"name_or_path": "some/base", "resolved_path": 5}}),
                                    "base_model.resolved_path = 5"),
    "studio-tags-numbers": (_studio({"tags": ["ok", 3]}), "tags[1] = 3 is not text"),
    "studio-loss-text": (_studio({"metrics": {"final_train_loss": "low"}}), 'metrics.final_train_loss = "low"'),
    "studio-huge-number": (_write("studio.json", '{"metrics": {"final_train_loss": 1' + "0" * 400 + "}}"),
                           "metrics.final_train_loss = 1000"),
    "studio-history-not-pairs": (_studio({"loss_history": [[1, 2.0], [3]]}), "loss_history[1] = [3]"),
    "studio-run-id-escapes": (_studio({"run_id": "../../etc"}), 'run_id = "../../etc"'),
    "studio-created-garbage": (_studio({"created": "yesterday-ish"}), "is not an ISO date"),
    "studio-config-lora-text": (_studio({"config": {"lora": "rank 8"}}), 'config.lora = "rank 8"'),
    "studio-data-split-text": (_studio({"config": {"data": {"eval_split": "10%"}}}), "config.data.eval_split"),
    "studio-not-json": (_write("studio.json", "{broken"), "studio.json is not valid JSON"),
    "studio-a-list": (_write("studio.json", "[1, 2]"), "studio.json holds a list"),
    "studio-not-utf8": (_write("studio.json", b'{"notes": "\xff\xfe"}'), "not UTF-8"),
    "studio-is-a-folder": (_folder_instead("studio.json"), "studio.json is a folder"),
}
FILE_NOT_FOLDER = "a-file-not-a-folder"        # an entry of adapters/ that is a file


def seed_damaged(adapters_dir: Path, kinds: list[str] | None = None) -> dict[str, str]:
    """Write one damaged adapter per kind (and a stray file); return name -> expected reason fragment."""
    expected = {}
    for kind in kinds or list(DAMAGES):
        damage, fragment = DAMAGES[kind]
        folder = fake_adapter(adapters_dir / kind, studio_json={"name": kind, "tags": ["damaged"]})
        damage(folder)
        expected[kind] = fragment
    adapters_dir.mkdir(parents=True, exist_ok=True)
    (adapters_dir / FILE_NOT_FOLDER).write_text("not an adapter")
    expected[FILE_NOT_FOLDER] = "a file where an adapter folder should be"
    return expected
