"""The memories' hot path is GPU-ready by construction (issue 17), checked on the CPU.

The attention memory masks with a boolean mask (no dense float bias) and must read exactly what a
straightforward reference computes; the reads wait for nothing on the device (they run on ``meta``
tensors, which have no data to wait for); the SDM reads as before; ``benchmarks/throughput.py``
reports the sampler's and the model's shares of a step and peak memory.
"""
import importlib.util
import json
from pathlib import Path

import pytest
import torch

import tem.memory.attention as attention_module
from tem.memory import AttentionMemory, SDMMemory
from tem.memory.base import oldest_in_use

ROOT = Path(__file__).resolve().parents[1]
KEY_DIM, VALUE_DIM = 6, 5


class ReferenceAttention:
    """The attention memory's definition, one slot and one step at a time, over the whole walk
    (nothing is ever dropped): step ``t`` reads the valid memories written before it (the ``cap``
    most recent steps when ``cap > 0``), with ``beta = exp(log_beta) (log(1 + n) if log_scale)``."""

    def __init__(self, batch: int, log_beta: torch.Tensor, log_scale: bool, cap: int):
        self.log_beta, self.log_scale, self.cap = log_beta, log_scale, cap
        self.keys = torch.zeros(batch, 0, KEY_DIM, dtype=log_beta.dtype)
        self.values = torch.zeros(batch, 0, VALUE_DIM, dtype=log_beta.dtype)
        self.valid = torch.zeros(batch, 0, dtype=torch.bool)

    def reset(self, slots: torch.Tensor) -> None:
        self.valid = self.valid & ~slots[:, None]

    def __call__(self, query, key, value) -> tuple[torch.Tensor, torch.Tensor]:
        """``read (B, T, value_dim)`` and ``weights (B, T, N + T)`` over every column ever written."""
        B, T, _ = query.shape
        N = self.keys.shape[1]
        keys, values = torch.cat([self.keys, key], 1), torch.cat([self.values, value], 1)
        valid = torch.cat([self.valid, torch.ones(B, T, dtype=torch.bool)], 1)
        reads, weights = torch.zeros(B, T, VALUE_DIM, dtype=query.dtype), torch.zeros(B, T, N + T, dtype=query.dtype)
        for b in range(B):
            for t in range(T):
                now = N + t  # the column step t writes
                seen = [j for j in range(now) if valid[b, j] and (self.cap == 0 or j >= now - self.cap)]
                if not seen:
                    continue
                n = torch.tensor(float(len(seen)))  # float32, as the memory counts
                beta = self.log_beta.exp() * (torch.log1p(n) if self.log_scale else 1.0)
                w = torch.softmax(beta * keys[b, seen] @ query[b, t], dim=0)
                reads[b, t] = w @ values[b, seen]
                weights[b, t, seen] = w
        self.keys, self.values, self.valid = keys.detach(), values.detach(), valid
        return reads, weights


def _windows(batch=5, T=4, n_windows=6, seed=0):
    """Random windows ``(query, key, value, new_world)``: resets of some slots, all slots, none."""
    g = torch.Generator().manual_seed(seed)
    resets = [torch.zeros(batch, dtype=torch.bool), torch.rand(batch, generator=g) < 0.4,
              torch.zeros(batch, dtype=torch.bool), torch.ones(batch, dtype=torch.bool),
              torch.rand(batch, generator=g) < 0.5, torch.tensor([True] + [False] * (batch - 1))]
    for i in range(n_windows):
        yield (torch.randn(batch, T, KEY_DIM, generator=g), torch.randn(batch, T, KEY_DIM, generator=g),
               torch.randn(batch, T, VALUE_DIM, generator=g), resets[i % len(resets)])


@pytest.fixture(params=["grouped", "sdpa", "explicit"])
def kernel(request, monkeypatch):
    """The read's three forms: the CPU's, slots grouped by how far back they read; and, where slots
    are not grouped (other devices), ``scaled_dot_product_attention`` and the explicit product the
    CPU takes where keys and values differ in size (the tests' sizes differ: both are forced here)."""
    if request.param != "grouped":
        monkeypatch.setattr(AttentionMemory, "_spans", staticmethod(lambda state: None))
    monkeypatch.setattr(attention_module, "_math_only", lambda query, values: request.param == "explicit")
    return request.param


