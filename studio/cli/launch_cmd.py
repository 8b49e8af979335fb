"""`studio launch`: print the command (or Slurm script) that trains a saved config on many GPUs."""

from __future__ import annotations

import argparse

from studio.cli.common import common_options, print_json
from studio.core.config_io import load_config
from studio.core.errors import ConfigError
from studio.core.launch_commands import STRATEGIES, LaunchPlan, frozen_program


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("launch", parents=[common_options()],
                            help="show how to train a saved config on several GPUs or a cluster")
    parser.add_argument("--config", required=True, metavar="RUN.yaml")
    parser.add_argument("--gpus", type=int, default=2, help="GPUs per machine")
    parser.add_argument("--nodes", type=int, default=1, help="machines")
    parser.add_argument("--strategy", choices=STRATEGIES, default="ddp",
                        help="ddp: a full copy per GPU; fsdp / deepspeed: shard a model too big for one GPU")
    parser.add_argument("--slurm", action="store_true", help="print a Slurm batch script")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    load_config(args.config).validate()  # a config that cannot train should not be launched on a cluster
    if args.gpus < 1 or args.nodes < 1:
        raise ConfigError("--gpus and --nodes must be at least 1")
    plan = LaunchPlan(config=args.config, gpus_per_node=args.gpus, nodes=args.nodes, strategy=args.strategy,
                      home=args.home or "", program=frozen_program())
    if args.json:
        print_json({"status": "ok", "torchrun": plan.torchrun(), "accelerate": plan.accelerate(),
                    "slurm": plan.slurm()})
    elif args.slurm:
        print(plan.slurm(), end="")
    else:
        print("# DDP with torchrun (one full copy of the model per GPU):")
        print(plan.torchrun())
        print(f"# or accelerate ({args.strategy}):")
        print(plan.accelerate())
    return 0
