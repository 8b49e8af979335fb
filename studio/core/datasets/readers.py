"""Reading raw rows, with their line or row number, from every supported file type.

JSON, JSONL and CSV are read with the standard library rather than `datasets` because only a
line-by-line read can say *which* line is broken; a file that fails as a whole in `datasets`
gives the user nothing to fix. Parquet goes through pyarrow and saved dataset folders through
`datasets.load_from_disk`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core.datasets.records import RowError
from studio.core.errors import DataError

SUFFIXES = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
    ".parquet": "parquet", ".pq": "parquet", ".txt": "text", ".md": "text",
}


@dataclass
class RawRow:
    data: Any
    line: int
    unit: str = "line"


def file_type(path: Path) -> str:
    if path.is_dir():
        if (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file() \
                or (path / "state.json").is_file():
            return "arrow"
        raise DataError(f"{path} is a folder but not a dataset saved with datasets' save_to_disk",
                        hint="pass a data file (JSONL, JSON, CSV, Parquet, txt) or a save_to_disk folder")
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"{path.name}: unknown file type {path.suffix or '(no extension)'!r}",
                        hint="use one of " + ", ".join(sorted(SUFFIXES)) + ", or a save_to_disk folder")
    return kind


TEXT_UNITS = ("paragraph", "line", "document")


def read_rows(path: Path, text_unit: str = "paragraph") -> tuple[str, Iterator[RawRow | RowError]]:
    """The file type and an iterator of rows (or per-row errors) in file order.

    `text_unit` says what one document of a .txt file is (the names of datasets' text loader):
    a paragraph (blank lines between documents), a line, or the whole file."""
    if not path.exists():
        raise DataError(f"data file {path} does not exist", hint="check the path")
    kind = file_type(path)
    if kind != "arrow" and path.stat().st_size == 0:
        raise DataError(f"{path} is empty", hint="add examples to the file, one per line for JSONL")
    if kind == "text":
        return kind, _text(path, text_unit)
    readers = {"jsonl": _jsonl, "json": _json, "csv": _csv, "tsv": _csv, "parquet": _parquet, "arrow": _arrow}
    if kind == "json" and _looks_like_jsonl(path):
        kind = "jsonl"
    return kind, readers[kind](path)


def _decode(raw: bytes, path: Path, line: int) -> str | RowError:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return RowError(path.name, line, "not UTF-8 text",
                        f"byte 0x{raw[exc.start]:02x} at column {exc.start + 1}; re-save the file as UTF-8")


def _jsonl(path: Path) -> Iterator[RawRow | RowError]:
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            text = _decode(raw, path, number)
            if isinstance(text, RowError):
                yield text
                continue
            if not text.strip():
                continue
            try:
                yield RawRow(json.loads(text), number)
            except json.JSONDecodeError as exc:
                yield RowError(path.name, number, "invalid JSON", f"{exc.msg} (column {exc.colno})")
            except RecursionError:
                yield RowError(path.name, number, "invalid JSON", "nested too deeply")


def _looks_like_jsonl(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"{") and b"\n{" in head.replace(b"\r\n", b"\n")


def _json(path: Path) -> Iterator[RawRow | RowError]:
    text = _read_text(path)
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, 0)
    if text.startswith("{", pos):
        # {"data": [...]} or {"train": [...]}: one top-level list field holds the rows.
        try:
            obj = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise _json_file_error(path, exc) from None
        if _one_conversation(obj):
            yield RawRow(obj, 1, "row")
            return
        lists = [k for k, v in obj.items() if isinstance(v, list)] if isinstance(obj, dict) else []
        if len(lists) != 1:
            raise DataError(f"{path.name}: a JSON file must hold a list of records (or one object with "
                            "a single list of records)", hint="write the examples as a JSON list [...] or as JSONL")
        for i, item in enumerate(obj[lists[0]], start=1):
            yield RawRow(item, i, "row")
        return
    if not text.startswith("[", pos):
        raise DataError(f"{path.name}: a JSON file must hold a list of records",
                        hint="write the examples as a JSON list [...] or as JSONL, one object per line")
    pos = _skip_ws(text, pos + 1)
    while pos < len(text) and text[pos] != "]":
        line = text.count("\n", 0, pos) + 1
        try:
            item, end = decoder.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError) as exc:
            # Without the element's end the rest of the array cannot be found again: stop here.
            yield RowError(path.name, line, "invalid JSON", getattr(exc, "msg", "nested too deeply")
                           + "; the rest of the file was not read")
            return
        yield RawRow(item, line)
        pos = _skip_ws(text, end)
        if pos < len(text) and text[pos] == ",":
            comma = pos
            pos = _skip_ws(text, pos + 1)
            if pos < len(text) and text[pos] == "]":
                yield RowError(path.name, text.count("\n", 0, comma) + 1, "invalid JSON",
                               "trailing comma before ']' (JSON does not allow it)")
                return
        elif pos < len(text) and text[pos] != "]":
            yield RowError(path.name, text.count("\n", 0, pos) + 1, "invalid JSON",
                           "expected ',' or ']' after a record; the rest of the file was not read")
            return


def _one_conversation(obj: object) -> bool:
    """{"messages": [turns]} or {"conversations": [turns]}: one record, not a list of rows."""
    if not isinstance(obj, dict):
        return False
    for key in ("messages", "conversations"):
        turns = obj.get(key)
        if isinstance(turns, list) and turns and all(isinstance(t, dict) and ("role" in t or "from" in t)
                                                     for t in turns):
            return True
    return False


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _json_file_error(path: Path, exc: Exception) -> DataError:
    line = getattr(exc, "lineno", 0)
    where = f"{path.name}:{line}" if line else path.name
    return DataError(f"{where}: invalid JSON: {getattr(exc, 'msg', exc)}", hint="fix the JSON syntax")


def _read_text(path: Path, hint: str = "re-save the file as UTF-8") -> str:
    """The whole file as text (a BOM is dropped); a non-UTF-8 byte is reported with its line."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{path.name}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x})", hint=hint) from None


