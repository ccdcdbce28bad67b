"""MEC position code: an action-dependent recurrent update ``e_t = f(W_{a_t} e_{t-1})``."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ACTION_MATRICES = ("free", "orthogonal", "orthogonal_tied", "commuting")
NORMS = ("none", "layernorm", "l2")


class PositionCode(nn.Module):
    """Path integration with one learned ``(d, d)`` matrix per action.

    Args:
        n_actions: number of actions ``A``.
        module_sizes: sizes of the modules the code is split into; matrices are block-diagonal
            (no mixing between modules) and the normalisation acts per module. ``d = sum``.
        action_matrices: how each action's matrix is parametrised:
            ``"free"`` any matrix (the paper's form; drifts on long walks without a normalisation),
            ``"orthogonal"`` ``W_a = exp(S_a - S_a^T)``, norm-preserving,
            ``"orthogonal_tied"`` orthogonal and, for each pair of inverse actions (N/S, E/W),
            ``W_inverse = W_a^T`` so that a step and its inverse cancel exactly,
            ``"commuting"`` every ``W_a`` rotates the same fixed planes (pairs of units) by learned
            angles, inverse actions by the opposite angles: the actions commute, as translations
            do, and the code is a set of phases (the irreducible representations of a 2D
            translation group; Dorrell et al. 2023). Needs even module sizes; a window is one
            cumulative sum of angles, no per-step loop.
        displacements: ``(A, 2)`` step of each action on the plane (``World.displacements``), or
            None. With ``"commuting"`` each plane then learns a 2D spatial frequency ``w`` and
            action ``a`` rotates it by ``step_a . w``: the code represents the world's lattice
            exactly (a step north then east equals east then north, three hex steps at 120
            degrees return home); without it each action learns its own angles.
        module_scale, module_ratio: with ``"commuting"``, module ``m`` starts with wavelengths of
            ``module_scale * module_ratio^m`` steps (grid modules in rats are ~1.4x apart).
        fixed_wavelengths: with ``"commuting"`` and ``displacements``, keep those wavelengths and
            learn only each plane's direction (the modules' spacings are then set, not learned).
        inverse_actions: ``(A,)`` ids of each action's inverse, -1 for none (from the world).
        stay_actions: ids of actions that leave the agent in place; their matrix is the identity.
        norm: ``f``: ``"none"``, ``"layernorm"`` (fixed-weight layer norm, as in the paper) or
            ``"l2"`` (unit norm per module times a learned scale).
    """

    def __init__(self, n_actions: int, module_sizes: Sequence[int] = (32,), action_matrices: str = "orthogonal_tied",
                 inverse_actions: Sequence[int] = (), stay_actions: Sequence[int] = (), norm: str = "none",
                 displacements: Sequence[Sequence[float]] | None = None, module_scale: float = 4.0,
                 module_ratio: float = 1.5, fixed_wavelengths: bool = False):
        super().__init__()
        if action_matrices not in ACTION_MATRICES:
            raise ValueError(f"action_matrices must be one of {ACTION_MATRICES}, got {action_matrices!r}")
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        if not module_sizes or min(module_sizes) < 1:
            raise ValueError(f"module_sizes must be positive integers, got {tuple(module_sizes)}")
        self.n_actions, self.action_matrices, self.norm = n_actions, action_matrices, norm
        self.module_sizes = tuple(int(s) for s in module_sizes)
        self.dim = d = sum(self.module_sizes)
        inverse = list(inverse_actions) or [-1] * n_actions
        self.stay_actions = tuple(stay_actions)
        # Which parameter matrix each action uses, and whether it uses its transpose.
        source, transposed = list(range(n_actions)), [False] * n_actions
        if not module_scale > 0 or not module_ratio > 0:
            raise ValueError(f"module_scale and module_ratio must be > 0, got {module_scale}, {module_ratio}")
        if fixed_wavelengths and (action_matrices != "commuting" or displacements is None):
            raise ValueError("fixed_wavelengths needs action_matrices='commuting' on a world with displacements "
                             "(a grid world): only that code has wavelengths")
        if action_matrices == "commuting" and any(s % 2 for s in self.module_sizes):
            raise ValueError(f"action_matrices='commuting' needs even module sizes, got {self.module_sizes}")
        if action_matrices in ("orthogonal_tied", "commuting"):
            for a, b in enumerate(inverse):
                if 0 <= b < a and inverse[b] == a:
                    source[a], transposed[a] = b, True
        self.register_buffer("source", torch.tensor(source), persistent=False)
        self.register_buffer("transposed", torch.tensor(transposed), persistent=False)
        block = torch.block_diag(*[torch.ones(s, s) for s in self.module_sizes])
        self.register_buffer("block_mask", block, persistent=False)
        self.register_buffer("displacements", None, persistent=False)
        self.register_buffer("wavenumber", None, persistent=False)
        if action_matrices == "commuting":
            wavelength = torch.cat([torch.full((s // 2,), module_scale * module_ratio ** m)
                                    for m, s in enumerate(self.module_sizes)])
            if displacements is not None:  # a 2D spatial frequency per plane: angle_a = step_a . frequency
                self.register_buffer("displacements", torch.tensor(np.array(displacements, dtype=np.float32)),
                                     persistent=False)
                direction = torch.rand(d // 2) * 2 * torch.pi
                if fixed_wavelengths:
                    self.register_buffer("wavenumber", 2 * torch.pi / wavelength, persistent=False)
                    self.direction = nn.Parameter(direction)
                else:
                    self.frequency = nn.Parameter(torch.stack([direction.cos(), direction.sin()], 1)
                                                  * (2 * torch.pi / wavelength)[:, None])
            else:  # a free angle per action and plane
                self.angle = nn.Parameter(torch.randn(n_actions, d // 2) * 2 * torch.pi / wavelength / 2 ** 0.5)
        else:
            if action_matrices == "free":
                init = torch.eye(d).repeat(n_actions, 1, 1) + 0.1 * torch.randn(n_actions, d, d) / d ** 0.5
            else:
                init = 0.5 * torch.randn(n_actions, d, d) / d ** 0.5
            self.weight = nn.Parameter(init * block)
        self.initial = nn.Parameter(torch.randn(d) / d ** 0.5 * 3)
        if norm == "l2":
            self.scale = nn.Parameter(torch.ones(len(self.module_sizes)))

    def frequencies(self) -> torch.Tensor:
        """``(d / 2, 2)`` the 2D spatial frequency of each plane (``"commuting"`` with displacements)."""
        if self.wavenumber is None:
            return self.frequency
        return torch.stack([self.direction.cos(), self.direction.sin()], 1) * self.wavenumber[:, None]

    def angles(self) -> torch.Tensor:
        """``(A + 1, d / 2)`` for ``"commuting"``: index 0 (no action) and stay actions are 0."""
        if self.displacements is not None:
            angle = self.displacements @ self.frequencies().T
        else:
            angle = torch.where(self.transposed[:, None], -self.angle[self.source], self.angle[self.source])
        if self.stay_actions:
            angle = angle.index_fill(0, torch.tensor(self.stay_actions, device=angle.device), 0.0)
        return torch.cat([torch.zeros_like(angle[:1]), angle], dim=0)

    def matrices(self) -> torch.Tensor:
        """``(A + 1, d, d)``: index 0 is the identity (no action), index ``a + 1`` is ``W_a``."""
        if self.action_matrices == "commuting":
            angle = self.angles()  # (A + 1, d / 2)
            cos, sin = angle.cos(), angle.sin()
            rotation = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
            return torch.stack([torch.block_diag(*r) for r in rotation])  # planes are units (2i, 2i + 1)
        weight = self.weight * self.block_mask
        if self.action_matrices != "free":
            weight = torch.linalg.matrix_exp(weight - weight.transpose(1, 2))
        weight = weight[self.source]
        weight = torch.where(self.transposed[:, None, None], weight.transpose(1, 2), weight)
        if self.stay_actions:
            stay = torch.zeros(self.n_actions, dtype=torch.bool, device=weight.device)
            stay[list(self.stay_actions)] = True
            weight = torch.where(stay[:, None, None], torch.eye(self.dim, device=weight.device), weight)
        identity = torch.eye(self.dim, device=weight.device, dtype=weight.dtype)[None]
        return torch.cat([identity, weight], dim=0)

    def normalise(self, code: torch.Tensor) -> torch.Tensor:
        """Apply ``f`` per module to ``code`` of shape ``(..., d)``."""
        if self.norm == "none":
            return code
        parts = code.split(self.module_sizes, dim=-1)
        if self.norm == "layernorm":
            return torch.cat([F.layer_norm(p, p.shape[-1:]) for p in parts], dim=-1)
        return torch.cat([F.normalize(p, dim=-1) * s for p, s in zip(parts, self.scale)], dim=-1)

    def initial_code(self, batch_size: int) -> torch.Tensor:
        """``(B, d)`` the learned code at the start of a walk."""
        return self.normalise(self.initial).expand(batch_size, -1)

    def forward(self, action: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        """Path-integrate a window.

        Args:
            action: ``(B, T)`` int64 action ids, -1 for "no action" (code unchanged).
            previous: ``(B, d)`` code before the window's first step.
        Returns:
            ``(B, T, d)`` the code at each step.
        """
        if self.action_matrices == "commuting":
            return self._rotate(action, previous)
        operators = self.operators()
        code, codes = previous, []
        for step_action in action.unbind(1):
            code = self.step(step_action, code, operators)
            codes.append(code)
        return torch.stack(codes, dim=1)

    def operators(self) -> torch.Tensor:
        """What :meth:`step` applies, computed once per window: the angles ``(A + 1, d / 2)``
        (``"commuting"``) or every action's matrix side by side, ``(d, (A + 1) d)``."""
        if self.action_matrices == "commuting":
            return self.angles()
        return self.matrices().transpose(1, 2).permute(1, 0, 2).reshape(self.dim, -1)

    def step(self, action: torch.Tensor, code: torch.Tensor, operators: torch.Tensor) -> torch.Tensor:
        """One step of path integration: ``action (B,)`` int64 (-1: none), ``code (B, d)`` -> ``(B, d)``."""
        if self.action_matrices == "commuting":
            phase = operators[action + 1]  # (B, d / 2)
            cos, sin = phase.cos(), phase.sin()
            x, y = code.view(-1, self.dim // 2, 2).unbind(-1)
            return self.normalise(torch.stack([cos * x - sin * y, sin * x + cos * y], dim=-1).flatten(1))
        # One product gives the next code under every action; the walk's action picks one.
        candidates = (code @ operators).view(-1, self.n_actions + 1, self.dim)  # (B, A + 1, d)
        index = (action + 1)[:, None, None].expand(-1, 1, self.dim)  # (B, 1, d)
        return self.normalise(candidates.gather(1, index).squeeze(1))

    def _rotate(self, action: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        """Commuting actions: the code after ``t`` steps is ``previous`` rotated, plane by plane, by
        the sum of the angles of the steps so far."""
        angles = self.angles()  # (A + 1, d / 2)
        # each step's angles as a product with its one-hot action: the same values as indexing, and its
        # gradient is one more product (indexing's backward accumulates B x T rows into A + 1 serially)
        phase = (F.one_hot(action + 1, len(angles)).to(angles.dtype) @ angles).cumsum(dim=1)  # (B, T, d / 2)
        cos, sin = phase.cos(), phase.sin()
        x, y = previous.view(-1, 1, self.dim // 2, 2).unbind(-1)  # (B, 1, d / 2) each
        code = torch.stack([cos * x - sin * y, sin * x + cos * y], dim=-1).flatten(2)
        return self.normalise(code)
