"""One model in memory for every camera of a box, and one set of inference workers.

``streamer run a.yaml b.yaml ...`` runs the box's cameras in one process. Each camera keeps
its own detector *view* (its model id, classes, class map and confidence), but cameras
whose model is the same file with the same options share one loaded session, and every
inference call of every camera goes through :class:`InferencePool`.

Why a pool of single-threaded workers and not one worker with all cores, nor batches
(measured on a 2-core box with ``benchmarks/cameras_per_box.py``'s model, see
docs/many-cameras.md): an intra-op thread pool spread over every core loses much of its
speed as soon as anything else wants a core (the cameras' decoders, the frame loops, a
neighbour), while one core per call does not wait on its siblings; and the demo model has
a fixed batch of 1, while a batched copy of it ran slower per frame than two
single-threaded calls side by side.

Fairness: a camera's frame loop waits for its own call, so it has at most one call
queued; the queue is first come, first served, so every camera that is due gets a call
before any camera gets a second. A camera that hangs or is away simply has no call
queued; a file read frame by frame (a backlog) gets its turn like everyone else and no
more. One exception: a *routine* call (a keepalive run, which only keeps a still person
tracked) lets the others go first for up to ``ROUTINE_WAIT_S``, then takes its turn.
Measured on six cameras of benchmarks/cameras_per_box.py's static clip, a third of the
runs were keepalives of cameras where nothing moved, each one a wait for a camera where
something did.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from streamer.detect.base import Detector, DetectorContext, SharedDetector
from streamer.errors import ModelError
from streamer.schema.bases import ModelBase

log = logging.getLogger("streamer.detect.shared")

T = TypeVar("T")

# Fields of a model's config that belong to the camera, not to the loaded model: two
# cameras that differ only in these share one session. `threads` and `spin_wait` are the
# box's to set.
PER_CAMERA_FIELDS = frozenset({"id", "classes", "class_map", "confidence", "every_n_frames",
                               "when", "threads", "spin_wait"})


def default_workers(cameras: int, cores: int | None = None) -> int:
    """Workers for a box: one per core, never more than there are cameras."""
    cores = cores or os.cpu_count() or 1
    return max(1, min(cores, cameras))


def default_threads(workers: int, cores: int | None = None) -> int:
    """Each call's onnxruntime threads: the cores the workers leave (one camera on a 2-core
    box: one worker with both cores, as a single camera runs; six: two workers, one thread
    each). Measured side by side, six cameras of benchmarks/cameras_per_box.py's static
    clip on 2 cores: one thread a call held the slowest camera at 3.86 runs a second while
    its area moved, two threads a call (idle threads sleeping, not spinning) at 3.30: what
    a lone call gains, calls side by side lose to each other."""
    cores = cores or os.cpu_count() or 1
    return max(1, cores // workers)


# How long a routine call lets other calls go first. A keepalive is due keepalive_s (at
# most half the tracker's lost buffer) after the last run: waiting this long on top still
# sees a still person again within the default lost buffer (1 s + 0.5 s < 2 s).
ROUTINE_WAIT_S = 0.5


@dataclass
class _Call:
    fn: Callable[[], Any]
    client: str
    routine: bool = False
    queued: float = field(default_factory=time.perf_counter)
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


@dataclass
class _ClientStats:
    calls_total: int = 0
    wait_s_total: float = 0.0
    run_s_total: float = 0.0
    last_run_s: float = 0.0


class _CallQueue:
    """First come, first served, except that routine calls wait behind the others for up
    to ``routine_wait_s`` (then they go first: nothing starves)."""

    def __init__(self, routine_wait_s: float) -> None:
        self._routine_wait_s = routine_wait_s
        self._ready = threading.Condition()
        self._urgent: deque[_Call] = deque()
        self._routine: deque[_Call] = deque()
        self._stops = 0

    def put(self, call: _Call) -> None:
        with self._ready:
            (self._routine if call.routine else self._urgent).append(call)
            self._ready.notify()

    def stop(self, workers: int) -> None:
        """Each worker gets None once the calls queued before are taken."""
        with self._ready:
            self._stops += workers
            self._ready.notify_all()

    def get(self) -> _Call | None:
        with self._ready:
            while True:
                routine, urgent = self._routine, self._urgent
                if routine and (not urgent or time.perf_counter() - routine[0].queued
                                >= self._routine_wait_s):
                    return routine.popleft()
                if urgent:
                    return urgent.popleft()
                if self._stops:
                    self._stops -= 1
                    return None
                self._ready.wait()

    def qsize(self) -> int:
        with self._ready:
            return len(self._urgent) + len(self._routine)


class InferencePool:
    """``workers`` threads that run inference calls in the order they were asked for.

    ``threads`` is each call's onnxruntime intra-op thread count (see
    :func:`default_threads`). Calls may come from any thread; :meth:`run` blocks its caller
    until its own call is done and returns its result or raises its error.
    """

    def __init__(self, workers: int, threads: int = 1, routine_wait_s: float = ROUTINE_WAIT_S) -> None:
        if workers < 1 or threads < 1:
            raise ValueError("workers and threads must be at least 1")
        self.workers = workers
        self.threads = threads
        self._queue = _CallQueue(routine_wait_s)
        self._lock = threading.Lock()
        self._clients: dict[str, _ClientStats] = {}
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"inference-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def run(self, client: str, fn: Callable[[], T], routine: bool = False) -> T:
        """Run ``fn`` on a worker on behalf of ``client`` (a camera id) and return its result;
        a ``routine`` call lets the others go first for a while (the module's docstring).

        Raises:
            ModelError: the pool is closed.
            whatever ``fn`` raises.
        """
        if self._closed:
            raise ModelError("the box's inference workers are closed")
        call = _Call(fn, client, routine)
        self._queue.put(call)
        while not call.done.wait(1.0):
            if self._closed:
                raise ModelError("the box's inference workers are closed")
        if call.error is not None:
            raise call.error
        return call.result  # type: ignore[no-any-return]  # fn's own result, stored by the worker

    def _work(self) -> None:
        while True:
            call = self._queue.get()
            if call is None:
                return
            started = time.perf_counter()
            try:
                call.result = call.fn()
            except BaseException as exc:  # handed to the camera that asked; the worker lives on
                call.error = exc
            finished = time.perf_counter()
            with self._lock:
                stats = self._clients.setdefault(call.client, _ClientStats())
                stats.calls_total += 1
                stats.wait_s_total += started - call.queued
                stats.run_s_total += finished - started
                stats.last_run_s = finished - started
            call.done.set()

    def status(self) -> dict[str, object]:
        """Workers, threads, calls waiting now, and per camera its calls and mean wait."""
        with self._lock:
            clients = {
                name: {
                    "calls_total": s.calls_total,
                    "mean_wait_s": round(s.wait_s_total / s.calls_total, 4) if s.calls_total else 0.0,
                    "mean_run_s": round(s.run_s_total / s.calls_total, 4) if s.calls_total else 0.0,
                }
                for name, s in sorted(self._clients.items())
            }
        return {"workers": self.workers, "threads": self.threads,
                "queued": self._queue.qsize(), "cameras": clients}

    def close(self) -> None:
        """Let the workers finish the calls they hold, then end them."""
        if self._closed:
            return
        self._closed = True
        self._queue.stop(len(self._threads))
        for thread in self._threads:
            thread.join(5.0)


class SharedModels:
    """The box's loaded models, one per distinct (file, options), and the pool they run on.

    :meth:`detector` gives a camera its detector for a model config: a view on a shared
    session where the model's config gives a ``share_key`` (``onnx``), else the camera's
    own detector (``replay`` reads the camera's own file; ``hog`` and ``roboflow`` load
    their own).
    """

    def __init__(
        self, pool: InferencePool, build: Callable[[ModelBase, DetectorContext], Detector]
    ) -> None:
        self.pool = pool
        self._build = build
        self._loaded: dict[str, SharedDetector] = {}
        self._users: dict[str, list[str]] = {}

    def detector(self, config: ModelBase, camera_id: str, context: DetectorContext) -> Detector:
        key = config.share_key(context)
        if key is None:
            return self._build(config, context)
        base = self._loaded.get(key)
        if base is None:
            box_sets = {"threads": self.pool.threads, "spin_wait": self.pool.workers == 1}
            loaded = self._build(config.model_copy(update=box_sets), context)
            if not isinstance(loaded, SharedDetector):
                raise ModelError(f"model {config.id!r}: a share_key, but its detector cannot be shared")
            base = self._loaded[key] = loaded
        self._users.setdefault(key, []).append(camera_id)
        return base.view(config, lambda fn, routine: self.pool.run(camera_id, fn, routine))

    def status(self) -> dict[str, object]:
        """``/api/status``'s ``inference``: the pool and which cameras share which model."""
        models = [
            {"path": str(base.path), "cameras": self._users.get(key, []), "precision": base.precision}
            for key, base in self._loaded.items()
        ]
        return {**self.pool.status(), "models": models}

    def close(self) -> None:
        self.pool.close()
        for base in self._loaded.values():
            base.close()
        self._loaded.clear()


__all__ = ["InferencePool", "SharedModels", "default_threads", "default_workers"]
