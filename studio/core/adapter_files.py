"""What a PEFT adapter folder may hold, and every value read from it checked by type and range.

Why: the library is read from folders that a crash, a hand edit, another program or a crafted
download may have damaged. One value of the wrong type (a rank that is a string, a header that
claims 2**60 bytes) used to end `studio adapters list`, and every later import, in a traceback.
Every field the app reads from an adapter folder goes through here. A problem is a `ModelError`
whose message names the file, the field and the bad value, so the library lists the folder as
broken with that reason and the importer refuses it in the same words: an adapter that would be
refused on import is listed as broken, and the other way round.

Only the small JSON files and the safetensors header are read, never the weights, so listing a
library stays cheap. No torch and no peft: the rules that peft (0.21) and safetensors (0.8) apply
when they load an adapter are restated here, so that a folder that passes can load.
adapter_config.json has its rules in `core.peft_config`, the lineage record (studio.json) in
`core.adapter_record`; `core.library.read_adapter` applies them all to one folder.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import struct
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from studio.core.errors import ModelError

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
STUDIO_JSON = "studio.json"
PICKLE_WEIGHTS = ("adapter_model.bin", "adapter_model.pt")
TEMPLATE_DIR = "additional_chat_templates"   # transformers 5 saves named chat templates here

MB = 1024 * 1024
SMALL_FILE = 4 * MB         # JSON settings, templates, model cards: kilobytes in practice
TOKENIZER_FILE = 64 * MB    # the largest tokenizer.json files (256k-token vocabularies) are ~35 MB
# The files an adapter is made of, with the most each may weigh. The weights have no fixed cap:
# they must be exactly as large as their own header declares (`SafetensorsHeader.file_size`).
KEPT_FILES: dict[str, int] = {
    ADAPTER_CONFIG: SMALL_FILE, STUDIO_JSON: 16 * MB, "README.md": SMALL_FILE,
    "tokenizer.json": TOKENIZER_FILE, "tokenizer_config.json": TOKENIZER_FILE, "tokenizer.model": TOKENIZER_FILE,
    "spiece.model": TOKENIZER_FILE, "sentencepiece.bpe.model": TOKENIZER_FILE, "vocab.json": TOKENIZER_FILE,
    "vocab.txt": TOKENIZER_FILE, "merges.txt": TOKENIZER_FILE, "added_tokens.json": TOKENIZER_FILE,
    "special_tokens_map.json": SMALL_FILE, "chat_template.jinja": SMALL_FILE, "chat_template.json": SMALL_FILE,
    "generation_config.json": SMALL_FILE,
}
HEADER_CAP = 100_000_000    # safetensors itself refuses a longer header
MAX_WEIGHTS_BYTES = 64 * 1024**3
MAX_DEPTH = 64              # JSON nesting; deeper values would overflow recursive readers
MAX_NAME = 1024             # characters in a tensor name
# bits per element of every dtype safetensors 0.8 knows (F4 and F6 pack several elements per byte)
DTYPE_BITS = {"BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8,
              "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
              "I32": 32, "U32": 32, "F32": 32, "C64": 64, "F64": 64, "I64": 64, "U64": 64}
REPAIR = "import the adapter again from where it came from"


def shown(value: Any, width: int = 60) -> str:
    """A value as it is written in the file, shortened: messages quote what the user will find."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = "(a value that cannot be shown)"
    return text if len(text) <= width else text[: width - 1] + "…"


def bad(file: str, field_name: str, value: Any, why: str, hint: str = "") -> ModelError:
    return ModelError(f"{file}: {field_name} = {shown(value)} {why}",
                      hint=hint or f"correct {field_name} in {file}, or {REPAIR}")


def human(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= MB else f"{n} bytes"


def json_kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(value), "a number")


# ---- JSON files --------------------------------------------------------------------------------------
def load_json(raw: bytes, file: str) -> Any:
    """Parse JSON bytes; any failure is a ModelError naming the file (never a RecursionError)."""
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ModelError(f"{file} is not valid JSON (not UTF-8 text at byte {exc.start})", hint=REPAIR) from None
    except RecursionError:
        raise ModelError(f"{file} is not valid JSON (nested too deeply)", hint=REPAIR) from None
    except ValueError as exc:
        raise ModelError(f"{file} is not valid JSON ({exc})", hint=REPAIR) from None
    if nesting(value) > MAX_DEPTH:
        raise ModelError(f"{file} is nested more than {MAX_DEPTH} levels deep, which no adapter file is",
                         hint=REPAIR)
    return value