def test_explicit_product_only_where_sdpa_has_no_fused_cpu_kernel():
    assert attention_module._math_only(torch.zeros(1, 2, 6), torch.zeros(1, 3, 5))
    assert not attention_module._math_only(torch.zeros(1, 2, 6), torch.zeros(1, 3, 6))


@pytest.mark.parametrize("cap, log_scale", [(0, True), (0, False), (3, True), (6, True), (1, False)])
def test_boolean_mask_attention_equals_the_reference(cap, log_scale, kernel):
    """In float64, so that the comparison is of the masks, not of two float32 summation orders (which
    differ between machines and thread counts); the memory's visible counts, and so ``log(1 + n)``,
    stay float32, hence the relative tolerance."""
    torch.manual_seed(0)
    memory = AttentionMemory(KEY_DIM, VALUE_DIM, beta=1.7, log_scale=log_scale, cap=cap).double()
    reference = ReferenceAttention(5, memory.log_beta.detach(), log_scale, cap)
    state = {name: x.double() if x.is_floating_point() else x for name, x in memory.initial_state(5).items()}
    for query, key, value, new_world in _windows():
        query, key, value = query.double(), key.double(), value.double()
        state = memory.reset(state, new_world)
        reference.reset(new_world)
        expected, expected_weights = reference(query, key, value)
        fused = memory(query, key, value, state)
        explicit = memory(query, key, value, state, return_activity=True)
        with torch.no_grad():  # analysis: the weights computed in place, masked block by block
            in_place = memory(query, key, value, state, return_activity=True)
        torch.testing.assert_close(in_place.read, explicit.read, atol=1e-12, rtol=1e-10)
        torch.testing.assert_close(in_place.activity, explicit.activity, atol=1e-12, rtol=1e-10)
        torch.testing.assert_close(fused.read, expected, atol=1e-8, rtol=2e-6)
        torch.testing.assert_close(explicit.read, expected, atol=1e-8, rtol=2e-6)
        n_columns = explicit.activity.shape[-1]  # the memory keeps the last columns of the walk
        unwritten = max(n_columns - expected_weights.shape[-1], 0)  # a fixed buffer's empty columns
        expected_weights = torch.nn.functional.pad(expected_weights, (unwritten, 0))
        torch.testing.assert_close(explicit.activity, expected_weights[..., -n_columns:], atol=1e-8, rtol=2e-6)
        assert not expected_weights[..., :-n_columns].any()  # the dropped columns were unreadable
        if cap:  # a fixed shape: the cap's columns and the window's
            assert n_columns == cap + query.shape[1] and fused.state["keys"].shape[1] == cap
        for name in fused.state:
            assert torch.equal(fused.state[name], explicit.state[name]), name
        state = fused.state


@pytest.mark.parametrize("cap", [0, 6])
def test_grouped_read_has_the_dense_reads_gradients(cap, monkeypatch):
    """The CPU's grouped read (slots in groups by span, stored memories' products apart) and the
    dense masked product give the same read and the same gradients for the window's queries, keys,
    values and beta, over windows where some slots start new walks (groups of different spans), all
    do, or none; also with at most two groups (``MAX_GROUPS = 2``: slots of different spans share a
    group and their invalid columns are masked)."""
    torch.manual_seed(2)
    memory = AttentionMemory(KEY_DIM, VALUE_DIM, beta=1.4, cap=cap).double()
    state = {name: x.double() if x.is_floating_point() else x for name, x in memory.initial_state(6).items()}
    n_spans = set()
    for query, key, value, new_world in _windows(batch=6, n_windows=10):
        state = memory.reset(state, new_world)
        n_spans.add(len(set(AttentionMemory._spans(state)[0])))
        results = []
        for form in ("grouped", "dense", "two groups"):
            with monkeypatch.context() as patch:
                if form == "dense":
                    patch.setattr(memory, "_spans", lambda state: None)
                if form == "two groups":
                    patch.setattr(attention_module, "MAX_GROUPS", 2)
                inputs = [x.double().requires_grad_() for x in (query, key, value)]
                memory.zero_grad()
                out = memory(*inputs, state)
                (out.read * torch.linspace(-1, 1, out.read.numel()).view_as(out.read)).sum().backward()
                results.append((out.read, *(x.grad for x in inputs), memory.log_beta.grad.clone(), out.state))
        for other in results[1:]:
            for a, b in zip(results[0][:5], other[:5]):
                torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-9)
            assert all(torch.equal(results[0][5][name], other[5][name]) for name in other[5])
        state = results[0][5]
    assert max(n_spans) > 2  # some windows' slots had several spans (more than two groups' worth)


