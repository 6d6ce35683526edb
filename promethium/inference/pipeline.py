"""Three overlapped stages on threads: batching, the forward pass, blending.

Queues between them carry failures instead of deadlocking: a stage that raises stops
the others, and the caller re-raises the first error.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch

from promethium.inference.blender import Blender


class Stop(Exception):
    """Another stage failed; this one unwinds quietly."""


class Pipeline:
    """Queues between the stages, with failure propagation instead of deadlocks."""

    def __init__(self, depth: int) -> None:
        self.batches: queue.Queue = queue.Queue(maxsize=depth)
        self.predictions: queue.Queue = queue.Queue(maxsize=depth)
        self.stop = threading.Event()
        self.errors: list[BaseException] = []

    def put(self, q: queue.Queue, item: Any) -> None:
        while True:
            if self.stop.is_set():
                raise Stop
            try:
                q.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def get(self, q: queue.Queue) -> Any:
        while True:
            if self.stop.is_set():
                raise Stop
            try:
                return q.get(timeout=0.05)
            except queue.Empty:
                continue

    def guard(self, fn: Callable[[], None]) -> Callable[[], None]:
        def wrapped() -> None:
            try:
                fn()
            except Stop:
                pass
            except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
                self.errors.append(err)
                self.stop.set()

        return wrapped


def run_pipelined(
    batches: Iterator[tuple[list, torch.Tensor]],
    forward: Callable[[torch.Tensor], Any],
    blender: Blender,
    autocast: Any,
    on_batch: Callable[[int], None] | None,
    depth: int,
) -> None:
    """Batching, the forward pass (this thread) and blending as three overlapped stages."""
    pipe = Pipeline(depth)

    def batcher() -> None:
        for item in batches:
            pipe.put(pipe.batches, item)
        pipe.put(pipe.batches, None)

    def blend_stage() -> None:
        with torch.inference_mode():  # thread-local: the predictions are inference tensors
            while (item := pipe.get(pipe.predictions)) is not None:
                blender.blend(*item)

    threads = [
        threading.Thread(target=pipe.guard(batcher), name="infer-batch", daemon=True),
        threading.Thread(target=pipe.guard(blend_stage), name="infer-blend", daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        with torch.inference_mode(), autocast:
            while (item := pipe.get(pipe.batches)) is not None:
                payload, x = item
                pipe.put(pipe.predictions, (payload, forward(x)))
                if on_batch:
                    on_batch(len(x))
        pipe.put(pipe.predictions, None)
        threads[1].join()
    except Stop:
        pass
    except BaseException:
        pipe.stop.set()
        raise
    finally:
        if pipe.errors:
            pipe.stop.set()
        for thread in threads:
            thread.join()
    if pipe.errors:
        raise pipe.errors[0]
