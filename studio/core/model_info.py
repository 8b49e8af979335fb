"""What a base model is made of, read from config.json and safetensors headers: no torch.

The GUI's target-module editor and memory estimate, and the CLI's early checks (is this a model?
does it have q_proj?) need the model's linear layers and their shapes. Reading them from the
safetensors headers (8-byte length + JSON) takes milliseconds and imports nothing heavy.
"""

from __future__ import annotations

import json
import os
import struct
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.core.errors import ModelError

if TYPE_CHECKING:
    from studio.core.config import ModelOptions

NON_LINEAR_HINTS = ("embed", "wte", "wpe", "norm", "ln_", "lm_head", "score", "rotary")
OUTPUT_LAYERS = ("lm_head", "embed_out", "output", "score")
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
               "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}


@dataclass
class LinearGroup:
    """All linear layers that share a name (e.g. every `q_proj`), as LoRA targets them."""

    name: str
    shapes: list[tuple[int, int]] = field(default_factory=list)   # (out, in) of each layer

    @property
    def count(self) -> int:
        return len(self.shapes)

    @property
    def out_features(self) -> int:
        return self.shapes[0][0]

    @property
    def in_features(self) -> int:
        return self.shapes[0][1]

    @property
    def base_params(self) -> int:
        return sum(o * i for o, i in self.shapes)

    def lora_params(self, rank: int, dora: bool = False) -> int:
        """A (r x in) + B (out x r) per layer, plus DoRA's magnitude vector (out)."""
        return sum(rank * (i + o) + (o if dora else 0) for o, i in self.shapes)


@dataclass
class ModelInfo:
    path: Path
    config: dict[str, Any]
    tensors: dict[str, tuple[str, list[int]]]       # name -> (dtype, shape)
    weight_files: list[str]
    pickle_files: list[str]
    groups: "OrderedDict[str, LinearGroup]"

    @property
    def model_type(self) -> str:
        return str(self.config.get("model_type", "unknown"))

    @property
    def needs_remote_code(self) -> bool:
        return "auto_map" in self.config

    @property
    def num_params(self) -> int:
        total = 0
        for _, shape in self.tensors.values():
            n = 1
            for dim in shape:
                n *= dim
            total += n
        return total

    @property
    def weight_bytes(self) -> int:
        total = 0
        for dtype, shape in self.tensors.values():
            n = DTYPE_BYTES.get(dtype, 2)
            for dim in shape:
                n *= dim
            total += n
        return total

    @property
    def num_layers(self) -> int:
        cfg = self.text_config
        return int(cfg.get("num_hidden_layers") or cfg.get("n_layer") or cfg.get("num_layers") or 0)

    @property
    def hidden_size(self) -> int:
        cfg = self.text_config
        return int(cfg.get("hidden_size") or cfg.get("n_embd") or cfg.get("d_model") or 0)

    @property
    def vocab_size(self) -> int:
        return int(self.text_config.get("vocab_size") or 0)

    @property
    def text_config(self) -> dict[str, Any]:
        """Multimodal configs keep the language model's settings under text_config."""
        inner = self.config.get("text_config")
        return inner if isinstance(inner, dict) else self.config

    def targeted(self, targets: list[str]) -> list[LinearGroup]:
        """The groups that peft would adapt for these target names ("all-linear" = every group)."""
        if targets == ["all-linear"] or targets == "all-linear":
            return list(self.groups.values())
        return [g for name, g in self.groups.items() if name in targets]

    def lora_params(self, targets: list[str], rank: int, dora: bool = False) -> int:
        return sum(g.lora_params(rank, dora) for g in self.targeted(targets))

    def check_targets(self, targets: list[str]) -> None:
        if targets == ["all-linear"]:
            return
        unknown = [t for t in targets if t not in self.groups]
        if unknown:
            raise ModelError(
                f"the model has no module named {', '.join(repr(u) for u in unknown)}",
                hint=f"its linear layers are: {', '.join(self.groups)} (or use all-linear)")


def trainable_share(trainable: int, base_params: int) -> float:
    """Trainable parameters as a percentage of the model being trained (base + adapter), as peft's
    print_trainable_parameters and the training worker count it: one definition for every screen."""
    return 100.0 * trainable / max(base_params + trainable, 1)


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """tensor name -> {"dtype", "shape", ...} from a safetensors header, without reading the weights.

    The length and every entry are checked (a length beyond the file, an entry that is not an object,
    a shape that is not a list of sizes), so callers can use the values without guarding each one.
    The adapter library checks more (offsets, dtypes): `core.adapter_files.parse_safetensors_header`."""
    hint = "the download may be incomplete: download the model again"
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            raw_len = fh.read(8)
            if len(raw_len) != 8:
                raise ValueError("file shorter than its header")
            (length,) = struct.unpack("<Q", raw_len)
            if length > 100_000_000:
                raise ValueError(f"header length {length} is implausible")
            if length > size - 8:
                raise ValueError(f"header length {length} is more than the {size}-byte file holds")
            header = json.loads(fh.read(length))
    except (OSError, ValueError, RecursionError) as exc:
        raise ModelError(f"{path.name} is not a readable safetensors file ({exc})", hint=hint) from None
    if not isinstance(header, dict):
        raise ModelError(f"{path.name} has a malformed safetensors header", hint=hint)
    header.pop("__metadata__", None)
    for name, meta in header.items():
        shape = meta.get("shape") if isinstance(meta, dict) else None
        if not isinstance(meta, dict) or not isinstance(meta.get("dtype"), str) or not isinstance(shape, list) \
                or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise ModelError(f"{path.name} has a malformed safetensors header (tensor {name[:80]!r})", hint=hint)
    return header


