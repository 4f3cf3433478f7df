"""Errors caused by user input: they name the file, the record and the field at fault.

The CLI prints these without a traceback; library users catch ``OpenHOIError``.
"""

from __future__ import annotations


class OpenHOIError(ValueError):
    """Base class of every user-input error raised by openhoi."""


class ConfigError(OpenHOIError):
    """A config file, recipe or ``--set`` override is invalid."""


class DataError(OpenHOIError):
    """A dataset file (annotation json, image, label space) is missing or malformed."""


class CheckpointError(OpenHOIError):
    """A checkpoint or weight file does not match what it is loaded into."""


class PredictionFileError(OpenHOIError):
    """A predictions file given to an evaluator is malformed."""


class OutputError(OpenHOIError):
    """An output cannot be written: no space left, a read-only or missing folder, or a file
    that exists and may not be overwritten."""