def _csv(path: Path) -> Iterator[RawRow | RowError]:
    text = _read_text(path, hint="re-save the file as UTF-8 (in a spreadsheet: CSV UTF-8)")
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise DataError(f"{path.name}:1: unreadable CSV header: {exc}") from None
    header = [h.strip() for h in header]
    if len(set(header)) != len(header) or not all(header):
        raise DataError(f"{path.name}:1: the header has empty or repeated column names: {header}",
                        hint="give every column a unique name in the first line")
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RowError(path.name, start, "invalid CSV", str(exc))
            return
        if not row or all(not cell.strip() for cell in row):
            start = reader.line_num + 1
            continue
        if len(row) != len(header):
            yield RowError(path.name, start, "wrong number of fields",
                           f"{len(row)} fields, the header has {len(header)}")
        else:
            yield RawRow(dict(zip(header, row)), start)
        start = reader.line_num + 1


def _parquet(path: Path) -> Iterator[RawRow | RowError]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path.name}: not a readable Parquet file: {exc}",
                        hint="check the file was written completely (e.g. pandas.DataFrame.to_parquet)") from None
    for i, row in enumerate(table.to_pylist(), start=1):
        yield RawRow(row, i, "row")


def _arrow(path: Path) -> Iterator[RawRow | RowError]:
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as exc:  # datasets raises many types for a damaged folder
        raise DataError(f"{path}: cannot read the saved dataset: {exc}",
                        hint="re-save it with Dataset.save_to_disk") from None
    if isinstance(loaded, datasets.DatasetDict):
        split = "train" if "train" in loaded else next(iter(loaded))
        loaded = loaded[split]
    for i, row in enumerate(loaded, start=1):
        yield RawRow(row, i, "row")


def _text(path: Path, unit: str) -> Iterator[RawRow | RowError]:
    """One text record per document: a paragraph, a line, or the whole file (see read_rows)."""
    text = _read_text(path)
    if unit == "document":
        if text.strip():
            yield RawRow({"text": text}, 1)
        return
    paragraph: list[str] = []
    start = 1
    for number, line in enumerate(text.splitlines(), start=1):
        if unit == "line":
            if line.strip():
                yield RawRow({"text": line}, number)
        elif line.strip():
            if not paragraph:
                start = number
            paragraph.append(line)
        elif paragraph:
            yield RawRow({"text": "\n".join(paragraph)}, start)
            paragraph = []
    if paragraph:
        yield RawRow({"text": "\n".join(paragraph)}, start)
