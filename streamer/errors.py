"""User-facing errors: each carries one line that names what is wrong and where.

The CLI prints ``error: <message>`` for these and exits non-zero without a traceback;
anything else is a bug and keeps its traceback.

    StreamerError
    ├── ConfigError   bad YAML, unknown key, failed check  (exit 2)
    ├── SourceError   missing file, camera that cannot be opened
    ├── ModelError    missing, corrupt or wrong-shape model file
    └── SinkError     a sink that cannot start (bad path, ...)
"""

from __future__ import annotations


class StreamerError(Exception):
    """An error the user can fix; ``str(err)`` is the one line to show."""

    exit_code = 1


class ConfigError(StreamerError):
    exit_code = 2


class SourceError(StreamerError):
    pass


class ModelError(StreamerError):
    pass


class SinkError(StreamerError):
    pass
