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
A read is then two batched products over ``B * F`` small matrices, for any module connectivity.

State (carried between windows, detached): ``keys, values (B, F, M, S)`` and ``strength (B, M)``,
the weight of each stored pair in the memory at the end of the last window (0 = forgotten/reset),
and ``dense (B, width, width)`` (``(B, 0, 0)`` until used): on long walks, once more than
``dense_after`` pairs are stored they are folded into this matrix (then clamped to [-1, 1] as in
the port), so a read costs at most one ``width x width`` product per slot whatever the walk length.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from tem.memory.base import Memory, MemoryOutput, MemoryState

FORGOTTEN = 1e-12
"""Stored weights below this are set to 0 (they would decay into denormal floats)."""


def hippocampal_activation(p: torch.Tensor) -> torch.Tensor:
    """TEM's ``f_p``: leaky ReLU (slope 0.01) of ``p`` clamped to [-1, 1]."""
    return F.leaky_relu(p.clamp(-1.0, 1.0), 0.01)


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
        return {**state, "strength": state["strength"] * ~slots[:, None], "dense": state["dense"] * ~slots[:, None, None]}

    def to_modules(self, vectors: torch.Tensor) -> torch.Tensor:
        """``(B, T, width)`` -> ``(B, F, T, S)``, the layout of stored keys and values."""
        B, T, _ = vectors.shape
        return vectors.view(B, T, self.n_modules, self.module_width).transpose(1, 2)

    def connection_mask(self) -> torch.Tensor:
        """``(width, width)`` 0/1 mask of the connections ``i -> j`` the memory may hold."""
        module = torch.arange(self.width, device=self.from_to.device) // self.module_width
        return self.from_to[module][:, module]

    def prepare(self, keys: torch.Tensor, values: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A readable part of the memory: ``keys, values (B, F, M, S)`` and ``weights (B, M)`` ->
        ``(keys^T (B * F, S, M), weights * values (B * F, M, S))``, reused by every read of a step."""
        B, Fm, M, S = keys.shape
        weighted = values * weights[:, None, :, None]
        return keys.reshape(B * Fm, M, S).transpose(1, 2), weighted.reshape(B * Fm, M, S)

    def read(self, h: torch.Tensor, parts: list[tuple[torch.Tensor, torch.Tensor]],
             dense: torch.Tensor | None = None) -> torch.Tensor:
        """``h M`` for ``M = sum_m w_m k_m^T v_m`` (masked by module connectivity) over the
        :meth:`prepare`-d ``parts`` (e.g. the carried memories and this window's), in the
        module-major layout: ``h (B * F, Q, S)`` -> ``(B * F, Q, S)``. ``dense (B, width, width)``:
        a folded part of the memory, added as ``h dense``."""
        BF, Q, S = h.shape
        Fm = self.n_modules
        scores = [torch.bmm(h, keys_t) for keys_t, _ in parts]  # (B * F_from, Q, M_i)
        sizes = [x.shape[-1] for x in scores]
        scores = torch.cat(scores, -1) if len(parts) > 1 else scores[0]
        scores = torch.einsum("bfqm,fg->bgqm", scores.view(BF // Fm, Fm, Q, -1), self.from_to).reshape(BF, Q, -1)
        out = None
        for part, (_, values) in zip(scores.split(sizes, -1), parts):
            term = torch.bmm(part, values)  # (B * F_to, Q, S)
            out = term if out is None else out + term
        if dense is not None:
            out = out + self.to_module_major(torch.bmm(self.from_module_major(h), dense))
        return out

    def to_module_major(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, Q, width)`` -> ``(B * F, Q, S)``."""
        B, Q, _ = x.shape
        return x.view(B, Q, self.n_modules, self.module_width).transpose(1, 2).reshape(B * self.n_modules, Q, -1)

    def from_module_major(self, x: torch.Tensor) -> torch.Tensor:
        """``(B * F, Q, S)`` -> ``(B, Q, width)``."""
        BF, Q, S = x.shape
        return x.view(BF // self.n_modules, self.n_modules, Q, S).transpose(1, 2).reshape(-1, Q, self.width)

    def read_flat(self, h: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """:meth:`read` for one part in the flat layout: ``h (B, Q, width)`` -> ``(B, Q, width)``."""
        return self.from_module_major(self.read(self.to_module_major(h), [self.prepare(keys, values, weights)]))

    def attractor(self, query: torch.Tensor, parts: list, kappa: float,
                  update_masks: list[torch.Tensor | None], dense: torch.Tensor | None = None) -> torch.Tensor:
        """Pattern completion ``h_0 = f(query)``, then ``h <- f(kappa h + h M)`` once per entry of
        ``update_masks`` (``(width,)`` bool: the units that still update at that iteration; None:
        all), ``M`` given by the :meth:`prepare`-d ``parts``. ``query (B, Q, width)`` -> ``(B, Q, width)``."""
        parts = [part for part in parts if part[0].shape[-1] > 0] or parts[:1]
        B = query.shape[0]
        h = hippocampal_activation(self.to_module_major(query))
        for mask in update_masks:
            new = hippocampal_activation(kappa * h + self.read(h, parts, dense))
            if mask is not None:  # (width,) -> (B * F, 1, S)
                new = torch.where(mask.view(1, self.n_modules, 1, self.module_width).expand(B, -1, -1, -1)
                                  .reshape(B * self.n_modules, 1, -1), new, h)
            h = new
        return self.from_module_major(h)

    def append(self, state: MemoryState, keys: torch.Tensor, values: torch.Tensor, weights: torch.Tensor,
               decay: float) -> MemoryState:
        """State after a window: stored strengths times ``decay`` (``lambda^T``), then the window's
        ``keys, values (B, T, width)`` with ``weights (T,)`` or ``(B, T)``; forgotten columns dropped."""
        B, T, _ = keys.shape
        strength = torch.cat([state["strength"] * decay, weights.expand(B, T)], dim=1)
        strength = torch.where(strength.abs() < FORGOTTEN, 0.0, strength)  # no denormals (slow on CPUs)
        keys = torch.cat([state["keys"], self.to_modules(keys)], dim=2)
        values = torch.cat([state["values"], self.to_modules(values)], dim=2)
        used = (strength != 0).any(dim=0)
        first = int(used.nonzero()[0]) if used.any() else strength.shape[1]
        if self.cap > 0:
            first = max(first, strength.shape[1] - self.cap)
        state = {"keys": keys[:, :, first:], "values": values[:, :, first:], "strength": strength[:, first:],
                 "dense": state["dense"] * decay}
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
