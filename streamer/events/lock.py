"""One outbox, one owner: an exclusive lock that says who delivers from an outbox file.

Two runs of one config both delivered every event (16 POSTs for 8 events), and two
cameras given the same ``outbox.path`` sent each other's events to their own sinks. An
owner takes :class:`OwnerLock` on ``<outbox>.lock`` before it opens the outbox; a second
owner is refused with one line (:class:`OutboxInUse`, a config error: exit 2):

- **another process**: ``flock(2)`` on the lock file. The kernel drops the lock when its
  process ends, however it ends (``kill -9``, a power cut of the container), so a dead
  owner's lock is taken over at once and there is no stale PID file to clean up. The
  file holds the owner's PID and name, for the message only.
- **the same process** (several cameras in one process): a registry of the locks this
  process holds, keyed by the lock file's device and inode, so two spellings of one path
  (a symlink, ``./data`` and ``/srv/data``) are one outbox. ``flock`` would refuse the
  second open description too; the registry says which camera holds it.

Readers (``streamer events ls``, the monitor) never take it: SQLite's own locking lets
them read while the owner writes. Linux and macOS; on a network file system without
``flock`` the lock is refused with the reason rather than silently skipped.

Use::

    lock = OwnerLock.acquire(Path("data/outbox.db"), owner="camera dock-3")
    try:
        ...  # open and deliver
    finally:
        lock.release()

or ``Outbox(path, owner="camera dock-3")``, which takes it before opening the file and
releases it in ``close()``.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
from pathlib import Path
from typing import ClassVar

from streamer.errors import ConfigError


class OutboxInUse(ConfigError):
    """Another owner (process or camera) holds this outbox: one line, exit 2."""


class OwnerLock:
    """An exclusive hold on one outbox file for one owner; :meth:`release` ends it."""

    _held: ClassVar[dict[tuple[int, int], str]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, path: Path, lock_path: Path, fd: int, key: tuple[int, int], owner: str) -> None:
        self.path = path
        self.lock_path = lock_path
        self.owner = owner
        self._fd: int | None = fd
        self._key = key

    @staticmethod
    def lock_path_of(path: Path) -> Path:
        """``<outbox>.lock`` beside the outbox's real (symlinks resolved) path."""
        real = path.resolve()
        return real.with_name(real.name + ".lock")

    @classmethod
    def acquire(cls, path: str | os.PathLike[str], owner: str, key_name: str = "outbox.path") -> OwnerLock:
        """Hold ``path`` for ``owner`` (a name for messages: ``camera dock-3``).

        Raises:
            OutboxInUse: another process or another owner in this process holds it.
            ConfigError: the lock file cannot be made (its folder is read-only, ...).
        """
        path = Path(path)
        lock_path = cls.lock_path_of(path)
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise ConfigError(f"{key_name}: cannot make the lock file {lock_path}: "
                              f"{exc.strerror or exc}") from None
        try:
            info = os.fstat(fd)
            key = (info.st_dev, info.st_ino)
            with cls._registry_lock:
                holder = cls._held.get(key)
                if holder is not None:
                    raise OutboxInUse(
                        f"{key_name}: {path} is already the outbox of {holder} in this process; "
                        f"one outbox has one owner: give {owner} its own {key_name}"
                    )
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as exc:
                    if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                        raise ConfigError(f"{key_name}: cannot lock {lock_path}: "
                                          f"{exc.strerror or exc}") from None
                    raise OutboxInUse(
                        f"{key_name}: {path} is in use by another streamer process "
                        f"({_holder_of(fd)}); one outbox has one owner: stop that run, or give "
                        f"{owner} its own {key_name}"
                    ) from None
                cls._held[key] = owner
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()}, {owner}\n".encode())
        except BaseException:
            os.close(fd)
            raise
        return cls(path, lock_path, fd, key, owner)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Let the next owner in; idempotent. The lock file stays (an empty name is free)."""
        with self._registry_lock:
            if self._fd is None:
                return
            self._held.pop(self._key, None)
            fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        os.close(fd)  # closing the last descriptor drops the flock

    def __enter__(self) -> OwnerLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _holder_of(fd: int) -> str:
    """What the holder wrote in the lock file (``pid 1234, camera dock-3``), briefly."""
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text.splitlines()[0][:120] if text else "its PID unknown"
