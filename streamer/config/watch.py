"""Watch the config file and validate each edit off the frame loop.

A small thread polls the file's modification time (cheap, once a second) and runs the
same :func:`load_config` as ``validate``; the frame loop only picks up a finished,
valid :class:`Config` with :meth:`ConfigWatcher.take` (no I/O on its side). An invalid
edit is logged with its message and the old config keeps running.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from streamer.config.loader import load_config
from streamer.config.models import Config
from streamer.errors import ConfigError

log = logging.getLogger("streamer.config")


class ConfigWatcher:
    """Polls ``path`` every ``interval_s``; a valid new config waits in :meth:`take`."""

    def __init__(
        self,
        path: Path,
        stop: threading.Event,
        interval_s: float = 1.0,
    ) -> None:
        self.path = Path(path)
        self._stop = stop
        self._interval_s = interval_s
        self._pending: Config | None = None
        self._lock = threading.Lock()
        self._signature = self._stat()
        self.reloads_total = 0
        self.refused_total = 0
        self.last_error = ""
        self._thread = threading.Thread(target=self._run, name="config-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float = 2.0) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def take(self) -> Config | None:
        """The newest valid config not yet taken, else None; never blocks on I/O."""
        with self._lock:
            config, self._pending = self._pending, None
        return config

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.check()
            except Exception as exc:  # the watcher must outlive any surprise
                log.error("config watch: %s", exc)

    def check(self) -> bool:
        """Look once; True when a new valid config was queued."""
        signature = self._stat()
        if signature is None or signature == self._signature:
            return False
        self._signature = signature
        try:
            config = load_config(self.path, check_disk=True)
        except ConfigError as exc:
            self.refused_total += 1
            self.last_error = str(exc)
            log.error("config change refused, the old rules keep running: %s", exc)
            return False
        with self._lock:
            self._pending = config
        self.last_error = ""
        return True
