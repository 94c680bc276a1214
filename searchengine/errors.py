"""Exceptions a user can act on.

Every error raised because of the user's input (a spec, a command-line flag, a data file)
is a :class:`SearchEngineError`; the CLI prints its message and exits with code 2.
Anything else is a bug and exits with code 1.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "DataError",
    "SearchEngineError",
    "SpecError",
    "SpecIssue",
    "UnknownNameError",
    "did_you_mean",
]


class SearchEngineError(Exception):
    """Base of all errors caused by user input (exit code 2)."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest of ``choices``, or ``""``."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


@dataclass(frozen=True)
class SpecIssue:
    """One problem in a spec: where (YAML path, optional line) and what."""

    path: str
    message: str
    line: int | None = None
    source: str | None = None

    def format(self, file: str | None) -> str:
        where = self.source or file or "<spec>"
        if self.line is not None and self.source is None:
            where = f"{where}:{self.line}"
        path = f"{self.path}: " if self.path else ""
        return f"{where}: {path}{self.message}"


class SpecError(SearchEngineError):
    """All problems found in one spec, reported together.

    Args:
        issues: the problems, each with its YAML path.
        file: the spec file they were found in, if any.
    """

    def __init__(self, issues: Sequence[SpecIssue] | str, file: str | None = None) -> None:
        if isinstance(issues, str):
            issues = [SpecIssue("", issues)]
        self.issues = list(issues)
        self.file = file
        super().__init__(self._render())

    def _render(self) -> str:
        lines = [issue.format(self.file) for issue in self.issues]
        if len(lines) == 1:
            return lines[0]
        head = f"{len(lines)} errors in {self.file or 'the spec'}:"
        return "\n".join([head, *("  " + line for line in lines)])


class UnknownNameError(SearchEngineError, KeyError):
    """A name that is not in a registry; the message lists the valid choices.

    Args:
        kind: what was looked up ("strategy", "backbone", ...).
        name: the unknown name.
        choices: the names that exist.
    """

    def __init__(self, kind: str, name: str, choices: Iterable[str]) -> None:
        self.kind, self.name, self.choices = kind, name, sorted(choices)
        message = (
            f"unknown {kind} {name!r}{did_you_mean(name, self.choices)}"
            f" (choices: {', '.join(self.choices) or 'none'})"
        )
        super().__init__(message)

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DataError(SearchEngineError):
    """Bad input data: a missing file or column, a non-binary label, an empty split."""
