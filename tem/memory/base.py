"""The interface of TEM-t's hippocampal memories (attention, SDM): a window at a time.

A memory holds, per batch slot, what was written during the current walk. A model hands it a whole
window at once: at step ``t`` the read uses only what was written before ``t`` (the pair of step
``t`` is written after it has been read), so the memory is causal by construction. The state is a
plain dict of tensors, carried between windows by the model and saved with checkpoints.

Each memory declares what its units (the hippocampal cells of rate maps) are: ``"step"`` for a
memory that grows with the walk (a unit is the memory written at one step), ``"neuron"`` for a
fixed population; and it names the unit of every activity column it returns.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, NamedTuple

import torch
from torch import nn

MemoryState = dict[str, torch.Tensor]


def oldest_in_use(used: torch.Tensor) -> int:
    """Index of the oldest stored column any slot still holds, from ``used (B, M)`` bool (M if none):
    the columns before it can be dropped.

    The answer sets a shape, so it is read back from the device: one synchronisation (a single
    ``.item()``), the leading columns no slot holds being counted on the device.
    """
    held = used.any(dim=0)  # (M,)
    if held.numel() == 0:
        return 0
    return int((held.cumsum(0) == 0).sum().item())  # leading columns no slot holds


class MemoryOutput(NamedTuple):
    """What a memory returns for a window.

    ``read``: ``(B, T, value_dim)`` retrieved value at each step.
    ``activity``: ``(B, T, n_columns)`` activity of the memory's units at each step, or None if it
    was not asked for. ``units``: ``(B, n_columns)`` int64, which unit each column is (the walk step
    that wrote it, or the neuron index; -1 for an empty column), or None with ``activity``.
    ``state``: the memory state after writing the window.
    """

    read: torch.Tensor
    activity: torch.Tensor | None
    units: torch.Tensor | None
    state: MemoryState


class WindowMemory(nn.Module, ABC):
    """Base class of the memories TEM-t reads and writes a window at a time."""

    units: ClassVar[str]
    """``"step"`` (a growing memory) or ``"neuron"`` (a fixed population)."""

    @abstractmethod
    def initial_state(self, batch_size: int, device: torch.device | str = "cpu") -> MemoryState:
        """An empty memory for ``batch_size`` slots."""

    @abstractmethod
    def reset(self, state: MemoryState, slots: torch.Tensor) -> MemoryState:
        """Forget everything stored in the slots where ``slots`` (``(B,)`` bool) is True."""

    @abstractmethod
    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, state: MemoryState,
                return_activity: bool = False, query_is_key: bool | None = None, *, read: bool = True,
                activity_units: torch.Tensor | None = None) -> MemoryOutput:
        """Read with ``query`` then write ``(key, value)``, step by step over a window.

        Args:
            query: ``(B, T, key_dim)``; key: ``(B, T, key_dim)``; value: ``(B, T, value_dim)``.
            state: the state before the window.
            return_activity: also return the units' activity (for analysis).
            query_is_key: the caller's word that ``query`` equals ``key`` (tied projections), so a
                memory may share the work of addressing; None: not said (a memory that cares checks).
            read: False when the caller needs no read (analyses of the units alone): a memory may
                then return ``read=None`` and skip the work.
            activity_units: with ``return_activity``, ``(B, N)`` int64 ids of the only units whose
                activity is needed (N may be 0); a memory may return just those columns or all of
                them (its ``units`` name the columns it returns).
        """
