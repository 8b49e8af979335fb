"""The one entry point of a frozen app (PyInstaller), also behind `python -m studio`.

A frozen executable has no `python -m`, so the app starts its own workers as
`<app> --worker <command> ...` (see studio.core.worker_process.worker_command) and this function
sends them to the worker's main instead of the CLI. `<app> --torchrun ...` runs PyTorch's own
torchrun (torch.distributed.run), so a frozen app can train on several GPUs without a Python
install: `<app> --torchrun --standalone --nproc_per_node 4 --no-python <app> train --config run.yaml`
(studio.core.launch_commands writes that line when frozen). Everything else is the `studio` CLI.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    # On Windows and macOS a frozen app's child processes (multiprocessing spawn) re-run this
    # executable; freeze_support makes them run the child's code instead of the app. It does
    # nothing unless frozen, and importing multiprocessing costs every command about 10 ms.
    if getattr(sys, "frozen", False):
        import multiprocessing

        multiprocessing.freeze_support()
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        from studio.engine.__main__ import main as worker_main

        return worker_main(argv[1:])
    if argv[:1] == ["--torchrun"]:
        return _torchrun(argv[1:])
    from studio.cli import main as cli_main

    return cli_main(argv)


def _torchrun(argv: list[str]) -> int:
    from torch.distributed.run import main as torchrun_main

    sys.argv = ["torchrun", *argv]
    torchrun_main(argv)
    return 0
