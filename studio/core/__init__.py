"""Qt-free, torch-free core: everything the GUI and the CLI share with the workers.

Nothing in this package may import PySide6, torch, transformers, peft or bitsandbytes;
tests/test_import_boundaries.py checks it.
"""
