"""TEM, the Tolman-Eichenbaum Machine (Whittington et al., Cell 2020), with an efficient Hebbian memory.

Defaults are those of the public PyTorch port of TEM. Per step ``t`` of a walk:

1. path integration ``g_path = clamp(g_{t-1} + g_{t-1} D(a_t), g_min, 1)`` (``g_min``: -1 as in the
   port, or 0 for non-negative g; learned ``g_init`` at a walk start) with uncertainty
   ``sigma_path = MLP(g_{t-1})``;
2. the observation, two-hot compressed (``n_x_c`` dims) and filtered per module at learned rates,
   queries the inference memory: ``p_x = attractor(x_)``; ``g_mem = MLP(sum_x p_x)`` and its
   uncertainty from the memory's quality give the precision-weighted ``g_inf``;
3. ``p_inf = f(g_inf,sub (x) x_)`` per module (hippocampal conjunction);
4. generative path: ``p`` retrieved from the generative memory with ``g_inf`` and with ``g_path``;
   ``x`` predicted three ways (from ``p_inf``, from ``p(g_inf)``, from ``p(g_path)``);
5. Hebbian writes ``(p_inf +- p(g_inf))`` into the generative memory and ``(p_inf +- p_x)`` into the
   inference memory.

Only the prediction from ``g_path`` (and the memories of steps ``< t``) is a prediction of the
observation at ``t``: ``p_inf`` and ``g_inf`` already use it. So ``logits`` (what evaluation scores)
is that one (the port's ``x_gen``/"gt"); the other two only enter the losses.

On a CPU a window's steps run as one call of a fused kernel (``step_cpu.cpp``, through
:mod:`tem.tem.window`), with a hand-written backward pass where gradients are recorded (the same
values and gradients to float rounding, tested against this PyTorch code), since at TEM's batch sizes
the hundred small operations a step takes here, and as many backward, cost more than its arithmetic.
The PyTorch steps serve GPUs and CPUs where the kernels could not be built.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from tem.model import Model, ModelOutput, Task
from tem.tem import attractor
from tem.tem.attractor import hippocampal_activation
from tem.tem.hebbian import HebbianMemory, update_counts
from tem.tem.modules import BlockMLP, Transition, two_hot_codes
from tem.tem.window import WindowSpec, run_window

LOSS_NAMES = ("p_g", "p_x", "x_gen", "x_g", "x_p", "g", "reg_g", "reg_p")


@dataclass(frozen=True)
class TEMConfig:
    """TEM: architecture and schedules (defaults: the public PyTorch port's)."""

    kind: ClassVar[str] = "tem"
    g_sizes: tuple[int, ...] = (30, 30, 24, 18, 18)
    """MEC units per frequency module, high frequency first."""
    g_sub_sizes: tuple[int, ...] = (10, 10, 8, 6, 6)
    """MEC units per module that index the hippocampus (the first ones of each module)."""
    frequencies: tuple[float, ...] = (0.99, 0.3, 0.09, 0.03, 0.01)
    """initial sensory filtering rate of each module (learned)."""
    n_x_c: int = 10
    """compressed (two-hot) sensory dimension."""
    transition_hidden: int = 20
    """hidden units of each module's action MLP."""
    kappa: float = 0.8
    """attractor decay: h <- f(kappa h + h M)."""
    inference_iterations: tuple[int, ...] = (5, 5, 5, 5, 5)
    """attractor iterations per module, inference memory."""
    generative_iterations: tuple[int, ...] = (5, 4, 3, 2, 1)
    """attractor iterations per module, generative memory (fewer for low frequencies; never more than a
    higher-frequency module)."""
    eta: float = 0.5
    """Hebbian learning rate, reached after ``eta_ramp`` steps."""
    eta_ramp: int = 16000
    """gradient steps over which eta rises linearly from 0."""
    lam: float = 0.9999
    """Hebbian decay lambda, reached after ``lambda_ramp`` steps."""
    lambda_ramp: int = 200
    """gradient steps over which lambda rises linearly from 0."""
    loss_weights: tuple[float, ...] = (1, 1, 1, 1, 1, 1, 0.01, 0.02)
    """weights of p_g, p_x, x_gen, x_g, x_p, g, reg_g, reg_p."""
    latent_ramp: int = 2000
    """steps over which the p_g, p_x and g losses ramp up."""
    reg_g_ramp: int = 40_000_000
    """steps over which the g regulariser ramps down."""
    reg_p_ramp: int = 4000
    """steps over which the p regulariser ramps down."""
    p2g_offset: float = 10000.0
    """offset added to the memory-inferred g's sigma early in training, times ``offset_scale(step)``."""
    p2g_half: int = 400
    """step at which the offset scale is 0.5 (sigmoid)."""
    p2g_width: int = 200
    """width of the offset-scale sigmoid, in steps."""
    g_init_std: float = 0.5
    """std of the initial g and its log-sigma (truncated normal)."""
    g_min: float = -1.0
    """lower bound of g (the port clamps g to [-1, 1]); 0 makes MEC firing non-negative."""
    g_mem_std: float = 0.1
    """std of the output layer of the memory -> g MLP."""
    memory_cap: int = 0
    """keep at most this many recent memories per walk (0: the whole walk)."""
    dense_after: int = 256
    """fold the carried memories into a dense (clamped) matrix once more than this many are stored (0: never)."""

    def __post_init__(self):
        n = len(self.g_sizes)
        if not n or any(len(v) != n for v in (self.g_sub_sizes, self.frequencies, self.inference_iterations,
                                              self.generative_iterations)):
            raise ValueError("g_sizes, g_sub_sizes, frequencies and the iteration counts need one entry per module")
        if any(s > g for s, g in zip(self.g_sub_sizes, self.g_sizes)) or min(self.g_sub_sizes) < 1:
            raise ValueError(f"g_sub_sizes must be in 1..g_sizes, got {self.g_sub_sizes} for {self.g_sizes}")
        if any(list(its) != sorted(its, reverse=True) for its in (self.inference_iterations, self.generative_iterations)):
            raise ValueError("attractor iterations must not increase from high- to low-frequency modules")
        if self.g_min not in (-1.0, 0.0):
            raise ValueError(f"g_min must be -1 (signed g, the port's) or 0 (non-negative g), got {self.g_min}")
        if len(self.loss_weights) != len(LOSS_NAMES):
            raise ValueError(f"loss_weights needs {len(LOSS_NAMES)} entries ({', '.join(LOSS_NAMES)})")


def _ramp(step: int, steps: int) -> float:
    return min((step + 1) / steps, 1.0)


class TEM(Model):
    """TEM with a Hebbian hippocampus stored as vectors (see :mod:`tem.memory.hebbian`).

    ``self.memory`` is the generative memory (its ``n_units`` = hippocampal cells p), and
    ``self.inference_memory`` the one queried by sensation. The schedules (eta, lambda, the p->g
    offset, the loss weights) depend on the gradient step: :meth:`forward` takes it as ``step``, or
    uses ``trained_steps`` (evaluation). ``ModelOutput.mec`` is the inferred g, ``memory_activity``
    the inferred p (its units are the hippocampal cells), and ``aux`` holds what the losses need.
    """

    kind = "tem"
    hippocampal_units = "neuron"
    memory_kind = "hebbian"

    def __init__(self, config: TEMConfig, task: Task):
        super().__init__(config, task)
        c = config
        n_modules = len(c.g_sizes)
        p_sizes = tuple(s * c.n_x_c for s in c.g_sub_sizes)
        self.memory = HebbianMemory(p_sizes, hierarchical=True, cap=c.memory_cap, dense_after=c.dense_after)
        self.inference_memory = HebbianMemory(p_sizes, hierarchical=False, cap=c.memory_cap, dense_after=c.dense_after)
        self._indices(c, p_sizes)
        self.transition = Transition(task.n_actions, c.g_sizes, c.transition_hidden, task.stay_actions)
        self.g_init = nn.Parameter(nn.init.trunc_normal_(torch.empty(sum(c.g_sizes)), std=c.g_init_std,
                                                         a=-2 * c.g_init_std, b=2 * c.g_init_std))
        if c.g_min == 0:  # non-negative g: start from |g_init| so that no unit starts below the clamp
            self.g_init.data.abs_()
        self.logsig_g_init = nn.Parameter(nn.init.trunc_normal_(torch.empty(sum(c.g_sizes)), std=c.g_init_std,
                                                                a=-2 * c.g_init_std, b=2 * c.g_init_std))
        double = tuple(2 * g for g in c.g_sizes)
        self.sigma_path = BlockMLP(c.g_sizes, double, c.g_sizes, torch.tanh, torch.exp)
        self.mu_g_mem = BlockMLP(c.g_sub_sizes, double, c.g_sizes, out_std=c.g_mem_std)
        self.sigma_g_mem = BlockMLP((2,) * n_modules, double, c.g_sizes, torch.tanh, torch.exp)
        freq = torch.tensor(c.frequencies)
        self.alpha = nn.Parameter(torch.log(freq / (1 - freq)))  # filtering rates, through a sigmoid
        self.w_p = nn.Parameter(torch.ones(n_modules))  # sensory weight per module, through a sigmoid
        self.w_x = nn.Parameter(torch.tensor(1.0))
        self.b_x = nn.Parameter(torch.zeros(c.n_x_c))
        self.decompress = nn.Sequential(nn.Linear(c.n_x_c, 20 * c.n_x_c), nn.ELU(), nn.Linear(20 * c.n_x_c, task.n_objects))
        for layer in (self.decompress[0], self.decompress[2]):
            nn.init.xavier_normal_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.register_buffer("two_hot", two_hot_codes(task.n_objects, c.n_x_c), persistent=False)

    def _indices(self, c: TEMConfig, p_sizes: tuple[int, ...]) -> None:
        """Fixed maps between g, g_sub, x (per module) and p = flatten(g_sub (x) x) per module, in the
        memory's padded layout (entry ``f * S + i * n_x_c + j`` = g_sub unit i, x unit j of module f)."""
        n_modules, nx, S = len(c.g_sizes), c.n_x_c, self.memory.module_width
        P, G, Gs = self.memory.width, sum(c.g_sizes), sum(c.g_sub_sizes)
        g_to_p = torch.full((P,), G)  # entry of g (G: an appended zero) each p entry repeats
        gsub = torch.zeros(Gs, dtype=torch.long)  # g_sub unit -> its row of p viewed (F * S / n_x_c, n_x_c)
        x_to_p = torch.zeros(n_modules * nx, P)
        for f in range(n_modules):
            for u in range(p_sizes[f]):
                i, j = divmod(u, nx)
                g_to_p[f * S + u] = sum(c.g_sizes[:f]) + i
                x_to_p[f * nx + j, f * S + u] = 1.0
            gsub[sum(c.g_sub_sizes[:f]): sum(c.g_sub_sizes[: f + 1])] = f * (S // nx) + torch.arange(c.g_sub_sizes[f])
        self.register_buffer("g_to_p", g_to_p, persistent=False)  # (P,): g_sub repeated over x
        self.register_buffer("x_to_p", x_to_p, persistent=False)  # (F * n_x_c, P): x tiled over g_sub
        self.register_buffer("gsub_rows", gsub, persistent=False)  # (Gs,)
        g_module = torch.repeat_interleave(torch.arange(n_modules), torch.tensor(c.g_sizes))
        self.register_buffer("g_module", F.one_hot(g_module, n_modules).float(), persistent=False)  # (G, F)
        self.n_p0 = p_sizes[0]

    # ---- schedules (functions of the gradient step) ----
    def schedule(self, step: int) -> dict[str, float]:
        """eta, lambda and the p->g offset scale at gradient step ``step`` (the port's ramps)."""
        c = self.config
        return {"eta": c.eta * _ramp(step, c.eta_ramp), "lam": c.lam * _ramp(step, c.lambda_ramp),
                "offset": 1.0 / (1.0 + math.exp(min((step - c.p2g_half) / c.p2g_width, 50.0)))}

    def loss_weights(self, step: int) -> dict[str, float]:
        """Weight of each named loss at gradient step ``step``."""
        c, w = self.config, dict(zip(LOSS_NAMES, self.config.loss_weights))
        latent = _ramp(step, c.latent_ramp)
        return {"p_g": w["p_g"] * latent, "p_x": w["p_x"] * latent * (1 - self.schedule(step)["offset"]),
                "x_gen": w["x_gen"], "x_g": w["x_g"], "x_p": w["x_p"], "g": w["g"] * latent,
                "reg_g": w["reg_g"] * (1 - _ramp(step, c.reg_g_ramp)),
                "reg_p": w["reg_p"] * (1 - _ramp(step, c.reg_p_ramp))}

    # ---- state ----
    def initial_state(self, batch_size: int, device="cpu") -> dict:
        """State of ``batch_size`` slots that all start a new walk."""
        n_modules = len(self.config.g_sizes)
        return {"g": self.start_g().detach().expand(batch_size, -1).clone().to(device),
                "x": torch.zeros(batch_size, n_modules, self.config.n_x_c, device=device),
                "memory": {"generative": self.memory.initial_state(batch_size, device),
                           "inference": self.inference_memory.initial_state(batch_size, device)}}

    def mec_modules(self) -> tuple[int, ...]:
        return tuple(self.config.g_sizes)

    # ---- pieces ----
    def start_g(self) -> torch.Tensor:
        """g at a walk's first step ``(G,)``: the learned ``g_init`` (the port's, unclamped), clamped to
        [0, 1] when g is non-negative."""
        return self.g_init if self.config.g_min < 0 else self.g_init.clamp(0, 1)

    def predict_x(self, p0: torch.Tensor) -> torch.Tensor:
        """Logits ``(..., n_objects)`` from the first (highest-frequency) module of p ``(..., n_p0)``."""
        x = p0.unflatten(-1, (-1, self.config.n_x_c)).sum(-2)  # sum over g: (..., n_x_c)
        first, _, last = self.decompress  # called as functions: a module call costs ~10 us, once per step
        return F.linear(F.elu(F.linear(self.w_x * x + self.b_x, first.weight, first.bias)), last.weight, last.bias)

    def sensory(self, obs: torch.Tensor, x_prev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Filtered sensation per module ``(B, T, F, n_x_c)`` and, tiled into p space, the memory
        query / conjunction input ``x_ (B, T, P)``."""
        # x_t = (1 - rate) x_{t-1} + rate code_t, unrolled: x_t = keep^(t+1) x_prev + sum_{s<=t} rate keep^(t-s) code_s
        T = obs.shape[1]
        code = self.two_hot[obs]  # (B, T, n_x_c)
        log_keep = F.logsigmoid(-self.alpha)  # log(1 - rate) per module (F,)
        lag = torch.arange(T, device=obs.device)
        lag = (lag[:, None] - lag[None, :]).to(log_keep.dtype)  # (T, T): t - s
        causal = lag >= 0
        decay = torch.exp(log_keep[:, None, None] * lag.clamp(min=0))  # (F, T, T): keep^(t-s)
        filters = torch.where(causal, torch.sigmoid(self.alpha)[:, None, None] * decay, 0.0)
        since_start = torch.exp(log_keep[:, None] * torch.arange(1, T + 1, device=obs.device))  # (F, T): keep^(t+1)
        # a sum of products rather than a matrix product, which autocast would make bfloat16
        filtered = ((filters.transpose(0, 1)[None, :, :, :, None] * code[:, None, None]).sum(-2)
                    + since_start.t()[None, :, :, None] * x_prev[:, None])  # (B, T, F, n_x_c)
        normalised = F.normalize(F.relu(filtered - filtered.mean(-1, keepdim=True)), dim=-1)
        weighted = torch.sigmoid(self.w_p)[:, None] * normalised
        return filtered, weighted.flatten(-2) @ self.x_to_p

    def _g_to_p(self, g: torch.Tensor) -> torch.Tensor:
        """g ``(..., G)`` -> its subsampled units repeated over x, in p space ``(..., P)`` (0 in the padding)."""
        return F.pad(g, (0, 1)).index_select(-1, self.g_to_p)

    def _sum_over_x(self, p: torch.Tensor) -> torch.Tensor:
        """p ``(B, P)`` -> its sum over x per g_sub unit ``(B, Gs)``."""
        return p.view(p.shape[0], -1, self.config.n_x_c).sum(-1).index_select(-1, self.gsub_rows)

    def losses(self, output: ModelOutput, obs: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        """The eight TEM losses (mean per step and walk) and ``total`` = the weighted sum over the
        window's steps, averaged over walks (the port's)."""
        d = output.aux
        sq = lambda a, b: 0.5 * (a - b).pow(2).sum(-1)  # noqa: E731
        ce = lambda logits: F.cross_entropy(logits.flatten(0, 1), obs.flatten(), reduction="none")  # noqa: E731
        terms = {"p_g": sq(d["p_inf"], d["p_g_inf"]), "p_x": sq(d["p_inf"], d["p_x"]),
                 "x_gen": ce(output.logits), "x_g": ce(d["logits_g"]), "x_p": ce(d["logits_p"]),
                 "g": sq(d["g_inf"], d["g_path"]), "reg_g": d["g_inf"].pow(2).sum(-1), "reg_p": d["p_inf"].abs().sum(-1)}
        weights = self.loss_weights(step)
        out = {name: value.mean() for name, value in terms.items()}
        out["total"] = obs.shape[1] * sum(weights[name] * out[name] for name in LOSS_NAMES)
        return out

    def _step_weights(self, D, sigma_w, mu_mem_w, sigma_mem_w, g_start, sigma_init) -> list[torch.Tensor]:
        """The weights of :meth:`forward`'s steps 1-3 as the fused window kernel takes them."""
        first, _, last = self.decompress
        mlps = [(mlp, w) for mlp, w in ((self.sigma_path, sigma_w), (self.mu_g_mem, mu_mem_w),
                                         (self.sigma_g_mem, sigma_mem_w))]
        return [D, *(x for mlp, w in mlps for x in (w[0], mlp.b1, mlp.spans1, w[1], mlp.b2, mlp.spans2)),
                first.weight, first.bias, last.weight, last.bias, self.b_x, g_start, sigma_init,
                self.gsub_rows, self.g_to_p, self.g_module]

    def track(self, obs, action, new_world, state, activity_units=None) -> ModelOutput:
        """:meth:`tem.model.Model.track`: the generative memory is read only where the state needs
        it (with ``g_inf``, whose prediction error it stores), not with ``g_path``, and nothing is
        predicted (``logits`` None, no losses' terms). Returns every hippocampal unit."""
        return self(obs, action, new_world, state, return_activity=True, predict=False)

    def forward(self, obs: torch.Tensor, action: torch.Tensor, new_world: torch.Tensor, state: dict, *,
                step: int | None = None, return_activity: bool = False, predict: bool = True) -> ModelOutput:
        """Run one window.

        Args:
            obs: ``(B, T)`` int64 object ids. action: ``(B, T)`` int64, -1 at a walk's first step.
            new_world: ``(B,)`` bool, slots whose walk starts at this window (state reset).
            state: from :meth:`initial_state` or the previous window.
            step: gradient step for the schedules (default: ``trained_steps``).
            predict: False for :meth:`track`.
        """
        c = self.config
        B, T = obs.shape
        sched = self.schedule(int(self.trained_steps) if step is None else step)
        eta, lam = sched["eta"], sched["lam"]
        reset = new_world[:, None]
        g_start = self.start_g()
        g_prev = torch.where(reset, g_start, state["g"])
        x_prev = torch.where(reset[:, :, None], 0.0, state["x"])
        gen_state = self.memory.reset(state["memory"]["generative"], new_world)
        inf_state = self.inference_memory.reset(state["memory"]["inference"], new_world)
        filtered, x_p = self.sensory(obs, x_prev)  # (B, T, F, n_x_c), (B, T, P)
        D = self.transition.matrices()  # (G, (A + 1) * G)
        a_index = torch.where(action < 0, self.task.n_actions, action)  # (B, T)
        sigma_w, mu_mem_w, sigma_mem_w = self.sigma_path.weights(), self.mu_g_mem.weights(), self.sigma_g_mem.weights()
        sigma_init = self.logsig_g_init.exp()
        offset = sched["offset"] * c.p2g_offset
        generative = self.memory.window(gen_state, T, eta, lam)
        inference = self.inference_memory.window(inf_state, T, eta, lam)
        kernel = attractor.fused_kernels(obs)
        if kernel is not None:  # every step in one call (tem/tem/step_cpu.cpp), with its backward pass
            counts = [list(update_counts(tuple(its))) for its in (c.inference_iterations, c.generative_iterations)]
            (ik, iv, iw, idense, i_first), (gk, gv, gw, gdense, g_first) = inference.buffers(), generative.buffers()
            spec = WindowSpec(a_index, action < 0, obs, [ik, iv, iw, idense], [gk, gv, gw, gdense, self.memory.from_to],
                              [c.n_x_c, self.n_p0, i_first, g_first, inference.n_fixed], *counts,
                              [float(self.w_x.detach()), offset, c.g_min, c.kappa, lam], predict)
            weights = self._step_weights(D, sigma_w, mu_mem_w, sigma_mem_w, g_start, sigma_init)
            out = run_window(kernel, spec, g_prev, x_p, weights)
            inference.wrote(T), generative.wrote(T)
            rec = dict(zip(("g_path", "g_inf", "p_inf", "p_x", "p_gen"), out))  # (B, T, ...)
        else:
            x_steps = x_p.unbind(1)  # (B, P) per step: one backward node (x_p[:, t] fills a (B, T, P) gradient each)
            a_rows = a_index[:, :, None, None].expand(-1, -1, 1, self.transition.G)  # (B, T, 1, G): gather's index
            starts = (action < 0).any(0).tolist()
            onehot = F.one_hot(obs, self.task.n_objects).float()
            rec = {k: [] for k in ("g_path", "g_inf", "p_inf", "p_x", "p_gen")}
            for t in range(T):
                # 1. path integration
                delta = (g_prev @ D).view(B, -1, self.transition.G).gather(1, a_rows[:, t])[:, 0]
                g_path = (g_prev + delta).clamp(c.g_min, 1)
                sigma_path = self.sigma_path.apply(g_prev, sigma_w)
                if starts[t] or t == 0:  # at t = 0 always, so that every parameter is in the graph (DDP needs it)
                    start = (action[:, t] < 0)[:, None]
                    g_path = torch.where(start, g_start, g_path)
                    sigma_path = torch.where(start, sigma_init, sigma_path)
                # 2. inference memory: sensation -> p_x -> g_mem; precision-weighted merge
                p_x = inference.read(x_steps[t][:, None], c.kappa, c.inference_iterations)[:, 0]  # (B, P)
                mu_raw = self.mu_g_mem.apply(self._sum_over_x(p_x), mu_mem_w)  # (B, G)
                with torch.no_grad():
                    error = 0.5 * (onehot[:, t] - self.predict_x(p_x[:, : self.n_p0]).softmax(-1)).pow(2).sum(-1)
                quality = torch.stack([mu_raw.pow(2) @ self.g_module,
                                       error[:, None].expand(-1, self.g_module.shape[1])], -1)
                sigma_mem = self.sigma_g_mem.apply(quality.flatten(1), sigma_mem_w) + offset
                precision_path, precision_mem = sigma_path.pow(-2), sigma_mem.pow(-2)
                g_inf = ((g_path * precision_path + mu_raw.clamp(c.g_min, 1) * precision_mem)
                         / (precision_path + precision_mem))
                # 3. hippocampal conjunction
                p_inf = hippocampal_activation(self._g_to_p(g_inf) * x_steps[t])
                # 4. the generative memory's queries: g_inf and (for the predictions) g_path
                queries = self._g_to_p(torch.stack([g_inf, g_path], 1) if predict else g_inf[:, None])
                p_gen = generative.read(queries, c.kappa, c.generative_iterations)  # (B, Q, P)
                # 5. Hebbian writes (read by later steps)
                generative.write(p_inf + p_gen[:, 0], p_inf - p_gen[:, 0])
                inference.write(p_inf + p_x, p_inf - p_x)
                for name, value in zip(rec, (g_path, g_inf, p_inf, p_x, p_gen)):
                    rec[name].append(value)
                g_prev = g_inf
            rec = {name: torch.stack(values, 1) for name, values in rec.items()}  # (B, T, ...)
        g_prev = rec["g_inf"][:, -1]
        memory = {"generative": generative.final_state(), "inference": inference.final_state()}
        prediction, terms = None, {}
        if predict:
            p_all = torch.cat([rec["p_inf"][:, :, None], rec["p_gen"]], 2)  # (B, T, 3, P)
            logits = self.predict_x(p_all[..., : self.n_p0])  # (B, T, 3, n_x)
            prediction = logits[:, :, 2]
            terms = {"p_inf": rec["p_inf"], "p_x": rec["p_x"], "p_g_inf": rec["p_gen"][:, :, 0], "g_inf": rec["g_inf"],
                     "g_path": rec["g_path"], "logits_p": logits[:, :, 0], "logits_g": logits[:, :, 1]}
        new_state = {"g": g_prev, "x": filtered[:, -1], "memory": memory}
        activity = units = None
        if return_activity:
            activity = self.memory.unpad(rec["p_inf"])  # (B, T, n_p)
            units = torch.arange(activity.shape[-1], device=activity.device).expand(B, -1)
        return ModelOutput(prediction, rec["g_inf"], activity, units, new_state, aux=terms)
