"""Windows drawn ahead: the walk sampler runs in a background thread while the model trains.

The sampler is NumPy; the model step is torch, which releases the GIL in its kernels (and, on a GPU,
runs asynchronously), so drawing window k+1 overlaps training on window k. Resuming stays exact:
:meth:`PrefetchingSampler.state_dict` is the sampler's state before the window that has been drawn
but not yet handed out, so a run restarted from it sees the same windows.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import torch

from envs import WalkSampler
from envs.pool import SamplerPool


def window_tensors(batch, pin: bool) -> tuple[torch.Tensor, ...]:
    """``(obs, action, new_world)`` of a sampler batch as CPU tensors (in pinned memory if ``pin``)."""
    tensors = tuple(torch.from_numpy(np.ascontiguousarray(x)) for x in (batch.obs, batch.action, batch.new_world))
    return tuple(t.pin_memory() for t in tensors) if pin else tensors


class PrefetchingSampler:
    """A :class:`~envs.WalkSampler` (or :class:`~envs.pool.SamplerPool`) whose next window is drawn
    while the current one trains.

    ``next_window()`` returns ``(obs (B, T) int64, action (B, T) int64, new_world (B,) bool)`` on
    ``device``; with ``prefetch=False`` it draws synchronously (the same windows).
    """

    def __init__(self, sampler: WalkSampler | SamplerPool, device: torch.device, prefetch: bool = True):
        self.sampler, self.device = sampler, torch.device(device)
        self.pin = self.device.type == "cuda"
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sampler") if prefetch else None
        self._ahead: Future | None = None  # the window drawn ahead: (sampler state before it, tensors)

    def _draw(self) -> tuple[dict, tuple[torch.Tensor, ...]]:
        state = self.sampler.state_dict()
        return state, window_tensors(self.sampler.next_window(), self.pin)

    def next_window(self) -> tuple[torch.Tensor, ...]:
        if self._ahead is not None:
            _, tensors = self._ahead.result()
            self._ahead = None
        else:
            tensors = window_tensors(self.sampler.next_window(), self.pin)
        if self._executor is not None:
            self._ahead = self._executor.submit(self._draw)
        return tuple(t.to(self.device, non_blocking=self.pin) for t in tensors)

    def state_dict(self) -> dict:
        """The sampler's state before the next window :meth:`next_window` returns."""
        if self._ahead is not None:
            return self._ahead.result()[0]
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        if self._ahead is not None:
            self._ahead.result()  # let the thread finish with the sampler before it changes
            self._ahead = None
        self.sampler.load_state_dict(state)

    def close(self) -> None:
        """Stop the thread (the window already drawn is still handed out next, then windows are drawn
        synchronously) and the sampler's worker processes, if it has any."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if hasattr(self.sampler, "close"):
            self.sampler.close()
