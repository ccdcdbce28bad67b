"""TEM-t (Whittington, Warren & Behrens, ICLR 2022): path integration + an attention hippocampus."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from tem.memory import MemoryState, make_memory
from tem.cells import CellReadout
from tem.memory.base import map_state
from tem.position import PositionCode
from tem.sensory import SensoryCode


@dataclass(frozen=True)
class TEMtConfig:
    """Architecture of a TEM-t model (the world fills ``n_actions`` and the action structure)."""

    n_objects: int = 45
    """number of object ids the model predicts."""
    n_actions: int = 4
    """number of actions of the world family."""
    inverse_actions: tuple[int, ...] = ()
    """inverse of each action (-1: none); used by ``action_matrices='orthogonal_tied'``."""
    stay_actions: tuple[int, ...] = ()
    """actions whose matrix is fixed to the identity."""
    displacements: tuple[tuple[float, float], ...] = ()
    """step of each action on the plane (from the world; empty for graphs), used by 'commuting'."""
    module_sizes: tuple[int, ...] = (32,)
    """sizes of the position-code modules (block-diagonal action matrices)."""
    action_matrices: str = "orthogonal_tied"
    """free | orthogonal | orthogonal_tied | commuting (see tem.position.PositionCode)."""
    module_scale: float = 4.0
    """commuting: initial wavelength (steps) of the first module's planes."""
    module_ratio: float = 1.5
    """commuting: ratio of successive modules' initial wavelengths."""
    fixed_wavelengths: bool = False
    """commuting with displacements: keep the initial wavelengths, learn only the directions."""
    norm: str = "none"
    """normalisation f of the position code: none | layernorm | l2."""
    cells_per_module: int = 0
    """MEC cells read out per position-code module (0: the code's units are the MEC cells; see tem.cells)."""
    cell_activation: str = "linear"
    """linear | relu: the cells' readout (linear keeps them actionable)."""
    cell_budget: bool = True
    """scale each module's cells to a fixed total activity at every position."""
    nonneg_weight: float = 0.0
    """weight of the penalty on negative firing of the MEC cells (mean squared negative part)."""
    sensory_dim: int = 32
    """dimension of the sensory (LEC) embedding and of the memory values."""
    key_dim: int = 32
    """dimension of memory keys and queries."""
    tie_query_key: bool = True
    """use one projection for queries and keys (q_t = k_t for the same position code)."""
    memory: str = "attention"
    """hippocampal memory backend."""
    beta: float = 1.0
    """initial inverse temperature of the memory read."""
    log_scale: bool = True
    """multiply beta by log(1 + number of memories)."""
    memory_cap: int = 0
    """keep at most this many recent memories (0: the whole walk)."""
    sdm_neurons: int = 4096
    """SDM memory: number of neurons (fixed random addresses in key space)."""
    sdm_activation: str = "topk"
    """SDM memory: topk | threshold | binary (see tem.memory.sdm.SDMMemory)."""
    sdm_top_k: int = 16
    """SDM memory: neurons a key or query activates with activation 'topk'."""
    sdm_radius: float = 12.0
    """SDM memory: Hamming radius d for 'binary'; cosine threshold 1 - 2 d / key_dim for 'threshold'."""
    sdm_beta: float = 16.0
    """SDM memory: initial beta of the active neurons' weights exp(beta (cos - 1))."""
    sdm_learn_addresses: bool = False
    """SDM memory: train the neuron addresses (fixed random in Kanerva's SDM)."""


class ModelOutput(NamedTuple):
    """``logits (B, T, n_objects)``, ``position (B, T, n_mec)`` MEC cells, ``memory_activity``
    ``(B, T, n_units)`` or None, and the state after the window."""

    logits: torch.Tensor
    position: torch.Tensor
    memory_activity: torch.Tensor | None
    state: dict


