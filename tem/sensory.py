"""LEC sensory code: a learned embedding of the observed object."""
from __future__ import annotations

import torch
from torch import nn


class SensoryCode(nn.Module):
    """``x_t = E[o_t]``: object ids ``(B, T)`` int64 -> ``(B, T, dim)`` float."""

    def __init__(self, n_objects: int, dim: int):
        super().__init__()
        self.embedding = nn.Embedding(n_objects, dim)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.embedding(obs)
