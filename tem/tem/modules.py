"""Building blocks of TEM (tem.tem): per-module MLPs run as one masked matrix product, the
action-dependent transition, and the two-hot sensory code."""
from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn


def block_mask(rows: tuple[int, ...], cols: tuple[int, ...]) -> torch.Tensor:
    """``(sum(rows), sum(cols))`` 0/1 block-diagonal mask."""
    return torch.block_diag(*[torch.ones(r, c) for r, c in zip(rows, cols)])


def row_spans(mask: torch.Tensor) -> torch.Tensor:
    """``(rows, 2)`` int64: each row's first and one-past-last nonzero column of ``mask (rows,
    cols)`` (a block-diagonal mask's blocks; a row of zeros spans every column)."""
    nonzero = (mask != 0).to(torch.uint8)
    first = nonzero.argmax(1)
    last = mask.shape[1] - nonzero.flip(1).argmax(1)
    empty = nonzero.sum(1) == 0
    return torch.stack([torch.where(empty, 0, first), torch.where(empty, mask.shape[1], last)], 1)


def two_hot_codes(n_objects: int, dim: int) -> torch.Tensor:
    """``(n_objects, dim)``: a distinct two-hot code per object (TEM compresses 45 objects to 10 dims)."""
    pairs = list(itertools.combinations(range(dim), 2))
    if n_objects > len(pairs):
        raise ValueError(f"a two-hot code of {dim} dims has only {len(pairs)} codes, fewer than {n_objects} objects")
    codes = torch.zeros(n_objects, dim)
    for row, (i, j) in enumerate(pairs[:n_objects]):
        codes[row, i] = codes[row, j] = 1.0
    return codes


class BlockMLP(nn.Module):
    """One two-layer MLP per module (``in_sizes[f] -> hidden_sizes[f] -> out_sizes[f]``), computed
    together as block-diagonal matrices. Xavier-normal weights per block, zero biases.
    ``(..., sum(in_sizes)) -> (..., sum(out_sizes))``."""

    def __init__(self, in_sizes, hidden_sizes, out_sizes, hidden_activation=F.elu, out_activation=None,
                 out_std: float | None = None):
        super().__init__()
        self.hidden_activation, self.out_activation = hidden_activation, out_activation
        self.register_buffer("mask1", block_mask(hidden_sizes, in_sizes), persistent=False)
        self.register_buffer("mask2", block_mask(out_sizes, hidden_sizes), persistent=False)
        # the columns each row of the masked weights can use (the fused window kernel skips the rest)
        self.register_buffer("spans1", row_spans(self.mask1), persistent=False)
        self.register_buffer("spans2", row_spans(self.mask2), persistent=False)
        self.w1 = nn.Parameter(self._init(hidden_sizes, in_sizes))
        self.w2 = nn.Parameter(self._init(out_sizes, hidden_sizes, out_std))
        self.b1 = nn.Parameter(torch.zeros(sum(hidden_sizes)))
        self.b2 = nn.Parameter(torch.zeros(sum(out_sizes)))

    @staticmethod
    def _init(rows, cols, std=None) -> torch.Tensor:
        blocks = []
        for r, c in zip(rows, cols):
            block = torch.empty(r, c)
            if std is None:
                nn.init.normal_(block, std=math.sqrt(2.0 / (r + c)))
            else:
                nn.init.trunc_normal_(block, std=std, a=-2 * std, b=2 * std)
            blocks.append(block)
        return torch.block_diag(*blocks)

    def weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The masked weight matrices; compute once per window and pass to :meth:`apply`."""
        return self.w1 * self.mask1, self.w2 * self.mask2

    def apply(self, x: torch.Tensor, weights: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        hidden = self.hidden_activation(F.linear(x, weights[0], self.b1))
        out = F.linear(hidden, weights[1], self.b2)
        return out if self.out_activation is None else self.out_activation(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.apply(x, self.weights())


class Transition(nn.Module):
    """Path-integration weights ``D(a)``: ``g_t = clamp(g_{t-1} + g_{t-1} D(a_t), -1, 1)``.

    Per module an MLP (one-hot action -> ``hidden`` tanh units -> flattened ``D`` block, output
    layer zero-initialised and bias-free, so path integration starts as the identity). Module
    ``f_to`` receives input only from modules ``f_from >= f_to`` (same or lower frequency): its
    output layer ``out[f_to]`` has one row per connected entry of ``D`` (the unconnected ones are
    never stored, so the optimiser does not carry them).
    Stay actions and "no action" have the all-zero action vector.
    """

    def __init__(self, n_actions: int, g_sizes: tuple[int, ...], hidden: int = 20, stay_actions: tuple[int, ...] = ()):
        super().__init__()
        self.n_actions, self.G, self.g_sizes, self.hidden_size = n_actions, sum(g_sizes), tuple(g_sizes), hidden
        n_modules = len(g_sizes)
        self.hidden = nn.Linear(n_actions, n_modules * hidden)
        nn.init.xavier_normal_(self.hidden.weight)
        nn.init.zeros_(self.hidden.bias)
        starts = [sum(g_sizes[:f]) for f in range(n_modules)]
        # out[f]: (rows from modules f.. (G - start_f) x g_f columns of module f, hidden)
        self.out = nn.ParameterList([nn.Parameter(torch.zeros((self.G - starts[f]) * g_sizes[f], hidden))
                                     for f in range(n_modules)])
        inputs = torch.eye(n_actions + 1)[:, :n_actions]  # row n_actions: the zero vector
        for a in stay_actions:
            inputs[a] = 0.0
        self.register_buffer("inputs", inputs, persistent=False)

    def matrices(self) -> torch.Tensor:
        """``(G, (n_actions + 1) * G)``: ``[D(0) | D(1) | ...]`` side by side; the last is for the zero vector."""
        hidden = torch.tanh(self.hidden(self.inputs)).view(-1, len(self.g_sizes), self.hidden_size)  # (A + 1, F, h)
        columns = []
        for f, (g, out) in enumerate(zip(self.g_sizes, self.out)):
            block = (hidden[:, f] @ out.t()).view(-1, self.G - sum(self.g_sizes[:f]), g)  # (A + 1, rows, g_f)
            columns.append(F.pad(block, (0, 0, self.G - block.shape[1], 0)))  # zero rows of higher frequencies
        D = torch.cat(columns, 2)  # (A + 1, G_from, G_to)
        return D.permute(1, 0, 2).reshape(self.G, -1)
