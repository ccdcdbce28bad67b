"""Hebbian (fast-weight) memory with attractor retrieval: the TEM hippocampus (Whittington et al. 2020).

TEM writes ``M_t = lambda M_{t-1} + eta (p_t + p^_t)^T (p_t - p^_t)`` (row-vector convention: entry
``M_ij`` connects unit ``i`` to unit ``j``; a read is ``h M``) and retrieves by iterating
``h <- f(kappa h + h M)``. ``M`` is a sum of outer products, so it is never formed here: the memory
keeps the vectors ``k_tau = p_tau + p^_tau`` (keys), ``v_tau = p_tau - p^_tau`` (values) and their
weights ``w_tau = eta_tau lambda^(t - 1 - tau)``, and reads with scalar products,
``h M = sum_tau w_tau (h . k_tau) v_tau``. With ``hierarchical=True`` only connections from a
module to itself and to earlier (higher-frequency) modules exist: ``M_ij = 0`` unless
``module(i) >= module(j)``, which the read applies per module.

The public port also clamps ``M`` to [-1, 1] after every write; a sum of vectors cannot express that
clamp, so this memory does not clamp (see :meth:`HebbianMemory.dense`, which can apply it, and
the TEM docs for when it is inactive).

Layout: vectors of ``n_units`` cells live in a padded, module-major layout of ``width = F * S``
entries (``F`` modules, ``S`` = the largest module): cell ``u`` of module ``f`` is entry ``f * S + u``,
entries beyond a module's size are 0 (:meth:`HebbianMemory.pad`, :meth:`HebbianMemory.unpad`).
A read is then two batched products over ``B * F`` small matrices, for any module connectivity; it
runs module-major (``(F, B, ...)``, :class:`Part`), so that the modules an attractor iteration still
updates (the first ``n``: low frequencies stop first) are one slice.

State (carried between windows, detached): ``keys, values (B, F, M, S)`` and ``strength (B, M)``,
the weight of each stored pair in the memory at the end of the last window (0 = forgotten/reset),
and ``dense (B, width, width)`` (``(B, 0, 0)`` until used): on long walks, once more than
``dense_after`` pairs are stored they are folded into this matrix (then clamped to [-1, 1] as in
the port), so a read costs at most one ``width x width`` product per slot whatever the walk length.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from tem.memory.base import Memory, MemoryOutput, MemoryState

FORGOTTEN = 1e-12
"""Stored weights below this are set to 0 (they would decay into denormal floats)."""


def hippocampal_activation(p: torch.Tensor) -> torch.Tensor:
    """TEM's ``f_p``: leaky ReLU (slope 0.01) of ``p`` clamped to [-1, 1]."""
    return F.leaky_relu(p.clamp(-1.0, 1.0), 0.01)


def _first(x: torch.Tensor, n: int) -> torch.Tensor:
    """``x[:n]``, without a slice when that is all of ``x`` (a slice's backward pass allocates ``x``'s size)."""
    return x if n == x.shape[0] else x[:n]


class Part(NamedTuple):
    """A readable part of a Hebbian memory (e.g. the carried pairs, or this window's), module-major:
    ``keys_t (F * B, S, M)``, ``values (F * B, M, S)``, ``weights (B, 1, M)``."""

    keys_t: torch.Tensor
    values: torch.Tensor
    weights: torch.Tensor


