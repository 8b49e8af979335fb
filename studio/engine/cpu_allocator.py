"""Give freed tensor memory back to the OS on CPU training runs (glibc's mmap threshold).

CPU tensors come from the C library's malloc. glibc serves blocks above its mmap threshold with
their own mapping, returned to the OS on free, and everything smaller from its heaps, which keep
freed memory for reuse. By default that threshold is dynamic: each time a mapped block is freed
it rises to that block's size (up to 32 MB), so after the first step nearly every activation
tensor of a training run is carried on the heaps. The forward pass frees many temporaries
(LoRA's partial sums, the norms' intermediates, bitsandbytes' dequantized weights) between the
activations it keeps, the heaps cannot shrink past the ones still alive, and peak RSS ends up
30-40% above what the live tensors need, growing a little more each step (measured on an 85M
Llama at 8 x 512 tokens: 6.9 GB peak, 5.1 GB with a fixed threshold, which stays flat across
steps). A fixed threshold (which also turns off the dynamic one) makes every tensor above it a
mapping of its own; the price is the kernel zeroing fresh pages each step. At glibc's starting
value (128 KiB) that price is high for small models: `studio bench` on the tiny model measured
studio's trainer at 6,400 tokens/s against 11,000 with the dynamic threshold; at 4 MiB it ran at
13,000 (within noise of the dynamic one) while the 85M model's peaks stayed within 5% of the
estimate (docs/benchmarks.md). The big activations that fragment the heaps are megabytes each;
the many small temporaries stay on the heaps, where reuse is fast. core.memory's CPU estimate
assumes this setting. STUDIO_CPU_MMAP_THRESHOLD (bytes; 0 = glibc's default) changes it.
"""

from __future__ import annotations

import os
import platform
import sys

M_MMAP_THRESHOLD = -3       # glibc's mallopt parameter number (malloc.h)
THRESHOLD_BYTES = 4 * 1024 * 1024   # see below: large tensors mapped, small ones on the heaps
THRESHOLD_ENV = "STUDIO_CPU_MMAP_THRESHOLD"   # bytes; 0 leaves glibc's dynamic threshold alone


def return_large_frees_to_os() -> bool:
    """Fix glibc's mmap threshold for this process; False where the C library is not glibc."""
    threshold = int(os.environ.get(THRESHOLD_ENV) or THRESHOLD_BYTES)
    if threshold <= 0 or not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, threshold))
