"""Showing A/B answers in a terminal: two live columns while they stream, plain text otherwise."""

from __future__ import annotations

from typing import Any

from rich.columns import Columns
from rich.console import Console
from rich.live import Live
from rich.panel import Panel
from rich.text import Text

from studio.core.chat_protocol import Answer


def footer(answer: Answer | dict[str, Any]) -> str:
    stats = answer.stats if isinstance(answer, Answer) else answer
    tokens, rate = stats.get("tokens"), stats.get("tokens_per_s")
    reason = stats.get("finish_reason")
    parts = [f"{tokens} tokens" if tokens is not None else "", f"{rate:.1f} tokens/s" if rate else "",
             {"length": "cut at max new tokens", "stopped": "stopped", "context": "context full"}.get(reason, "")]
    return ", ".join(p for p in parts if p)


class LiveColumns:
    """Both answers side by side, redrawn about ten times a second as tokens arrive."""

    def __init__(self, titles: dict[str, str], console: Console) -> None:
        self.titles = titles
        self.texts = {slot: "" for slot in titles}
        self.footers = {slot: "" for slot in titles}
        self.live = Live(self._render(), console=console, refresh_per_second=10, transient=False)

    def __enter__(self) -> "LiveColumns":
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.update(self._render(), refresh=True)
        self.live.__exit__(None, None, None)

    def on_event(self, event: dict[str, Any]) -> None:
        if event["type"] == "token" and event["slot"] in self.texts:
            self.texts[event["slot"]] += event.get("text", "")
            self.live.update(self._render())
        elif event["type"] == "generated" and event["slot"] in self.texts:
            self.texts[event["slot"]] = event.get("text", "")
            self.footers[event["slot"]] = footer(event)
            self.live.update(self._render())

    def _render(self) -> Columns:
        width = max(30, (self.live.console.width if hasattr(self, "live") else 100) // len(self.titles) - 2)
        panels = [Panel(Text(self.texts[s] or "...", overflow="fold"), title=self.titles[s], width=width,
                        subtitle=self.footers[s] or None, title_align="left", subtitle_align="right")
                  for s in self.titles]
        return Columns(panels, expand=False)


def print_plain(titles: dict[str, str], answers: dict[str, dict[str, Any]]) -> None:
    for slot, title in titles.items():
        answer = answers.get(slot, {})
        print(f"=== {title} ===")
        print(answer.get("text", ""))
        print(f"({footer(answer)})\n")
