"""MEC cells: a population read out from the position code, module by module, under the
constraints that make grid cells optimal (Dorrell, Latham, Behrens & Whittington, ICLR 2023).

The position code ``e`` path-integrates (``tem.position``); the cells are ``g_m = W_m e_m + b_m``
for each module ``m``. Because the readout is linear, each action still acts on the cells as a
fixed linear map (the code stays *actionable*). Non-negative firing is asked of them with a
penalty (``"linear"``) or imposed by a rectifier (``"relu"``), and the activity budget scales each
module's cells to a fixed total activity at every position: a cell can then spend its activity on
position-dependent firing only by keeping its baseline, needed to stay non-negative, small.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = ("linear", "relu")


class CellReadout(nn.Module):
    """``cells_per_module`` cells per module of a position code with ``module_sizes``.

    Args:
        module_sizes: sizes of the position-code modules; cells of module ``m`` read only its units.
        cells_per_module: cells per module (``n_cells = cells_per_module * len(module_sizes)``).
        activation: ``"linear"`` (actionable; non-negativity from :meth:`negativity`) or ``"relu"``.
        budget: scale each module's cells to mean square 1 at every position (a fixed energy).
    """

    def __init__(self, module_sizes: Sequence[int], cells_per_module: int, activation: str = "linear",
                 budget: bool = True):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"cell activation must be one of {ACTIVATIONS}, got {activation!r}")
        if cells_per_module < 1:
            raise ValueError(f"cells_per_module must be >= 1, got {cells_per_module}")
        self.module_sizes, self.cells_per_module = tuple(module_sizes), cells_per_module
        self.activation, self.budget = activation, budget
        self.n_cells = cells_per_module * len(self.module_sizes)
        block = torch.block_diag(*[torch.ones(cells_per_module, s) for s in self.module_sizes])
        self.register_buffer("block_mask", block, persistent=False)  # (n_cells, d)
        scale = torch.cat([torch.full((s,), s ** -0.5) for s in self.module_sizes])
        self.weight = nn.Parameter(torch.randn(self.n_cells, len(scale)) * scale * block)
        self.bias = nn.Parameter(torch.ones(self.n_cells))

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        """``code (..., d)`` -> cells ``(..., n_cells)``."""
        cells = F.linear(code, self.weight * self.block_mask, self.bias)
        if self.activation == "relu":
            cells = F.relu(cells)
        if self.budget:
            modules = cells.unflatten(-1, (len(self.module_sizes), self.cells_per_module))
            rms = modules.pow(2).mean(-1, keepdim=True).add(1e-6).sqrt()
            cells = (modules / rms).flatten(-2)
        return cells

    @staticmethod
    def negativity(cells: torch.Tensor) -> torch.Tensor:
        """Mean squared negative firing of ``cells`` (the non-negativity penalty)."""
        return F.relu(-cells).pow(2).mean()
