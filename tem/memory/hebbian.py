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
A read is two batched products (scores, then the weighted sum of values). A fully connected memory
reads the whole width at once (``B`` products of ``width``-long vectors, :class:`FlatAttractor`); a
hierarchical one reads per module (``F * B`` products, :class:`ModularAttractor`), module-major
(``(F, B, ...)``), so that the modules an attractor iteration still updates (the first ``n``: low
frequencies stop first) are one slice. Both attractors have a hand-written backward pass: autograd
would record some twenty small ops per iteration, which cost more than the products.

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


def activation_backward(grad: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """``grad`` times the derivative of :func:`hippocampal_activation` at ``p``, as autograd takes it:
    1 for ``0 < p <= 1``, 0.01 for ``-1 <= p <= 0``, 0 outside ``[-1, 1]`` (the clamp passes its ends).
    Two aten backward kernels: boolean masks cost ten times more on these small tensors."""
    bound = 1.0 + torch.finfo(p.dtype).eps  # the next float after 1: hardtanh_backward passes (-bound, bound)
    return torch.ops.aten.hardtanh_backward(torch.ops.aten.leaky_relu_backward(grad, p, 0.01, False), p, -bound, bound)


def _module_major(x: torch.Tensor, n_modules: int) -> torch.Tensor:
    """``(B, Q, width)`` -> ``(F, B, Q, S)`` (a view)."""
    B, Q, width = x.shape
    return x.view(B, Q, n_modules, width // n_modules).permute(2, 0, 1, 3)


def _flat(x: torch.Tensor) -> torch.Tensor:
    """``(F, B, Q, S)`` -> ``(B, Q, width)``."""
    Fm, B, Q, S = x.shape
    return x.permute(1, 2, 0, 3).reshape(B, Q, Fm * S)


class Part(NamedTuple):
    """A readable part of a Hebbian memory (e.g. the carried pairs, or this window's), in the memory's
    read layout (:meth:`HebbianMemory.part`): ``keys, values (G, M, X)``, ``weights (B, 1, M)``, with
    ``G, X = B, width`` (fully connected memory) or ``F * B, S`` (hierarchical, module-major)."""

    keys: torch.Tensor
    values: torch.Tensor
    weights: torch.Tensor


def _grouped(flat_parts: tuple) -> list[tuple]:
    """``(keys, values, weights, keys, ...)`` -> one ``(keys, values, weights)`` per part."""
    return [flat_parts[j:j + 3] for j in range(0, len(flat_parts), 3)]


def _part_grads(ctx, n_parts: int, hs: torch.Tensor, dscores: list, intos: list, dpres: torch.Tensor) -> list:
    """Gradients of the parts' keys, ``sum_i dscores_i^T h_i``, and values, ``sum_i into_i^T dpre_i``
    (``None`` where not needed), each one batched product over the iterations stacked along Q:
    ``hs (G, I * Q, X)``, ``dpres (G, I * Q, X)``; per part ``dscores, intos (G, I * Q, M)``."""
    grads = [None] * (3 * n_parts)
    for j in range(n_parts):
        if ctx.needs_input_grad[5 + 3 * j]:
            grads[3 * j] = torch.bmm(dscores[j].transpose(1, 2), hs)
        if ctx.needs_input_grad[6 + 3 * j]:
            grads[3 * j + 1] = torch.bmm(intos[j].transpose(1, 2), dpres)
    return grads


class FlatAttractor(torch.autograd.Function):
    """The attractor of a fully connected memory, over the whole width: ``query (B, Q, width)``;
    parts ``keys, values (B, M, width)``, ``weights (B, 1, M)``; ``dense (B, width, width)`` or None;
    ``counts``: the number of modules updated at each iteration.

    Iteration ``i`` updates the first ``u = counts[i] * S`` entries: ``into = w (h . k)``, ``pre =
    kappa h_u + into v_u (+ h dense_u)``, ``h_u = f(pre)``. The backward pass runs the iterations in
    reverse; the keys' and values' gradients are one batched product each at the end."""

    @staticmethod
    def forward(ctx, query, from_to, kappa, counts, dense, *flat_parts):
        S = query.shape[-1] // from_to.shape[0]
        h = hippocampal_activation(query)
        ctx.hs, ctx.pres, ctx.intos = [], [], []
        for n in counts:
            u, read, intos = n * S, None, []
            for keys, values, weights in _grouped(flat_parts):
                into = torch.bmm(h, keys.transpose(1, 2)).mul_(weights)  # (B, Q, M)
                into_v = into, values[..., :u]
                read = torch.bmm(*into_v) if read is None else read.baddbmm_(*into_v)
                intos.append(into)
            pre = h[..., :u] * kappa if read is None else read.add_(h[..., :u], alpha=kappa)  # (B, Q, u)
            if dense is not None:
                pre.baddbmm_(h, dense[..., :u])
            ctx.hs.append(h), ctx.pres.append(pre), ctx.intos.append(intos)
            h = hippocampal_activation(pre) if u == h.shape[-1] else torch.cat([hippocampal_activation(pre), h[..., u:]], -1)
        ctx.kappa = kappa
        ctx.save_for_backward(query, dense, *flat_parts)
        return h

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        query, dense, *flat_parts = ctx.saved_tensors
        parts = _grouped(flat_parts)
        dh = grad.clone(memory_format=torch.contiguous_format)  # d h_I, then d h_i
        dpres, dscores = [], [[] for _ in parts]
        for pre in reversed(ctx.pres):
            u = pre.shape[-1]
            dpre = activation_backward(dh[..., :u], pre)
            torch.mul(dpre, ctx.kappa, out=dh[..., :u])  # entries >= u passed h through unchanged
            for (keys, values, weights), ds in zip(parts, dscores):
                ds.append(torch.bmm(dpre, values[..., :u].transpose(1, 2)).mul_(weights))  # (B, Q, M)
                dh.baddbmm_(ds[-1], keys)
            if dense is not None:
                dh.baddbmm_(dpre, dense[..., :u].transpose(1, 2))
            dpres.append(dpre if u == query.shape[-1] else F.pad(dpre, (0, query.shape[-1] - u)))
        d_query = activation_backward(dh, query) if ctx.needs_input_grad[0] else None
        if not ctx.hs:
            return (d_query, None, None, None, None, *[None] * len(flat_parts))
        stacked = [torch.cat(ds[::-1], 1) for ds in dscores]  # (B, I * Q, M), iterations in order
        intos = [torch.cat([intos[j] for intos in ctx.intos], 1) for j in range(len(parts))]
        return (d_query, None, None, None, None,
                *_part_grads(ctx, len(parts), torch.cat(ctx.hs, 1), stacked, intos, torch.cat(dpres[::-1], 1)))


def _stack_modules(xs: list[torch.Tensor], n_modules: int) -> torch.Tensor:
    """Per-iteration ``(n_i, B, Q, X)`` (the first ``n_i`` modules) -> ``(F * B, I * Q, X)``, the
    missing modules 0."""
    _, B, Q, X = xs[0].shape
    out = xs[0].new_zeros(n_modules, B, len(xs), Q, X)
    for i, x in enumerate(xs):
        out[: x.shape[0], :, i] = x
    return out.view(n_modules * B, len(xs) * Q, X)


class ModularAttractor(torch.autograd.Function):
    """The attractor of a memory read per module (any connectivity), module-major: ``h (F, B, Q, S)``;
    ``query (B, Q, width)``; ``from_to (F, F)`` the module connectivity; parts ``keys, values
    (F * B, M, S)``, ``weights (B, 1, M)``; ``dense (B, width, width)`` or None; ``counts``: the
    number of modules updated at each iteration.

    Iteration ``i`` updates the first ``n = counts[i]`` modules: ``scores_f = h_f . k_f`` (recomputed
    only for the modules that changed), ``into_g = w sum_f from_to[f, g] scores_f``, ``pre = kappa h_g
    + into_g v_g (+ (h dense)_g)``, ``h_g = f(pre)``. The backward pass runs the iterations in reverse
    (a stopped module's score gradients are summed until the iteration that computed the score); the
    keys' and values' gradients are one batched product each at the end."""

    @staticmethod
    def forward(ctx, query, from_to, kappa, counts, dense, *flat_parts):
        parts = _grouped(flat_parts)
        Fm, (B, Q, width) = from_to.shape[0], query.shape
        S = width // Fm
        x = _module_major(query, Fm).contiguous()  # (F, B, Q, S)
        h = hippocampal_activation(x)
        scores = [h.new_empty(Fm * B, Q, keys.shape[1]) for keys, _, _ in parts]  # (F * B, Q, M)
        ctx.hs, ctx.pres, ctx.intos, ctx.changed, changed = [], [], [], [], Fm
        for n in counts:
            read, intos = None, []
            for (keys, values, weights), score in zip(parts, scores):
                torch.bmm(h[:changed].view(changed * B, Q, S), keys[: changed * B].transpose(1, 2), out=score[: changed * B])
                into = torch.mm(from_to[:, :n].t(), score.view(Fm, -1)).view(n, B, Q, -1).mul_(weights)
                into_v = into.view(n * B, Q, -1), values[: n * B]
                read = torch.bmm(*into_v) if read is None else read.baddbmm_(*into_v)
                intos.append(into)
            pre = h[:n] * kappa if read is None else read.view(n, B, Q, S).add_(h[:n], alpha=kappa)
            if dense is not None:
                pre += _module_major(torch.bmm(_flat(h), dense), Fm)[:n]
            ctx.hs.append(h), ctx.pres.append(pre), ctx.intos.append(intos), ctx.changed.append(changed)
            h = hippocampal_activation(pre) if n == Fm else torch.cat([hippocampal_activation(pre), h[n:]])
            changed = n
        ctx.kappa = kappa
        ctx.save_for_backward(x, from_to, dense, *flat_parts)
        return _flat(h)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, from_to, dense, *flat_parts = ctx.saved_tensors
        parts = _grouped(flat_parts)
        Fm, B, Q, S = x.shape
        dh = _module_major(grad, Fm).clone(memory_format=torch.contiguous_format)  # d h_I, then d h_i
        dpres, dscores, pending = [], [[] for _ in parts], [None] * len(parts)
        for pre, changed in zip(reversed(ctx.pres), reversed(ctx.changed)):
            n = pre.shape[0]
            dpre = activation_backward(dh[:n], pre)
            torch.mul(dpre, ctx.kappa, out=dh[:n])  # modules >= n passed h through unchanged
            for j, (keys, values, weights) in enumerate(parts):
                dinto = torch.bmm(dpre.view(n * B, Q, S), values[: n * B].transpose(1, 2)).view(n, B, Q, -1).mul_(weights)
                ds = torch.mm(from_to[:, :n], dinto.view(n, -1)).view(Fm * B, Q, -1)
                dscores[j].append(ds.view(Fm, B, Q, -1))
                if pending[j] is not None:  # scores of modules >= changed came from an earlier iteration
                    ds = ds.clone()
                    ds[-pending[j].shape[0]:] += pending[j]
                dh[:changed].view(changed * B, Q, S).baddbmm_(ds[: changed * B], keys[: changed * B])
                pending[j] = ds[changed * B:] if changed < Fm else None
            if dense is not None:
                full = dpre if n == Fm else torch.cat([dpre, dpre.new_zeros(Fm - n, B, Q, S)])
                dh += _module_major(torch.bmm(_flat(full), dense.transpose(1, 2)), Fm)
            dpres.append(dpre)
        d_query = _flat(activation_backward(dh, x)) if ctx.needs_input_grad[0] else None
        if not ctx.hs:
            return (d_query, None, None, None, None, *[None] * len(flat_parts))
        stacked = [_stack_modules(ds[::-1], Fm) for ds in dscores]
        intos = [_stack_modules([intos[j] for intos in ctx.intos], Fm) for j in range(len(parts))]
        return (d_query, None, None, None, None, *_part_grads(ctx, len(parts), _stack_modules(ctx.hs, Fm), stacked,
                                                              intos, _stack_modules(dpres[::-1], Fm)))


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

    # ---- reading ----
    def layout(self, vectors: torch.Tensor) -> torch.Tensor:
        """Stored vectors ``(B, F, M, S)`` -> the read layout ``(G, M, X)`` (:class:`Part`), a copy."""
        B, Fm, M, S = vectors.shape
        if self.hierarchical:
            return vectors.transpose(0, 1).reshape(Fm * B, M, S)
        return vectors.transpose(1, 2).reshape(B, M, Fm * S)

    def part(self, keys: torch.Tensor, values: torch.Tensor, weights: torch.Tensor) -> Part:
        """A readable part of the memory from ``keys, values (B, M, width)`` and ``weights (B, M)``."""
        return Part(self.layout(self.to_modules(keys)), self.layout(self.to_modules(values)), weights[:, None, :])

    def carried(self, state: MemoryState, scale: float = 1.0) -> Part:
        """The stored pairs of ``state`` as a :class:`Part`, weights ``strength * scale``."""
        weights = state["strength"] * scale
        weights = torch.where(weights < FORGOTTEN, 0.0, weights)
        return Part(self.layout(state["keys"]), self.layout(state["values"]), weights[:, None, :])

    def attractor(self, query: torch.Tensor, parts: list[Part], kappa: float, iterations: tuple[int, ...],
                  dense: torch.Tensor | None = None) -> torch.Tensor:
        """Pattern completion ``h_0 = f(query)``, then ``h <- f(kappa h + h M)``, module ``f`` updating
        in its first ``iterations[f]`` iterations (non-increasing: low frequencies stop first).
        ``query (B, Q, width)`` -> ``(B, Q, width)``; ``dense (B, width, width)``: a folded part.

        Gradients flow to the query and to the parts' keys and values (not to their weights, nor to
        ``dense``)."""
        parts = [part for part in parts if part.values.shape[1] > 0]
        if (dense is not None and dense.requires_grad) or any(part.weights.requires_grad for part in parts):
            raise ValueError("the attractor passes no gradient to the memory weights or the dense part")
        counts = tuple(sum(count > i for count in iterations) for i in range(max(iterations, default=0)))
        attractor = ModularAttractor if self.hierarchical else FlatAttractor
        return attractor.apply(query, self.from_to, kappa, counts, dense, *(x for part in parts for x in part))

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
        raise NotImplementedError("HebbianMemory is read step by step by TEM (tem.tem.TEM): use attractor "
                                  "/ append; it has no one-shot window read for TEM-t")
