"""Errors a user can act on.

A `StudioError` is bad input or an environment problem the user can fix; the CLI prints it
without a traceback and exits with code 2, the worker sends it as an `error` event, the GUI
shows it in a dialog. Anything else is a bug and keeps its traceback (in the worker log).
"""

from __future__ import annotations


class StudioError(Exception):
    """A problem the user can fix: says what is wrong, where, and how to fix it.

    kind groups errors for the GUI and for exit codes: "config", "data", "model", "workspace",
    "oom", "io" and so on.
    """

    def __init__(self, message: str, *, hint: str = "", kind: str = "usage", where: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.kind = kind
        self.where = where

    def __str__(self) -> str:
        head = f"{self.where}: {self.message}" if self.where else self.message
        return f"{head}\n  fix: {self.hint}" if self.hint else head

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "message": self.message, "hint": self.hint, "where": self.where}


class ConfigError(StudioError):
    def __init__(self, message: str, *, hint: str = "", where: str = "") -> None:
        super().__init__(message, hint=hint, kind="config", where=where)


class DataError(StudioError):
    def __init__(self, message: str, *, hint: str = "", where: str = "") -> None:
        super().__init__(message, hint=hint, kind="data", where=where)


class ModelError(StudioError):
    def __init__(self, message: str, *, hint: str = "", where: str = "") -> None:
        super().__init__(message, hint=hint, kind="model", where=where)


class WorkspaceError(StudioError):
    def __init__(self, message: str, *, hint: str = "", where: str = "") -> None:
        super().__init__(message, hint=hint, kind="workspace", where=where)
