"""How a worker command ends: exactly one `done` event and the matching exit code.

User errors (StudioError) exit with 2, crashes with 1, a cancel with 130. Out-of-memory and
full-disk errors are translated into explained, resumable failures.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable

from studio.core.errors import StudioError
from studio.engine.worker_io import Emitter

EXIT_OK, EXIT_FAILED, EXIT_USER, EXIT_CANCELLED = 0, 1, 2, 130


def guarded(emitter: Emitter, body: Callable[[], dict[str, Any] | None]) -> int:
    """Run a command; every way out sends one `done` event with the matching exit code."""
    try:
        result = body() or {}
    except StudioError as exc:
        emitter.emit("error", **exc.to_dict())
        emitter.emit("done", status="failed")
        return EXIT_USER
    except KeyboardInterrupt:
        emitter.emit("done", status="cancelled")
        return EXIT_CANCELLED
    except BaseException as exc:  # noqa: BLE001 - the worker must always report how it ended
        traceback.print_exc()
        known = out_of_memory_error(exc) or disk_error(exc)
        if known is not None:
            emitter.emit("error", **known.to_dict())
        else:
            emitter.emit("error", kind="internal", message=f"{type(exc).__name__}: {exc}",
                         hint="this is a bug in LoRA Studio or a library; the traceback is in the worker log")
        emitter.emit("done", status="failed")
        return EXIT_FAILED
    status = result.pop("status", "completed")
    emitter.emit("done", status=status, **result)
    return EXIT_CANCELLED if status == "cancelled" else EXIT_OK


def out_of_memory_error(exc: BaseException) -> StudioError | None:
    text = str(exc)
    is_oom = (type(exc).__name__ == "OutOfMemoryError" or isinstance(exc, MemoryError)
              or "out of memory" in text.lower() or "can't allocate memory" in text.lower())
    if not is_oom:
        return None
    return StudioError(
        "out of memory: " + (text.splitlines()[0][:300] if text else type(exc).__name__),
        kind="oom",
        hint="lower --batch-size (and raise --grad-accum to keep the effective batch), lower --max-len, "
             "use --quant 4bit, or turn on --grad-checkpointing; then resume the run with "
             "`studio train --resume RUN`, which continues from the last checkpoint")


def disk_error(exc: BaseException) -> StudioError | None:
    """A full disk (or a file-size limit) while writing: say where, and that resume is safe."""
    import errno

    if not isinstance(exc, OSError) or exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return None
    where = f" while writing {exc.filename}" if exc.filename else ""
    return StudioError(
        f"the disk is full{where} ({exc.strerror})", kind="disk",
        hint="free space on the disk that holds the workspace (or move it with --home / STUDIO_HOME), then "
             "resume with `studio train --resume RUN`: the last complete checkpoint is intact")
