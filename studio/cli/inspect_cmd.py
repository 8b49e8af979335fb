"""`studio inspect MODEL`: a model's linear layers (LoRA targets) and what a rank costs, no torch."""

from __future__ import annotations

import argparse

from studio.cli.common import common_options, human_bytes, print_json
from studio.core.errors import ModelError
from studio.core.model_info import find_model_folder, inspect_model, trainable_share


def register(sub: argparse._SubParsersAction) -> None:
    inspect = sub.add_parser("inspect", parents=[common_options()],
                             help="a base model's linear layers and LoRA parameter counts")
    inspect.add_argument("model", metavar="MODEL", help="model folder or cached hub id")
    inspect.add_argument("--rank", type=int, default=16, help="LoRA rank for the parameter counts")
    inspect.set_defaults(run=run_inspect)


def run_inspect(args: argparse.Namespace) -> int:
    folder = find_model_folder(args.model)
    if folder is None:
        raise ModelError(f"{args.model} is not a local folder or a cached hub model",
                         hint="pass a model folder, or download the model first")
    info = inspect_model(folder)
    groups = [{"name": g.name, "count": g.count, "in": g.in_features, "out": g.out_features,
               "base_params": g.base_params, "lora_params": g.lora_params(args.rank)} for g in info.groups.values()]
    total_lora = sum(g["lora_params"] for g in groups)
    if args.json:
        print_json({"status": "ok", "path": str(folder), "model_type": info.model_type,
                    "params": info.num_params, "weight_bytes": info.weight_bytes, "layers": info.num_layers,
                    "linear_groups": groups, "lora_params_all_linear": total_lora, "rank": args.rank})
        return 0
    print(f"{folder}: {info.model_type}, {info.num_params:,} parameters "
          f"({human_bytes(info.weight_bytes)}), {info.num_layers} layers")
    print(f"{'module':16s} {'layers':>6s} {'shape (out x in)':>18s} {'LoRA params @ r=' + str(args.rank):>22s}")
    for g in groups:
        print(f"{g['name']:16s} {g['count']:6d} {str(g['out']) + ' x ' + str(g['in']):>18s} {g['lora_params']:22,d}")
    print(f"all-linear: {total_lora:,} trainable parameters "
          f"({trainable_share(total_lora, info.num_params):.2f}% of the model being trained)")
    return 0