def nesting(value: Any) -> int:
    """How deep lists and objects nest (iteratively: a recursive walk would overflow on hostile input)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def open_regular(name: str | Path, dir_fd: int | None = None) -> IO[bytes]:
    """Open a regular file (links followed) for reading, never blocking: a hostile folder can hold a
    FIFO or a device where a file should be, and opening a FIFO waits for a writer for ever."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(name, flags, dir_fd=dir_fd) if dir_fd is not None else os.open(name, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ModelError(f"{Path(name).name} is not a regular file", hint=REPAIR)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def read_json_file(path: Path | str, cap: int, file: str = "", dir_fd: int | None = None) -> Any:
    """A JSON file of at most `cap` bytes. OSError (FileNotFoundError when it vanished) passes through."""
    name = file or Path(path).name
    with open_regular(path, dir_fd) as fh:
        raw = fh.read(cap + 1)
    if len(raw) > cap:
        raise ModelError(f"{name} is larger than the {human(cap)} such a file can be", hint=REPAIR)
    return load_json(raw, name)


def entry_kind(path: Path | str, dir_fd: int | None = None, follow: bool = False) -> str:
    """'missing', 'file', 'a folder', 'a link' or 'not a regular file' (links followed when `follow`)."""
    try:
        mode = os.stat(path, dir_fd=dir_fd, follow_symlinks=follow).st_mode
    except FileNotFoundError:
        return "missing"
    if stat.S_ISLNK(mode):
        return "a link"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "file" if stat.S_ISREG(mode) else "not a regular file"


