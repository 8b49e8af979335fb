"""Length statistics of a tokenized dataset, gathered as its chunks are made.

The same figures reach the run's `data` event, the Data page's histogram and `studio data
check`; they are counted on the untruncated lengths, so they say how much max_len cuts away.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

IGNORE = -100


@dataclass
class LengthStats:
    examples: int = 0
    min: int = 0
    mean: float = 0.0
    p50: int = 0
    p95: int = 0
    max: int = 0
    truncated: int = 0
    dropped_no_target: int = 0
    tokens: int = 0
    target_tokens: int = 0
    max_len: int = 0
    unrendered_turns: int = 0
    histogram: tuple[list[int], list[int]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TokenTally:
    """Running counts over the encoded records; `add` returns the examples worth training (an
    example whose labels are all masked teaches nothing and is dropped, counted)."""
    max_len: int
    raw_lengths: list[int] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    examples: int = 0
    truncated: int = 0
    dropped: int = 0
    unrendered: int = 0
    tokens: int = 0
    target_tokens: int = 0

    def add(self, encoded: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if encoded:
            self.raw_lengths.append(encoded[0]["raw_length"])
            self.unrendered += encoded[0].get("unrendered_turns", 0)
        kept = []
        for ex in encoded:
            self.truncated += ex["truncated"]
            labels = ex["labels"]
            if max(labels[1:], default=IGNORE) == IGNORE:   # nothing to learn
                self.dropped += 1
                continue
            self.examples += 1
            self.tokens += ex["length"]
            self.target_tokens += len(labels) - labels.count(IGNORE)
            kept.append({"input_ids": ex["input_ids"], "labels": labels, "length": ex["length"]})
        return kept

    def merge(self, other: TokenTally) -> None:
        """Add the counts of a later chunk (its records come after this tally's)."""
        self.raw_lengths.extend(other.raw_lengths)
        self.rejected.extend(other.rejected)
        for name in ("examples", "truncated", "dropped", "unrendered", "tokens", "target_tokens"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def stats(self) -> LengthStats:
        if not self.raw_lengths:
            return LengthStats(max_len=self.max_len, dropped_no_target=self.dropped,
                               unrendered_turns=self.unrendered)
        ordered = sorted(self.raw_lengths)
        n = len(ordered)
        return LengthStats(
            examples=self.examples, min=ordered[0], mean=round(sum(ordered) / n, 1), p50=ordered[n // 2],
            p95=ordered[min(n - 1, math.ceil(0.95 * n) - 1)], max=ordered[-1], truncated=self.truncated,
            dropped_no_target=self.dropped, tokens=self.tokens, target_tokens=self.target_tokens,
            max_len=self.max_len, unrendered_turns=self.unrendered, histogram=histogram(ordered))


def histogram(ordered: list[int], bins: int = 40) -> tuple[list[int], list[int]]:
    """Bin edges and counts, small enough to send in an event."""
    lo, hi = ordered[0], ordered[-1]
    width = max(1, math.ceil((hi - lo + 1) / bins))
    edges = [lo + i * width for i in range(bins + 1) if lo + i * width <= hi + width]
    counts = [0] * (len(edges) - 1)
    for value in ordered:
        counts[min(len(counts) - 1, (value - lo) // width)] += 1
    return edges, counts
