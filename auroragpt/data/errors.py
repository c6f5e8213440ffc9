"""The one exception type of the data pipeline."""

from __future__ import annotations


class DataError(ValueError):
    """Bad data input: the message names the file, the field and what was expected."""
