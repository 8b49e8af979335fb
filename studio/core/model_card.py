"""The README.md (model card) of an export: what it is made of, how it was trained, how it was checked.

Someone who finds the folder months later, or on the hub, should be able to tell which base
model and which adapter went in, with what data and settings, and how well the merged weights
matched the adapter, without LoRA Studio. The YAML header is the hub's model card metadata.
"""

from __future__ import annotations

from typing import Any

from studio.core.model_info import looks_like_path


def merged_model_card(lineage: dict[str, Any], export: dict[str, Any], verification: dict[str, Any] | None) -> str:
    """`lineage` is the adapter's studio.json (may be empty for a plain PEFT folder); `export` holds
    name, adapter_name, adapter_path, base_source, dtype, created, studio_version."""
    base = lineage.get("base_model", {})
    base_name = str(base.get("name_or_path") or export.get("base_source", ""))
    header = ["---", "library_name: transformers", "pipeline_tag: text-generation",
              "tags:", "- lora-studio", "- lora", "- merged"]
    if base_name and not looks_like_path(base_name):
        header.append(f"base_model: {base_name}")
    header.append("---")
    quant = base.get("quant") or "none"
    trained_on = {"4bit": "4-bit NF4 (QLoRA)", "8bit": "8-bit (LLM.int8)"}.get(quant, "full precision")
    lines = header + [
        "", f"# {export['name']}", "",
        f"The LoRA adapter **{export['adapter_name']}** merged into **{base_name}** by LoRA Studio "
        f"{export.get('studio_version', '')} on {export.get('created', '')[:10]}. It is a plain Hugging Face model "
        "folder (safetensors weights): no peft and no LoRA Studio are needed to use it.",
        "", "```python", "from transformers import AutoModelForCausalLM, AutoTokenizer", "",
        'model = AutoModelForCausalLM.from_pretrained("path/to/this/folder")',
        'tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")', "```", "",
        "The tokenizer carries the chat template the adapter was trained with "
        "(`tokenizer.apply_chat_template`).", "",
        "## Base model", "",
        *_table([("name or path", base_name), ("revision", base.get("revision")), ("hash", base.get("hash")),
                 ("adapter trained on", trained_on),
                 ("merged at", f"{export['dtype']} (the base loaded at full precision, never quantized weights)")]),
        "", "## Adapter lineage", "",
        *_table(_lineage_rows(lineage, export)),
    ]
    settings = _settings_rows(lineage)
    if settings:
        lines += ["", "## Training settings", "", *_table(settings)]
    lines += ["", "## Verification", "", *_verification_lines(verification), ""]
    return "\n".join(lines)


def _lineage_rows(lineage: dict[str, Any], export: dict[str, Any]) -> list[tuple[str, Any]]:
    lora = lineage.get("config", {}).get("lora", {})
    data = lineage.get("dataset", {})
    rows: list[tuple[str, Any]] = [
        ("adapter", f"{export['adapter_name']} ({export.get('adapter_path', '')})"),
        ("run", lineage.get("run_id")), ("created", lineage.get("created")),
    ]
    if lora:
        kind = "DoRA" if lora.get("dora") else "rsLoRA" if lora.get("rslora") else "LoRA"
        rows.append(("adapter type", f"{kind}, rank {lora.get('rank')}, alpha {lora.get('alpha')}, "
                                     f"dropout {lora.get('dropout')}"))
        rows.append(("target modules", ", ".join(lora.get("targets") or [])))
    for parent in lineage.get("parents", []):
        rows.append(("combined from", f"{parent.get('name')} x {parent.get('weight')} ({parent.get('path')})"))
    combination = lineage.get("combination")
    if isinstance(combination, dict):
        rows.append(("combination", f"{combination.get('type')} (update differs from the exact weighted sum "
                                    f"by {combination.get('relative_error', 0):.2g} relative)"))
    if data:
        rows += [("training data", data.get("path")), ("held-out data", data.get("eval_path")),
                 ("data format", data.get("format")), ("data fingerprint", data.get("fingerprint")),
                 ("training examples", data.get("train_examples"))]
    return rows


def _settings_rows(lineage: dict[str, Any]) -> list[tuple[str, Any]]:
    train = lineage.get("config", {}).get("train", {})
    data = lineage.get("config", {}).get("data", {})
    metrics = lineage.get("metrics", {})
    if not train:
        return []
    steps = f"max_steps {train['max_steps']}" if train.get("max_steps") else f"{train.get('epochs')} epochs"
    rows: list[tuple[str, Any]] = [
        ("learning rate", f"{train.get('lr')} ({train.get('scheduler')}, warmup {train.get('warmup')})"),
        ("length", steps),
        ("batch", f"{train.get('batch_size')} x grad accum {train.get('grad_accum')}"),
        ("weight decay / grad clip", f"{train.get('weight_decay')} / {train.get('max_grad_norm')}"),
        ("max length / loss on", f"{data.get('max_len')} tokens / {data.get('loss_on')}"),
        ("seed", train.get("seed")),
    ]
    for key, label in (("steps", "steps trained"), ("final_train_loss", "final train loss"),
                       ("best_eval_loss", "best eval loss"), ("train_seconds", "training time (s)")):
        if metrics.get(key) is not None:
            value = metrics[key]
            rows.append((label, f"{value:.4f}" if isinstance(value, float) and "loss" in key else value))
    return rows


def _verification_lines(report: dict[str, Any] | None) -> list[str]:
    if report is None:
        return ["Not verified: the export was made with `--no-verify`."]
    lines = [
        f"Loaded fresh with `AutoModelForCausalLM.from_pretrained` and compared with base + adapter "
        f"(unmerged, {report['dtype']}) on {report['prompts']} prompts from {report.get('prompt_source', '')}:", "",
        f"- max absolute logit difference: **{report['max_abs_diff']:.3g}** "
        f"(tolerance {report['tolerance']:.3g} = {report['relative_tolerance']:g} x logit scale "
        f"{report['logit_scale']:.3g})",
        f"- greedy answers identical: **{report['greedy_agree']}/{report['prompts']}**",
        f"- smallest effect of the adapter itself on these prompts: {report['adapter_effect']:.3g}",
    ]
    trained = report.get("as_trained")
    if trained:
        lines.append(f"- as trained ({trained['quant']} base + adapter): same greedy answer on "
                     f"{trained['same_answer']}/{trained['prompts']} prompts, max logit difference "
                     f"{trained['max_abs_diff']:.3g} on the prompt tokens. This is the gap between the quantized "
                     "base the adapter was trained on and the full-precision base it is merged into; it is "
                     "quantization, not the merge")
    if report.get("inconclusive"):
        lines.append("- note: the adapter changes the logits by less than the tolerance on these prompts, "
                     "so this check could not tell the merged model from the base model")
    lines += ["", "| prompt | base + adapter | merged | max diff |", "|---|---|---|---|"]
    for row in report.get("rows", []):
        lines.append(f"| {_cell(row['prompt'][:60])} | {_cell(row['reference_answer'][:40])} | "
                     f"{_cell(row['merged_answer'][:40])} | {row['max_abs_diff']:.2g} |")
    return lines


def _table(rows: list[tuple[str, Any]]) -> list[str]:
    out = ["| | |", "|---|---|"]
    out += [f"| {label} | {_cell(str(value))} |" for label, value in rows if value not in (None, "", [])]
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