class HebbianMemory(Memory):
    """A walk's Hebbian memory stored as weighted (key, value) vectors, read with scalar products.

    Args:
        module_sizes: hippocampal cells per frequency module (high frequency first); ``n_units``
            is their sum.
        hierarchical: keep only connections from lower- (or equal-) to higher-frequency modules,
            as TEM's generative memory does; the inference memory is fully connected.
        cap: keep at most this many most recent memories per slot (0: the whole walk).
        dense_after: fold the carried vectors into a dense matrix when more than this many are
            stored (0: never).
    """

    def __init__(self, module_sizes: tuple[int, ...], hierarchical: bool = True, cap: int = 0, dense_after: int = 256):
        super().__init__()
        if cap < 0:
            raise ValueError(f"memory cap must be >= 0 (0 = unlimited), got {cap!r}")
        self.module_sizes, self.hierarchical, self.cap, self.dense_after = tuple(module_sizes), hierarchical, cap, dense_after
        self.n_units, self.n_modules, self.module_width = sum(module_sizes), len(module_sizes), max(module_sizes)
        self.width = self.n_modules * self.module_width
        real = torch.cat([torch.arange(size) + f * self.module_width for f, size in enumerate(module_sizes)])
        self.register_buffer("real_index", real, persistent=False)  # (n_units,) entries of the padded layout
        f = torch.arange(self.n_modules)
        from_to = (f[:, None] >= f[None, :]) if hierarchical else torch.ones(self.n_modules, self.n_modules, dtype=torch.bool)
        self.register_buffer("from_to", from_to.float(), persistent=False)  # (F_from, F_to)

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., n_units)`` -> padded layout ``(..., width)``."""
        out = x.new_zeros(*x.shape[:-1], self.width)
        return out.index_copy(-1, self.real_index, x)

    def unpad(self, x: torch.Tensor) -> torch.Tensor:
        """Padded layout ``(..., width)`` -> ``(..., n_units)``."""
        return x[..., self.real_index]

    def initial_state(self, batch_size: int, device="cpu") -> MemoryState:
        empty = torch.zeros(batch_size, self.n_modules, 0, self.module_width, device=device)
        return {"keys": empty, "values": empty.clone(), "strength": torch.zeros(batch_size, 0, device=device),
                "dense": torch.zeros(batch_size, 0, 0, device=device)}

    def reset(self, state: MemoryState, slots: torch.Tensor) -> MemoryState:
        """Forget the memories of ``slots (B,)`` bool (and drop pairs no slot holds any more)."""
        return self._trim({**state, "strength": state["strength"] * ~slots[:, None],
                           "dense": state["dense"] * ~slots[:, None, None]})

    def _trim(self, state: MemoryState) -> MemoryState:
        """Drop the oldest stored pairs that no slot holds (and all but the ``cap`` most recent)."""
        used = (state["strength"] != 0).any(dim=0)
        first = int(used.nonzero()[0]) if used.any() else used.shape[0]
        if self.cap > 0:
            first = max(first, used.shape[0] - self.cap)
        if first == 0:
            return state
        return {**state, "keys": state["keys"][:, :, first:], "values": state["values"][:, :, first:],
                "strength": state["strength"][:, first:]}

    def to_modules(self, vectors: torch.Tensor) -> torch.Tensor:
        """``(B, T, width)`` -> ``(B, F, T, S)``, the layout of stored keys and values."""
        B, T, _ = vectors.shape
        return vectors.view(B, T, self.n_modules, self.module_width).transpose(1, 2)

    def connection_mask(self) -> torch.Tensor:
        """``(width, width)`` 0/1 mask of the connections ``i -> j`` the memory may hold."""
        module = torch.arange(self.width, device=self.from_to.device) // self.module_width
        return self.from_to[module][:, module]

    # ---- reading: module-major layout (F, B, ...), so that the first n modules are one slice ----
    def part(self, keys: torch.Tensor, values: torch.Tensor, weights: torch.Tensor) -> Part:
        """A readable part of the memory from ``keys, values (F, B, M, S)`` (module-major) and
        ``weights (B, M)``."""
        Fm, B, M, S = keys.shape
        return Part(keys.reshape(Fm * B, M, S).transpose(1, 2), values.reshape(Fm * B, M, S), weights[:, None, :])

    def carried(self, state: MemoryState, scale: float = 1.0) -> Part:
        """The stored pairs of ``state`` as a :class:`Part`, weights ``strength * scale``."""
        weights = state["strength"] * scale
        weights = torch.where(weights < FORGOTTEN, 0.0, weights)
        return self.part(state["keys"].transpose(0, 1), state["values"].transpose(0, 1), weights)

    def scores(self, h: torch.Tensor, part: Part) -> torch.Tensor:
        """``h . k_m`` per module: ``h (n, B, Q, S)`` (the first n modules) -> ``(n, B, Q, M)``."""
        n, B, Q, S = h.shape
        return torch.bmm(h.reshape(n * B, Q, S), _first(part.keys_t, n * B)).view(n, B, Q, -1)

    def combine(self, scores: torch.Tensor, part: Part, n: int) -> torch.Tensor:
        """``sum_m w_m (h . k_m) v_m`` into the first ``n`` modules, each from the modules connected
        to it: ``scores (F, B, Q, M)`` -> ``(n, B, Q, S)``."""
        Fm, B, Q, M = scores.shape
        into = (_first(self.from_to.t(), n) @ scores.reshape(Fm, -1)).view(n, B, Q, M) * part.weights
        return torch.bmm(into.view(n * B, Q, M), _first(part.values, n * B)).view(n, B, Q, -1)

    def read(self, h: torch.Tensor, parts: list[Part], dense: torch.Tensor | None = None) -> torch.Tensor:
        """``h M`` (``M`` masked by module connectivity) in the module-major layout:
        ``h (F, B, Q, S)`` -> ``(F, B, Q, S)``. ``dense (B, width, width)``: a folded part, added as ``h dense``."""
        out = torch.zeros_like(h)
        for part in parts:
            out = out + self.combine(self.scores(h, part), part, self.n_modules)
        if dense is not None:
            out = out + self.module_major(torch.bmm(self.flat(h), dense))
        return out

    def module_major(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, Q, width)`` -> ``(F, B, Q, S)``."""
        B, Q, _ = x.shape
        return x.view(B, Q, self.n_modules, self.module_width).permute(2, 0, 1, 3)

    def flat(self, x: torch.Tensor) -> torch.Tensor:
        """``(F, B, Q, S)`` -> ``(B, Q, width)``."""
        Fm, B, Q, S = x.shape
        return x.permute(1, 2, 0, 3).reshape(B, Q, Fm * S)

    def attractor(self, query: torch.Tensor, parts: list[Part], kappa: float, iterations: tuple[int, ...],
                  dense: torch.Tensor | None = None) -> torch.Tensor:
        """Pattern completion ``h_0 = f(query)``, then ``h <- f(kappa h + h M)``, module ``f`` updating
        in its first ``iterations[f]`` iterations (non-increasing: low frequencies stop first).
        ``query (B, Q, width)`` -> ``(B, Q, width)``.

        Only what changes is recomputed: the scores ``h_f . k`` of a module that stopped are reused,
        and the read goes only into the modules that still update."""
        parts = [part for part in parts if part.values.shape[1] > 0]
        h = hippocampal_activation(self.module_major(query)).contiguous()  # (F, B, Q, S)
        scores, changed = [None] * len(parts), self.n_modules
        for i in range(max(iterations)):
            n = sum(count > i for count in iterations)  # modules 0..n-1 update at iteration i
            out = None
            for j, part in enumerate(parts):
                # slicing a tensor that needs gradients costs a full-size zero tensor in the backward
                # pass: a part with gradients (this window's) is read by every module, the output sliced
                if part.values.requires_grad:
                    term = self.combine(self.scores(h, part), part, self.n_modules)[:n]
                else:
                    new = self.scores(_first(h, changed), part)
                    scores[j] = new if changed == self.n_modules else torch.cat([new, scores[j][changed:]])
                    term = self.combine(scores[j], part, n)
                out = term if out is None else out + term
            if dense is not None:
                term = _first(self.module_major(torch.bmm(self.flat(h), dense)), n)
                out = term if out is None else out + term
            new_h = hippocampal_activation(kappa * _first(h, n) + (0.0 if out is None else out))
            h, changed = (new_h if n == self.n_modules else torch.cat([new_h, h[n:]])), n
        return self.flat(h)

    def append(self, state: MemoryState, keys: torch.Tensor, values: torch.Tensor, weights: torch.Tensor,
               decay: float) -> MemoryState:
        """State after a window: stored strengths times ``decay`` (``lambda^T``), then the window's
        ``keys, values (B, T, width)`` with ``weights (T,)`` or ``(B, T)``; forgotten columns dropped."""
        B, T, _ = keys.shape
        strength = torch.cat([state["strength"] * decay, weights.expand(B, T)], dim=1)
        strength = torch.where(strength.abs() < FORGOTTEN, 0.0, strength)  # no denormals (slow on CPUs)
        keys = torch.cat([state["keys"], self.to_modules(keys)], dim=2)
        values = torch.cat([state["values"], self.to_modules(values)], dim=2)
        state = self._trim({"keys": keys, "values": values, "strength": strength, "dense": state["dense"] * decay})
        if self.dense_after and state["strength"].shape[1] > self.dense_after:
            state = self.fold(state)
        return state

    def fold(self, state: MemoryState) -> MemoryState:
        """Move every stored pair into the dense matrix (clamped to [-1, 1], as the port does)."""
        with torch.no_grad():
            dense = self.dense(state)
            if state["dense"].numel():
                dense = dense + state["dense"]
            empty = state["keys"][:, :, :0]
            return {"keys": empty, "values": empty.clone(), "strength": state["strength"][:, :0],
                    "dense": dense.clamp(-1, 1)}

    def dense(self, state: MemoryState, clamp: bool = False) -> torch.Tensor:
        """The matrix ``M (B, width, width)`` the stored vectors stand for (padded layout; for tests
        and analysis); ``clamp`` applies the port's [-1, 1] clamp to the result."""
        keys, values = (x.transpose(1, 2).flatten(2) for x in (state["keys"], state["values"]))  # (B, M, width)
        M = torch.einsum("bm,bmi,bmj->bij", state["strength"], keys, values) * self.connection_mask()
        if state["dense"].numel():
            M = M + state["dense"]
        return M.clamp(-1, 1) if clamp else M

    def forward(self, query, key, value, state, return_activity=False) -> MemoryOutput:
        raise NotImplementedError("HebbianMemory is read step by step by TEM (tem.tem.TEM): use read / attractor "
                                  "/ append; it has no one-shot window read for TEM-t")
