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
from typing import TYPE_CHECKING

from studio.core.datasets.formats import FIELDS, PAIRED, check_mapping, detect_format, normalise, used_columns
from studio.core.datasets.preference import guess as guess_pairs
from studio.core.datasets.preference import unpair
from studio.core.datasets.messages import FieldUse
from studio.core.datasets.problems import ModalityProblem, RowProblem
from studio.core.datasets.readers import RawRow, read_rows
from studio.core.datasets.records import ImportReport, Record, RowError, describe_turns
from studio.core.datasets.refusals import fits_objective, refuse_other_purposes
from studio.core.errors import DataError

if TYPE_CHECKING:
    from studio.core.config import DataOptions

__all__ = ["FIELDS", "ImportReport", "Record", "RowError", "describe_turns", "eval_overlap", "fingerprint",
           "import_dataset",
           "import_options", "split_records", "require_clean"]

DETECT_SAMPLE = 50


def import_options(data: DataOptions, path: str = "", objective: str = "sft") -> ImportReport:
    """import_dataset with every setting of a DataOptions (config.data), for `path` or data.path."""
    return import_dataset(path or data.path, data.format, data.columns, data.system_prompt,
                          text_unit=data.text_unit, reasoning=data.reasoning, loss_on=data.loss_on,
                          objective=objective)


def import_dataset(path: str | Path, fmt: str = "auto", columns: dict[str, str] | None = None,
                   system_prompt: str = "", *, text_unit: str = "paragraph", reasoning: str = "template",
                   loss_on: str = "assistant", objective: str = "sft") -> ImportReport:
    """Read, detect, normalise and validate one file for `objective` (train.objective): the data
    must fit it (preference pairs for dpo/orpo, labelled answers or pairs for kto), else one
    DataError names the objective the data is for."""
    path = Path(path).expanduser()
    columns = dict(columns or {})
    if fmt != "auto" and fmt not in FIELDS:
        raise DataError(f"unknown dataset format {fmt!r}", hint=f"use auto or one of: {', '.join(FIELDS)}")
    kind, rows = read_rows(path, text_unit)
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
    refuse_other_purposes(path, [item.data for item in good], columns, detected, objective)
    if fmt in PAIRED and isinstance(good[0].data, dict):   # the layout's own mapping, e.g. OpenAI's input
        layout = guess_pairs(good[0].data, objective)
        if layout and layout[0] == fmt:
            columns = {**{k: v for k, v in layout[1].items() if v in available}, **columns}
    if kind == "text" and fmt == "auto":
        fmt = "text"
    elif fmt == "auto":
        sample = [item.data for item in good[:DETECT_SAMPLE] if isinstance(item.data, dict)]
        if not sample:
            first = good[0]
            raise DataError(f"{path.name}:{first.line}: the rows are not records (this one is a "
                            f"{type(first.data).__name__}, not an object with fields)",
                            hint='write one JSON object per line, e.g. {"messages": [{"role": "user", ...}]}')
        fmt, columns = detect_format(sample, columns, objective)
    check_mapping(fmt, columns, set(available))
    unpairing = fits_objective(path, fmt, objective)
    report = ImportReport(str(path), kind, fmt, detected, rows_total=len(items), columns=available,
                          mapping=dict(columns))
    use = FieldUse()
    for item in items:
        if isinstance(item, RowError):
            report.errors.append(item)
            continue
        row_use = FieldUse()
        where = f"{path.name}:{item.line}" if item.unit == "line" else f"{path.name}: row {item.line}"
        try:
            record = normalise(item.data, fmt, columns, system_prompt, row_use, reasoning, loss_on)
        except ModalityProblem as problem:
            raise DataError(f"{where}: {problem.detail}: the dataset holds {problem.modality}, and LoRA Studio "
                            "trains text-only language models", hint="use a text-only dataset; LoRA Studio cannot "
                            f"train on {problem.modality}, and dropping them would train on the text alone") from None
        except RowProblem as problem:
            report.errors.append(RowError(path.name, item.line, problem.category, problem.detail, item.unit))
            continue
        record.source = where
        report.records.append(record)
        use.merge(row_use)
        use.counts["records_with_tools"] += bool(record.tools)
    report.turns = {k: v for k, v in use.counts.items() if v}
    report.layouts = dict(use.layouts.most_common())
    report.warnings = _warnings(report, kind, fmt, columns, use, text_unit)
    if unpairing:
        pairs = len(report.records)
        report.records = unpair(report.records)
        report.warnings.append(f"KTO reads single answers: the {pairs:,} preference pairs were unpaired into "
                               f"{len(report.records):,} examples, each chosen answer desirable and each rejected "
                               "one undesirable (as TRL's unpair_preference_dataset does)")
    return report


def _warnings(report: ImportReport, kind: str, fmt: str, columns: dict[str, str], use: FieldUse,
              text_unit: str) -> list[str]:
    """What the file holds that training will not use, in words (data check, train, the Data page)."""
    out = []
    unused = [c for c in report.columns if c not in used_columns(fmt, columns)] if kind != "text" else []
    if unused:
        reads = sorted(columns.get(name, name) for name in FIELDS[fmt])
        out.append(f"column{'s' * (len(unused) > 1)} not used for training: {', '.join(unused)} "
                   f"(the {fmt} format reads {', '.join(reads)})")
    if use.unused:
        # A dotted key is a field of a row's object (OpenAI's input.parallel_tool_calls), not of a turn.
        fields = ", ".join(f"{key!r} ({count:,} {'row' if '.' in key else 'turn'}{'s' * (count != 1)})"
                           for key, count in use.unused.most_common())
        out.append(f"{'turn ' * all('.' not in key for key in use.unused)}fields not used for training: {fields}")
    if kind == "text" and text_unit == "paragraph" and len(report.records) == 1 \
            and (report.records[0].text or "").count("\n") >= 2:
        out.append("the whole .txt file is one document (it has no blank lines): if each line is a document, "
                   "use --text-unit line")
    return out


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


def eval_overlap(train: list[Record], evals: list[Record], train_path: str = "", eval_path: str = "") -> str:
    """A warning when the evaluation data is (partly) the training data: its loss then measures
    memory, not generalisation. Empty when they are apart."""
    if not evals:
        return ""
    if train_path and eval_path and Path(train_path).expanduser().resolve() == Path(eval_path).expanduser().resolve():
        return (f"the eval file is the training file ({Path(eval_path).name}): the eval loss will only show "
                "memorisation; choose another eval file, or none to hold out a share of the data")
    seen = {_record_key(r) for r in train}
    shared = sum(_record_key(r) in seen for r in evals)
    if not shared:
        return ""
    return (f"{shared} of {len(evals)} eval examples ({100 * shared / len(evals):.0f}%) are also in the training data: "
            "their eval loss measures memorisation; remove them from one of the files")


def _record_key(record: Record) -> str:
    return json.dumps(record.to_dict(), sort_keys=True, ensure_ascii=False)
