"""What to say when the chosen base model cannot be read yet: the one wording of the Train page's
model picker and the Data page's token preview.

On the first launch the app builds the demo base model in a worker while the window is already
up. Both pages used to say "not downloaded yet: download it on the Train page" for those seconds,
about a local folder that nothing can download. The message now follows what is happening:
being built, the build failed, a folder that holds no model, or a hub id not downloaded yet.
"""

from __future__ import annotations

from pathlib import Path

from studio.core.model_info import looks_like_path

BUILDING = "building"       # AppContext.demo_model_state while the worker builds the demo base
FAILED = "failed"


def is_demo_base(name: str, demo_dir: Path) -> bool:
    """Is `name` this workspace's demo base model folder (<home>/demo/base-model)?"""
    try:
        return bool(name) and Path(name).expanduser().resolve() == (demo_dir / "base-model").resolve()
    except (OSError, ValueError, RuntimeError):
        return False


def missing_model_text(name: str, demo_dir: Path, demo_state: str, shows: str,
                       where: str = " on the Train page") -> str:
    """Why the model cannot be read now and what happens next. `shows` is what the page would show
    ("token lengths"); `where` is where the model is chosen, "" on the Train page itself."""
    if not name:
        return f"Choose a base model{where} to see {shows}."
    if is_demo_base(name, demo_dir):
        if demo_state == BUILDING:
            return (f"The demo base model is being built (under a minute, only on the first launch); {shows} "
                    "appear here when it is ready.")
        if demo_state == FAILED:
            return ("Building the demo base model failed. Restart the app to try again, or run `studio demo` in "
                    "a terminal to see the error.")
        return (f"The demo base model is missing from {Path(name).parent}: restart the app to build it again, "
                "or run `studio demo` in a terminal.")
    if looks_like_path(name):
        return f"{name} holds no model (no config.json there): choose a folder with a Hugging Face model{where}."
    return (f"{name} is not downloaded yet: press Download next to the model{where} to see {shows} "
            "(training would download it too).")
