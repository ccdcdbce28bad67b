"""Loop closure: a lattice code that learns, within a walk, the translations that map its world onto itself.

A commuting position code (:class:`tem.position.PositionCode` with ``"commuting"`` matrices) is a set
of phases: every place of a lattice has its own code, and a translation by ``delta`` rotates each
plane by a fixed angle. On a torus the code cannot know the world's side in advance: after walking
once around, the agent is back where it was, but at a code it has never stored, and everything it
saw there looks new. This module finds the side the first time the walk wraps, as an ideal observer
would, and from then on keeps the code on the places it stored:

1. **Places.** Every distinct code the walk reaches (cosine similarity below ``match`` with all the
   stored ones) is stored once, with the object seen there.
2. **Proposals.** At a new code, each stored place where the same object was seen proposes the
   translation ``delta = angle(place) - angle(code)`` (per plane): "I am where I saw this before".
3. **Tests.** At later steps, each candidate translation, both ways, is tested wherever the
   translated code is a stored place: a hit when that place showed the object seen now, a miss (and
   the candidate is dropped) otherwise. Tests are made only at a code reached for the first time,
   so each pair of places counts once (not again at every revisit). A chance hit has probability
   ``1 / n_objects``, so each hit adds ``log(n_objects)`` to the candidate's evidence.
4. **Acceptance.** A candidate whose evidence reaches ``log(1 / false_accept)`` is a translation of
   the world onto itself (on a torus, a side). From the next step on, when the code is at no stored
   place but the code translated by an accepted translation (or a sum of two) is, the code snaps
   there: the walk is back on the places it knows, and predictions read the memories stored there.

Nothing here is learned, and nothing is done with gradients; the snaps are constant rotations applied
to the path-integrated code, which stays differentiable. A snap at step ``t`` depends only on the
actions up to ``t`` and on what was observed before ``t``: the model stays causal. In a world that
never wraps (a bounded grid) no candidate survives its tests, and the code is the path-integrated
one.

State (carried between windows, reset with the walk): ``places (B, N, P, 2)`` unit codes as planes,
``objects (B, N)`` int64, ``stored (B, N)`` bool; candidate slots ``shift (B, H, P, 2)`` unit
rotations, ``evidence (B, H)``, ``born (B, H)`` int64, ``live``/``accepted (B, H)`` bool; ``step (B,)``
int64, the walk step.
"""
from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import torch
from torch import nn