def test_grouped_read_masks_stored_columns_a_slot_does_not_hold():
    """Valid columns with a gap (not a walk's suffix): the grouped read masks them as the dense one."""
    torch.manual_seed(4)
    memory = AttentionMemory(KEY_DIM, VALUE_DIM, beta=0.9).double()
    state = {"keys": torch.randn(3, 5, KEY_DIM, dtype=torch.double),
             "values": torch.randn(3, 5, VALUE_DIM, dtype=torch.double),
             "valid": torch.tensor([[1, 0, 1, 1, 1], [0, 0, 0, 1, 1], [0, 0, 0, 0, 0]], dtype=torch.bool),
             "written": torch.tensor([5, 2, 0])}
    query, key = torch.randn(3, 4, KEY_DIM, dtype=torch.double), torch.randn(3, 4, KEY_DIM, dtype=torch.double)
    value = torch.randn(3, 4, VALUE_DIM, dtype=torch.double)
    assert AttentionMemory._spans(state) == ([5, 2, 0], [4, 2, 0])
    grouped = memory(query, key, value, state).read
    dense = memory(query, key, value, state, return_activity=True).read
    torch.testing.assert_close(grouped, dense, atol=1e-12, rtol=1e-10)


def test_groups_of_slots_by_span():
    groups = AttentionMemory._groups
    assert groups([3, 0, 3, 5]) == [[1], [0, 2], [3]]  # one per span, in order of span
    spans = [0, 3, 3, 5, 9, 9, 12, 0]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(attention_module, "MAX_GROUPS", 3)  # 5 spans: the empty slots, then two halves
        assert groups(spans) == [[0, 7], [1, 2, 3], [4, 5, 6]]
        assert groups([4, 1, 2, 3]) == [[1, 2], [3, 0]]  # nothing empty: three groups at most
    assert sorted(sum(groups(list(range(40))), [])) == list(range(40))  # every slot once


@pytest.mark.parametrize("cap, block", [(0, None), (3, None), (0, 1), (3, 200)])
def test_units_only_weights_equal_the_full_weights_columns(cap, block, monkeypatch):
    """Without a read (rate maps): the watched units' weights are the full weights' columns (units
    not stored, or -1, read 0), nothing at all is computed for no units, and the state is the same;
    also when the window's steps are scored in blocks (``block``: scores per block; 1 = step by step)."""
    if block is not None:
        monkeypatch.setattr(attention_module, "UNITS_BLOCK", block)
    torch.manual_seed(1)
    memory = AttentionMemory(KEY_DIM, VALUE_DIM, beta=1.3, cap=cap).double()
    state = {name: x.double() if x.is_floating_point() else x for name, x in memory.initial_state(5).items()}
    with torch.no_grad():
        for query, key, value, new_world in _windows(n_windows=8):
            query, key, value = query.double(), key.double(), value.double()
            state = memory.reset(state, new_world)
            full = memory(query, key, value, state, return_activity=True)
            steps = full.units  # (B, n_columns) the walk step of each column, -1 for none
            units = torch.stack([steps[:, 0], steps[:, -1], steps[:, -4],  # the window's first step: read later
                                 torch.full_like(steps[:, 0], -1), steps[:, -1] + 7], 1)  # (B, 5)
            only = memory(query, key, value, state, return_activity=True, read=False, activity_units=units)
            assert only.read is None and torch.equal(only.units, units)
            expected = torch.zeros_like(only.activity)  # (B, T, 5)
            for b in range(5):
                for n, unit in enumerate(units[b].tolist()):
                    column = (steps[b] == unit).nonzero()
                    if unit >= 0 and len(column):
                        expected[b, :, n] = full.activity[b, :, column[0, 0]]
            assert expected.any()
            torch.testing.assert_close(only.activity, expected, atol=1e-12, rtol=1e-12)
            none = memory(query, key, value, state, return_activity=True, read=False,
                          activity_units=units[:, :0])
            assert none.activity.shape == (5, 4, 0)
            for name in full.state:
                assert torch.equal(only.state[name], full.state[name]) and torch.equal(none.state[name], full.state[name])
            state = full.state


