"""Position inference: "where am I, given what I see?"

After observing ``x_t`` the model queries what it stored during the walk with the sensation (the
memory value ``v_t``) and with where it thinks it is (the path-integrated code ``p_t``): every
stored step ``tau`` scores ``beta_x cos(v_t, v_tau) + beta_e cos(p_t, e_tau)``, and the softmax over
those scores retrieves a stored code ``e_mem``. A learned gate, driven by how well the retrieved
memories agree with the sensation and with the path-integrated code, and by how near the
path-integrated code is to any stored code (a known place), merges them:
``e_t = norm-kept((1 - g_t) p_t + g_t e_mem)``. The corrected ``e_t`` is what the model carries to
``t + 1`` and what it stores, so a code that drifted, wrapped around a torus or took a many-to-one
step snaps back to where the same object was seen before. The prediction at ``t`` uses ``p_t``
(made before ``x_t`` is seen): inference keeps the model causal.

Backtracking (``backtrack``): a move that undoes the last undoable move of the walk (by the world's
declared inverses, e.g. a tree's parent after a child) returns exactly to the corrected code held
before that move. Matrices alone cannot: one parent matrix would have to return to the same code from
every child, which forces siblings' codes together, and then a sibling that shows the same object
looks like a revisit. The undoable moves form a stack per walk; a move that neither undoes its top nor
can be undone (nor stays in place) clears it.

State (carried between windows, like a memory): ``sense (B, M, D)`` unit sensations,
``code (B, M, d)`` corrected codes, ``valid (B, M)`` bool; the trail of undoable moves, a stack:
``trail_code (B, K, d)``, ``trail_action (B, K)`` int64 and ``trail_depth (B,)`` int64 (moves held).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tem.memory.base import oldest_in_use


class PositionInference(nn.Module):
    """Corrects a path-integrated code with the codes stored where the same sensation was seen.

    Args:
        beta_sense, beta_code: initial inverse temperatures (learned) of the sensory and the
            positional agreement in the retrieval scores.
        inverse_actions: ``(A,)`` the action that undoes each action (-1: none), from the world.
        stay_actions: actions that leave the agent in place (they leave the trail alone).
        backtrack: return exactly along the trail of undoable moves (see the module docstring).
    """

    TRAIL = 16
    """undoable moves remembered for backtracking (a deeper run starts the trail afresh)."""

    def __init__(self, beta_sense: float = 8.0, beta_code: float = 2.0, inverse_actions=(), stay_actions=(),
                 backtrack: bool = False):
        super().__init__()
        if backtrack and not len(inverse_actions):
            raise ValueError("backtracking needs the world's inverse_actions (which move undoes which)")
        self.backtrack = backtrack
        undone_by = torch.tensor(list(inverse_actions) or [-1], dtype=torch.long)  # (A,)
        self.register_buffer("undone_by", undone_by, persistent=False)
        stays = torch.zeros(len(undone_by), dtype=torch.bool)
        stays[list(stay_actions)] = True
        self.register_buffer("stays", stays, persistent=False)
        self.register_buffer("trail_slots", torch.arange(self.TRAIL), persistent=False)
        if not beta_sense > 0 or not beta_code > 0:
            raise ValueError(f"inference betas must be > 0, got {beta_sense}, {beta_code}")
        self.log_beta = nn.Parameter(torch.tensor([math.log(beta_sense), math.log(beta_code)]))
        # The gate's features: how well the retrieved memories agree with the sensation and with the
        # path-integrated code, and how near that code is to any stored code (a known place). At the
        # start a sensory match alone hardly opens it (sigmoid(6 - 11)): a new node whose object was
        # seen at another node should keep its path; with positional support it opens (sigmoid(1)).
        self.gate_weight = nn.Parameter(torch.tensor([6.0, 3.0, 3.0]))
        self.gate_bias = nn.Parameter(torch.tensor(-11.0))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Checkpoints from before the known-place feature hold a 2-element gate weight; with 0 on the
        new feature they compute exactly what they computed."""
        weight = state_dict.get(prefix + "gate_weight")
        if weight is not None and weight.shape == (2,):
            state_dict[prefix + "gate_weight"] = torch.cat([weight, weight.new_zeros(1)])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @classmethod
    def initial_state(cls, batch_size: int, sense_dim: int, code_dim: int, device="cpu") -> dict:
        return {"sense": torch.zeros(batch_size, 0, sense_dim, device=device),
                "code": torch.zeros(batch_size, 0, code_dim, device=device),
                "valid": torch.zeros(batch_size, 0, dtype=torch.bool, device=device),
                **cls._empty_trail(batch_size, code_dim, device)}

    @classmethod
    def _empty_trail(cls, batch_size: int, code_dim: int, device) -> dict:
        return {"trail_code": torch.zeros(batch_size, cls.TRAIL, code_dim, device=device),
                "trail_action": torch.full((batch_size, cls.TRAIL), -1, dtype=torch.long, device=device),
                "trail_depth": torch.zeros(batch_size, dtype=torch.long, device=device)}

    @staticmethod
    def reset(state: dict, slots: torch.Tensor) -> dict:
        out = {**state, "valid": state["valid"] & ~slots[:, None]}
        if "trail_depth" in state:
            out["trail_depth"] = state["trail_depth"] * ~slots
        return out

    def _backtrack_plan(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """What each move of ``action (B, T)`` does to the trail unless it undoes its last move:
        ``(undoable, clears)`` ``(B, T)`` bool (an undoable move is pushed; a move that neither can be
        undone nor stays in place clears the trail)."""
        moving, kind = action >= 0, action.clamp(min=0)
        undoable = moving & (self.undone_by[kind] >= 0)
        return undoable, moving & ~undoable & ~self.stays[kind]

    def _backtrack(self, action: torch.Tensor, undoable: torch.Tensor, clears: torch.Tensor,
                   previous: torch.Tensor, trail: dict) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """One step: whether ``action (B,)`` undoes the last move on the trail, the code held before
        that move ``(B, d)``, and the trail after the step (``previous``, the corrected code before the
        move, pushed where the move is undoable). A push onto a full trail (``TRAIL`` moves) starts it
        afresh: the moves it held are then undone by the matrices."""
        codes, actions, depth = trail["trail_code"], trail["trail_action"], trail["trail_depth"]
        K = len(self.trail_slots)
        top = (depth - 1).clamp(min=0)  # (B,) the slot of the last move
        top_action = actions.gather(1, top[:, None])[:, 0]
        before = codes.gather(1, top[:, None, None].expand(-1, 1, codes.shape[2]))[:, 0]
        undoing = (depth > 0) & (action >= 0) & (action == self.undone_by[top_action.clamp(min=0)])
        push = undoable & ~undoing
        depth = torch.where(push & (depth >= K), 0, depth)
        slot = (self.trail_slots == depth[:, None]) & push[:, None]  # (B, K)
        after = {"trail_code": torch.where(slot[..., None], previous[:, None, :], codes),
                 "trail_action": torch.where(slot, action[:, None], actions),
                 "trail_depth": torch.where(clears & ~undoing, 0, depth + push.long() - undoing.long())}
        return undoing, before, after

    def forward(self, position, action: torch.Tensor, previous: torch.Tensor, sense: torch.Tensor,
                state: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        """Path-integrate a window with a correction at every step.

        Args:
            position: the :class:`tem.position.PositionCode` that makes a step.
            action: ``(B, T)`` int64. previous: ``(B, d)`` corrected code before the window.
            sense: ``(B, T, D)`` the sensation at each step (the memory values).
            state: the stored sensations and codes before the window (after resets).
        Returns:
            ``path (B, T, d)`` the path-integrated codes (what predictions use), ``code (B, T, d)``
            the corrected ones, ``gate (B, T)`` and the state after the window.
        """
        B, T = action.shape
        unit = F.normalize(sense, dim=-1)  # (B, T, D)
        beta_sense, beta_code = self.log_beta.exp()
        # The sensory part of every score is known before the loop: carried and earlier steps.
        carried = torch.bmm(unit, state["sense"].transpose(1, 2))  # (B, T, M)
        own = torch.bmm(unit, unit.transpose(1, 2))  # (B, T, T)
        earlier = torch.ones(T, T, dtype=torch.bool, device=action.device).tril(-1)
        sense_cos = torch.cat([carried, own], dim=2)  # (B, T, M + T)
        # one row per step (indexing the whole tensor at every step would make its backward fill a
        # zero (B, T, M + T) gradient per step: half the step's time)
        sense_rows = sense_cos.unbind(1)
        visible = torch.cat([state["valid"][:, None, :].expand(-1, T, -1), earlier.expand(B, -1, -1)], dim=2)
        operators = position.operators()
        carried_codes = state["code"]  # (B, M, d)
        carried_units = F.normalize(carried_codes, dim=-1)
        M = carried_codes.shape[1]
        code, paths, codes, units, gates = previous, [], [], [], []
        trail = {key: state[key] for key in ("trail_code", "trail_action", "trail_depth") if key in state}
        if self.backtrack:
            if not trail:  # a state from before the trail
                trail = self._empty_trail(B, previous.shape[-1], previous.device)
            undoable, clears = self._backtrack_plan(action)  # (B, T) each
        for t in range(T):
            path = position.step(action[:, t], code, operators)  # (B, d)
            if self.backtrack:
                undoing, before, trail = self._backtrack(action[:, t], undoable[:, t], clears[:, t], code, trail)
                path = torch.where(undoing[:, None], before, path)
            unit_path = F.normalize(path, dim=-1)[:, None, :]  # (B, 1, d)
            # elementwise products, not bmm: batched matrix-vector products are slow on CPUs
            code_cos = (carried_units * unit_path).sum(-1)  # (B, M)
            if t:
                window_codes, window_units = torch.stack(codes, 1), torch.stack(units, 1)  # (B, t, d)
                code_cos = torch.cat([code_cos, (window_units * unit_path).sum(-1)], 1)  # (B, M + t)
            sense_t, seen = sense_rows[t][:, :M + t], visible[:, t, :M + t]
            scores = (beta_sense * sense_t + beta_code * code_cos).masked_fill(~seen, -1e9)
            anything = seen.any(-1)  # (B,) a slot with nothing stored yet keeps its path
            weights = torch.softmax(scores, dim=-1) * anything[:, None]
            retrieved = (weights[:, :M, None] * carried_codes).sum(1)  # (B, d)
            if t:
                retrieved = retrieved + (weights[:, M:, None] * window_codes).sum(1)
            known = (code_cos.masked_fill(~seen, -1.0).amax(-1) * anything if code_cos.shape[1]
                     else path.new_zeros(B))  # (B,) cosine of the path code to its nearest stored code
            agreement = torch.stack([(weights * sense_t).sum(-1), (weights * code_cos).sum(-1), known], -1)  # (B, 3)
            gate = torch.sigmoid(agreement @ self.gate_weight + self.gate_bias) * anything  # (B,)
            mixed = (1 - gate[:, None]) * path + gate[:, None] * retrieved
            code = mixed * (path.norm(dim=-1, keepdim=True) / mixed.norm(dim=-1, keepdim=True).clamp(min=1e-6))
            paths.append(path)
            codes.append(code)
            units.append(F.normalize(code, dim=-1))
            gates.append(gate)
        code = torch.stack(codes, 1)
        new_state = {"sense": torch.cat([state["sense"], unit], 1), "code": torch.cat([state["code"], code], 1),
                     "valid": torch.cat([state["valid"], torch.ones(B, T, dtype=torch.bool, device=code.device)], 1)}
        return torch.stack(paths, 1), code, torch.stack(gates, 1), {**_trim(new_state), **trail}


def _trim(state: dict) -> dict:
    """Drop the oldest stored steps that no slot can read any more."""
    first = oldest_in_use(state["valid"])
    return {key: value[:, first:] for key, value in state.items()} if first else state
