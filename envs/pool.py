"""Walks drawn by several processes: a batch's slots split between worker processes.

One :class:`~envs.walks.WalkSampler` draws every slot of a batch on one core (about 80 ms for
16,384 walks × 50 steps), which is what a large-batch GPU step waits for. :class:`SamplerPool`
gives each of ``workers`` processes its own sampler over a share of the slots (worker ``i`` seeded
``seed + i * WORKER_SEED_STRIDE``); each draws its next window as soon as it has handed out the last
one, so the draw overlaps the model's step, and hands it over through shared memory. The windows depend only on the seeds, not on timing;
``state_dict`` resumes them exactly. They are a different random stream from one sampler's.
"""
from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from multiprocessing import shared_memory

import numpy as np

from envs.walks import Batch, WalkPolicy, WalkSampler
from envs.world import World

WORKER_SEED_STRIDE = 104_729


def _fields(batch_size: int, window: int) -> list[tuple[str, tuple[int, ...], type]]:
    """``(name, shape, dtype)`` of each field of a :class:`~envs.walks.Batch`."""
    return [("obs", (batch_size, window), np.int64), ("action", (batch_size, window), np.int64),
            ("node", (batch_size, window), np.int64), ("new_world", (batch_size,), np.bool_),
            ("world", (batch_size,), np.int64)]


def _views(buffer: bytes | memoryview, batch_size: int, window: int) -> Batch:
    """A :class:`Batch` of arrays laid one after the other in ``buffer``."""
    arrays, offset = [], 0
    for _, shape, dtype in _fields(batch_size, window):
        array = np.ndarray(shape, dtype=dtype, buffer=buffer, offset=offset)
        arrays.append(array)
        offset += array.nbytes
    return Batch(*arrays)


def _nbytes(batch_size: int, window: int) -> int:
    return sum(int(np.prod(shape)) * np.dtype(dtype).itemsize for _, shape, dtype in _fields(batch_size, window))


def _worker(connection, memory_name, worlds, batch_size, window, walk_length, n_objects, policy, seed,
            salient) -> None:
    """A worker's loop: one window always drawn ahead (with the sampler's state before it); on
    ``next`` it is copied into the shared buffer, then the following one is drawn."""
    memory = shared_memory.SharedMemory(name=memory_name)
    shared = _views(memory.buf, batch_size, window)
    sampler = WalkSampler(worlds, batch_size, window, walk_length, n_objects, policy, seed, salient=salient)
    ahead = (sampler.state_dict(), sampler.next_window())
    try:
        while True:
            command, argument = connection.recv()
            if command == "next":
                for target, source in zip(shared, ahead[1]):
                    target[...] = source
                connection.send(None)
                ahead = (sampler.state_dict(), sampler.next_window())
            elif command == "state":
                connection.send(ahead[0])
            elif command == "load":
                sampler.load_state_dict(argument)
                ahead = (sampler.state_dict(), sampler.next_window())
                connection.send(None)
            else:  # "close"
                return
    finally:
        del shared
        memory.close()
        connection.close()


def split(batch_size: int, workers: int) -> list[int]:
    """Slots per worker: as even as possible, e.g. ``split(10, 4) == [3, 3, 2, 2]``."""
    return [batch_size // workers + (i < batch_size % workers) for i in range(workers)]


class SamplerPool:
    """Like :class:`~envs.walks.WalkSampler` (``next_window``, ``state_dict``, ``load_state_dict``),
    with the slots split between ``workers`` processes. Call :meth:`close` when done."""

    def __init__(self, worlds: Sequence[World], batch_size: int, window: int, walk_length: int,
                 n_objects: int = 45, policy: WalkPolicy = WalkPolicy(), seed: int = 0, workers: int = 2,
                 salient: int = 0):
        if not 1 <= workers <= batch_size:
            raise ValueError(f"sampler workers must be between 1 and the batch ({batch_size}), got {workers}")
        context = multiprocessing.get_context("spawn")  # no fork of a process that may hold a GPU
        self.batch_size, self.window = batch_size, window
        self.connections, self.processes, self.memories, self.shared = [], [], [], []
        for i, slots in enumerate(split(batch_size, workers)):
            memory = shared_memory.SharedMemory(create=True, size=_nbytes(slots, window))
            mine, theirs = context.Pipe()
            process = context.Process(target=_worker, daemon=True, name=f"walks-{i}",
                                      args=(theirs, memory.name, list(worlds), slots, window, walk_length, n_objects,
                                            policy, seed + i * WORKER_SEED_STRIDE, salient))
            process.start()
            theirs.close()
            self.connections.append(mine)
            self.processes.append(process)
            self.memories.append(memory)
            self.shared.append(_views(memory.buf, slots, window))

    def _ask(self, command: str, arguments: Sequence | None = None) -> list:
        for connection, argument in zip(self.connections, arguments or [None] * len(self.connections)):
            connection.send((command, argument))
        return [connection.recv() for connection in self.connections]

    def next_window(self) -> Batch:
        self._ask("next")  # each worker has copied its window into its shared buffer
        return Batch(*(np.concatenate(field) for field in zip(*self.shared)))

    def state_dict(self) -> dict:
        """Every worker's sampler state, as ``{"worker{i}.{key}": value}`` (plain values and arrays)."""
        return {f"worker{i}.{key}": value for i, state in enumerate(self._ask("state")) for key, value in state.items()}

    def load_state_dict(self, state: dict) -> None:
        workers = len(self.connections)
        found = {key.partition(".")[0] for key in state}
        if found != {f"worker{i}" for i in range(workers)}:
            raise ValueError(f"sampler state is of {len(found)} worker(s), this pool has {workers}: resume with "
                             "the same --sampler-workers")
        parts = [{key.partition(".")[2]: value for key, value in state.items() if key.startswith(f"worker{i}.")}
                 for i in range(workers)]
        self._ask("load", parts)

    def close(self) -> None:
        for connection, process in zip(self.connections, self.processes):
            try:
                connection.send(("close", None))
            except (BrokenPipeError, OSError):
                pass
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
        self.shared = []
        for memory in self.memories:
            memory.close()
            memory.unlink()
        self.connections, self.processes, self.memories = [], [], []

    def __del__(self):
        if getattr(self, "processes", None):
            self.close()
