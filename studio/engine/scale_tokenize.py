"""Tokenizing a dataset the way a training run does, timed: the tokenization part of `studio bench
--sections scale` (core/bench/scale.py starts this in a fresh process per dataset size).

    python -m studio.engine.scale_tokenize --model DIR --data FILE --max-len N --out FILE

It only calls what the training worker calls (engine/training.py: `load_records`, then
`tokenize` with the workspace cache off, so every row is tokenized), so the figures follow
whatever tokenization does today. FILE gets the seconds of each stage, the examples made and this
process's peak resident memory (VmHWM).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any


def measure(model: str, data: str, max_len: int) -> dict[str, Any]:
    began = time.perf_counter()
    from studio.core.config import RunConfig
    from studio.engine.model_loading import load_tokenizer, resolve_source
    from studio.engine.training import load_records, tokenize

    config = RunConfig(name="scale-tokenize")
    config.model.name_or_path = model
    config.data.path, config.data.eval_path, config.data.eval_split = data, "", 0.0
    config.data.max_len = max_len
    config.data.cache_tokenized = False
    imported = time.perf_counter()
    records, _evals, _print, _report = load_records(config)
    read = time.perf_counter()
    tokenizer = load_tokenizer(resolve_source(config.model), config.model)
    loaded = time.perf_counter()
    dataset, stats, _cached = tokenize(tokenizer, records, config, None)
    done = time.perf_counter()
    return {"rows": len(records), "examples": len(dataset), "tokens": (stats.get("tokens") or {}).get("tokens"),
            "import_s": round(imported - began, 3), "read_s": round(read - imported, 3),
            "tokenizer_s": round(loaded - read, 3), "tokenize_s": round(done - loaded, 3),
            "peak_rss_bytes": peak_rss_bytes()}


def peak_rss_bytes() -> int | None:
    """This process's peak resident set (VmHWM on Linux; the rusage maximum elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024
    except (ImportError, OSError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio.engine.scale_tokenize", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="base model folder (its tokenizer is used)")
    parser.add_argument("--data", required=True, help="dataset file")
    parser.add_argument("--max-len", type=int, default=256)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    args.out.write_text(json.dumps(measure(args.model, args.data, args.max_len)), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
