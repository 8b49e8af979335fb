"""`studio votes`: the blind A/B votes kept in the workspace: tally per pair, or record one."""

from __future__ import annotations

import argparse

from studio.cli.common import common_options, print_json, workspace
from studio.core.votes import WINNERS, read_votes, record_vote, tally


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("votes", help="blind A/B votes: tally and win rate per pair (show, record)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("show", parents=[common_options()], help="tally and win rate per pair of slots")
    show.add_argument("--pair", nargs=2, metavar=("X", "Y"), help="only this pair")
    show.set_defaults(run=run_show)
    record = actions.add_parser("record", parents=[common_options()], help="record one vote")
    record.add_argument("a", help="label of the slot shown as A (an adapter name, or base)")
    record.add_argument("b", help="label of the slot shown as B")
    record.add_argument("winner", choices=WINNERS, help="which answer was better")
    record.add_argument("--prompt", default="", help="the prompt that was answered")
    record.add_argument("--not-blind", action="store_true", help="the voter knew which slot was which")
    record.set_defaults(run=run_record)


def run_show(args: argparse.Namespace) -> int:
    votes = read_votes(workspace(args))
    pairs = tally(votes)
    if args.pair:
        wanted = tuple(sorted(args.pair))
        pairs = [p for p in pairs if (p.first, p.second) == wanted]
    if args.json:
        print_json({"status": "ok", "votes": len(votes), "pairs": [p.to_dict() for p in pairs]})
        return 0
    if not pairs:
        print("No votes yet. Vote in the chat's blind mode (`studio chat --blind`) or with `studio votes record`.")
        return 0
    for p in pairs:
        print(f"{p.first} vs {p.second}: {p.total} votes; {p.first} {p.wins_first} wins, {p.second} {p.wins_second} "
              f"wins, {p.ties} ties; win rate {p.first} {p.win_rate(p.first):.0%}, {p.second} {p.win_rate(p.second):.0%}")
    return 0


def run_record(args: argparse.Namespace) -> int:
    vote = record_vote(workspace(args), args.a, args.b, args.winner, blind=not args.not_blind, prompt=args.prompt)
    if args.json:
        print_json({"status": "ok", "vote": vote.to_dict()})
    else:
        print(f"Recorded: {vote.winner_label or 'tie'}")
    return 0
