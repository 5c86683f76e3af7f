"""Validation errors that name the field, e.g. ``spec.parameters[1].feasibleSpace.min: ...``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SpecError:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InvalidExperimentError(ValueError):
    """Raised with every problem of one document at once; ``errors`` keeps them apart."""

    def __init__(self, errors: list[SpecError], source: str | None = None) -> None:
        self.errors = errors
        self.source = source
        head = f"{source}: " if source else ""
        lines = "\n".join(f"  - {e}" for e in errors)
        super().__init__(f"{head}invalid experiment ({len(errors)} error{'s' if len(errors) != 1 else ''}):\n{lines}")