def find_model_folder(name_or_path: str, revision: str = "") -> Path | None:
    """A local folder, or the hub cache's snapshot of a hub id; None if neither is on disk."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    if looks_like_path(name_or_path):
        return None
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(name_or_path, "config.json", revision=revision or None)
    except Exception:  # an invalid repo id, a broken cache: treat as not cached
        return None
    return Path(cached).parent if isinstance(cached, str) else None


def looks_like_path(name: str) -> bool:
    """'./m', '/abs/m', '~/m', 'C:\\m', 'a/b/c' are paths; 'org/model' may be a hub id."""
    return name.startswith((".", "/", "~", "\\")) or ":" in name or name.count("/") > 1 or "\\" in name


def inspect_model(path: Path) -> ModelInfo:
    """Read config.json and the weight headers of a local model folder."""
    if not path.is_dir():
        raise ModelError(f"{path} is not a folder", hint="pass the folder that holds config.json and the weights")
    config_path = path / "config.json"
    if not config_path.is_file():
        hint = ("this looks like a LoRA adapter, not a base model: pass its base model with --model"
                if (path / "adapter_config.json").is_file()
                else "pass a Hugging Face model folder (config.json + *.safetensors)")
        raise ModelError(f"{path} has no config.json, so it is not a Hugging Face model folder", hint=hint)
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{config_path} is not valid JSON ({exc})", hint="re-download the model") from None
    files = sorted(p.name for p in path.glob("*.safetensors"))
    pickles = sorted(p.name for p in path.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt")
                     and not p.name.startswith("training_args"))
    index = path / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            files = sorted(set(weight_map.values()))
        except (ValueError, KeyError, TypeError):
            raise ModelError(f"{index} is malformed", hint="re-download the model") from None
    tensors: dict[str, tuple[str, list[int]]] = {}
    for name in files:
        file = path / name
        if not file.is_file():
            raise ModelError(f"{path}: weight file {name} is missing", hint="re-download the model")
        for tensor, meta in read_safetensors_header(file).items():
            tensors[tensor] = (meta.get("dtype", "?"), list(meta.get("shape", [])))
    return ModelInfo(path, config, tensors, files, pickles, _linear_groups(tensors))


def _linear_groups(tensors: dict[str, tuple[str, list[int]]]) -> "OrderedDict[str, LinearGroup]":
    groups: OrderedDict[str, LinearGroup] = OrderedDict()
    for name, (dtype, shape) in tensors.items():
        if not name.endswith(".weight") or len(shape) != 2:
            continue
        module = name[: -len(".weight")]
        leaf = module.rsplit(".", 1)[-1]
        if any(h in leaf for h in NON_LINEAR_HINTS) or leaf in OUTPUT_LAYERS or "." not in module:
            continue
        groups.setdefault(leaf, LinearGroup(leaf)).shapes.append((shape[0], shape[1]))
    return groups


def check_model_safety(info: ModelInfo, options: "ModelOptions") -> None:
    """Refuse pickle-only weights and custom model code unless the user opted in for this model."""
    folder = info.path
    if not info.weight_files:
        if info.pickle_files and not options.allow_pickle:
            raise ModelError(
                f"{folder} has only pickle weights ({', '.join(info.pickle_files[:3])}), which can run "
                "arbitrary code when loaded; they are refused by default",
                hint="use a safetensors version of the model, convert it, or pass --allow-pickle if "
                     "you trust where it came from")
        if not info.pickle_files:
            raise ModelError(f"{folder} has config.json but no weights (*.safetensors)",
                             hint="the download may be incomplete: download the model again")
    if info.needs_remote_code and not options.trust_remote_code:
        raise ModelError(
            f"{options.name_or_path} needs custom Python code shipped with the model (auto_map in "
            "config.json), which is not run by default",
            hint="pass --trust-remote-code if you trust this model's authors")


def read_chat_template(path: str) -> str:
    """The text of a --chat-template file: a Jinja template as Hugging Face tokenizers store it
    (chat_template.jinja), or a tokenizer_config.json holding one."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot read the chat template file {file}: {exc}",
                         hint="pass a .jinja file with --chat-template (model.chat_template)") from None
    if file.suffix == ".json":
        try:
            text = json.loads(text).get("chat_template")
        except (ValueError, AttributeError):
            text = None
        if not isinstance(text, str):
            raise ModelError(f"{file} holds no chat_template text", hint="pass the template as a .jinja file")
    if "{" not in text:
        raise ModelError(f"{file} does not look like a Jinja chat template (no {{ }} or {{% %}})",
                         hint="pass a .jinja file such as a model's chat_template.jinja")
    return text
