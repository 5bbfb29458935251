"""One small exception family. Every message is one line: what was expected, what was found,
which file or input, and what fixes it."""

from __future__ import annotations


class LAGError(ValueError):
    """Base class: a problem the user can fix (bad input, missing or unusable file)."""


class WeightsError(LAGError):
    """A weight file is missing, corrupt, unsafe, or fits no known model."""


class InputError(LAGError):
    """An argument or input value is out of range or malformed."""


class DataError(LAGError):
    """A dataset file or folder is malformed."""


class UnsafePickleError(WeightsError):
    """A pickle asks for a global that is not on the allow-list; nothing in it was run."""
