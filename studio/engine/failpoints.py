"""Named failure points for reliability tests: crash, run out of memory or fill the disk on cue.

Tests set STUDIO_FAILPOINTS="name[:arg],..." in a worker's environment to make it fail at an
exact place (a kill in the middle of writing an adapter cannot be timed from outside). When the
variable is unset, `hit` is one dictionary lookup. Names:
    oom_at_step:N        raise an out-of-memory error at optimizer step N
    kill_at_step:N       os._exit(137) at step N (like kill -9: no clean-up runs)
    kill_before_checkpoint_mark:N  os._exit(137) once checkpoint-N is written, before its completion mark
    kill_before_adapter_save  os._exit(137) after training and its last checkpoint, before the adapter
    kill_in_adapter_save os._exit(137) after the adapter weights are written, before the rename
    enospc_in_checkpoint:N  "No space left on device" halfway through writing checkpoint-N
    hang_on_cancel       ignore cancel requests and sleep (a stuck worker)
"""

from __future__ import annotations

import errno
import os
import time
from typing import Any

_ACTIVE: dict[str, str] = {}
for _item in filter(None, os.environ.get("STUDIO_FAILPOINTS", "").split(",")):
    _name, _, _arg = _item.partition(":")
    _ACTIVE[_name.strip()] = _arg.strip()


def active(name: str) -> bool:
    return name in _ACTIVE


def hit(name: str, value: int | None = None) -> None:
    """Fail here if the failpoint `name` is set (and, with an argument, `value` matches it)."""
    if name not in _ACTIVE:
        return
    arg = _ACTIVE[name]
    if arg and value is not None and str(value) != arg:
        return
    if name.startswith("kill"):
        os._exit(137)
    if name.startswith("oom"):
        raise MemoryError(f"failpoint {name}: simulated out of memory")
    if name.startswith("hang"):
        while True:
            time.sleep(1)


def install() -> None:
    """Arm failpoints that have to sit inside library code (torch.save for checkpoints)."""
    if "enospc_in_checkpoint" not in _ACTIVE:
        return
    import torch

    target = f"checkpoint-{_ACTIVE['enospc_in_checkpoint']}"
    real_save = torch.save

    def save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(f, (str, os.PathLike)) and target in str(f):
            with open(f, "wb") as fh:
                fh.write(b"\0" * 1024)  # a partial file, as a full disk leaves it
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(f))
        real_save(obj, f, *args, **kwargs)

    torch.save = save
