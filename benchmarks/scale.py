"""How the cost of the work around training grows with the work: a thin wrapper over `studio bench
--sections scale` (studio/core/bench/scale.py, scale_workspace.py; the app probe is
studio/gui/scale_probe.py).

    .venv/bin/python benchmarks/scale.py [--sizes 0,100,1000] [--rows 1000,10000,100000] [--steps 50000]
                                         [--repeats 3] [--no-gui] [--seed-dir DIR] [--out FILE]
    .venv/bin/python benchmarks/scale.py gui-probe --home DIR --out FILE   (the app probe alone)

The figures go to stdout as JSON (and --out); docs/benchmarks.md's "Scale" section records them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["gui-probe"]:
        from studio.gui.scale_probe import main as probe_main

        return probe_main(argv[1:])
    from studio.core.bench import report
    from studio.core.bench.scale import ScaleOptions, parse_sizes, run_section
    from studio.core.workspace import Workspace

    parser = argparse.ArgumentParser(prog="benchmarks/scale.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="0,100,1000", help="run counts N (adapters: N/2)")
    parser.add_argument("--rows", default="1000,10000,100000", help="dataset rows to tokenize ('' for none)")
    parser.add_argument("--steps", type=int, default=50_000, help="steps of the long history (0 skips it)")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per CLI figure (median)")
    parser.add_argument("--seed-dir", type=Path, default=Path(tempfile.gettempdir()) / "studio-scale-seed")
    parser.add_argument("--work-dir", type=Path, default=None, help="where the workspaces go (default: a temp dir)")
    parser.add_argument("--no-gui", action="store_true", help="no app figures")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="studio-scale-"))
    options = ScaleOptions(folder=work, sizes=parse_sizes(args.sizes, "--sizes"),
                           rows=parse_sizes(args.rows, "--rows") if args.rows.strip() else [],
                           history_steps=args.steps, repeats=args.repeats, gui=not args.no_gui,
                           seed_dir=args.seed_dir)
    load_start = report.load_average()
    section = run_section(options, Workspace.open(work / "home"), lambda text: print(text, file=sys.stderr))
    result = {"machine": report.machine(), "load_average": {"start": load_start, "end": report.load_average()},
              **section}
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
