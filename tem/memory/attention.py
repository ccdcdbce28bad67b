"""Causal softmax attention (modern Hopfield) memory: the TEM-t hippocampus."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tem.memory.base import Memory, MemoryOutput, MemoryState


class AttentionMemory(Memory):
    """Every step of the walk is one memory ``(key, value)``; a read is a softmax over them.

    ``read_t = sum_{tau < t} softmax_tau(beta_t q_t . k_tau) v_tau``, over the memories of the same
    walk (at most ``cap`` most recent ones when ``cap > 0``). ``beta`` is learned; with
    ``log_scale`` it is multiplied by ``log(1 + n)``, ``n`` the number of memories visible at step
    ``t``. Memory neurons: the attention weights, one unit per stored memory.

    State: ``keys (B, M, key_dim)``, ``values (B, M, value_dim)``, ``valid (B, M)`` bool. Columns
    are aligned in time across the batch (every slot writes once per step), so a window's
    attention is one batched, causally masked product.
    """

    def __init__(self, key_dim: int, value_dim: int, beta: float = 1.0, log_scale: bool = True, cap: int = 0):
        super().__init__()
        if beta <= 0:
            raise ValueError(f"beta must be > 0, got {beta!r}")
        if cap < 0:
            raise ValueError(f"memory cap must be >= 0 (0 = unlimited), got {cap!r}")
        self.key_dim, self.value_dim, self.log_scale, self.cap = key_dim, value_dim, log_scale, cap
        self.log_beta = nn.Parameter(torch.tensor(math.log(beta)))

    def initial_state(self, batch_size: int, device="cpu") -> MemoryState:
        return {"keys": torch.zeros(batch_size, 0, self.key_dim, device=device),
                "values": torch.zeros(batch_size, 0, self.value_dim, device=device),
                "valid": torch.zeros(batch_size, 0, dtype=torch.bool, device=device)}

    def reset(self, state: MemoryState, slots: torch.Tensor) -> MemoryState:
        return {**state, "valid": state["valid"] & ~slots[:, None]}

    def visible(self, state: MemoryState, T: int) -> torch.Tensor:
        """``(B, T, M + T)`` bool: which memories each step of the window may read."""
        B, M = state["valid"].shape
        device = state["valid"].device
        column = torch.arange(M + T, device=device) - M  # time of each memory, window start = 0
        step = torch.arange(T, device=device)[:, None]
        mask = column[None, :] < step  # strictly earlier steps only
        if self.cap > 0:
            mask = mask & (column[None, :] >= step - self.cap)
        written = torch.cat([state["valid"], torch.ones(B, T, dtype=torch.bool, device=device)], dim=1)
        return mask[None] & written[:, None, :]

    def forward(self, query, key, value, state, return_activity=False) -> MemoryOutput:
        B, T, _ = query.shape
        keys = torch.cat([state["keys"], key], dim=1)  # (B, M + T, key_dim)
        values = torch.cat([state["values"], value], dim=1)  # (B, M + T, value_dim)
        visible = self.visible(state, T)  # (B, T, M + T)
        n_visible = visible.sum(dim=-1, keepdim=True)  # (B, T, 1)
        beta = self.log_beta.exp()
        if self.log_scale:
            beta = beta * torch.log1p(n_visible.to(query.dtype))
        any_visible = n_visible > 0  # a step with no memory yet reads zeros
        if return_activity:  # explicit weights, for analysis
            scores = beta * torch.bmm(query, keys.transpose(1, 2))  # (B, T, M + T)
            scores = scores.masked_fill(~visible, float("-inf")).masked_fill(~any_visible, 0.0)
            weights = torch.softmax(scores, dim=-1) * any_visible
            read = torch.bmm(weights, values)  # (B, T, value_dim)
        else:  # fused kernel; rows with no memory see column 0 and are zeroed afterwards
            weights = None
            visible = visible.clone()
            visible[..., 0] |= ~any_visible[..., 0]
            read = F.scaled_dot_product_attention((beta * query)[:, None], keys[:, None], values[:, None],
                                                  attn_mask=visible[:, None], scale=1.0)[:, 0]
            read = read * any_visible
        return MemoryOutput(read=read, activity=weights, state=self._append(state, keys, values, T))

    def _append(self, state, keys, values, T) -> MemoryState:
        """Keep the window's memories; drop old columns no slot can read any more."""
        B = keys.shape[0]
        valid = torch.cat([state["valid"], torch.ones(B, T, dtype=torch.bool, device=keys.device)], dim=1)
        used = valid.any(dim=0)
        first = int(used.nonzero()[0]) if used.any() else valid.shape[1]
        if self.cap > 0:
            first = max(first, valid.shape[1] - self.cap)
        return {"keys": keys[:, first:], "values": values[:, first:], "valid": valid[:, first:]}
