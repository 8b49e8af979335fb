"""The system prompt an adapter was trained with, so chat can offer it again.

An adapter answers best with the instructions it saw in training; a beginner who chats without
them gets worse answers and no hint why. Training records it in studio.json (`system_prompt`):
the run's `data.system_prompt` setting when there was one (it was added to every chat record
that had none), else the system message most of its training records began with. A system
message only some of the records had is not recorded: no single prompt stands for the data.
Torch-free, so the GUI and the CLI read it without the engine.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from studio.core.datasets.formats import SYSTEM_ROLES

SETTING = "setting"                # the run's data.system_prompt
RECORDS = "records"                # the system message most training records began with


@dataclass
class TrainedSystemPrompt:
    text: str
    source: str                    # SETTING or RECORDS
    count: int = 0                 # records that began with it (RECORDS)
    total: int = 0                 # training records

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text, "source": self.source}
        if self.source == RECORDS:
            out.update(records=self.count, of=self.total)
        return out

    def origin(self) -> str:
        """Where it comes from, in words: "the run's data.system_prompt setting" or
        "the system message of 590 of 600 training examples"."""
        if self.source == SETTING:
            return "the run's data.system_prompt setting"
        if self.total:
            return f"the system message of {self.count:,} of {self.total:,} training examples"
        return "the system message of its training examples"


def first_system_message(record: Any) -> str | None:
    """The content of the system (or developer) turn a record begins with, if it has one. Takes a
    datasets Record (chat messages, or a conversational preference/KTO prompt) or a list of messages."""
    messages = record if isinstance(record, list) else getattr(record, "messages", None)
    if messages is None:
        prompt = getattr(record, "prompt", None)
        messages = prompt if isinstance(prompt, list) else None
    if not messages or not isinstance(messages[0], dict) or messages[0].get("role") not in SYSTEM_ROLES:
        return None
    content = messages[0].get("content")
    return content if isinstance(content, str) and content.strip() else None


def most_common_system_prompt(records: Iterable[Any]) -> TrainedSystemPrompt | None:
    """The system message that more than half of `records` begin with; None when there is none."""
    counts: Counter[str] = Counter()
    total = 0
    for record in records:
        total += 1
        text = first_system_message(record)
        if text is not None:
            counts[text] += 1
    if not counts:
        return None
    text, count = counts.most_common(1)[0]
    if count * 2 <= total:
        return None
    return TrainedSystemPrompt(text, RECORDS, count, total)


def trained_system_prompt(records: list[Any], setting: str = "") -> TrainedSystemPrompt | None:
    """What to record for a run: its data.system_prompt setting when it reached the records (the
    importer adds it to chat records that have no system message of their own), else the most
    common system message of the records."""
    if setting.strip() and any(first_system_message(r) == setting for r in records):
        return TrainedSystemPrompt(setting, SETTING, total=len(records))
    return most_common_system_prompt(records)


def recorded_system_prompt(studio: dict[str, Any] | None) -> TrainedSystemPrompt | None:
    """The system prompt an adapter's studio.json names: its `system_prompt` record, or for an
    adapter trained before that was recorded, the data.system_prompt of its recorded config.
    An explicit null means training found none."""
    if not isinstance(studio, dict):
        return None
    if "system_prompt" in studio:
        value = studio.get("system_prompt")
        if not isinstance(value, dict) or not isinstance(value.get("text"), str) or not value["text"].strip():
            return None
        source = value.get("source") if value.get("source") in (SETTING, RECORDS) else RECORDS
        count, total = value.get("records"), value.get("of")
        whole = (lambda n: isinstance(n, int) and not isinstance(n, bool) and n >= 0)
        return TrainedSystemPrompt(value["text"], source, count if whole(count) else 0, total if whole(total) else 0)
    config = studio.get("config")
    data = config.get("data") if isinstance(config, dict) else None
    setting = data.get("system_prompt") if isinstance(data, dict) else None
    if isinstance(setting, str) and setting.strip() and (data or {}).get("format") != "completion":
        return TrainedSystemPrompt(setting, SETTING)
    return None
