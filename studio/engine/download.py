"""Downloading a base model from the Hugging Face hub into the normal cache, with progress events.

transformers' from_pretrained, given a hub id it cannot reach, retries file by file and takes
close to a minute to fail. Fetching the snapshot first with huggingface_hub fails in a fraction
of a second when offline, says why, and reports bytes as `download` events the GUI and CLI show
as a progress bar. Only the files a safetensors model needs are fetched (no pickle weights,
no duplicate formats such as ONNX or GGUF).
"""

from __future__ import annotations

import time
from typing import Any

from studio.core.config import ModelOptions
from studio.core.errors import ModelError
from studio.engine.worker_io import Emitter

ALLOW = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken", "tokenizer*", "*.py"]
PICKLE = ["*.bin", "*.pt", "*.pth", "*.ckpt"]
EMIT_EVERY_S = 0.25


def download_model(options: ModelOptions, emitter: Emitter | None) -> str:
    """The local snapshot folder of a hub model (downloaded when missing)."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import (GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    repo = options.name_or_path
    allow = ALLOW + (PICKLE if options.allow_pickle else [])
    if not options.trust_remote_code:
        allow = [p for p in allow if p != "*.py"]
    if constants.HF_HUB_OFFLINE:
        raise ModelError(f"model {repo!r} is not in the Hugging Face cache, and the hub is offline (HF_HUB_OFFLINE=1)",
                         hint="unset HF_HUB_OFFLINE and connect to the internet once to download it, "
                              "or pass a local model folder")
    try:
        return snapshot_download(repo, revision=options.revision or None, allow_patterns=allow,
                                 tqdm_class=progress_class(emitter, repo))
    except GatedRepoError:
        raise ModelError(f"{repo} is a gated model: accept its licence on huggingface.co and log in",
                         hint="run `hf auth login` (or set HF_TOKEN) with an account that has access") from None
    except RepositoryNotFoundError:
        raise ModelError(f"{repo!r} is not a model on the Hugging Face hub (or it is private)",
                         hint="check the spelling of the model id, or log in with `hf auth login`") from None
    except RevisionNotFoundError:
        raise ModelError(f"{repo} has no revision {options.revision!r}",
                         hint="use a branch, tag or commit that exists, or leave the revision empty") from None
    except LocalEntryNotFoundError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "no connection"
        raise ModelError(f"cannot download {repo!r} from the Hugging Face hub and it is not in the cache ({reason})",
                         hint="check the internet connection (or a proxy), or pass a local model folder") from None
    except OSError as exc:
        raise ModelError(f"downloading {repo!r} failed: {exc}",
                         hint="check the free disk space of the Hugging Face cache (HF_HOME) and try again") from None


def progress_class(emitter: Emitter | None, repo: str) -> Any:
    """A tqdm class that reports the byte counters of snapshot_download as `download` events."""
    from tqdm.auto import tqdm

    class EventTqdm(tqdm):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = False
            kwargs.setdefault("file", None)
            super().__init__(*args, **kwargs)
            self._last_emit = 0.0

        def update(self, n: float | None = 1) -> bool | None:
            shown = super().update(n)
            now = time.monotonic()
            if now - self._last_emit >= EMIT_EVERY_S or (self.total and self.n >= self.total):
                self._last_emit = now
                self._emit()
            return shown

        def _emit(self) -> None:
            # snapshot_download has two byte bars: network transfer (total unknown with xet) and
            # bytes written, whose total is the size of the files: report the second.
            if emitter is not None and self.unit == "B" and not str(self.desc).startswith("Downloading bytes"):
                emitter.emit("download", repo=repo, done_bytes=int(self.n), total_bytes=int(self.total or 0))

    return EventTqdm


def local_source(options: ModelOptions, emitter: Emitter | None) -> str:
    """A local folder to load from: the folder itself, the cached snapshot, or a fresh download.
    The safety checks (safetensors only, no remote code) run on the downloaded files too."""
    from pathlib import Path

    from studio.engine.model_loading import resolve_source

    source = resolve_source(options)
    if Path(source).exists():
        return source
    download_model(options, emitter)
    return resolve_source(options)
