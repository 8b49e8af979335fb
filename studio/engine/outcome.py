"""How a worker command ends: exactly one `done` event and the matching exit code.

User errors (StudioError) exit with 2, crashes with 1, a cancel with 130. Out-of-memory and
full-disk errors are translated into explained, resumable failures.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

from studio.core.errors import StudioError
from studio.engine.worker_io import Emitter

EXIT_OK, EXIT_FAILED, EXIT_USER, EXIT_CANCELLED = 0, 1, 2, 130
DISK_FULL_MARKERS = ("No space left on device", "os error 28", "Disk quota exceeded")
LOW_SPACE_BYTES = 64 * 1024**2     # below this, an unexplained write error is taken for a full disk


def guarded(emitter: Emitter, body: Callable[[], dict[str, Any] | None], writes_to: Sequence[Path] = ()) -> int:
    """Run a command; every way out sends one `done` event with the matching exit code.

    `writes_to`: folders the command writes into; an unexplained error while one of them is
    (nearly) out of space is reported as a full disk."""
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
        try:
            traceback.print_exc()
        except OSError:  # the log is on the disk that just filled up: the events still go out
            pass
        known = out_of_memory_error(exc) or disk_error(exc, writes_to)
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


def disk_error(exc: BaseException, writes_to: Sequence[Path] = ()) -> StudioError | None:
    """A full disk (or a file-size limit) while writing: say where, and that resume is safe.

    Libraries do not all raise OSError for it: safetensors raises its own error with "os error 28"
    in the text, and torch.save a RuntimeError about stream positions with no errno at all. So
    the chain of causes is searched, and otherwise the folders being written are checked for
    free space."""
    import errno

    full = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
    chain: list[BaseException] = []
    link: BaseException | None = exc
    while link is not None and link not in chain:
        chain.append(link)
        link = link.__cause__ or link.__context__
    where, reason = "", ""
    for link in chain:
        if isinstance(link, OSError) and link.errno in full:
            where = f" while writing {link.filename}" if link.filename else ""
            reason = link.strerror or ""
            break
        if any(marker in str(link) for marker in DISK_FULL_MARKERS):
            reason = "no space left on device"
            break
    short = [(path, free) for path in writes_to if (free := _free_bytes(path)) is not None
             and free < LOW_SPACE_BYTES]
    if not reason:
        if not short:
            return None
        reason = f"{type(exc).__name__}: {str(exc)[:200]}"
    if not where and short:
        where = f" at {short[0][0]} ({short[0][1] // 1024} KiB free)"
    return StudioError(
        f"the disk is full{where}: {reason}", kind="disk",
        hint="free space on the disk that holds the workspace (or move it with --home / STUDIO_HOME), then "
             "resume with `studio train --resume RUN`: the last complete checkpoint is intact")


def _free_bytes(path: Path) -> int | None:
    import shutil

    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None
