"""Every value read from an adapter folder is checked by type and range (core.adapter_files,
core.peft_config, core.adapter_record): a damaged folder is listed as broken with a reason that
names the file, the field and the bad value, the other adapters keep listing, and no reader of the
library (list, show, card, base check, chat slots, export, eval prompts) ends in a traceback.
The checks are held against the real loaders: safetensors for headers, peft for rank_pattern,
transformers for the tokenizer files an adapter folder may hold."""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save as save_tensors

from damaged_adapters import DAMAGES, FILE_NOT_FOLDER, GOOD_CONFIG, safetensors_bytes, seed_damaged
from helpers import fake_adapter, last_json, studio
from studio.cli import main
from studio.core.adapter_compat import check_base, claimed_base
from studio.core.adapter_details import diff_adapters, flat_settings, lineage_card
from studio.core.adapter_files import KEPT_FILES, OpenFolder, parse_safetensors_header
from studio.core.adapter_record import check_record
from studio.core.errors import ModelError, StudioError
from studio.core.library import find_adapter, folder_chat_template, list_adapters, read_adapter
from studio.core.peft_config import PEFT_TYPES, check_lora_shapes, check_peft_config
from studio.core.workspace import Workspace

A = "base_model.model.model.layers.{}.self_attn.{}.lora_A.weight"
B = "base_model.model.model.layers.{}.self_attn.{}.lora_B.weight"


# ---- adapter_config.json -------------------------------------------------------------------------------
@pytest.mark.parametrize("changes,fragment", [
    ({"r": "eight"}, 'r = "eight" is not a whole number'),
    ({"r": 10**9}, "r = 1000000000"),
    ({"r": 0}, "r = 0"),
    ({"r": 8.0}, "r = 8.0"),
    ({"r": True}, "r = true"),
    ({"lora_alpha": -1}, "lora_alpha = -1"),
    ({"lora_alpha": "x"}, 'lora_alpha = "x"'),
    ({"lora_dropout": 1.5}, "lora_dropout = 1.5"),
    ({"target_modules": 5}, "target_modules = 5"),
    ({"target_modules": ["q_proj", 1]}, "target_modules = [\"q_proj\", 1]"),
    ({"base_model_name_or_path": [1]}, "base_model_name_or_path = [1]"),
    ({"base_model_name_or_path": "x" * 300}, "not a usable path"),
    ({"base_model_name_or_path": "~no-such-user-here/model"}, "home folder of a user"),
    ({"peft_type": "FOO"}, 'peft_type = "FOO"'),
    ({"peft_type": 3}, "peft_type = 3"),
    ({"use_dora": "yes"}, 'use_dora = "yes"'),
    ({"modules_to_save": "lm_head"}, 'modules_to_save = "lm_head"'),
    ({"rank_pattern": {"q_proj": "big"}}, 'rank_pattern["q_proj"] = "big"'),
    ({"rank_pattern": {"q_proj": 10**6}}, "is not a rank from 1 to 4096"),
    ({"rank_pattern": ["q_proj"]}, 'rank_pattern = ["q_proj"]'),
    ({"rank_pattern": {"[": 8}}, "not a regular expression"),
    ({"alpha_pattern": {"q_proj": "x"}}, 'alpha_pattern["q_proj"] = "x"'),
])
def test_config_refusals_name_field_and_value(changes: dict, fragment: str) -> None:
    with pytest.raises(ModelError) as caught:
        check_peft_config({**GOOD_CONFIG, **changes})
    assert caught.value.message.startswith("adapter_config.json") and fragment in caught.value.message
    assert caught.value.hint


def test_good_configs_and_peft_defaults() -> None:
    settings_ = check_peft_config(GOOD_CONFIG)
    assert (settings_.r, settings_.alpha, settings_.targets, settings_.base_model) == \
        (4, 8, ["q_proj", "v_proj"], "some/base")
    minimal = check_peft_config({"peft_type": "LORA"})        # peft's LoraConfig defaults r to 8
    assert minimal.r == 8 and minimal.targets == [] and minimal.base_model == ""
    assert check_peft_config({"peft_type": "IA3", "target_modules": "all-linear"}).targets == ["all-linear"]


