"""Errors that describe a user's mistake (exit status 2), as opposed to failures."""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable, Optional


class UserError(Exception):
    """A mistake in the user's input: a schedule, a flag, a file. Shown without traceback."""


class DataNotFound(UserError):
    """A dataset's files or folders are not on this machine (or not named): `validate` stands in for them."""


class TrainingDiverged(Exception):
    """A non-finite loss or weight: training stops (exit 1); the last checkpoint is left as it was."""


class TrainingInterrupted(Exception):
    """Training (or `auto`'s search) was asked to stop (a signal); a state to resume from was written first."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Problem:
    """One validation problem, located by its YAML path and (when known) its line."""

    path: str
    message: str
    line: Optional[int] = None

    def __str__(self) -> str:
        where = f"{self.path}" if self.path else "<top>"
        if self.line is not None:
            where += f" (line {self.line})"
        return f"{where}: {self.message}"


class ScheduleError(UserError):
    """Every problem found while validating a schedule, reported together."""

    def __init__(self, problems: Iterable[Problem], source: str = "schedule"):
        self.problems = list(problems)
        self.source = source
        lines = "\n".join(f"  {p}" for p in self.problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{source}: {count} {noun}\n{lines}")


def did_you_mean(name: str, choices: Iterable[str], what: str = "name", limit: int = 40) -> str:
    """`unknown <what> 'x'; did you mean 'y'? (available: a, b, ...)`."""
    choices = sorted(set(choices))
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    message = f"unknown {what} '{name}'"
    if close:
        message += "; did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
    if not choices:
        return message + " (none available)"
    shown = ", ".join(choices[:limit])
    if len(choices) > limit:
        shown += f", ... ({len(choices) - limit} more)"
    return f"{message} (available: {shown})"


def validation_message(error: dict) -> str:
    """One error of a pydantic ValidationError's `errors()` as a user reads it: a validator's own words,
    without pydantic's "Value error, " / "Assertion failed, " in front."""
    return str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")


def first_line(err: BaseException) -> str:
    """The first line of an error's message (its type's name when it has none), for a one-line report."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