class LoopClosure(nn.Module):
    """Finds the translations that map a lattice world onto itself, and snaps the code back onto the
    places it stored.

    Args:
        n_objects: object ids of the task (the chance of a hit is ``1 / n_objects``).
        slots: candidate translations held at once.
        match: cosine similarity above which two codes are one place.
        false_accept: chance that a wrong candidate is accepted (sets the evidence needed).
        proposals: candidates proposed per step at most (the most recently stored matches).
        generators: accepted translations (the best by evidence) that snaps use, alone and in pairs.
    """

    def __init__(self, n_objects: int, slots: int = 8, match: float = 0.99, false_accept: float = 1e-6,
                 proposals: int = 3, generators: int = 3):
        super().__init__()
        if n_objects < 2:
            raise ValueError(f"loop closure needs at least 2 object ids, got {n_objects}")
        if slots < 1 or proposals < 1 or generators < 1 or not 0 < match < 1 or not 0 < false_accept < 1:
            raise ValueError(f"bad loop-closure settings: slots={slots}, proposals={proposals}, match={match}, "
                             f"false_accept={false_accept}")
        self.slots, self.match, self.proposals, self.generators = slots, match, proposals, generators
        self.hit_evidence = math.log(n_objects)
        self.needed = -math.log(false_accept)

    def initial_state(self, batch_size: int, n_planes: int, device="cpu") -> dict:
        B, H, P = batch_size, self.slots, n_planes
        return {"places": torch.zeros(B, 0, P, 2, device=device),
                "objects": torch.zeros(B, 0, dtype=torch.long, device=device),
                "stored": torch.zeros(B, 0, dtype=torch.bool, device=device),
                "shift": torch.zeros(B, H, P, 2, device=device),
                "evidence": torch.zeros(B, H, device=device),
                "born": torch.zeros(B, H, dtype=torch.long, device=device),
                "live": torch.zeros(B, H, dtype=torch.bool, device=device),
                "accepted": torch.zeros(B, H, dtype=torch.bool, device=device),
                "step": torch.zeros(B, dtype=torch.long, device=device)}

    @staticmethod
    def reset(state: dict, slots: torch.Tensor) -> dict:
        keep = ~slots[:, None]
        return {**state, "places": state["places"] * keep[..., None, None], "stored": state["stored"] & keep,
                "live": state["live"] & keep, "accepted": state["accepted"] & keep, "step": state["step"] * ~slots}

    @torch.no_grad()
    def forward(self, path: torch.Tensor, obs: torch.Tensor, state: dict) -> tuple[torch.Tensor, dict]:
        """Snap a window of path-integrated codes.

        Args:
            path: ``(B, T, d)`` commuting codes, integrated from the (corrected) code before the window.
            obs: ``(B, T)`` int64, the object seen at each step.
            state: the state before the window (after resets).
        Returns:
            ``rotation (B, T, d / 2)`` complex unit rotations per plane: the corrected code at ``t`` is
            ``path[:, t]`` rotated by ``rotation[:, t]``; and the state after the window.

        The step loop runs in numpy on the host: its operations are on a few hundred numbers each, where
        numpy's overhead per operation is a half to a third of torch's (and a GPU's would be a kernel
        launch each); the window is copied to the host once and the results back.
        """
        device = path.device
        B, T, d = path.shape
        path = np.ascontiguousarray(path.detach().float().cpu().numpy())
        obs = obs.cpu().numpy()
        state = {key: np.ascontiguousarray(value.cpu().numpy()) for key, value in state.items()}
        norm = np.maximum(np.linalg.norm(path, axis=-1, keepdims=True), np.float32(1e-12))
        unit = _complex(path / norm)  # (B, T, P)
        # The walk's working memory. Room for T new places, and a spare last column that the rows
        # with nothing new write into.
        w = {"places": np.concatenate([state["places"].reshape(B, -1, d), np.zeros((B, T + 1, d), np.float32)], 1),
             "objects": np.concatenate([state["objects"], np.zeros((B, T + 1), np.int64)], 1),
             "stored": np.concatenate([state["stored"], np.zeros((B, T + 1), bool)], 1),
             "shift": _complex(state["shift"].reshape(B, -1, d)),  # (B, H, P)
             **{key: state[key] for key in ("evidence", "born", "live", "accepted")}}
        w["count"], step = w["stored"].sum(1), state["step"].copy()  # count: where the next new place goes
        rotation, rotations = np.ones((B, d // 2), np.complex64), []
        # Until a translation is accepted the codes are the path's, so which steps reach a new place
        # is known for the whole window at once (no stored place and no earlier step of the window
        # alike); steps where no slot does are skipped: all a bounded world ever has, once explored.
        closing = bool(w["accepted"].any())
        anything_new = None if closing else self._new_anywhere(unit, w["places"][:, :-T - 1])
        for t in range(T):
            if not closing and not anything_new[t]:
                rotations.append(rotation)
                step = step + 1
                continue
            code = unit[:, t] * rotation  # (B, P)
            if closing:
                code, move, new = self._snap(code, w)
                rotation = rotation * move
            else:
                new = self._nearest(code[:, None], _written(w))[0][:, 0] < self.match
            rotations.append(rotation)
            seen = obs[:, t]
            if new.any():
                self._test(code, seen, new, w)
                closing = closing or bool(w["accepted"].any())
                self._propose(code, seen, new, step, w)
            self._store(code, seen, new, w)
            step = step + 1
        stored = w["stored"]
        stored[:, -1] = False
        held = stored.any(0)
        last = int(np.flatnonzero(held)[-1]) + 1 if held.any() else 0  # the last column any slot holds
        new_state = {"places": w["places"][:, :last].reshape(B, last, d // 2, 2), "objects": w["objects"][:, :last],
                     "stored": stored[:, :last], "shift": _real(w["shift"]).reshape(B, -1, d // 2, 2), "step": step,
                     **{key: w[key] for key in ("evidence", "born", "live", "accepted")}}
        new_state = {key: torch.from_numpy(np.ascontiguousarray(value)).to(device) for key, value in new_state.items()}
        return torch.from_numpy(np.stack(rotations, 1)).to(device), new_state

    def _new_anywhere(self, unit: np.ndarray, before: np.ndarray) -> list[bool]:
        """For each step of a window of path codes ``unit (B, T, P)``: whether any slot reaches a code
        that neither the places stored before, ``before (B, N0, d)``, nor an earlier step has."""
        B, T, _ = unit.shape
        real = _real(unit)  # (B, T, d)
        known = (_bmm(real, before.transpose(0, 2, 1)).max(-1) >= self.match if before.shape[1]
                 else np.zeros((B, T), bool))
        earlier = np.tril(_bmm(real, real.transpose(0, 2, 1)) >= self.match, -1).any(-1)
        return (~known & ~earlier).any(0).tolist()

    def _snap(self, code: np.ndarray, w: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """At no stored place, but where an accepted translation (or a sum of two) leads to one, move
        there. Returns the code, the move made (1 where none) and whether the place is new, ``(B,)``."""
        B, P = code.shape
        A = min(self.generators, self.slots)
        rank = np.argsort(-np.where(w["accepted"], w["evidence"], np.float32(-1.0)), axis=1, kind="stable")[:, :A]
        generator = np.take_along_axis(w["shift"], rank[..., None], 1)  # (B, A, P) the best accepted
        usable = np.take_along_axis(w["accepted"], rank, 1)
        pairs = np.array(list(combinations(range(A), 2)), dtype=np.int64).reshape(-1, 2)
        first, second = generator[:, pairs[:, 0]], generator[:, pairs[:, 1]]  # (B, K, P)
        moves = np.concatenate([np.ones((B, 1, P), np.complex64), generator, generator.conj(), first * second,
                                first * second.conj(), first.conj() * second, (first * second).conj()], 1)  # (B, S, P)
        both = usable[:, pairs[:, 0]] & usable[:, pairs[:, 1]]
        allowed = np.concatenate([np.ones_like(usable[:, :1]), usable, usable, both, both, both, both], 1)  # (B, S)
        similarity = np.where(allowed, self._nearest(code[:, None] * moves, _written(w))[0], np.float32(-2.0))
        reaches = similarity >= self.match
        best = reaches.argmax(1)  # the first move that reaches a place (ties: a fixed order)
        rows = np.arange(B)
        snap = ~reaches[:, 0] & reaches[rows, best]
        move = np.where(snap[:, None], moves[rows, best], np.complex64(1))
        new = similarity[rows, np.where(snap, best, 0)] < self.match
        return code * move, move, new

    def _test(self, code: np.ndarray, seen: np.ndarray, new: np.ndarray, w: dict) -> None:
        """At a new place, test every live candidate, both ways, where it leads to a stored place
        (each pair of places is tested once, by the later of the two, so a chance coincidence is
        not counted again at every revisit): a hit adds evidence, a miss drops the candidate."""
        B, H = w["live"].shape
        shifts = np.concatenate([w["shift"], w["shift"].conj()], 1)
        tested, place = self._nearest(code[:, None] * shifts, _written(w))
        tested = (tested >= self.match) & np.concatenate([w["live"], w["live"]], 1) & new[:, None]  # (B, 2H)
        hit = np.take_along_axis(w["objects"], place, 1) == seen[:, None]
        hits = (tested & hit).reshape(B, 2, H).sum(1)
        w["evidence"] = w["evidence"] + hits.astype(np.float32) * np.float32(self.hit_evidence)
        w["live"] = w["live"] & ~(tested & ~hit).reshape(B, 2, H).any(1)
        w["accepted"] = w["live"] & (w["accepted"] | (w["evidence"] >= self.needed))

    def _propose(self, code: np.ndarray, seen: np.ndarray, new: np.ndarray, step: np.ndarray, w: dict) -> None:
        """At a new place, the latest stored places that showed the object seen now each propose the
        translation between the two codes, into the weakest slot (not an accepted one)."""
        B, P = code.shape
        rows, columns = np.arange(B), np.arange(w["places"].shape[1])
        slots = np.arange(self.slots)
        candidate = w["stored"] & (w["objects"] == seen[:, None]) & new[:, None]  # (B, N)
        k = min(self.proposals, len(columns))
        latest = np.argsort(-np.where(candidate, columns, -1), axis=1, kind="stable")[:, :k]  # (B, k) latest first
        chosen = np.take_along_axis(candidate, latest, 1)
        if not chosen.any():
            return
        weight = (code.real ** 2 + code.imag ** 2)  # (B, P) each plane's share of the code (sums to 1)
        places = _complex(w["places"][rows[:, None], latest])  # (B, k, P)
        proposed = places * code.conj()[:, None]
        proposed = proposed / np.maximum(np.abs(proposed), np.float32(1e-12))  # (B, k, P) unit rotations per plane
        for j in np.flatnonzero(chosen.any(0)):  # the k latest that some slot has
            shift, live, accepted = w["shift"], w["live"], w["accepted"]
            same = ((shift * proposed[:, j, None].conj()).real * weight[:, None]).sum(-1)  # (B, H)
            inverse = ((shift * proposed[:, j, None]).real * weight[:, None]).sum(-1)
            duplicate = (((same >= self.match) | (inverse >= self.match)) & live).any(1)
            priority = np.where(accepted, np.float32(np.inf),
                                np.where(live, w["evidence"] * np.float32(1e6) + w["born"].astype(np.float32),
                                         np.float32(-1.0)))
            slot = priority.argmin(1)
            insert = chosen[:, j] & ~duplicate & ~accepted[rows, slot]
            one = (slots == slot[:, None]) & insert[:, None]  # (B, H)
            w["shift"] = np.where(one[..., None], proposed[:, j, None], shift)
            w["evidence"] = np.where(one, np.float32(0.0), w["evidence"])
            w["born"] = np.where(one, step[:, None], w["born"])
            w["live"] = live | one

    @staticmethod
    def _store(code: np.ndarray, seen: np.ndarray, new: np.ndarray, w: dict) -> None:
        """Store each new place with its object (rows with nothing new write into the spare column)."""
        rows = np.arange(code.shape[0])
        where = np.where(new, w["count"], w["places"].shape[1] - 1)
        w["places"][rows, where] = _real(code) * new[:, None]
        w["objects"][rows, where] = seen
        w["stored"][rows, where] = new
        w["count"] = w["count"] + new

    @staticmethod
    def _nearest(codes: np.ndarray, places: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``codes (B, S, P)`` complex unit codes, ``places (B, N, 2P)`` real unit codes -> the cosine
        similarity of the nearest stored place and its index, ``(B, S)`` each."""
        B, S, _ = codes.shape
        if places.shape[1] == 0:
            return np.full((B, S), np.float32(-2.0)), np.zeros((B, S), np.int64)
        similarity = _bmm(_real(codes), places.transpose(0, 2, 1))  # (B, S, N)
        return similarity.max(-1), similarity.argmax(-1)  # places not stored are zero vectors: similarity 0


def _written(w: dict) -> np.ndarray:
    """The working memory's places up to the last column any slot has written (what searches read)."""
    return w["places"][:, :int(w["count"].max())]


def _complex(x: np.ndarray) -> np.ndarray:
    """Real codes ``(..., 2P)`` (planes' two coordinates in turn) -> complex ``(..., P)``."""
    return np.ascontiguousarray(x, dtype=np.float32).view(np.complex64)


def _real(z: np.ndarray) -> np.ndarray:
    """Complex codes ``(..., P)`` -> real ``(..., 2P)``, the inverse of :func:`_complex`."""
    return np.ascontiguousarray(z, dtype=np.complex64).view(np.float32)


def _bmm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` of float32 stacks by torch's ``bmm`` on the arrays' memory: numpy's would run BLAS
    threads of its own beside torch's (a third slower with two threads)."""
    return torch.bmm(torch.from_numpy(a), torch.from_numpy(b)).numpy()


def rotate(code: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
    """Rotate ``code (..., d)`` plane by plane by ``rotation (..., d / 2)`` complex units."""
    planes = torch.view_as_complex(code.float().reshape(*code.shape[:-1], -1, 2).contiguous()) * rotation
    return torch.view_as_real(planes).flatten(-2).to(code.dtype)
