"""Token lengths of preference pairs and KTO rows, counted as TRL's trainers tokenize them, for
the Data page's pair view and `studio data show`.

TRL (DPOTrainer, KTOTrainer) tokenizes a conversational row as the prompt rendered with the
generation prompt, and prompt + answer rendered whole; the answer is what follows the longest
common prefix of the two. A standard (text) row is the prompt's tokens and the prompt + answer's,
the answer ending with the EOS token (TRL appends it). Counting the same way here means the
figures the page shows are the ones training will see, before max_len cuts anything.
"""

from __future__ import annotations

from typing import Any

ANSWERS = ("chosen", "rejected", "completion")


def pair_lengths(tokenizer: Any, row: dict[str, Any]) -> dict[str, int]:
    """{"prompt": n, "chosen": n, "rejected": n} (or "completion") for one row of Record.to_dict()."""
    answers = [key for key in ANSWERS if key in row]
    if isinstance(row["prompt"], list):
        from studio.engine.chat_render import prepare_messages

        tools = row.get("tools") or None
        template = tokenizer.get_chat_template(None, tools) if tokenizer.chat_template else ""
        prompt = prepare_messages(row["prompt"], template)
        prompt_ids = _ids(tokenizer.apply_chat_template(prompt, tools=tools, add_generation_prompt=True,
                                                        tokenize=True, return_dict=True))
        whole = {key: _ids(tokenizer.apply_chat_template(prompt + prepare_messages(row[key], template), tools=tools,
                                                         tokenize=True, return_dict=True)) for key in answers}
    else:
        eos = tokenizer.eos_token or ""
        prompt_ids = list(tokenizer(row["prompt"])["input_ids"])
        whole = {key: list(tokenizer(row["prompt"] + _with_eos(row[key], eos))["input_ids"]) for key in answers}
    shared = min(_common_prefix(prompt_ids, ids) for ids in whole.values())
    return {"prompt": shared, **{key: len(ids) - shared for key, ids in whole.items()}}


def rendered_parts(tokenizer: Any, row: dict[str, Any]) -> dict[str, str]:
    """The prompt and each answer as text, split where TRL splits them (the longest common prefix
    of the rendered prompt and prompt + answer), for a person to read."""
    answers = [key for key in ANSWERS if key in row]
    if not isinstance(row["prompt"], list):
        eos = tokenizer.eos_token or ""
        return {"prompt": row["prompt"], **{key: _with_eos(row[key], eos) for key in answers}}
    from studio.engine.chat_render import prepare_messages

    tools = row.get("tools") or None
    template = tokenizer.get_chat_template(None, tools) if tokenizer.chat_template else ""
    prompt = prepare_messages(row["prompt"], template)
    text = tokenizer.apply_chat_template(prompt, tools=tools, add_generation_prompt=True, tokenize=False)
    whole = {key: tokenizer.apply_chat_template(prompt + prepare_messages(row[key], template), tools=tools,
                                                tokenize=False) for key in answers}
    shared = min(_common_prefix(list(text), list(w)) for w in whole.values())
    return {"prompt": text[:shared], **{key: w[shared:] for key, w in whole.items()}}


def _ids(encoded: Any) -> list[int]:
    ids = encoded["input_ids"] if not isinstance(encoded, list) else encoded
    return list(ids[0] if ids and isinstance(ids[0], list) else ids)


def _with_eos(text: str, eos: str) -> str:
    return text if not eos or text.endswith(eos) else text + eos


def _common_prefix(ids: list[int], other: list[int]) -> int:
    n = 0
    for a, b in zip(ids, other):
        if a != b:
            break
        n += 1
    return n