def test_in_place_weights_far_below_the_top_are_zero():
    """Analysis weights (no gradients) skip the exp where it would be subnormal or 0 (slow on CPUs):
    weights below ~1e-37 of a row's largest are 0, the others are the masked softmax's, and masked
    columns stay exactly 0."""
    memory = AttentionMemory(KEY_DIM, VALUE_DIM, beta=1.0, log_scale=False)
    g = torch.Generator().manual_seed(3)
    query = torch.randn(2, 6, KEY_DIM, generator=g) * 20  # scores spread over hundreds
    key, value = torch.randn(2, 6, KEY_DIM, generator=g), torch.randn(2, 6, VALUE_DIM, generator=g)
    state = memory(query, key, value, memory.initial_state(2)).state
    explicit = memory(query, key, value, state, return_activity=True).activity.detach()  # the masked softmax
    with torch.no_grad():
        in_place = memory(query, key, value, state, return_activity=True).activity
    tiny = (explicit > 0) & (explicit < 1e-38)
    assert tiny.any() and (explicit > 1e-3).any()
    assert not in_place[tiny].any() and not in_place[explicit == 0].any()
    torch.testing.assert_close(in_place, explicit, atol=1e-36, rtol=1e-4)  # scores of ~100: float32 rounding x 100


def test_boolean_mask_gradients_equal_the_reference(kernel):
    """In float64, so that the comparison is not of two float32 summation orders (and without
    ``log_scale``, whose ``log(1 + n)`` of the float32 counts may differ by an ulp between forms)."""
    torch.manual_seed(1)
    memory = AttentionMemory(KEY_DIM, VALUE_DIM, beta=1.3, log_scale=False, cap=5).double()
    reference = ReferenceAttention(5, memory.log_beta.detach(), False, 5)
    state = {name: x.double() if x.is_floating_point() else x for name, x in memory.initial_state(5).items()}
    for query, key, value, new_world in _windows(seed=3):
        state = memory.reset(state, new_world)
        reference.reset(new_world)
        inputs = [x.double().requires_grad_() for x in (query, key, value)]
        expected = torch.autograd.grad(reference(*inputs)[0].square().sum(), inputs)
        out = memory(*inputs, state)
        got = torch.autograd.grad(out.read.square().sum(), inputs)
        for a, b in zip(got, expected):
            torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-10)
        state = {name: tensor.detach() for name, tensor in out.state.items()}


def test_mask_is_boolean_and_broadcast_where_nothing_is_stored():
    memory = AttentionMemory(KEY_DIM, VALUE_DIM)
    empty = memory.initial_state(7)
    visible, count = memory.mask(empty, 4)
    assert visible.dtype == torch.bool and visible.shape == (1, 1, 4, 4)  # the band alone
    assert count[:, :, 0].tolist() == [[0.0, 1.0, 2.0, 3.0]] * 7
    assert visible[0, 0].any(-1).all()  # step 0 sees column 0 (its read is zeroed)
    state = memory(torch.randn(7, 4, KEY_DIM), torch.randn(7, 4, KEY_DIM), torch.randn(7, 4, VALUE_DIM), empty).state
    visible, _ = memory.mask(memory.reset(state, torch.rand(7) < 0.5), 3)
    assert visible.dtype == torch.bool and visible.shape == (7, 1, 3, 4 + 3)


def test_a_capped_memory_keeps_one_shape_and_counts_only_what_was_written():
    memory = AttentionMemory(KEY_DIM, VALUE_DIM, cap=2)
    state = memory.initial_state(7)
    visible, count = memory.mask(state, 4)
    assert visible.dtype == torch.bool and visible.shape == (7, 1, 4, 2 + 4)
    assert count[:, :, 0].tolist() == [[0.0, 1.0, 2.0, 2.0]] * 7  # the empty buffer is never read
    assert visible[:, 0].any(-1).all()  # step 0 sees column 0 (its read is zeroed)
    shapes = set()
    for T in (4, 1, 3, 4):
        state = memory(torch.randn(7, T, KEY_DIM), torch.randn(7, T, KEY_DIM), torch.randn(7, T, VALUE_DIM),
                       memory.reset(state, torch.rand(7) < 0.3)).state
        shapes.add(tuple(tuple(x.shape) for x in state.values()))
    assert shapes == {((7, 2, KEY_DIM), (7, 2, VALUE_DIM), (7, 2), (7,))}


