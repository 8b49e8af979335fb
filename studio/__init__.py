"""LoRA Studio: fine-tune open LLMs with LoRA/QLoRA, from a desktop app or the `studio` command.

Package layout (see docs/architecture.md):
    studio.core    configs, datasets, workspace, protocol: no Qt, no torch
    studio.engine  the worker processes (torch, transformers, peft, bitsandbytes)
    studio.gui     the desktop app (PySide6, pyqtgraph): never imports the ML stack
    studio.cli     the `studio` command, thin over core and engine
"""

__version__ = "0.1.0"
