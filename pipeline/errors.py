"""One exception root for the project.

Infrastructure errors are ``retriable`` (the caller may try again); data errors are not and send the
offending input to the dead-letter topic.
"""

from __future__ import annotations

from typing import ClassVar


class EmberwatchError(Exception):
    """Root of every error the project raises on purpose."""

    retriable: ClassVar[bool] = False


class ConfigError(EmberwatchError):
    """Settings, catalog or a command line that cannot be used as given."""


class RecordError(EmberwatchError):
    """An input record that cannot be processed; it goes to the dead-letter topic.

    ``reason`` is a short, bounded identifier (used as a metric label); the message says more.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class BrokerError(EmberwatchError):
    """The local broker could not be started, reached or stopped."""

    retriable = True


class ModelError(EmberwatchError):
    """A model artifact is missing, corrupt or from an incompatible library version."""