def test_reads_do_not_wait_for_the_device(monkeypatch):
    """On ``meta`` tensors anything that reads data back (``.item()``, ``nonzero``, ``torch.equal``)
    fails; trimming old columns (one ``.item()``) is the attention memory's only such step."""
    monkeypatch.setattr(attention_module, "oldest_in_use", lambda used: 0)
    B, M, T = 3, 4, 5
    with torch.device("meta"):
        state = {"keys": torch.randn(B, M, KEY_DIM), "values": torch.randn(B, M, VALUE_DIM),
                 "valid": torch.ones(B, M, dtype=torch.bool), "written": torch.zeros(B, dtype=torch.long)}
        query, value = torch.randn(B, T, KEY_DIM), torch.randn(B, T, VALUE_DIM)
        for cap in (0, 2):
            memory = AttentionMemory(KEY_DIM, VALUE_DIM, cap=cap)
            for start in (memory.initial_state(B, "meta"), state):
                start = memory.reset(start, torch.zeros(B, dtype=torch.bool))
                assert memory(query, query.clone(), value, start).read.shape == (B, T, VALUE_DIM)
                assert memory(query, query.clone(), value, start, return_activity=True).read.shape == (B, T, VALUE_DIM)
        sdm = SDMMemory(KEY_DIM, VALUE_DIM, n_neurons=32, top_k=3)
        empty = sdm.initial_state(B, "meta")
        assert sdm(query, query.clone(), value, empty, query_is_key=True).read.shape == (B, T, VALUE_DIM)
        assert sdm(query, torch.randn(B, T, KEY_DIM), value, empty, query_is_key=False).read.shape == (B, T, VALUE_DIM)


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@CUDA
def test_cuda_reads_equal_cpu_reads_and_wait_for_nothing(monkeypatch):
    """On a GPU: the same reads as on the CPU, and no host synchronisation in the reads (trimming,
    the one ``.item()``, is patched out while CUDA's sync debug mode turns any other into an error)."""
    g = torch.Generator().manual_seed(0)
    B, M, T = 6, 7, 5
    state = {"keys": torch.randn(B, M, KEY_DIM, generator=g), "values": torch.randn(B, M, VALUE_DIM, generator=g),
             "valid": torch.rand(B, M, generator=g) < 0.7, "written": torch.full((B,), M)}
    query, key, value = (torch.randn(B, T, d, generator=g) for d in (KEY_DIM, KEY_DIM, VALUE_DIM))
    memories = [AttentionMemory(KEY_DIM, VALUE_DIM, cap=0), AttentionMemory(KEY_DIM, VALUE_DIM, cap=3),
                SDMMemory(KEY_DIM, VALUE_DIM, n_neurons=64, top_k=4, generator=g)]
    for memory in memories:
        start = state if isinstance(memory, AttentionMemory) else memory.initial_state(B)
        cpu = memory(query, key, value, start)
        on_gpu = memory.cuda()
        gpu_state = {name: x.cuda() for name, x in start.items()}
        gpu_inputs = [x.cuda() for x in (query, key, value)]
        gpu = on_gpu(*gpu_inputs, gpu_state)
        torch.testing.assert_close(gpu.read.cpu(), cpu.read, atol=1e-5, rtol=1e-4)
        monkeypatch.setattr(attention_module, "oldest_in_use", lambda used: 0)
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            on_gpu(*gpu_inputs, gpu_state, query_is_key=False)
            on_gpu(gpu_inputs[0], gpu_inputs[0].clone(), gpu_inputs[2], gpu_state, return_activity=True,
                   query_is_key=True)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        monkeypatch.undo()


