"""The desktop app (PySide6 + pyqtgraph). The only package that imports Qt; it never imports
torch, transformers, peft or bitsandbytes: training and tokenizing happen in worker processes."""
