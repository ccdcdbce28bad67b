"""TEM's attractor retrieval ``h <- f(kappa h + h M)`` from a Hebbian memory stored as vectors, with a
hand-written backward pass (autograd would record some twenty small ops per iteration, which cost
more than the products).

``M = sum_m w_m k_m^T v_m`` is never formed: ``h M = (w * (h . K^T)) V``, two batched products over
the stored pairs. The pairs come as one :class:`Part` in the read layout:

- fully connected memory (:class:`FlatAttractor`): ``keys, values (B, M, width)``, ``B`` products
  of ``width``-long vectors;
- hierarchical memory (:class:`ModularAttractor`): read per module, module-major ``(F * B, M, S)``
  (``F`` modules of ``S`` cells), so that the modules an iteration still updates (the first ``n``:
  low frequencies stop first) are one slice.

Gradients reach the query and the stored pairs' keys and values, in either of two ways: the
``keys, values`` tensors themselves (when they require grad), or *sources*: the tensors that rows
``n_fixed, n_fixed + 1, ...`` of ``keys, values`` were copied from (TEM writes each step's pair into
a preallocated buffer, so the buffer is never part of the autograd graph and a step's read needs no
copy of the memory). A source row is ``(B, width)`` (flat) or ``(F, B, S)`` (hierarchical).

On CPUs both attractors run the fused kernels of ``attractor_cpu.cpp`` (:func:`cpu_kernel`), which
compute the same as the batched products here but run each batch element's iterations with its
pairs in cache; the batched products serve GPUs, and CPUs where the kernels cannot be built. The same
build holds ``step_cpu.cpp``, a whole TEM window (both reads, the step between them, both writes)
and its backward pass (:mod:`tem.tem.window`), and ``attractor_cpu.h`` holds the per-slot
arithmetic, forward and backward, the two share.
"""
from __future__ import annotations

import functools
import hashlib
import os
import platform
import sys
import warnings
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F


@functools.lru_cache(maxsize=None)
def cpu_kernel():
    """The fused CPU kernels of ``attractor_cpu.cpp`` (each batch element's iterations run with its
    pairs in cache, batch elements in parallel), compiled on first use with the C++ compiler torch
    extensions use; None where that fails (a warning says why) or where ``TEM_ATTRACTOR_KERNEL=0``
    (the batched PyTorch products below are used then)."""
    if os.environ.get("TEM_ATTRACTOR_KERNEL", "1") == "0":
        return None
    try:
        from torch.utils.cpp_extension import get_default_build_root, load

        name = f"tem_attractor_cpu_{_cpu_tag()}"  # built for this CPU (-march=native): one build per kind of CPU
        root = Path(os.environ.get("TORCH_EXTENSIONS_DIR", get_default_build_root()))
        if not any(root.glob(f"**/{name}/*.so")):
            print("building TEM's fused attractor kernel (once: it is cached for later runs)...", file=sys.stderr)
        sources = [str(Path(__file__).with_name(f)) for f in ("attractor_cpu.cpp", "step_cpu.cpp")]
        return load(name, sources, extra_cflags=["-O3", "-march=native", "-fopenmp"], extra_ldflags=["-fopenmp"])
    except Exception as error:  # no compiler, no ninja, ...: the PyTorch path computes the same
        warnings.warn(f"TEM's fused attractor kernel could not be built ({error}); using batched PyTorch products")
        return None


