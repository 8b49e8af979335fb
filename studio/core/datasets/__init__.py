"""Dataset import: read any supported file, detect its format, normalise, validate, split.

    report = import_dataset(Path("train.jsonl"))
    report.records     # normalised Records, in file order
    report.errors      # every rejected row with file, line and reason

Loading is torch-free so the GUI can preview and validate data instantly.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from studio.core.datasets.formats import FIELDS, RowProblem, check_mapping, detect_format, normalise
from studio.core.datasets.readers import RawRow, read_rows
from studio.core.datasets.records import ImportReport, Record, RowError
from studio.core.errors import DataError

__all__ = ["FIELDS", "ImportReport", "Record", "RowError", "fingerprint", "import_dataset",
           "split_records", "require_clean"]

DETECT_SAMPLE = 50


def import_dataset(path: str | Path, fmt: str = "auto", columns: dict[str, str] | None = None,
                   system_prompt: str = "") -> ImportReport:
    path = Path(path).expanduser()
    columns = dict(columns or {})
    if fmt != "auto" and fmt not in FIELDS:
        raise DataError(f"unknown dataset format {fmt!r}", hint=f"use auto or one of: {', '.join(FIELDS)}")
    kind, rows = read_rows(path)
    items = list(rows)
    good = [item for item in items if isinstance(item, RawRow)]
    available = sorted({k for item in good if isinstance(item.data, dict) for k in item.data})
    if not good:
        if items:  # every row broken: report them all rather than a bare "empty"
            report = ImportReport(str(path), kind, fmt, fmt == "auto", rows_total=len(items))
            report.errors = [i for i in items if isinstance(i, RowError)]
            return report
        raise DataError(f"{path} holds no records", hint="add examples to the file")
    detected = fmt == "auto"
    if kind == "text" and fmt == "auto":
        fmt = "text"
    elif fmt == "auto":
        sample = [item.data for item in good[:DETECT_SAMPLE] if isinstance(item.data, dict)]
        if not sample:
            first = good[0]
            raise DataError(f"{path.name}:{first.line}: the rows are not records (this one is a "
                            f"{type(first.data).__name__}, not an object with fields)",
                            hint='write one JSON object per line, e.g. {"messages": [{"role": "user", ...}]}')
        fmt, columns = detect_format(sample, columns)
    check_mapping(fmt, columns, set(available))
    report = ImportReport(str(path), kind, fmt, detected, rows_total=len(items), columns=available,
                          mapping=dict(columns))
    for item in items:
        if isinstance(item, RowError):
            report.errors.append(item)
            continue
        try:
            record = normalise(item.data, fmt, columns, system_prompt)
        except RowProblem as problem:
            report.errors.append(RowError(path.name, item.line, problem.category, problem.detail, item.unit))
            continue
        record.source = f"{path.name}:{item.line}" if item.unit == "line" else f"{path.name}: row {item.line}"
        report.records.append(record)
    return report


def require_clean(report: ImportReport, allow_skip: bool) -> None:
    """Refuse to train on a file with rejected rows unless the user said to skip them."""
    if not report.records:
        raise DataError(f"{report.path}: no usable records ({report.rejected} rejected)\n" + report.describe(),
                        hint="fix the rows listed above")
    if report.errors and not allow_skip:
        raise DataError(f"{report.path}: {report.rejected} of {report.rows_total} rows were rejected\n"
                        + report.describe(max_errors=10),
                        hint="fix those rows, or pass --skip-bad-rows to train on the "
                             f"{len(report.records)} good ones")


def split_records(records: list[Record], fraction: float, seed: int) -> tuple[list[Record], list[Record]]:
    """A seeded random train/eval split; at least one eval row when fraction > 0."""
    if fraction <= 0 or len(records) < 2:
        return list(records), []
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    n_eval = min(len(records) - 1, max(1, round(len(records) * fraction)))
    eval_idx = set(order[:n_eval])
    train = [r for i, r in enumerate(records) if i not in eval_idx]
    evals = [r for i, r in enumerate(records) if i in eval_idx]
    return train, evals


def fingerprint(records: list[Record]) -> str:
    """sha256 of the normalised content: the same data gives the same fingerprint in any format."""
    digest = hashlib.sha256()
    for record in records:
        digest.update(json.dumps(record.to_dict(), sort_keys=True, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return "sha256:" + digest.hexdigest()