class OpenFolder:
    """A folder opened once, its files read relative to the open directory (dir_fd) where the OS
    allows it: a folder renamed while it is read is still read whole, never half under each name.
    Elsewhere (Windows) by path. Use as a context manager; OSError passes through."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None
        if os.open in os.supports_dir_fd and os.stat in os.supports_dir_fd:
            self.fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))

    def __enter__(self) -> OpenFolder:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)

    def _name(self, name: str) -> str | Path:
        return name if self.fd is not None else self.path / name

    def kind(self, name: str) -> str:
        return entry_kind(self._name(name), self.fd, follow=True)

    def read_json(self, name: str, cap: int) -> Any:
        return read_json_file(self._name(name), cap, name, self.fd)

    def read_header(self, name: str = ADAPTER_WEIGHTS) -> SafetensorsHeader:
        with open_regular(self._name(name), self.fd) as fh:
            return parse_safetensors_header(fh, os.fstat(fh.fileno()).st_size, name)

    def files(self) -> list[tuple[str, int]]:
        """(relative path, size) of every regular file inside, links not followed; files that vanish
        meanwhile are left out."""
        found = []
        walk = os.fwalk(".", dir_fd=self.fd) if self.fd is not None and hasattr(os, "fwalk") else \
            ((root, dirs, files, None) for root, dirs, files in os.walk(self.path))
        for root, dirs, files, root_fd in walk:
            dirs.sort()
            for name in sorted(files):
                try:
                    st = os.stat(name, dir_fd=root_fd, follow_symlinks=False) if root_fd is not None else \
                        os.lstat(os.path.join(root, name))
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    rel = os.path.relpath(os.path.join(root, name), "." if root_fd is not None else self.path)
                    found.append((Path(rel).as_posix(), st.st_size))
        return found


def kept_cap(rel: str) -> int | None:
    """The size cap of a file an adapter may hold (path relative to the adapter folder), else None."""
    if rel in KEPT_FILES:
        return KEPT_FILES[rel]
    parts = PurePosixPath(rel).parts
    if len(parts) == 2 and parts[0] == TEMPLATE_DIR and parts[1].endswith(".jinja"):
        return SMALL_FILE
    return None


# ---- text that names a file --------------------------------------------------------------------
def check_text_path(value: Any, file: str, field_name: str) -> str:
    """A model folder, data file or hub id: text that every file system call can take. A NUL, a
    control character or an over-long name would make Path.exists() raise instead of answer."""
    if not isinstance(value, str):
        raise bad(file, field_name, value, "is not text (a model folder or hub id)")
    try:
        too_long = len(value) > 4096 or any(len(part.encode("utf-8")) > 255 for part in re.split(r"[/\\]", value))
    except UnicodeEncodeError:     # a lone surrogate ("\ud800" in the JSON) cannot name a file
        too_long = True
    if too_long or any(ord(c) < 32 for c in value):
        raise bad(file, field_name, value, "is not a usable path or hub id (control characters, or a "
                                           "name longer than a file system allows)")
    if value.startswith("~"):
        try:
            Path(value).expanduser()
        except RuntimeError:        # "~someone/..." where this machine has no user someone
            raise bad(file, field_name, value, "names the home folder of a user this machine does not have") from None
    return value


# ---- adapter_model.safetensors -----------------------------------------------------------------------
@dataclass
class SafetensorsHeader:
    tensors: dict[str, tuple[str, list[int]]]     # name -> (dtype, shape)
    header_len: int
    data_len: int

    @property
    def file_size(self) -> int:
        """What the file must weigh: 8-byte length, header, tensor data, nothing more."""
        return 8 + self.header_len + self.data_len


def parse_safetensors_header(fh: IO[bytes], file_size: int, file: str = ADAPTER_WEIGHTS) -> SafetensorsHeader:
    """Read and check the header from `fh` (at its start) for a file of `file_size` bytes: the
    checks safetensors makes when it loads the file (dtypes, shapes, offsets that tile the data
    exactly), made without reading the data."""
    hint = f"the weights file is damaged or cut short: {REPAIR}"
    if file_size < 10:
        raise ModelError(f"{file} is {file_size} bytes: too short to be a safetensors file", hint=hint)
    raw = fh.read(8)
    if len(raw) < 8:
        raise ModelError(f"{file} is cut short before its header", hint=hint)
    (length,) = struct.unpack("<Q", raw)
    if length > HEADER_CAP or length > file_size - 8:
        limit = "the 100 MB safetensors allows" if length > HEADER_CAP else f"the {file_size} bytes the file holds"
        raise ModelError(f"{file}: the header claims to be {length} bytes long, more than {limit}", hint=hint)
    head = fh.read(length)
    if len(head) < length:
        raise ModelError(f"{file} is cut short inside its header", hint=hint)
    try:
        header = json.loads(head.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ModelError(f"{file}: the header is not JSON, so this is not a safetensors file", hint=hint) from None
    if not isinstance(header, dict):
        raise ModelError(f"{file}: the header is {json_kind(header)}, not a JSON object", hint=hint)
    metadata = header.pop("__metadata__", None)
    if metadata is not None and not (isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())):
        raise bad(file, "__metadata__", metadata, "is not an object of texts", hint=hint)
    tensors: dict[str, tuple[str, list[int]]] = {}
    spans: list[tuple[int, int, str]] = []
    for name, meta in header.items():
        where = f"tensor {shown(name, 160)}"
        if not name or len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
            raise ModelError(f"{file}: {where} has an impossible name", hint=hint)
        if not isinstance(meta, dict):
            raise bad(file, where, meta, "is not an object with dtype, shape and data_offsets", hint=hint)
        dtype, shape, offsets = meta.get("dtype"), meta.get("shape"), meta.get("data_offsets")
        if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
            raise bad(file, f"{where} dtype", dtype, "is not a dtype safetensors knows", hint=hint)
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                  for d in shape):
            raise bad(file, f"{where} shape", shape, "is not a list of sizes (whole numbers >= 0)", hint=hint)
        if not (isinstance(offsets, list) and len(offsets) == 2 and offsets[0] <= offsets[1] and all(
                isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)):
            raise bad(file, f"{where} data_offsets", offsets, "is not [begin, end] in bytes", hint=hint)
        bits = math.prod(shape) * DTYPE_BITS[dtype]
        if bits % 8 or offsets[1] - offsets[0] != bits // 8:
            raise bad(file, f"{where} data_offsets", offsets, f"does not span the {bits} bits that "
                      f"{dtype} {shape} needs", hint=hint)
        tensors[name] = (dtype, list(shape))
        spans.append((offsets[0], offsets[1], name))
    end = 0
    for begin, stop, name in sorted(spans):
        if begin != end:
            raise ModelError(f"{file}: tensor {shown(name)} starts at byte {begin}, but the tensor before it "
                             f"ends at {end} (the data overlaps or has a hole)", hint=hint)
        end = stop
    data_len = file_size - 8 - length
    if end != data_len:
        raise ModelError(f"{file}: the header declares {end} bytes of tensor data, but the file holds {data_len}"
                         + (" (it is cut short)" if end > data_len else " (extra bytes after the data)"), hint=hint)
    return SafetensorsHeader(tensors, length, data_len)


def read_header_file(path: Path, file: str = ADAPTER_WEIGHTS) -> SafetensorsHeader:
    """The checked header of a weights file on disk (OSError passes through)."""
    with open_regular(path) as fh:
        return parse_safetensors_header(fh, os.fstat(fh.fileno()).st_size, file)