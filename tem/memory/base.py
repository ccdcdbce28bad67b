"""The hippocampal memory interface every backend implements.

A memory holds, per batch slot, the key/value pairs written during the current walk. Models hand
it a whole window at once: at step ``t`` the read uses only what was written before ``t`` (the
pair of step ``t`` is written after it has been read), so the memory is causal by construction.
The state is a plain dict of tensors, carried between windows by the model and saved with
checkpoints.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

MemoryState = dict[str, torch.Tensor]


def map_state(fn, state):
    """Apply ``fn`` to every tensor of a (nested dict / tuple / list) model state."""
    if isinstance(state, torch.Tensor):
        return fn(state)
    if isinstance(state, dict):
        return {key: map_state(fn, value) for key, value in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(map_state(fn, value) for value in state)
    return state


class MemoryOutput(NamedTuple):
    """What a memory returns for a window.

    ``read``: ``(B, T, value_dim)`` retrieved value at each step.
    ``activity``: ``(B, T, n_units)`` activity of the memory's neurons at each step (the units that
    rate maps show), or None if it was not asked for.
    ``state``: the memory state after writing the window.
    """

    read: torch.Tensor
    activity: torch.Tensor | None
    state: MemoryState


class Memory(nn.Module):
    """Base class: subclasses implement ``initial_state``, ``reset`` and ``forward``."""

    def initial_state(self, batch_size: int, device: torch.device | str = "cpu") -> MemoryState:
        """An empty memory for ``batch_size`` slots."""
        raise NotImplementedError

    def reset(self, state: MemoryState, slots: torch.Tensor) -> MemoryState:
        """Forget everything stored in the slots where ``slots`` (``(B,)`` bool) is True."""
        raise NotImplementedError

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, state: MemoryState,
                return_activity: bool = False) -> MemoryOutput:
        """Read with ``query`` then write ``(key, value)``, step by step over a window.

        Args:
            query: ``(B, T, key_dim)``; key: ``(B, T, key_dim)``; value: ``(B, T, value_dim)``.
            state: the state before the window.
        """
        raise NotImplementedError