def _cpu_tag() -> str:
    """A short tag of this CPU's instruction sets, so that a build cache shared by machines with
    other CPUs (a cluster's home directory) never hands one of them code it cannot run."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = next((line for line in cpuinfo if line.startswith("flags")), platform.machine())
    except OSError:
        flags = platform.machine() + platform.processor()
    return hashlib.sha1(flags.encode()).hexdigest()[:8]


def _use_kernel(query: torch.Tensor) -> bool:
    return query.device.type == "cpu" and cpu_kernel() is not None


def fused_kernels(like: torch.Tensor):
    """The fused CPU kernels (:func:`cpu_kernel`) where ``like`` lives on a CPU and they built, else
    None (TEM's window kernel, ``step_cpu.cpp``, is taken from here)."""
    return cpu_kernel() if _use_kernel(like) else None


class Part(NamedTuple):
    """Stored pairs in a memory's read layout: ``keys, values (G, M, X)``, ``weights (B, 1, M)``, with
    ``G, X = B, width`` (fully connected memory) or ``F * B, S`` (hierarchical, module-major)."""

    keys: torch.Tensor
    values: torch.Tensor
    weights: torch.Tensor


def hippocampal_activation(p: torch.Tensor) -> torch.Tensor:
    """TEM's ``f_p``: leaky ReLU (slope 0.01) of ``p`` clamped to [-1, 1]."""
    return F.leaky_relu(p.clamp(-1.0, 1.0), 0.01)


def activation_backward(grad: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """``grad`` times the derivative of :func:`hippocampal_activation` at ``p``, as autograd takes it:
    1 for ``0 < p <= 1``, 0.01 for ``-1 <= p <= 0``, 0 outside ``[-1, 1]`` (the clamp passes its ends).
    Two aten backward kernels: boolean masks cost ten times more on these small tensors."""
    bound = 1.0 + torch.finfo(p.dtype).eps  # the next float after 1: hardtanh_backward passes (-bound, bound)
    return torch.ops.aten.hardtanh_backward(torch.ops.aten.leaky_relu_backward(grad, p, 0.01, False), p, -bound, bound)


def module_major(x: torch.Tensor, n_modules: int) -> torch.Tensor:
    """``(B, Q, width)`` -> ``(F, B, Q, S)`` (a view)."""
    B, Q, width = x.shape
    return x.view(B, Q, n_modules, width // n_modules).permute(2, 0, 1, 3)


def flat(x: torch.Tensor) -> torch.Tensor:
    """``(F, B, Q, S)`` -> ``(B, Q, width)``."""
    Fm, B, Q, S = x.shape
    return x.permute(1, 2, 0, 3).reshape(B, Q, Fm * S)


def _save(ctx, query, dense, dense_scale, kappa, part, n_fixed, n_sources):
    """Keep what the backward pass needs. ``part`` is kept on ``ctx``, not saved for backward: TEM
    writes later rows of the buffer it is a prefix of, which autograd's version check would refuse,
    and these rows never change once written."""
    ctx.save_for_backward(query, dense)
    ctx.part, ctx.kappa, ctx.dense_scale, ctx.n_fixed, ctx.n_sources = part, kappa, dense_scale, n_fixed, n_sources


def _first_row(ctx) -> int:
    """The first stored row whose key and value gradients are needed."""
    return 0 if ctx.needs_input_grad[6] or ctx.needs_input_grad[7] else ctx.n_fixed


def _stored_grads(ctx, grad_keys, grad_values, first, rows) -> tuple:
    """Gradients of rows ``first, ...`` of the keys and values (``None`` when none are needed) -> the
    Function's gradients of ``keys, values, weights, n_fixed, *sources``. ``rows(grad)``: a gradient's
    rows in the sources' shape."""
    if grad_keys is None:
        return None, None, None, None, *(None,) * (2 * ctx.n_sources)
    offset = ctx.n_fixed - first
    sources = (*rows(grad_keys)[offset:], *rows(grad_values)[offset:]) if ctx.n_sources else ()
    shape = ctx.part.keys.shape
    keys = grad_keys.reshape(shape) if ctx.needs_input_grad[6] else None
    values = grad_values.reshape(shape) if ctx.needs_input_grad[7] else None
    return keys, values, None, None, *sources


def _pair_grads(ctx, hs, dscores, intos, dpres, rows) -> tuple:
    """The batched products' gradients of the keys and values (:func:`_stored_grads`): keys ``sum_i
    dscore_i^T h_i``, values ``sum_i into_i^T dpre_i``, one batched product each over the iterations
    stacked along Q (``hs, dpres (G, I * Q, X)``, ``dscores, intos (G, I * Q, M)``) and only for the
    rows that need them."""
    first = _first_row(ctx)
    if dscores is None or not (ctx.needs_input_grad[6] or ctx.needs_input_grad[7] or ctx.n_sources):
        return _stored_grads(ctx, None, None, first, rows)
    grad_keys = torch.bmm(dscores[..., first:].transpose(1, 2), hs)  # (G, M - first, X)
    grad_values = torch.bmm(intos[..., first:].transpose(1, 2), dpres)
    return _stored_grads(ctx, grad_keys, grad_values, first, rows)


def _or_empty(dense, like):
    return like.new_empty(0) if dense is None else dense.contiguous()


class FlatAttractor(torch.autograd.Function):
    """The attractor of a fully connected memory, over the whole width: ``query (B, Q, width)``;
    ``dense (B, width, width)`` or None, read times ``dense_scale``; ``counts``: the number of
    modules updated at each iteration (of ``S`` cells each).

    Iteration ``i`` updates the first ``u = counts[i] * S`` entries: ``into = w (h . k)``, ``pre =
    kappa h_u + into v_u (+ h dense_u)``, ``h_u = f(pre)``. The backward pass runs the iterations in
    reverse; the keys' and values' gradients are one batched product each at the end."""

    @staticmethod
    def forward(ctx, query, module_width, kappa, counts, dense, dense_scale, keys, values, weights, n_fixed, *sources):
        S, read_memory = module_width, keys.shape[1] > 0
        _save(ctx, query, dense, dense_scale, kappa, Part(keys, values, weights), n_fixed, len(sources) // 2)
        ctx.fused = _use_kernel(query)
        if ctx.fused:
            h, *ctx.saved = _flat_kernel(query, S, kappa, counts, dense, dense_scale, keys, values, weights)
            ctx.counts, ctx.module_width = counts, S
            return h
        h = hippocampal_activation(query)
        ctx.hs, ctx.pres, ctx.intos = [], [], []
        for n in counts:
            u = n * S
            if read_memory:
                into = torch.bmm(h, keys.transpose(1, 2)).mul_(weights)  # (B, Q, M)
                pre = torch.baddbmm(h[..., :u], into, values[..., :u], beta=kappa)  # (B, Q, u)
                ctx.intos.append(into)
            else:
                pre = h[..., :u] * kappa
            if dense is not None:
                pre.baddbmm_(h, dense[..., :u], alpha=dense_scale)
            ctx.hs.append(h), ctx.pres.append(pre)
            h = hippocampal_activation(pre) if u == h.shape[-1] else torch.cat([hippocampal_activation(pre), h[..., u:]], -1)
        return h

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        query, dense = ctx.saved_tensors
        keys, values, weights = ctx.part
        if ctx.fused:
            first = _first_row(ctx)
            d_query, grad_keys, grad_values = cpu_kernel().flat_backward(
                grad, query.contiguous(), keys, values, weights, _or_empty(dense, query), ctx.dense_scale, ctx.kappa,
                list(ctx.counts), ctx.module_width, *ctx.saved, first)
            return (d_query, None, None, None, None, None,
                    *_stored_grads(ctx, grad_keys, grad_values, first, lambda g: g.unbind(1)))
        dh = grad.clone(memory_format=torch.contiguous_format)  # d h_I, then d h_i
        dpres, dscores = [], []
        for pre in reversed(ctx.pres):
            u = pre.shape[-1]
            dpre = activation_backward(dh[..., :u], pre)
            torch.mul(dpre, ctx.kappa, out=dh[..., :u])  # entries >= u passed h through unchanged
            if ctx.intos:
                dscores.append(torch.bmm(dpre, values[..., :u].transpose(1, 2)).mul_(weights))  # (B, Q, M)
                dh.baddbmm_(dscores[-1], keys)
            if dense is not None:
                dh.baddbmm_(dpre, dense[..., :u].transpose(1, 2), alpha=ctx.dense_scale)
            dpres.append(dpre if u == query.shape[-1] else F.pad(dpre, (0, query.shape[-1] - u)))
        d_query = activation_backward(dh, query) if ctx.needs_input_grad[0] else None
        stacked = (torch.cat(dscores[::-1], 1), torch.cat(ctx.intos, 1)) if ctx.intos else (None, None)
        return (d_query, None, None, None, None, None, *_pair_grads(ctx, torch.cat(ctx.hs, 1), *stacked,
                                                                   torch.cat(dpres[::-1], 1), lambda g: g.unbind(1)))


def _flat_kernel(query, module_width, kappa, counts, dense, dense_scale, keys, values, weights) -> list:
    """The fused kernel of :class:`FlatAttractor`'s forward pass: ``[h, hs, pres, intos]``."""
    return cpu_kernel().flat_forward(query.contiguous(), keys, values, weights, _or_empty(dense, query), dense_scale,
                                     kappa, list(counts), module_width)


def _modular_kernel(query, from_to, kappa, counts, dense, dense_scale, keys, values, weights) -> list:
    """The fused kernel of :class:`ModularAttractor`'s forward pass (``keys, values (F * B, M, S)``
    viewed module-major): ``[h, hs, pres, intos]``."""
    Fm, (B, _, width), M = from_to.shape[0], query.shape, keys.shape[1]
    keys, values = (x.view(Fm, B, M, width // Fm) for x in (keys, values))
    return cpu_kernel().modular_forward(query.contiguous(), keys, values, weights, from_to, _or_empty(dense, query),
                                        dense_scale, kappa, list(counts))


def read_without_grad(hierarchical: bool, query, connectivity, kappa, counts, dense, dense_scale, keys, values,
                      weights) -> torch.Tensor | None:
    """The fused kernel's attractor where no gradient is needed (the arguments of :class:`FlatAttractor`,
    ``connectivity`` its ``module_width``, or of :class:`ModularAttractor`, ``connectivity`` its
    ``from_to``), without an autograd Function around it (~40 us a read, a third of the kernel's time
    on a rate-map walk); None where the kernel does not run (the caller uses the Functions)."""
    if not _use_kernel(query):
        return None
    kernel = _modular_kernel if hierarchical else _flat_kernel
    return kernel(query, connectivity, kappa, counts, dense, dense_scale, keys, values, weights)[0]


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
    ``query (B, Q, width)``; ``from_to (F, F)`` the module connectivity; ``dense (B, width, width)`` or
    None, read times ``dense_scale``; ``counts``: the number of modules updated at each iteration.

    Iteration ``i`` updates the first ``n = counts[i]`` modules: ``scores_f = h_f . k_f`` (recomputed
    only for the modules that changed), ``into_g = w sum_f from_to[f, g] scores_f``, ``pre = kappa h_g
    + into_g v_g (+ (h dense)_g)``, ``h_g = f(pre)``. The backward pass runs the iterations in reverse
    (a stopped module's score gradients are summed until the iteration that computed the score); the
    keys' and values' gradients are one batched product each at the end."""

    @staticmethod
    def forward(ctx, query, from_to, kappa, counts, dense, dense_scale, keys, values, weights, n_fixed, *sources):
        Fm, (B, Q, width), M = from_to.shape[0], query.shape, keys.shape[1]
        S = width // Fm
        ctx.fused, ctx.from_to = _use_kernel(query), from_to
        if ctx.fused:
            _save(ctx, query.contiguous(), dense, dense_scale, kappa, Part(keys, values, weights), n_fixed, len(sources) // 2)
            h, *ctx.saved = _modular_kernel(query, from_to, kappa, counts, dense, dense_scale, keys, values, weights)
            ctx.counts = counts
            return h
        x = module_major(query, Fm).contiguous()  # (F, B, Q, S)
        h = hippocampal_activation(x)
        score = h.new_empty(Fm * B, Q, M)  # (F * B, Q, M): per module, kept for the modules that stopped
        ctx.hs, ctx.pres, ctx.intos, ctx.changed, changed = [], [], [], [], Fm
        for n in counts:
            if M:
                torch.bmm(h[:changed].view(changed * B, Q, S), keys[: changed * B].transpose(1, 2), out=score[: changed * B])
                into = torch.mm(from_to[:, :n].t(), score.view(Fm, -1)).view(n, B, Q, M).mul_(weights)
                pre = torch.baddbmm(h[:n].view(n * B, Q, S), into.view(n * B, Q, M), values[: n * B], beta=kappa)
                pre = pre.view(n, B, Q, S)
                ctx.intos.append(into)
            else:
                pre = h[:n] * kappa
            if dense is not None:
                pre.add_(module_major(torch.bmm(flat(h), dense), Fm)[:n], alpha=dense_scale)
            ctx.hs.append(h), ctx.pres.append(pre), ctx.changed.append(changed)
            h = hippocampal_activation(pre) if n == Fm else torch.cat([hippocampal_activation(pre), h[n:]])
            changed = n
        _save(ctx, x, dense, dense_scale, kappa, Part(keys, values, weights), n_fixed, len(sources) // 2)
        return flat(h)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, dense = ctx.saved_tensors
        (keys, values, weights), from_to = ctx.part, ctx.from_to
        if ctx.fused:
            Fm, first = from_to.shape[0], _first_row(ctx)
            B, M, S = x.shape[0], keys.shape[1], keys.shape[2]
            d_query, grad_keys, grad_values = cpu_kernel().modular_backward(
                grad, x, keys.view(Fm, B, M, S), values.view(Fm, B, M, S), weights, from_to, _or_empty(dense, x),
                ctx.dense_scale, ctx.kappa, list(ctx.counts), *ctx.saved, first)
            return (d_query, None, None, None, None, None,
                    *_stored_grads(ctx, grad_keys, grad_values, first, lambda g: g.unbind(2)))
        Fm, B, Q, S = x.shape
        dh = module_major(grad, Fm).clone(memory_format=torch.contiguous_format)  # d h_I, then d h_i
        dpres, dscores, pending = [], [], None
        for pre, changed in zip(reversed(ctx.pres), reversed(ctx.changed)):
            n = pre.shape[0]
            dpre = activation_backward(dh[:n], pre)
            torch.mul(dpre, ctx.kappa, out=dh[:n])  # modules >= n passed h through unchanged
            if ctx.intos:
                M = keys.shape[1]
                dinto = torch.bmm(dpre.view(n * B, Q, S), values[: n * B].transpose(1, 2)).view(n, B, Q, M).mul_(weights)
                ds = torch.mm(from_to[:, :n], dinto.view(n, -1)).view(Fm * B, Q, M)
                dscores.append(ds.view(Fm, B, Q, M))
                if pending is not None:  # scores of modules >= changed came from an earlier iteration
                    ds = ds.clone()
                    ds[-pending.shape[0]:] += pending
                dh[:changed].view(changed * B, Q, S).baddbmm_(ds[: changed * B], keys[: changed * B])
                pending = ds[changed * B:] if changed < Fm else None
            if dense is not None:
                full = dpre if n == Fm else torch.cat([dpre, dpre.new_zeros(Fm - n, B, Q, S)])
                dh.add_(module_major(torch.bmm(flat(full), dense.transpose(1, 2)), Fm), alpha=ctx.dense_scale)
            dpres.append(dpre)
        d_query = flat(activation_backward(dh, x)) if ctx.needs_input_grad[0] else None
        if ctx.intos:  # (F * B, I * Q, M), iterations in order
            stacked = torch.stack(dscores[::-1], 2).flatten(0, 1).flatten(1, 2), _stack_modules(ctx.intos, Fm)
        else:
            stacked = None, None

        def rows(grad):  # (F * B, m, S) -> m rows (F, B, S)
            return grad.view(Fm, B, -1, S).unbind(2)

        hs = torch.stack(ctx.hs, 2).view(Fm * B, -1, S)  # (F * B, I * Q, S)
        return (d_query, None, None, None, None, None,
                *_pair_grads(ctx, hs, *stacked, _stack_modules(dpres[::-1], Fm), rows))
