"""Blind A/B votes: which of two slots answered better, kept in the workspace, tallied per pair.

In blind mode the chat pane shuffles which slot is shown as A and which as B (`blind_order`),
the person votes A, B or tie for what they saw, and the vote is recorded with the real labels of
the left (a) and right (b) columns, so shuffling never changes the tally. A pair is unordered:
votes for (x, y) and (y, x) count together.

    <home>/votes.jsonl   one vote per line: {"id", "t", "a", "b", "winner": "a"|"b"|"tie",
                         "blind", "prompt", "base_model", "seed"}

The file is rewritten whole through a temporary sibling under a lock (a few hundred bytes per
vote), so a crash never leaves half a line and two windows never lose each other's votes.
Win rate counts a tie as half a win: (wins + ties / 2) / votes.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from filelock import FileLock

from studio.core.atomic import atomic_write_text
from studio.core.errors import WorkspaceError
from studio.core.workspace import Workspace

VOTES_FILE = "votes.jsonl"
WINNERS = ("a", "b", "tie")


@dataclass
class Vote:
    a: str
    b: str
    winner: str
    id: str = ""
    t: float = 0.0
    blind: bool = True
    prompt: str = ""
    base_model: str = ""
    seed: int | None = None

    @property
    def winner_label(self) -> str | None:
        return {"a": self.a, "b": self.b}.get(self.winner)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PairTally:
    first: str
    second: str
    wins_first: int = 0
    wins_second: int = 0
    ties: int = 0

    @property
    def total(self) -> int:
        return self.wins_first + self.wins_second + self.ties

    def win_rate(self, label: str) -> float:
        wins = self.wins_first if label == self.first else self.wins_second
        return (wins + self.ties / 2) / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"pair": [self.first, self.second], "wins": {self.first: self.wins_first, self.second: self.wins_second},
                "ties": self.ties, "total": self.total,
                "win_rate": {self.first: round(self.win_rate(self.first), 4),
                             self.second: round(self.win_rate(self.second), 4)}}


def blind_order(x: str, y: str, rng: random.Random | None = None) -> tuple[str, str, bool]:
    """(shown as A, shown as B, swapped): a fair coin decides which slot appears on the left."""
    swapped = (rng or random.SystemRandom()).random() < 0.5
    return (y, x, True) if swapped else (x, y, False)


def _path(ws: Workspace):
    return ws.home / VOTES_FILE


def read_votes(ws: Workspace) -> list[Vote]:
    """All votes, oldest first; a line that is not a vote is skipped."""
    path = _path(ws)
    if not path.is_file():
        return []
    votes = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            data = json.loads(line)
            vote = Vote(**{k: data[k] for k in Vote.__dataclass_fields__ if k in data})
        except (ValueError, TypeError, KeyError):
            continue
        if vote.winner in WINNERS:
            votes.append(vote)
    return votes


def _rewrite(ws: Workspace, votes: list[Vote]) -> None:
    atomic_write_text(_path(ws), "".join(json.dumps(v.to_dict(), ensure_ascii=False) + "\n" for v in votes))


def _lock(ws: Workspace) -> FileLock:
    ws.home.mkdir(parents=True, exist_ok=True)
    return FileLock(str(ws.home / f".{VOTES_FILE}.lock"), timeout=30)


def record_vote(ws: Workspace, a: str, b: str, winner: str, *, blind: bool = True, prompt: str = "",
                base_model: str = "", seed: int | None = None) -> Vote:
    """Record that `winner` ("a" = the left column `a`, "b" = the right column `b`, or "tie") won."""
    winner = winner.strip().casefold()
    if winner not in WINNERS:
        raise WorkspaceError(f"vote {winner!r} is not one of a, b, tie", hint="vote a, b or tie")
    if not a or not b:
        raise WorkspaceError("a vote needs both slot labels", hint="pass the labels of the two columns")
    vote = Vote(a, b, winner, uuid.uuid4().hex[:12], round(time.time(), 3), blind, prompt, base_model, seed)
    with _lock(ws):
        _rewrite(ws, read_votes(ws) + [vote])
    return vote


def rename_in_votes(ws: Workspace, old: str, new: str) -> int:
    """Follow an adapter rename, so its record stays with it. Returns how many votes changed."""
    if not _path(ws).is_file():
        return 0
    with _lock(ws):
        votes = read_votes(ws)
        changed = 0
        for vote in votes:
            for side in ("a", "b"):
                if getattr(vote, side) == old:
                    setattr(vote, side, new)
                    changed += 1
        if changed:
            _rewrite(ws, votes)
    return changed


def tally(votes: list[Vote]) -> list[PairTally]:
    """One tally per unordered pair, most-voted pairs first."""
    pairs: dict[tuple[str, str], PairTally] = {}
    for vote in votes:
        first, second = sorted((vote.a, vote.b))
        entry = pairs.setdefault((first, second), PairTally(first, second))
        if vote.winner == "tie":
            entry.ties += 1
        elif first == second:  # the same slot on both sides (a sanity check): count by side
            entry.wins_first += vote.winner == "a"
            entry.wins_second += vote.winner == "b"
        elif vote.winner_label == first:
            entry.wins_first += 1
        else:
            entry.wins_second += 1
    return sorted(pairs.values(), key=lambda p: (-p.total, p.first, p.second))


def tally_for(ws: Workspace, x: str, y: str) -> PairTally:
    first, second = sorted((x, y))
    for entry in tally(read_votes(ws)):
        if (entry.first, entry.second) == (first, second):
            return entry
    return PairTally(first, second)
