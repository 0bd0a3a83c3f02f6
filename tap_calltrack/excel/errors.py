"""Errors the target reports as one line, without a traceback."""

from __future__ import annotations


class TargetError(Exception):
    """A problem with the input or the settings, reported as one line and a non-zero exit."""


class InputError(TargetError):
    """The Singer input cannot be processed (bad JSON, order of messages, unknown type)."""


class SettingsError(TargetError):
    """A setting has a value the target cannot use."""


class Interrupted(TargetError):
    """The target received SIGINT or SIGTERM before the workbook was complete."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by signal {signum}; the previous workbook is unchanged")
        self.exit_code = 128 + signum
