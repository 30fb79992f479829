"""The error users see when their input or configuration is wrong."""

from __future__ import annotations

__all__ = ["InputError"]


class InputError(ValueError):
    """Bad input: a missing or unreadable file, inconsistent frame sizes, a bad config value.

    The message is one line that names the file or config key at fault. Rule
    scripts print it as ``bgsub: error: <message>`` and exit non-zero.
    """
