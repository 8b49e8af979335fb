"""Files that mean something the chosen objective cannot honour: data for another objective
(preference pairs or KTO labels for SFT, SFT data for DPO, prompts without answers for any) or
another modality (images, audio, video).

Such a file is refused as a whole, with one message that names what it is and which objective or
model it is for, before anything is written. Training it as text would be silently wrong: the
rejected answers learned as good ones, the `<image>` placeholders learned without the pictures.
A suggested fix never leads there: it names the objective the data is for, or an explicit mapping
that says what to train. KTO takes preference pairs by unpairing them (see `fits_objective`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.core.errors import DataError

MEDIA_COLUMNS = {"images": "images", "image": "images", "videos": "video", "video": "video",
                 "audios": "audio", "audio": "audio"}
PLACEHOLDERS = ("<image>", "<video>", "<audio>")
ANSWER_COLUMNS = {"completion", "response", "answer", "output", "chosen", "messages", "conversations", "text",
                  "target", "preferred_output"}
ANSWER_ROLES = {"assistant", "gpt", "model", "bot", "chatgpt"}
PAIR_HINT = "train it with --objective dpo (or orpo)"
KTO_HINT = "train it with --objective kto"
PAIR_FIELDS = {"dpo": "preference pairs (prompt, chosen, rejected)", "orpo": "preference pairs (prompt, chosen, "
               "rejected)", "kto": "answers labelled desirable or undesirable (prompt, completion, label)"}


def refuse_other_purposes(path: Path, rows: list[Any], columns: dict[str, str], detecting: bool,
                          objective: str = "sft") -> None:
    """Raise DataError when the rows are for another objective or modality (see the module text)."""
    dicts = [row for row in rows if isinstance(row, dict)]
    present = {key for row in dicts for key, value in row.items() if value not in (None, "", [], {})}
    mapped = set(columns.values())
    _media(path, dicts, present)
    if objective != "sft":
        if detecting and "prompt" in present and not (present & ANSWER_COLUMNS) and not mapped \
                and not present & {"chosen", "rejected", "label", "kto_tag"}:
            raise DataError(f"{objective} needs {PAIR_FIELDS[objective]}; {path.name} holds prompts without answers "
                            "(TRL's prompt-only layout, used by online methods such as GRPO or PPO)",
                            hint="add the answers to compare (chosen and rejected columns, or a completion and "
                                 "a true/false label for kto)")
        return
    if {"chosen", "rejected"} <= present and not {"chosen", "rejected"} & mapped and not _has_answers(dicts):
        _preference(path, dicts, present)
    if {"input", "preferred_output", "non_preferred_output"} <= present and not mapped:
        raise DataError(f"{path.name} holds preference pairs in OpenAI's preference fine-tuning layout (input, "
                        "preferred_output, non_preferred_output), which train with DPO, not supervised "
                        "fine-tuning", hint=PAIR_HINT + "; for SFT, use a file of messages with the preferred answers")
    if "kto_tag" in present and "kto_tag" not in mapped:
        raise DataError(f"{path.name} holds KTO data (LLaMA-Factory's kto_tag marks each answer desirable or not), "
                        "which trains with KTO: as SFT every answer, the undesirable ones too, would be learned",
                        hint=KTO_HINT + "; for SFT, keep the rows tagged true and remove the kto_tag column")
    labels = [row.get("label") for row in dicts if "label" in row]
    answers = present & {"completion", "messages", "conversations"}
    if answers and labels and all(isinstance(v, bool) for v in labels) and "label" not in mapped:
        layout = "TRL's unpaired preference layout" if "completion" in answers else "LLaMA-Factory's KTO layout"
        raise DataError(f"{path.name} holds KTO data ({layout}): a true/false 'label' says whether each answer "
                        "is desirable; trained as SFT the undesirable answers would be learned too",
                        hint=KTO_HINT + "; for SFT, keep the rows labelled true and remove the label column")
    if detecting and "prompt" in present and not (present & ANSWER_COLUMNS) and not mapped:
        raise DataError(f"{path.name} holds prompts without answers (TRL's prompt-only layout, used by online "
                        "methods such as GRPO or PPO); supervised fine-tuning needs an answer for each prompt",
                        hint="add a completion column (or assistant turns) with the answers to learn")


def _has_answers(rows: list[dict[str, Any]]) -> bool:
    """Whether messages/conversations hold whole conversations, ending with the answer: then they
    are the SFT data (as in HuggingFaceH4's *_sft splits) and chosen/rejected are extra columns."""
    sample = rows[:50]
    for key in ("messages", "conversations"):
        turns = [row.get(key) for row in sample]
        if turns and all(isinstance(t, list) and t and isinstance(t[-1], dict)
                         and str(t[-1].get("role", t[-1].get("from"))).lower() in ANSWER_ROLES for t in turns):
            return True
    return False


def _media(path: Path, rows: list[dict[str, Any]], present: set[str]) -> None:
    found = [column for column in present if column in MEDIA_COLUMNS]
    if not found:
        return
    kinds = sorted({MEDIA_COLUMNS[c] for c in found})
    placeholders = sorted({p for row in rows[:200] for p in PLACEHOLDERS if p in str(row)})
    shown = f" and {', '.join(placeholders)} placeholders in the text" if placeholders else ""
    raise DataError(f"{path.name} holds {' and '.join(kinds)} (column {', '.join(repr(c) for c in sorted(found))}{shown}): "
                    "it is a multimodal dataset, and LoRA Studio trains text-only language models",
                    hint="use a text-only dataset; trained as text, the model would learn the placeholders "
                         "without ever seeing the " + " or ".join(kinds))


def _preference(path: Path, rows: list[dict[str, Any]], present: set[str]) -> None:
    sample = next((row for row in rows if "chosen" in row), {})
    conversational = isinstance(sample.get("chosen"), (list, dict))
    if "conversations" in present:
        layout, fix = "LLaMA-Factory's ShareGPT preference layout (conversations, chosen, rejected)", \
            "for SFT, append each row's chosen turn to its conversations and drop rejected"
    elif "instruction" in present:
        layout, fix = "LLaMA-Factory's Alpaca preference layout (instruction, chosen, rejected)", \
            "to fine-tune on the preferred answers alone, say so: --format alpaca --columns output=chosen"
    elif "prompt" in present:
        kind = "conversational" if conversational else "standard"
        layout, fix = f"TRL's {kind} preference layout (prompt, chosen, rejected)", \
            "to fine-tune on the preferred answers alone, say so: --format completion --columns " \
            "prompt=prompt,completion=chosen"
    else:
        kind = "conversational" if conversational else "standard"
        layout = f"TRL's {kind} preference layout with the prompt inside chosen/rejected"
        fix = "to fine-tune on the preferred conversations alone, say so: " + (
            "--format chat --columns messages=chosen" if conversational else "--format text --columns text=chosen")
    raise DataError(f"{path.name} holds preference pairs in {layout}, which train with a preference objective "
                    "such as DPO or ORPO: as SFT the rejected answers would be dropped or learned as good ones",
                    hint=f"{PAIR_HINT}; {fix} (the rejected column is then listed as unused)")


def fits_objective(path: Path, fmt: str, objective: str) -> bool:
    """Raise DataError when data read as `fmt` cannot train `objective`, naming the objective the
    data is for. True when the pairs are to be unpaired for KTO (the caller then says so)."""
    name = path.name
    if objective == "sft" and fmt == "preference":
        raise DataError(f"{name} is read as preference pairs (format preference), which train with a preference "
                        "objective such as DPO or ORPO, not supervised fine-tuning",
                        hint=f"{PAIR_HINT}; for SFT, choose an SFT format and map the chosen answer, e.g. "
                             "--format completion --columns prompt=prompt,completion=chosen")
    if objective == "sft" and fmt == "kto":
        raise DataError(f"{name} is read as KTO data (format kto): each answer is labelled desirable or not, and "
                        "as SFT the undesirable answers would be learned too", hint=KTO_HINT)
    if objective in ("dpo", "orpo") and fmt == "kto":
        raise DataError(f"{objective} needs {PAIR_FIELDS[objective]}; {name} holds KTO data (single answers "
                        "labelled desirable or undesirable, unpaired)",
                        hint=f"{KTO_HINT}; {objective} compares two answers to the same prompt")
    if objective != "sft" and fmt not in ("preference", "kto"):
        raise DataError(f"{objective} needs {PAIR_FIELDS[objective]}; {name} holds {fmt} data for supervised "
                        "fine-tuning (--objective sft)",
                        hint="train it with --objective sft, or choose a file in a preference layout "
                             + ("(prompt, chosen, rejected)" if objective != "kto" else
                                "(prompt, completion and a true/false label, or pairs to unpair)")
                             + "; with other column names, map them with --format and --columns")
    return objective == "kto" and fmt == "preference"
