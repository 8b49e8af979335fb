"""Entry point of `studio bench`'s baselines: one fresh process per run.

    python -m studio.engine.bench_baseline [--baseline NAME] RUN.yaml RESULT.json

NAME is one of studio.engine.bench_baselines.SCRIPTS (default `trainer`, the plain Trainer +
peft script). The clock starts here, before torch is imported, because importing the ML stack
is part of each trainer's time to the first step; the scripts themselves live in
studio/engine/bench_baselines/.
"""

from __future__ import annotations

import time

STARTED, STARTED_MONOTONIC = time.time(), time.monotonic()

import argparse  # noqa: E402 - the clock starts before the imports
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from studio.engine.bench_baselines import SCRIPTS  # noqa: E402 - no torch at import


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m studio.engine.bench_baseline",
                                     description="train run.yaml with one of studio bench's baselines")
    parser.add_argument("--baseline", default="trainer", choices=sorted(SCRIPTS))
    parser.add_argument("run_yaml", type=Path)
    parser.add_argument("result", type=Path)
    args = parser.parse_args(argv)
    from studio.engine.bench_baselines.measure import run

    return run(args.baseline, SCRIPTS[args.baseline], args.run_yaml, args.result, STARTED, STARTED_MONOTONIC)


if __name__ == "__main__":
    main()