def test_peft_types_are_the_ones_peft_knows() -> None:
    from peft.utils.peft_types import PeftType

    assert PEFT_TYPES == {t.value for t in PeftType}


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(.*)*x", r"(a|aa)*b", r"(\w+)\1", r".*.*.*x", r"(?>a+)b",
                                     "(aa|bb)(cc|dd)(ee|ff)(gg|hh)(ii|jj)"])
def test_rank_patterns_that_could_match_forever_are_refused(pattern: str) -> None:
    with pytest.raises(ModelError, match="take forever"):
        check_peft_config({**GOOD_CONFIG, "rank_pattern": {pattern: 8}})


def test_rank_pattern_matching_is_peft_s() -> None:
    """PeftSettings.rank_for gives the rank peft gives (get_pattern_key), for literal and regex keys."""
    from peft.utils.other import get_pattern_key

    patterns = {"q_proj": 8, r"layers\.1\.self_attn\.v_proj": 16, "^model.layers.0.self_attn.k_proj": 12,
                r"(q|k)_proj": 6, r"mlp\.\w+_proj": 2, "layers.0.mlp.down_proj": 3}
    settings_ = check_peft_config({**GOOD_CONFIG, "rank_pattern": patterns})
    modules = [f"model.layers.{i}.{part}" for i in range(3) for part in (
        "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "mlp.up_proj", "mlp.down_proj")]
    modules += ["q_proj", "xmodel.layers.0.self_attn.k_proj", "model.layers.10.self_attn.v_proj"]
    for module in modules:
        key = get_pattern_key(list(patterns), module)
        assert settings_.rank_for(module, [100]) == patterns.get(key, 4), module


def test_lora_shapes_follow_r_and_rank_pattern() -> None:
    zeros = lambda *shape: np.zeros(shape, np.float32)  # noqa: E731
    tensors = {A.format(0, "q_proj"): zeros(16, 8), B.format(0, "q_proj"): zeros(8, 16),
               A.format(0, "v_proj"): zeros(4, 8), B.format(0, "v_proj"): zeros(8, 4)}
    raw = save_tensors(tensors)
    header = parse_safetensors_header(_stream(raw), len(raw))
    check_lora_shapes(header, check_peft_config({**GOOD_CONFIG, "rank_pattern": {"q_proj": 16}}))
    with pytest.raises(ModelError, match=r"lora_A.weight has shape \[16, 8\], but adapter_config.json gives rank 4"):
        check_lora_shapes(header, check_peft_config(GOOD_CONFIG))
    with pytest.raises(ModelError, match=r"v_proj.lora_A.weight has shape \[4, 8\].*rank 16"):
        check_lora_shapes(header, check_peft_config({**GOOD_CONFIG, "r": 16}))
    only_b = save_tensors({B.format(0, "v_proj"): np.zeros((8, 4), np.float32)})      # B is [out, r]
    with pytest.raises(ModelError, match=r"v_proj.lora_B.weight has shape \[8, 4\].*rank 8"):
        check_lora_shapes(parse_safetensors_header(_stream(only_b), len(only_b)), check_peft_config(
            {**GOOD_CONFIG, "r": 8}))
    check_lora_shapes(parse_safetensors_header(_stream(only_b), len(only_b)), check_peft_config(GOOD_CONFIG))
    empty = parse_safetensors_header(_stream(save_tensors({})), len(save_tensors({})))
    with pytest.raises(ModelError, match="holds no tensors"):
        check_lora_shapes(empty, check_peft_config(GOOD_CONFIG))


def test_a_real_peft_adapter_with_rank_pattern_passes_and_a_wrong_rank_does_not(tiny_model: Path,
                                                                                 tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    folder = tmp_path / "real"
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model), LoraConfig(
        r=4, lora_alpha=8, target_modules="all-linear", rank_pattern={"q_proj": 8, r"layers\.1\.mlp\.up_proj": 2}))
    model.save_pretrained(folder)
    assert read_adapter(folder).broken == "" and read_adapter(folder).rank == 4
    config = json.loads((folder / "adapter_config.json").read_text())
    config["rank_pattern"] = {"q_proj": 8}              # layers.1.mlp.up_proj now claims r = 4
    (folder / "adapter_config.json").write_text(json.dumps(config))
    assert "layers.1.mlp.up_proj.lora_A.weight has shape [2, 128]" in read_adapter(folder).broken


def test_tokenizer_files_transformers_saves_are_kept(tiny_model: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(tmp_path / "tok")
    saved = {p.name for p in (tmp_path / "tok").iterdir()}
    assert saved and saved <= set(KEPT_FILES), saved - set(KEPT_FILES)


# ---- the safetensors header, held against safetensors itself ---------------------------------------------
def _stream(raw: bytes):  # noqa: ANN202
    import io

    return io.BytesIO(raw)


GOOD = save_tensors({A.format(0, "q_proj"): np.ones((4, 8), np.float32), "z.bias": np.zeros(3, np.float16)},
                    metadata={"format": "pt"})
HEADER = json.loads(GOOD[8:8 + struct.unpack("<Q", GOOD[:8])[0]])


def _with(name: str, **meta: object) -> bytes:
    header = {k: (dict(v, **meta) if k == name else v) for k, v in HEADER.items()}
    return safetensors_bytes(header, GOOD[8 + struct.unpack("<Q", GOOD[:8])[0]:])


@pytest.mark.parametrize("raw,fragment", [
    (GOOD[:-1], "cut short"),
    (GOOD + b"\0", "extra bytes"),
    (GOOD[:5], "too short"),
    (struct.pack("<Q", len(GOOD)) + GOOD[8:], "more than the"),
    (struct.pack("<Q", 200_000_000) + GOOD[8:], "more than the 100 MB"),
    (struct.pack("<Q", 4) + b"\xff\xfe{}" + b"\0" * 8, "not JSON"),
    (safetensors_bytes("text"), "header is a string"),
    (_with("z.bias", dtype="F12"), 'dtype = "F12"'),
    (_with("z.bias", shape=[3.0]), "shape = [3.0]"),
    (_with("z.bias", shape="3"), 'shape = "3"'),
    (_with("z.bias", data_offsets=[128, 130]), "does not span"),
    (_with("z.bias", data_offsets=[127, 133]), "starts at byte 127"),
    (_with("z.bias", data_offsets=[-1, 5]), "data_offsets = [-1, 5]"),
    (_with("z.bias", data_offsets=None), "data_offsets = null"),
    (safetensors_bytes({**HEADER, "__metadata__": {"format": 5}}, GOOD[8 + struct.unpack("<Q", GOOD[:8])[0]:]),
     "__metadata__"),
])
def test_header_checks_refuse_what_safetensors_refuses(tmp_path: Path, raw: bytes, fragment: str) -> None:
    from safetensors import safe_open

    with pytest.raises(ModelError) as caught:
        parse_safetensors_header(_stream(raw), len(raw))
    assert fragment in caught.value.message and caught.value.message.startswith("adapter_model.safetensors")
    path = tmp_path / "x.safetensors"
    path.write_bytes(raw)
    with pytest.raises(Exception):  # noqa: B017 - safetensors raises its own error types
        with safe_open(str(path), "numpy") as fh:
            [fh.get_tensor(k) for k in fh.keys()]


def test_good_header_is_read_without_the_data() -> None:
    header = parse_safetensors_header(_stream(GOOD), len(GOOD))
    assert header.tensors == {A.format(0, "q_proj"): ("F32", [4, 8]), "z.bias": ("F16", [3])}
    assert header.file_size == len(GOOD)
    stream = _stream(GOOD)
    parse_safetensors_header(stream, len(GOOD))
    assert stream.tell() == 8 + header.header_len                   # the tensor data was not read


# ---- studio.json ---------------------------------------------------------------------------------------
def test_record_keeps_only_well_typed_values() -> None:
    good = {"name": "a", "created": "2026-01-01T00:00:00+00:00", "run_id": "20260101-a", "tags": ["x"],
            "base_model": {"name_or_path": "/m", "resolved_path": None, "hash": "sha256:1", "quant": "none"},
            "dataset": {"path": "/d.jsonl", "eval_path": None, "fingerprint": "sha256:2", "train_examples": 10},
            "config": {"lora": {"rank": 8, "alpha": 16.0, "targets": ["all-linear"], "dora": False},
                       "data": {"format": "auto", "columns": {}, "eval_split": 0.1, "system_prompt": ""},
                       "train": {"lr": 1e-4}},
            "metrics": {"final_train_loss": float("nan"), "best_eval_loss": 0.5, "steps": 30},
            "loss_history": [[1, 2.0], [2, float("inf")]], "eval_history": [], "chat_template": None,
            "imported": {"from": "/x", "at": "2026", "base_check": "match"}, "something_new": {"kept": [1]}}
    clean, problems = check_record(good)
    assert problems == [] and clean == good
    bad = {**good, "base_model": {"name_or_path": 3}, "tags": "x", "dataset": [], "notes": 5}
    clean, problems = check_record(bad)
    assert set(good) - set(clean) == {"base_model", "tags", "dataset"} and "notes" not in clean
    assert set(problems) == {"studio.json: base_model.name_or_path = 3 is not text (a model folder or hub id)",
                             'studio.json: tags = "x" is not a list', "studio.json: dataset = [] is not an object",
                             "studio.json: notes = 5 is not text"}


# ---- the library over damaged folders -------------------------------------------------------------------
def test_damaged_library_lists_every_folder_as_broken(home: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """`studio adapters list` on a workspace seeded with damaged folders of every kind exits 0 and
    lists each as broken with its reason; a good adapter is listed fine, and imports still work."""
    adapters = home / "adapters"
    expected = seed_damaged(adapters)
    fake_adapter(adapters / "good", studio_json={"name": "good", "tags": ["fine"]})
    listed = studio("adapters", "list", "--json", home=home)
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
    rows = {a["name"]: a for a in last_json(listed.stdout)["adapters"]}
    assert set(rows) == {*expected, "good"}
    for name, fragment in expected.items():
        assert rows[name]["broken"] and fragment in rows[name]["broken"], (name, rows[name]["broken"])
    assert rows["good"]["broken"] is None and rows["good"]["tags"] == ["fine"] and rows["good"]["rank"] == 4
    monkeypatch.setenv("COLUMNS", "400")                  # rich folds the table to the terminal's width
    table = studio("adapters", "list", home=home)
    assert table.returncode == 0 and "Traceback" not in table.stderr
    assert "broken: adapter_config.json: r = 1000000000 is not a whole number" in table.stdout
    imported = studio("adapters", "import", str(fake_adapter(tmp_path / "new-one")), "--json", home=home)
    assert imported.returncode == 0, imported.stderr
    assert last_json(imported.stdout)["adapter"]["name"] == "new-one"
    assert read_adapter(adapters / "new-one").broken == ""


def test_readers_of_the_library_never_raise_on_damaged_folders(home: Path, capsys) -> None:  # noqa: ANN001
    from studio.core.export_plan import find_adapter as export_find
    from studio.core.prompt_sets import eval_prompts
    from studio.core.slots import resolve_slot

    ws = Workspace.open(home)
    expected = seed_damaged(ws.adapters_dir)
    good = find_adapter(ws.adapters_dir, fake_adapter(ws.adapters_dir / "good").name)
    for name in expected:
        info = find_adapter(ws.adapters_dir, name)
        assert info.broken and all(isinstance(v, str) for v in (info.base_model, info.dataset, info.created))
        card = lineage_card(ws, name)
        assert card["broken"] == info.broken and isinstance(card["base_model_record"], dict)
        assert isinstance(card["config"], dict) and all(len(p) == 2 for p in card["loss_history"])
        flat_settings(info)
        diff_adapters(info, good)
        assert check_base(info.path, ws).status in ("unknown", "match", "fits", "mismatch", "different")
        claimed_base(info.path)
        folder_chat_template(info.path)
        for call in (lambda: resolve_slot(name, ws), lambda: resolve_slot(str(info.path), ws),
                     lambda: export_find(ws, name), lambda: eval_prompts(ws, name)):
            try:
                call()
            except StudioError:
                pass
        assert main(["adapters", "show", name, "--home", str(home)]) == 0
        shown = capsys.readouterr()
        assert "broken" in shown.out and "Traceback" not in shown.err
    assert main(["adapters", "diff", "good", "studio-wrong-types", "--home", str(home)]) == 0


def test_a_folder_that_vanishes_while_it_is_read(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Deleted by another process between two files of its read: left out of the listing, and
    read_adapter says what happened (FileNotFoundError never escapes)."""
    ws = Workspace.open(home)
    for name in ("a", "b", "c"):
        fake_adapter(ws.adapters_dir / name, studio_json={"name": name})
    real = OpenFolder.read_json

    def vanish_b(self: OpenFolder, name: str, cap: int):  # noqa: ANN202
        if self.path.name == "b" and self.path.exists():
            shutil.rmtree(self.path)
        return real(self, name, cap)

    monkeypatch.setattr(OpenFolder, "read_json", vanish_b)
    assert [a.name for a in list_adapters(ws.adapters_dir)] == ["a", "c"]
    assert "vanished while the library was read" in read_adapter(fake_adapter(ws.adapters_dir / "b")).broken
    replaced: list[str] = []

    def replace_b(self: OpenFolder, name: str, cap: int):  # noqa: ANN202
        if self.path.name == "b" and not replaced:             # deleted and written again under the same name
            replaced.append(name)
            shutil.rmtree(self.path)
            fake_adapter(self.path)
        return real(self, name, cap)

    monkeypatch.setattr(OpenFolder, "read_json", replace_b)
    fake_adapter(ws.adapters_dir / "b")
    assert "changed while the library was read" in read_adapter(ws.adapters_dir / "b").broken
    assert read_adapter(ws.adapters_dir / "b").broken == ""     # read again: the new folder is fine


def test_renames_while_listing_never_raise(home: Path) -> None:
    """Another process renaming adapters back and forth while the library is listed over and over."""
    ws = Workspace.open(home)
    for i in range(6):
        fake_adapter(ws.adapters_dir / f"a{i}", studio_json={"name": f"a{i}", "tags": ["t"]})
    stop = threading.Event()

    def rename_forever() -> None:
        while not stop.is_set():
            for i in range(6):
                old, new = ws.adapters_dir / f"a{i}", ws.adapters_dir / f"b{i}"
                try:
                    os.rename(old, new) if old.exists() else os.rename(new, old)
                except OSError:
                    pass

    thread = threading.Thread(target=rename_forever, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 3
        listings = 0
        while time.monotonic() < deadline:
            for info in list_adapters(ws.adapters_dir):
                assert not info.broken or "while the library was read" in info.broken, info.broken
            listings += 1
    finally:
        stop.set()
        thread.join(5)
    assert listings > 10


# ---- the property: random JSON and bytes into every file of a folder --------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=16)
CONFIG_KEYS = ["peft_type", "r", "lora_alpha", "lora_dropout", "target_modules", "base_model_name_or_path",
               "revision", "rank_pattern", "alpha_pattern", "use_dora", "modules_to_save", "task_type"]
STUDIO_KEYS = ["base_model", "dataset", "metrics", "tags", "notes", "run_id", "config", "loss_history",
               "eval_history", "chat_template", "created", "imported", "name"]
NESTED = {"base_model": ["name_or_path", "resolved_path", "hash", "revision", "quant"],
          "dataset": ["path", "eval_path", "format", "fingerprint"], "metrics": ["final_train_loss", "best_eval_loss"],
          "config": ["lora", "data", "model", "train"], "imported": ["from", "at"]}


def _mutated(base: dict, keys: list[str]) -> st.SearchStrategy:
    """A good object with some fields replaced by random JSON (gets past the first checks)."""
    field_values = st.dictionaries(st.sampled_from(keys), json_values, max_size=3)
    nested = st.sampled_from(list(NESTED)).flatmap(lambda k: st.dictionaries(
        st.sampled_from(NESTED[k]), json_values, max_size=2).map(lambda d: {k: d}))
    return st.tuples(field_values, nested | st.just({})).map(lambda t: {**base, **t[1], **t[0]})


def _file_bytes(good: dict, keys: list[str]) -> st.SearchStrategy:
    """Good, good with random fields, random JSON, random bytes (a quarter each)."""
    return st.one_of(st.just(json.dumps(good).encode()), _mutated(good, keys).map(lambda v: json.dumps(v).encode()),
                     json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=200))


def _weights(base_in: int) -> st.SearchStrategy:
    good = save_tensors({A.format(0, "q_proj"): np.zeros((4, base_in), np.float32),
                         B.format(0, "q_proj"): np.zeros((base_in, 4), np.float32)})
    length = struct.unpack("<Q", good[:8])[0]
    header = json.loads(good[8:8 + length])
    mutated_header = st.dictionaries(st.sampled_from(list(header)), json_values, max_size=2).map(
        lambda d: safetensors_bytes({**header, **d}, good[8 + length:]))
    return st.one_of(st.just(good), st.just(good), st.binary(max_size=300), mutated_header,
                     st.integers(0, len(good)).map(lambda n: good[:n]),
                     st.integers(0, 2**64 - 1).map(lambda n: struct.pack("<Q", n) + good[8:]),
                     json_values.map(lambda v: safetensors_bytes(v)), st.none())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(config=_file_bytes({**GOOD_CONFIG, "target_modules": ["q_proj"]}, CONFIG_KEYS),
       record=st.none() | _file_bytes({"name": "x", "base_model": {"name_or_path": "some/base"}, "tags": []},
                                      STUDIO_KEYS),
       weights=_weights(128), point_at_base=st.booleans())
def test_reader_never_raises_on_random_files(tiny_model: Path, config: bytes, record: bytes | None,
                                             weights: bytes | None, point_at_base: bool) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        ws = Workspace.open(Path(scratch) / "home")
        folder = ws.adapters_dir / "fuzzed"
        folder.mkdir(parents=True)
        if point_at_base:     # so the base check reaches the shape comparison with a real model
            try:
                parsed = json.loads(config)
                if isinstance(parsed, dict):
                    config = json.dumps({**parsed, "base_model_name_or_path": str(tiny_model)}).encode()
            except ValueError:
                pass
        (folder / "adapter_config.json").write_bytes(config)
        if record is not None:
            (folder / "studio.json").write_bytes(record)
        if weights is not None:
            (folder / "adapter_model.safetensors").write_bytes(weights)
        [info] = list_adapters(ws.adapters_dir)
        assert info.broken == find_adapter(ws.adapters_dir, "fuzzed").broken
        assert isinstance(info.broken, str) and isinstance(info.studio, dict)
        card = lineage_card(ws, "fuzzed")
        json.dumps(card, default=str)
        check = check_base(folder, ws)
        assert check.status in ("match", "fits", "different", "mismatch", "unknown")
        flat_settings(info)
        event(f"broken: {info.broken.split(' = ')[0].split(' (')[0][:40]}" if info.broken else f"good: {check.status}")


def test_every_damage_kind_is_in_the_seeded_library(home: Path) -> None:
    expected = seed_damaged(home / "adapters")
    assert set(expected) == {*DAMAGES, FILE_NOT_FOLDER}
