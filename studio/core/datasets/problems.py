"""Why a row cannot be used. Row problems are listed per row; some mean the whole file is for
something else (another modality), and the import refuses the file with one message instead."""

from __future__ import annotations


class RowProblem(Exception):
    """A row that cannot be used: category (for the summary) and detail (for the person)."""

    def __init__(self, category: str, detail: str = "") -> None:
        super().__init__(category)
        self.category = category
        self.detail = detail


class ModalityProblem(RowProblem):
    """The row holds images, audio, video or files, which a text-only model cannot be trained on."""

    def __init__(self, modality: str, detail: str = "") -> None:
        super().__init__(f"needs {modality}", detail)
        self.modality = modality
