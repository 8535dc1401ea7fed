"""Command line: ``streamer run | demo | replay | validate | snapshot | optimize | events | schema |
camera | doctor``.

The package holds the CLI and only the CLI: :mod:`streamer.cli.parser` declares the commands,
:mod:`streamer.cli.commands` and :mod:`streamer.cli.run` carry them out (``run``, ``demo`` and
``replay`` all go through :func:`streamer.pipeline.build_pipeline`), and
:mod:`streamer.cli.events`, :mod:`streamer.cli.optimize` and :mod:`streamer.cli.doctor` are the
``events``, ``optimize`` and ``doctor`` commands.

User errors (:class:`StreamerError`) print one ``error:`` line and exit non-zero without
a traceback; ``validate`` exits 0 for a good file and 2 for a bad one.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Sequence

# Quiet OpenCV's and FFmpeg's own stderr chatter before cv2 is first imported: our
# errors say what failed in one line; theirs would bury it.
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

from streamer.cli.parser import build_parser  # noqa: E402
from streamer.errors import StreamerError  # noqa: E402
from streamer.redact import protect_handlers, redact  # noqa: E402

log = logging.getLogger("streamer")

SIGPIPE_EXIT = 128 + 13  # what a shell reports for a program ended by SIGPIPE


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Commands that load a config put its secrets here, so the last line masks them too.
    args.secrets = ()
    _setup_logging(args.verbose)
    previous_hook = threading.excepthook
    # A thread's uncaught traceback goes through the redacting log handler, not raw to stderr.
    threading.excepthook = _log_thread_crash
    try:
        return int(args.func(args))
    except StreamerError as exc:
        print(f"error: {redact(exc, args.secrets)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `streamer events ls | head`: the reader had enough. A normal end for a CLI, as
        # for any Unix tool killed by SIGPIPE: quiet, with the shell's code for it.
        _quiet_stdout()
        return SIGPIPE_EXIT
    except Exception:  # a bug: keep its traceback, but through the redacting handler
        log.critical("internal error (please report it)", exc_info=True)
        return 1
    finally:
        threading.excepthook = previous_hook


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush has nowhere to fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _log_thread_crash(hook: threading.ExceptHookArgs) -> None:
    name = hook.thread.name if hook.thread is not None else "?"
    # The exception carries its traceback (``__traceback__``), which logging prints.
    log.critical("thread %s crashed", name, exc_info=hook.exc_value)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    # Until a config is loaded, URLs, key=value secrets and Bearer tokens by pattern.
    protect_handlers(logging.getLogger().handlers)
    # httpx logs every request at INFO; keep that for --verbose.
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose else logging.WARNING)


if __name__ == "__main__":
    raise SystemExit(main())