def test_oldest_in_use_counts_the_leading_unheld_columns():
    assert oldest_in_use(torch.zeros(3, 0, dtype=torch.bool)) == 0
    assert oldest_in_use(torch.zeros(3, 4, dtype=torch.bool)) == 4
    used = torch.tensor([[False, False, True, False, True], [False, False, False, True, True]])
    assert oldest_in_use(used) == 2
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        used = torch.rand(4, 9, generator=g) < 0.15
        held = used.any(0)
        assert oldest_in_use(used) == (int(held.nonzero()[0]) if held.any() else 9)


@pytest.mark.parametrize("activation", ["topk", "threshold"])
def test_sdm_read_is_unchanged_whoever_says_queries_are_keys(activation):
    """Tied queries and keys (equal values, distinct tensors as TEM-t computes them): the caller's
    ``query_is_key``, the equality check (not said) and the same tensor read and write alike, and
    as the definition ``read_t = a(q_t) C_t / a(q_t) N_t`` (writes before ``t``) says."""
    torch.manual_seed(0)
    memory = SDMMemory(KEY_DIM, VALUE_DIM, n_neurons=64, activation=activation, top_k=4, radius=2.0)
    g = torch.Generator().manual_seed(1)
    state = memory.initial_state(3)
    for _ in range(3):
        query, value = torch.randn(3, 4, KEY_DIM, generator=g), torch.randn(3, 4, VALUE_DIM, generator=g)
        key = query.clone()
        outputs = [memory(query, key, value, state, query_is_key=True), memory(query, key, value, state),
                   memory(query, query, value, state), memory(query, key, value, state, query_is_key=False)]
        for out in outputs[1:]:
            assert torch.equal(out.read, outputs[0].read)
            for name in out.state:
                assert torch.equal(out.state[name], outputs[0].state[name])
        a = memory.activate(query)  # (B, T, m), the same for keys
        contents, counts = state["contents"].clone(), state["counts"].clone()
        for t in range(4):
            numerator = (a[:, t, :, None] * contents).sum(1)
            denominator = (a[:, t] * counts).sum(1)
            torch.testing.assert_close(outputs[0].read[:, t], numerator / (denominator[:, None] + 1e-6),
                                       atol=1e-6, rtol=1e-5)
            contents = contents + a[:, t, :, None] * value[:, t, None, :]
            counts = counts + a[:, t]
        state = outputs[0].state


def _throughput():
    spec = importlib.util.spec_from_file_location("throughput", ROOT / "benchmarks" / "throughput.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def keep_threads(monkeypatch):
    """The benchmark sets torch's thread count and OMP_NUM_THREADS: put both back afterwards."""
    monkeypatch.setenv("OMP_NUM_THREADS", str(torch.get_num_threads()))
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_throughput_reports_sampler_model_and_peak_memory(capsys, keep_threads):
    tiny = ["--window", "5", "--walk-length", "20", "--seconds", "0.2", "--warmup", "1"]
    assert _throughput().main(["--batch", "4", *tiny]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    result = json.loads(lines[-1])
    for name in ("sampler_ms", "model_ms", "sampler_share", "peak_rss_mb", "peak_gpu_mb", "env_steps_per_s"):
        assert name in result, name
    assert result["batch"] == 4 and result["peak_gpu_mb"] is None and result["peak_rss_mb"] > 0
    assert 0 <= result["sampler_share"] <= 1 and result["model_ms"] > 0
    assert "env-steps/s" in lines[-2] and "sampler" in lines[-2]
    assert _throughput().main(["--batches", "2,3", *tiny]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [r["batch"] for r in results] == [2, 3]


def test_a_capped_memory_never_trims_by_the_data(monkeypatch):
    """With a cap the buffer keeps its last ``cap`` columns: no host read at all, even to trim."""
    def fail(used):
        raise AssertionError("a capped memory must not look at the data to trim")
    monkeypatch.setattr(attention_module, "oldest_in_use", fail)
    B, T = 3, 5
    memory = AttentionMemory(KEY_DIM, VALUE_DIM, cap=4)
    with torch.device("meta"):
        state = memory.initial_state(B, "meta")
        query, value = torch.randn(B, T, KEY_DIM), torch.randn(B, T, VALUE_DIM)
        for _ in range(3):
            state = memory(query, query.clone(), value, memory.reset(state, torch.zeros(B, dtype=torch.bool))).state
            assert state["keys"].shape == (B, 4, KEY_DIM)