class TEMt(nn.Module):
    """Predicts the object at each step from the position code and the memories of the walk.

    At step ``t``: ``e_t = f(W_{a_t} e_{t-1})``, query ``q_t = W_q e_t`` reads the memories of steps
    ``< t``, logits come from the read, then ``(k_t = W_k e_t, v_t = W_v x_t)`` is written.
    """

    def __init__(self, config: TEMtConfig):
        super().__init__()
        self.config = config
        self.position = PositionCode(config.n_actions, config.module_sizes, config.action_matrices,
                                     config.inverse_actions, config.stay_actions, config.norm,
                                     config.displacements or None, config.module_scale, config.module_ratio,
                                     config.fixed_wavelengths)
        self.sensory = SensoryCode(config.n_objects, config.sensory_dim)
        d = self.position.dim
        self.cells = None
        if config.cells_per_module:
            self.cells = CellReadout(config.module_sizes, config.cells_per_module, config.cell_activation,
                                     config.cell_budget)
            d = self.cells.n_cells
        self.key = nn.Linear(d, config.key_dim, bias=False)
        self.query = self.key if config.tie_query_key else nn.Linear(d, config.key_dim, bias=False)
        self.value = nn.Linear(config.sensory_dim, config.sensory_dim, bias=False)
        self.memory = make_memory(config.memory, config.key_dim, config.sensory_dim, beta=config.beta,
                                  log_scale=config.log_scale, cap=config.memory_cap, sdm_neurons=config.sdm_neurons,
                                  sdm_activation=config.sdm_activation, sdm_top_k=config.sdm_top_k,
                                  sdm_radius=config.sdm_radius, sdm_beta=config.sdm_beta,
                                  sdm_learn_addresses=config.sdm_learn_addresses)
        self.readout = nn.Linear(config.sensory_dim, config.n_objects)

    def initial_state(self, batch_size: int, device="cpu") -> dict:
        """State of ``batch_size`` slots that all start a new walk."""
        return {"position": self.position.initial_code(batch_size).detach().to(device),
                "memory": self.memory.initial_state(batch_size, device)}

    @staticmethod
    def detach_state(state: dict) -> dict:
        """Cut the autograd graph between truncated-BPTT windows."""
        return map_state(torch.Tensor.detach, state)

    def losses(self, output: ModelOutput, obs: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        """Named losses of a window; ``"total"`` is the one to minimise. ``obs``: ``(B, T)``."""
        cross_entropy = F.cross_entropy(output.logits.flatten(0, 1), obs.flatten())
        losses = {"total": cross_entropy, "cross_entropy": cross_entropy}
        if self.config.nonneg_weight:
            losses["negativity"] = CellReadout.negativity(output.position)
            losses["total"] = losses["total"] + self.config.nonneg_weight * losses["negativity"]
        return losses

    def forward(self, obs: torch.Tensor, action: torch.Tensor, new_world: torch.Tensor, state: dict,
                return_activity: bool = False) -> ModelOutput:
        """Run one window.

        Args:
            obs: ``(B, T)`` int64 object ids. action: ``(B, T)`` int64, -1 at a walk's first step.
            new_world: ``(B,)`` bool, slots whose walk starts at this window (their state is reset).
            state: from :meth:`initial_state` or the previous window.
        """
        B = obs.shape[0]
        previous = torch.where(new_world[:, None], self.position.initial_code(B), state["position"])
        memory_state: MemoryState = self.memory.reset(state["memory"], new_world)
        position = self.position(action, previous)  # (B, T, d)
        cells = position if self.cells is None else self.cells(position)  # (B, T, n_mec)
        value = self.value(self.sensory(obs))  # (B, T, sensory_dim)
        out = self.memory(self.query(cells), self.key(cells), value, memory_state, return_activity)
        logits = self.readout(out.read)  # (B, T, n_objects)
        return ModelOutput(logits, cells, out.activity,
                           {"position": position[:, -1], "memory": out.state})
