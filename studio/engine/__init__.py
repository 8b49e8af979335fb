"""Worker-side code: torch, transformers, peft, bitsandbytes, datasets.

Runs only in worker processes (`python -m studio.engine ...`). Heavy imports stay inside
functions so `python -m studio.engine` can take its run lock and report "starting" before the
ten seconds it takes to import the ML stack.
"""
