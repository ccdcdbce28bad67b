// TEM's window fused: every step of TEM.forward (tem/tem/model.py) in one call, each slot's steps on
// one thread: the inference memory's read, path integration and its uncertainty, the memory-inferred
// g and its uncertainty (with the prediction error of p_x), the precision-weighted merge, the
// hippocampal conjunction, the generative memory's read and both memories' writes; and, for
// training, its backward pass (window_backward), the steps in reverse. In PyTorch a step is some
// hundred small operations forward and as many backward, each costing more than its arithmetic at
// the batch sizes TEM trains and walks with.
//
// Shapes (B slots, T steps, G MEC units, W = F * S the memories' padded width, A actions): g0 (B,
// G) the g before the window; action (B, T) the row block of D (A for "no action"); first (B, T)
// bool (a walk's first step); obs (B, T) object ids; x (B, T, W) the filtered sensation in p
// space. Weights as TEM._step_weights packs them. The memories as HebbianWindow.buffers gives
// them: keys and values buffers, flat (B, M, W) for the inference memory, per module (F, B, M, S)
// for the generative one, with the carried pairs in rows < n_fixed; each step's weights (T, B, 1,
// M); the dense part (B, W, W) or empty; the first row to read. Step t reads rows first .. n_fixed
// + t - 1 (and the dense part times lam^t) and writes row n_fixed + t; a slot skips the carried rows
// it weighs 0 (those of other slots' older walks: slots start walks at different windows, so the
// buffer carries the pairs of the oldest walk still under way). Returns g_path, g_inf (B, T,
// G), p_inf, p_x (B, T, W) and p_gen (B, T, Q, W): the generative read with g_inf, then with g_path
// when `predict`. With `save`, also what the backward pass needs (step, inf, gen: (B, T, ...)).
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <utility>
#include <vector>

#include "attractor_cpu.h"

namespace {

using tem_cpu::activation;
using tem_cpu::activation_grad;
using tem_cpu::axpy;
using tem_cpu::dot;
using tem_cpu::flat_slot;
using tem_cpu::flat_slot_backward;
using tem_cpu::modular_slot;
using tem_cpu::modular_slot_backward;

// y = w x + b (w (out, in) row-major); spans (out, 2) or nullptr: the columns row o may use (the
// blocks of a masked per-module MLP), the others being 0
template <typename T>
void linear(const T* x, const T* w, const T* b, T* y, int64_t in, int64_t out, const int64_t* spans = nullptr) {
  for (int64_t o = 0; o < out; ++o) {
    const int64_t begin = spans ? spans[2 * o] : 0, end = spans ? spans[2 * o + 1] : in;
    y[o] = dot(w + o * in + begin, x + begin, end - begin) + b[o];
  }
}

// the backward pass of linear: dw[o, span] += dy[o] x[span], db[o] += dy[o], and dx[span] += dy[o]
// w[o, span] where dx is given
template <typename T>
void linear_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db, int64_t in, int64_t out,
                     const int64_t* spans = nullptr) {
  for (int64_t o = 0; o < out; ++o) {
    const int64_t begin = spans ? spans[2 * o] : 0, end = spans ? spans[2 * o + 1] : in;
    db[o] += dy[o];
    axpy(dy[o], x + begin, dw + o * in + begin, end - begin);
    if (dx) axpy(dy[o], w + o * in + begin, dx + begin, end - begin);
  }
}

template <typename T>
inline T elu(T v) {
  return v > T(0) ? v : std::expm1(v);
}

template <typename T>
inline T clamp(T v, T lo, T hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

// The first of rows from .. to - 1 whose weight is not 0 (to if none): rows of weight 0 add exactly
// nothing to a read or its gradients, and a slot's come first (the pairs of walks before its own).
template <typename T>
inline int64_t first_weighted(const T* weights, int64_t from, int64_t to) {
  while (from < to && weights[from] == T(0)) ++from;
  return from;
}

// The slots of groups begin .. end - 1, in order
inline std::vector<int64_t> slots_of(const std::vector<std::vector<int64_t>>& groups, int64_t begin, int64_t end) {
  std::vector<int64_t> slots;
  for (int64_t i = begin; i < end; ++i) slots.insert(slots.end(), groups[i].begin(), groups[i].end());
  return slots;
}

// The slots split into at most n groups, one per thread, of about equal work: the rows a slot reads
// (its carried rows of weight > 0, from the inference memory's first step, then T / 2 on average of
// the window's own) plus some for the step between the reads; the costliest slot first, each to the
// least loaded group. Deterministic, and each group's slots in increasing order, so that the sums
// over a group's slots (the weight gradients) do not depend on timing.
template <typename T>
std::vector<std::vector<int64_t>> balanced_groups(const T* weights, int64_t B, int64_t M, int64_t from, int64_t to,
                                                  int64_t T_, int64_t n) {
  std::vector<int64_t> cost(B), order(B);
  for (int64_t b = 0; b < B; ++b) cost[b] = 2 * (to - first_weighted(weights + b * M, from, to)) + T_ + 10;
  for (int64_t b = 0; b < B; ++b) order[b] = b;
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return cost[a] > cost[b]; });
  n = std::max<int64_t>(1, std::min(n, B));
  std::vector<std::vector<int64_t>> groups(n);
  std::vector<int64_t> load(n, 0);
  for (int64_t b : order) {
    const int64_t g = std::min_element(load.begin(), load.end()) - load.begin();
    groups[g].push_back(b), load[g] += cost[b];
  }
  for (auto& group : groups) std::sort(group.begin(), group.end());
  return groups;
}

// the three per-module MLPs come with their layers' row spans (BlockMLP.spans1, spans2); `all` keeps
// them in TEM._step_weights' order, which Slot names
struct Weights {
  torch::Tensor D, sp_w1, sp_b1, sp_s1, sp_w2, sp_b2, sp_s2, mu_w1, mu_b1, mu_s1, mu_w2, mu_b2, mu_s2, sm_w1, sm_b1,
      sm_s1, sm_w2, sm_b2, sm_s2, dec_w1, dec_b1, dec_w2, dec_b2, b_x, g_start, sigma_init, gsub_rows, g_to_p, g_module;
  std::vector<torch::Tensor> all;
};

enum Slot : int64_t {
  D_ = 0, SP_W1, SP_B1, SP_S1, SP_W2, SP_B2, SP_S2, MU_W1, MU_B1, MU_S1, MU_W2, MU_B2, MU_S2, SM_W1, SM_B1, SM_S1,
  SM_W2, SM_B2, SM_S2, DEC_W1, DEC_B1, DEC_W2, DEC_B2, B_X, G_START, SIGMA_INIT, GSUB_ROWS, G_TO_P, G_MODULE, N_WEIGHTS
};

// the weights the backward pass gives gradients for (the decoder and b_x serve only the prediction
// error, which passes none)
constexpr Slot kDifferentiable[] = {D_,    SP_W1, SP_B1, SP_W2, SP_B2, MU_W1, MU_B1,   MU_W2,
                                    MU_B2, SM_W1, SM_B1, SM_W2, SM_B2, G_START, SIGMA_INIT};

Weights unpack(const std::vector<torch::Tensor>& w) {
  TORCH_CHECK(w.size() == N_WEIGHTS, "TEM window kernel: ", int64_t(N_WEIGHTS), " weight tensors expected, got ",
              w.size());
  std::vector<torch::Tensor> c;
  for (const auto& t : w) c.push_back(t.contiguous());
  return {c[0],  c[1],  c[2],  c[3],  c[4],  c[5],  c[6],  c[7],  c[8],  c[9],  c[10], c[11], c[12], c[13], c[14],
          c[15], c[16], c[17], c[18], c[19], c[20], c[21], c[22], c[23], c[24], c[25], c[26], c[27], c[28], c};
}

struct Sizes {
  int64_t G, W, Gs, H_sp, H_mu, H_sm, H_dec, X, F, n_x_c, n_p0, D_cols;
};

// What a step between the reads keeps for its backward pass, per slot and step: offsets into one
// record of `size` values
struct Record {
  int64_t sp_h, sigma_path, raw, sub, mu_z1, mu, quality, sm_h, sm_e, size;
  explicit Record(const Sizes& s) {
    int64_t at = 0;
    using Field = std::pair<int64_t*, int64_t>;  // an offset to set, and its length
    for (auto [field, n] : std::initializer_list<Field>{{&sp_h, s.H_sp}, {&sigma_path, s.G}, {&raw, s.G}, {&sub, s.Gs},
                                                        {&mu_z1, s.H_mu}, {&mu, s.G}, {&quality, 2 * s.F},
                                                        {&sm_h, s.H_sm}, {&sm_e, s.G}})
      *field = at, at += n;
    size = at;
  }
};

template <typename T>
struct StepScratch {
  std::vector<T> hidden, sums, code, logits, padded, record;
  explicit StepScratch(const Sizes& s)
      : hidden(std::max({s.H_sp, s.H_mu, s.H_sm, s.H_dec})), sums(s.W / s.n_x_c), code(s.n_x_c), logits(s.X),
        padded(s.G + 1), record(Record(s).size) {}
};

// One slot's step between the two reads: g (G) the previous g, a the action's block of D, px (W)
// the inference read, xb (W) the sensation -> path, inf (G), pb = p_inf (W), qb the generative
// queries (Q, W); rec: the step's Record (kept for the backward pass, or scratch).
template <typename T>
void step_slot(const Weights& wt, const Sizes& s, const T* g, int64_t a, bool first, int64_t seen, const T* px,
               const T* xb, T wx, T off, T lo, bool predict, T* path, T* inf, T* pb, T* qb, T* rec,
               StepScratch<T>& tmp) {
  const int64_t G = s.G, W = s.W, F = s.F, n_x_c = s.n_x_c;
  const Record r(s);
  T *sp_h = rec + r.sp_h, *sigma_path = rec + r.sigma_path, *raw = rec + r.raw, *sub = rec + r.sub;
  T *mu_z1 = rec + r.mu_z1, *mu = rec + r.mu, *quality = rec + r.quality, *sm_h = rec + r.sm_h, *sm_e = rec + r.sm_e;
  // 1. path integration: g + g D(a), clamped; sigma_path = exp(MLP(g_prev))
  std::fill(raw, raw + G, T(0));
  for (int64_t i = 0; i < G; ++i) axpy(g[i], wt.D.data_ptr<T>() + i * s.D_cols + a * G, raw, G);
  for (int64_t j = 0; j < G; ++j) raw[j] += g[j], path[j] = clamp(raw[j], lo, T(1));
  linear(g, wt.sp_w1.data_ptr<T>(), wt.sp_b1.data_ptr<T>(), sp_h, G, s.H_sp, wt.sp_s1.data_ptr<int64_t>());
  for (int64_t h = 0; h < s.H_sp; ++h) sp_h[h] = std::tanh(sp_h[h]);
  linear(sp_h, wt.sp_w2.data_ptr<T>(), wt.sp_b2.data_ptr<T>(), sigma_path, s.H_sp, G, wt.sp_s2.data_ptr<int64_t>());
  for (int64_t j = 0; j < G; ++j) sigma_path[j] = std::exp(sigma_path[j]);
  if (first)
    for (int64_t j = 0; j < G; ++j) path[j] = wt.g_start.data_ptr<T>()[j], sigma_path[j] = wt.sigma_init.data_ptr<T>()[j];
  // 2. memory-inferred g: MLP of p_x summed over x, per g_sub unit
  for (int64_t row = 0; row < W / n_x_c; ++row) {
    T sum = 0;
    for (int64_t k = 0; k < n_x_c; ++k) sum += px[row * n_x_c + k];
    tmp.sums[row] = sum;
  }
  for (int64_t u = 0; u < s.Gs; ++u) sub[u] = tmp.sums[wt.gsub_rows.data_ptr<int64_t>()[u]];
  linear(sub, wt.mu_w1.data_ptr<T>(), wt.mu_b1.data_ptr<T>(), mu_z1, s.Gs, s.H_mu, wt.mu_s1.data_ptr<int64_t>());
  T* hidden = tmp.hidden.data();
  for (int64_t h = 0; h < s.H_mu; ++h) hidden[h] = elu(mu_z1[h]);
  linear(hidden, wt.mu_w2.data_ptr<T>(), wt.mu_b2.data_ptr<T>(), mu, s.H_mu, G, wt.mu_s2.data_ptr<int64_t>());
  // its uncertainty from the memory's quality: |mu|^2 per module and the error of p_x's prediction
  std::fill(tmp.code.begin(), tmp.code.end(), T(0));
  for (int64_t row = 0; row < s.n_p0 / n_x_c; ++row)
    for (int64_t k = 0; k < n_x_c; ++k) tmp.code[k] += px[row * n_x_c + k];
  for (int64_t k = 0; k < n_x_c; ++k) tmp.code[k] = wx * tmp.code[k] + wt.b_x.data_ptr<T>()[k];
  linear(tmp.code.data(), wt.dec_w1.data_ptr<T>(), wt.dec_b1.data_ptr<T>(), hidden, n_x_c, s.H_dec);
  for (int64_t h = 0; h < s.H_dec; ++h) hidden[h] = elu(hidden[h]);
  T* logits = tmp.logits.data();
  linear(hidden, wt.dec_w2.data_ptr<T>(), wt.dec_b2.data_ptr<T>(), logits, s.H_dec, s.X);
  T top = logits[0], total = 0, error = 0;
  for (int64_t o = 1; o < s.X; ++o) top = std::max(top, logits[o]);
  for (int64_t o = 0; o < s.X; ++o) total += (logits[o] = std::exp(logits[o] - top));
  for (int64_t o = 0; o < s.X; ++o) {
    const T diff = (o == seen ? T(1) : T(0)) - logits[o] / total;
    error += diff * diff;
  }
  error *= T(0.5);
  const T* module = wt.g_module.data_ptr<T>();
  for (int64_t f = 0; f < F; ++f) {
    T sum = 0;
    for (int64_t j = 0; j < G; ++j) sum += mu[j] * mu[j] * module[j * F + f];
    quality[2 * f] = sum, quality[2 * f + 1] = error;
  }
  linear(quality, wt.sm_w1.data_ptr<T>(), wt.sm_b1.data_ptr<T>(), sm_h, 2 * F, s.H_sm, wt.sm_s1.data_ptr<int64_t>());
  for (int64_t h = 0; h < s.H_sm; ++h) sm_h[h] = std::tanh(sm_h[h]);
  linear(sm_h, wt.sm_w2.data_ptr<T>(), wt.sm_b2.data_ptr<T>(), sm_e, s.H_sm, G, wt.sm_s2.data_ptr<int64_t>());
  // precision-weighted merge
  for (int64_t j = 0; j < G; ++j) {
    sm_e[j] = std::exp(sm_e[j]);
    const T s_mem = sm_e[j] + off, s_path = sigma_path[j];
    const T p_path = T(1) / (s_path * s_path), p_mem = T(1) / (s_mem * s_mem);
    inf[j] = (path[j] * p_path + clamp(mu[j], lo, T(1)) * p_mem) / (p_path + p_mem);
  }
  // 3. hippocampal conjunction; 4. the generative memory's queries (g_sub repeated over x)
  const int64_t* g_to_p = wt.g_to_p.data_ptr<int64_t>();
  T* padded = tmp.padded.data();
  padded[G] = 0;
  std::copy(inf, inf + G, padded);
  for (int64_t k = 0; k < W; ++k) {
    const T gk = padded[g_to_p[k]];
    pb[k] = activation(gk * xb[k]);
    qb[k] = gk;
  }
  if (predict) {
    std::copy(path, path + G, padded);
    for (int64_t k = 0; k < W; ++k) qb[W + k] = padded[g_to_p[k]];
  }
}

// The gradients of the weights the steps between the reads use (kDifferentiable), summed over a
// thread's slots and steps, by Slot
template <typename T>
struct WeightGrads {
  std::vector<std::vector<T>> parts;
  explicit WeightGrads(const Weights& wt) : parts(N_WEIGHTS) {
    for (Slot p : kDifferentiable) parts[p].assign(wt.all[p].numel(), T(0));
  }
  T* operator[](Slot p) { return parts[p].data(); }
};

template <typename T>
struct BackScratch {
  std::vector<T> dmu, dz_sm, dsigma_path, dh, dz1, dq, dsub, draw, hidden;
  explicit BackScratch(const Sizes& s)
      : dmu(s.G), dz_sm(s.G), dsigma_path(s.G), dh(std::max({s.H_sp, s.H_mu, s.H_sm})),
        dz1(std::max({s.H_sp, s.H_mu, s.H_sm})), dq(2 * s.F), dsub(s.Gs), draw(s.G),
        hidden(std::max({s.H_sp, s.H_mu, s.H_sm})) {}
};

// The backward pass of step_slot. In: dpb (W) the gradient of p_inf, dinf, dpath (G) of g_inf and
// g_path, dpx (W) of p_x (the memory-inferred g's gradient is added to it). Out: dx (W) += the
// sensation's gradient, dg (G) = the previous g's; the weights' gradients are added to acc.
template <typename T>
void step_slot_backward(const Weights& wt, const Sizes& s, const T* g, int64_t a, bool first, const T* xb,
                        const T* path, const T* inf, const T* rec, T off, T lo, const T* dpb, T* dinf, T* dpath,
                        T* dpx, T* dx, T* dg, WeightGrads<T>& acc, BackScratch<T>& tmp) {
  const int64_t G = s.G, W = s.W, F = s.F, n_x_c = s.n_x_c;
  const Record r(s);
  const T *sp_h = rec + r.sp_h, *sigma_path = rec + r.sigma_path, *raw = rec + r.raw, *sub = rec + r.sub;
  const T *mu_z1 = rec + r.mu_z1, *mu = rec + r.mu, *quality = rec + r.quality, *sm_h = rec + r.sm_h,
          *sm_e = rec + r.sm_e;
  // 3. the conjunction p_inf = f(g_inf repeated over x * x)
  const int64_t* g_to_p = wt.g_to_p.data_ptr<int64_t>();
  for (int64_t k = 0; k < W; ++k) {
    const int64_t j = g_to_p[k];
    if (j == G) continue;  // padding: g 0
    const T d = dpb[k] * activation_grad(inf[j] * xb[k]);
    dinf[j] += d * xb[k], dx[k] += d * inf[j];
  }
  // the merge g_inf = (g_path p_path + clamp(mu) p_mem) / (p_path + p_mem), p = sigma^-2
  for (int64_t j = 0; j < G; ++j) {
    const T s_path = sigma_path[j], s_mem = sm_e[j] + off;
    const T p_path = T(1) / (s_path * s_path), p_mem = T(1) / (s_mem * s_mem), mu_c = clamp(mu[j], lo, T(1));
    const T den = p_path + p_mem, num = path[j] * p_path + mu_c * p_mem;
    const T dnum = dinf[j] / den, dden = -dinf[j] * num / (den * den);
    dpath[j] += dnum * p_path;
    tmp.dmu[j] = (mu[j] >= lo && mu[j] <= T(1)) ? dnum * p_mem : T(0);
    tmp.dsigma_path[j] = (dnum * path[j] + dden) * T(-2) / (s_path * s_path * s_path);
    tmp.dz_sm[j] = (dnum * mu_c + dden) * T(-2) / (s_mem * s_mem * s_mem) * sm_e[j];
  }
  // sigma_mem = exp(MLP(quality)) + offset (tanh hidden); quality = |mu|^2 per module and the error (no gradient)
  T *dh = tmp.dh.data(), *dz1 = tmp.dz1.data(), *dq = tmp.dq.data();
  std::fill(dh, dh + s.H_sm, T(0));
  linear_backward(tmp.dz_sm.data(), sm_h, wt.sm_w2.data_ptr<T>(), dh, acc[SM_W2], acc[SM_B2], s.H_sm, G,
                  wt.sm_s2.data_ptr<int64_t>());
  for (int64_t h = 0; h < s.H_sm; ++h) dz1[h] = dh[h] * (T(1) - sm_h[h] * sm_h[h]);
  std::fill(dq, dq + 2 * F, T(0));
  linear_backward(dz1, quality, wt.sm_w1.data_ptr<T>(), dq, acc[SM_W1], acc[SM_B1], 2 * F, s.H_sm,
                  wt.sm_s1.data_ptr<int64_t>());
  const T* module = wt.g_module.data_ptr<T>();
  for (int64_t j = 0; j < G; ++j)
    for (int64_t f = 0; f < F; ++f) tmp.dmu[j] += dq[2 * f] * module[j * F + f] * T(2) * mu[j];
  // mu = MLP(sum over x of p_x) (ELU hidden)
  T* hidden = tmp.hidden.data();
  for (int64_t h = 0; h < s.H_mu; ++h) hidden[h] = elu(mu_z1[h]);
  std::fill(dh, dh + s.H_mu, T(0));
  linear_backward(tmp.dmu.data(), hidden, wt.mu_w2.data_ptr<T>(), dh, acc[MU_W2], acc[MU_B2], s.H_mu, G,
                  wt.mu_s2.data_ptr<int64_t>());
  for (int64_t h = 0; h < s.H_mu; ++h) dz1[h] = dh[h] * (mu_z1[h] > T(0) ? T(1) : std::exp(mu_z1[h]));
  std::fill(tmp.dsub.begin(), tmp.dsub.end(), T(0));
  linear_backward(dz1, sub, wt.mu_w1.data_ptr<T>(), tmp.dsub.data(), acc[MU_W1], acc[MU_B1], s.Gs, s.H_mu,
                  wt.mu_s1.data_ptr<int64_t>());
  for (int64_t u = 0; u < s.Gs; ++u) {
    const int64_t row = wt.gsub_rows.data_ptr<int64_t>()[u];
    for (int64_t k = 0; k < n_x_c; ++k) dpx[row * n_x_c + k] += tmp.dsub[u];
  }
  // 1. path integration and its uncertainty (a walk's first step: the learned start instead)
  std::fill(dg, dg + G, T(0));
  if (first) {
    axpy(T(1), dpath, acc[G_START], G);
    axpy(T(1), tmp.dsigma_path.data(), acc[SIGMA_INIT], G);
    return;
  }
  T* draw = tmp.draw.data();
  for (int64_t j = 0; j < G; ++j) dg[j] = draw[j] = (raw[j] >= lo && raw[j] <= T(1)) ? dpath[j] : T(0);
  for (int64_t i = 0; i < G; ++i) {
    const int64_t at = i * s.D_cols + a * G;
    dg[i] += dot(wt.D.data_ptr<T>() + at, draw, G);
    axpy(g[i], draw, acc[D_] + at, G);
  }
  for (int64_t j = 0; j < G; ++j) tmp.dsigma_path[j] *= sigma_path[j];  // through exp
  std::fill(dh, dh + s.H_sp, T(0));
  linear_backward(tmp.dsigma_path.data(), sp_h, wt.sp_w2.data_ptr<T>(), dh, acc[SP_W2], acc[SP_B2], s.H_sp, G,
                  wt.sp_s2.data_ptr<int64_t>());
  for (int64_t h = 0; h < s.H_sp; ++h) dz1[h] = dh[h] * (T(1) - sp_h[h] * sp_h[h]);
  linear_backward(dz1, g, wt.sp_w1.data_ptr<T>(), dg, acc[SP_W1], acc[SP_B1], G, s.H_sp, wt.sp_s1.data_ptr<int64_t>());
}

// A window's arguments, shared by its forward and backward passes: memories as lists, inf = [keys,
// values, weights, dense], gen = [keys, values, weights, dense, from_to]; ints = [n_x_c, n_p0,
// inf_first, gen_first, n_fixed]; reals = [w_x, offset, g_min, kappa, lam]
struct Window {
  Weights wt;
  torch::Tensor g0, act, start, ob, x, ik, iv, iw, idense, gk, gv, gw, gdense, ft;
  std::vector<int64_t> inf_counts, gen_counts;
  int64_t B, G, T, W, Q, F, S, M, inf_first, gen_first, n_fixed, I_inf, I_gen;
  double w_x, offset, g_min, kappa, lam;
  Sizes s;
  int64_t inf_saved, gen_saved;  // values kept per slot and step for the backward pass

  Window(torch::Tensor g0_, torch::Tensor action, torch::Tensor first, torch::Tensor obs, torch::Tensor x_,
         const std::vector<torch::Tensor>& weights, const std::vector<torch::Tensor>& inf,
         const std::vector<torch::Tensor>& gen, const std::vector<int64_t>& ints, std::vector<int64_t> inf_counts_,
         std::vector<int64_t> gen_counts_, const std::vector<double>& reals, bool predict)
      : wt(unpack(weights)), inf_counts(std::move(inf_counts_)), gen_counts(std::move(gen_counts_)) {
    TORCH_CHECK(inf.size() == 4 && gen.size() == 5 && ints.size() == 5 && reals.size() == 5,
                "TEM window kernel: 4 inference and 5 generative memory tensors, 5 ints and 5 reals expected");
    for (const auto& t : {inf[0], inf[1], gen[0], gen[1]})
      TORCH_CHECK(t.is_contiguous(), "TEM window kernel: a memory buffer must be contiguous (it is written in place)");
    g0 = g0_.contiguous(), x = x_.contiguous();
    act = action.to(torch::kLong).contiguous(), start = first.to(torch::kBool).contiguous();
    ob = obs.to(torch::kLong).contiguous();
    ik = inf[0], iv = inf[1], iw = inf[2].contiguous(), idense = inf[3].contiguous();
    gk = gen[0], gv = gen[1], gw = gen[2].contiguous(), gdense = gen[3].contiguous();
    ft = gen[4].to(g0.scalar_type()).contiguous();
    const int64_t n_x_c = ints[0], n_p0 = ints[1];
    inf_first = ints[2], gen_first = ints[3], n_fixed = ints[4];
    w_x = reals[0], offset = reals[1], g_min = reals[2], kappa = reals[3], lam = reals[4];
    B = g0.size(0), G = g0.size(1), T = x.size(1), W = x.size(2), Q = predict ? 2 : 1;
    F = gk.size(0), S = gk.size(3), M = gk.size(2);
    s = Sizes{G, W, wt.mu_w1.size(1), wt.sp_w1.size(0), wt.mu_w1.size(0), wt.sm_w1.size(0), wt.dec_w1.size(0),
              wt.dec_w2.size(0), wt.g_module.size(1), n_x_c, n_p0, wt.D.size(1)};
    TORCH_CHECK(F * S == W && ik.size(2) == W && ik.size(1) == M && M >= n_fixed + T && wt.sm_w1.size(1) == 2 * s.F &&
                    s.D_cols % G == 0 && n_p0 % n_x_c == 0 && W % n_x_c == 0 && iw.size(0) >= T &&
                    iw.size(-1) == M && gw.size(-1) == M && 0 <= inf_first && inf_first <= n_fixed &&
                    0 <= gen_first && gen_first <= n_fixed,
                "TEM window kernel: shapes do not fit");
    I_inf = inf_counts.size(), I_gen = gen_counts.size();
    inf_saved = I_inf * (2 * W + M);               // hs, pres (I, W), intos (I, M)
    gen_saved = I_gen * Q * (2 * W + F * M) + Q * W;  // hs, pres (I, Q, W), intos (I, Q, F, M), the query (Q, W)
  }
};

// Forward: g_path, g_inf (B, T, G), p_inf, p_x (B, T, W), p_gen (B, T, Q, W) and, with `save`, the
// backward pass's records: step (B, T, Record size), inf (B, T, inf_saved), gen (B, T, gen_saved).
std::vector<torch::Tensor> window_forward(torch::Tensor g0, torch::Tensor action, torch::Tensor first,
                                          torch::Tensor obs, torch::Tensor x, std::vector<torch::Tensor> weights,
                                          std::vector<torch::Tensor> inf, std::vector<torch::Tensor> gen,
                                          std::vector<int64_t> ints, std::vector<int64_t> inf_counts,
                                          std::vector<int64_t> gen_counts, std::vector<double> reals, bool predict,
                                          bool save) {
  const Window w(g0, action, first, obs, x, weights, inf, gen, ints, inf_counts, gen_counts, reals, predict);
  const int64_t B = w.B, G = w.G, T_ = w.T, W = w.W, Q = w.Q, F = w.F, S = w.S, M = w.M;
  const Sizes& s = w.s;
  const Record rec(s);
  auto options = w.g0.options();
  auto g_path = torch::empty({B, T_, G}, options), g_inf = torch::empty({B, T_, G}, options);
  auto p_inf = torch::empty({B, T_, W}, options), p_x = torch::empty({B, T_, W}, options);
  auto p_gen = torch::empty({B, T_, Q, W}, options);
  auto step_rec = torch::empty({save ? B : 0, T_, rec.size}, options);
  auto inf_rec = torch::empty({save ? B : 0, T_, w.inf_saved}, options);
  auto gen_rec = torch::empty({save ? B : 0, T_, w.gen_saved}, options);  // modular_slot writes every into it reads
  const bool inf_has_dense = w.idense.numel() > 0, gen_has_dense = w.gdense.numel() > 0;
  AT_DISPATCH_FLOATING_TYPES(w.g0.scalar_type(), "window_forward", [&] {
    using T = scalar_t;
    const T lo = static_cast<T>(w.g_min), wx = static_cast<T>(w.w_x), off = static_cast<T>(w.offset);
    const T kap = static_cast<T>(w.kappa);
    T *ik = w.ik.data_ptr<T>(), *iv = w.iv.data_ptr<T>(), *gk = w.gk.data_ptr<T>(), *gv = w.gv.data_ptr<T>();
    const T *iw = w.iw.data_ptr<T>(), *gw = w.gw.data_ptr<T>(), *ft = w.ft.data_ptr<T>();
    const int64_t I_inf = w.I_inf, I_gen = w.I_gen, n_fixed = w.n_fixed;
    const auto groups = balanced_groups(iw, B, M, w.inf_first, n_fixed, T_, at::get_num_threads());
    at::parallel_for(0, groups.size(), 1, [&](int64_t begin, int64_t end) {
      StepScratch<T> tmp(s);
      std::vector<T> g(G), h(Q * W), query(Q * W), pres(std::max(I_inf, I_gen) * Q * W),
          intos(std::max(I_inf, I_gen * F) * Q * M), score(Q * F * M);
      for (int64_t b : slots_of(groups, begin, end)) {
        std::copy(w.g0.data_ptr<T>() + b * G, w.g0.data_ptr<T>() + (b + 1) * G, g.begin());
        const T* i_dense = inf_has_dense ? w.idense.data_ptr<T>() + b * W * W : nullptr;
        const T* g_dense = gen_has_dense ? w.gdense.data_ptr<T>() + b * W * W : nullptr;
        for (int64_t t = 0; t < T_; ++t) {
          const int64_t m = n_fixed + t, bt = b * T_ + t;
          const T scale = static_cast<T>(std::pow(w.lam, static_cast<double>(t)));
          T *px = p_x.data_ptr<T>() + bt * W, *pb = p_inf.data_ptr<T>() + bt * W, *pg = p_gen.data_ptr<T>() + bt * Q * W;
          T *path = g_path.data_ptr<T>() + bt * G, *inf = g_inf.data_ptr<T>() + bt * G;
          // what the backward pass needs, or scratch
          T *i_hs = nullptr, *i_pres = pres.data(), *i_intos = intos.data(), *g_hs = nullptr, *g_pres = pres.data();
          T *g_intos = intos.data(), *q = query.data(), *r = tmp.record.data();
          if (save) {
            i_hs = inf_rec.data_ptr<T>() + bt * w.inf_saved, i_pres = i_hs + I_inf * W, i_intos = i_pres + I_inf * W;
            g_hs = gen_rec.data_ptr<T>() + bt * w.gen_saved, g_pres = g_hs + I_gen * Q * W;
            g_intos = g_pres + I_gen * Q * W, q = g_intos + I_gen * Q * F * M;
            r = step_rec.data_ptr<T>() + bt * rec.size;
          }
          const int64_t i_from = first_weighted(iw + (t * B + b) * M, w.inf_first, n_fixed);
          const int64_t g_from = first_weighted(gw + (t * B + b) * M, w.gen_first, n_fixed);
          flat_slot(w.x.data_ptr<T>() + bt * W, px, 1, W, S, ik + (b * M + i_from) * W, W, iv + (b * M + i_from) * W,
                    W, m - i_from, iw + (t * B + b) * M + i_from, i_dense, scale, kap, w.inf_counts, i_hs, i_pres,
                    i_intos, h.data());
          step_slot(w.wt, s, g.data(), w.act.data_ptr<int64_t>()[bt], w.start.data_ptr<bool>()[bt],
                    w.ob.data_ptr<int64_t>()[bt], px, w.x.data_ptr<T>() + bt * W, wx, off, lo, Q > 1, path, inf, pb,
                    q, r, tmp);
          modular_slot(q, pg, Q, F, S, gk + (b * M + g_from) * S, B * M * S, S, gv + (b * M + g_from) * S, B * M * S,
                       S, m - g_from, gw + (t * B + b) * M + g_from, ft, g_dense, scale, kap, w.gen_counts, g_hs,
                       g_pres, g_intos, h.data(), score.data());
          // 5. Hebbian writes (read from the next step on): row m of each memory
          for (int64_t k = 0; k < W; ++k) {
            ik[(b * M + m) * W + k] = pb[k] + px[k], iv[(b * M + m) * W + k] = pb[k] - px[k];
            const int64_t f = k / S, at = ((f * B + b) * M + m) * S + k % S;
            gk[at] = pb[k] + pg[k], gv[at] = pb[k] - pg[k];
          }
          std::copy(inf, inf + G, g.begin());
        }
      }
    });
  });
  if (!save) return {g_path, g_inf, p_inf, p_x, p_gen};
  return {g_path, g_inf, p_inf, p_x, p_gen, step_rec, inf_rec, gen_rec};
}

// Backward: grads = the gradients of window_forward's five outputs; outputs = its g_path, g_inf;
// saved = its three records. Returns the gradients of g0 (B, G), x (B, T, W), then of each weight
// (undefined where none passes: kDifferentiable). Each slot runs
// its steps in reverse on one thread; a pair written at step t collects its gradients from the reads
// of later steps before step t's backward pass hands them to p_inf, p_x and p_gen.
std::vector<torch::Tensor> window_backward(std::vector<torch::Tensor> grads, torch::Tensor g0, torch::Tensor action,
                                           torch::Tensor first, torch::Tensor obs, torch::Tensor x,
                                           std::vector<torch::Tensor> weights, std::vector<torch::Tensor> inf,
                                           std::vector<torch::Tensor> gen, std::vector<int64_t> ints,
                                           std::vector<int64_t> inf_counts, std::vector<int64_t> gen_counts,
                                           std::vector<double> reals, bool predict, std::vector<torch::Tensor> outputs,
                                           std::vector<torch::Tensor> saved) {
  const Window w(g0, action, first, obs, x, weights, inf, gen, ints, inf_counts, gen_counts, reals, predict);
  const int64_t B = w.B, G = w.G, T_ = w.T, W = w.W, Q = w.Q, F = w.F, S = w.S, M = w.M;
  const Sizes& s = w.s;
  const Record rec(s);
  TORCH_CHECK(grads.size() == 5 && outputs.size() == 2 && saved.size() == 3, "TEM window backward: arguments");
  for (auto& t : grads) t = t.contiguous();
  const auto g_path = outputs[0].contiguous(), g_inf = outputs[1].contiguous();
  const auto step_rec = saved[0], inf_rec = saved[1], gen_rec = saved[2];
  TORCH_CHECK(step_rec.size(0) == B && step_rec.size(2) == rec.size && inf_rec.size(2) == w.inf_saved &&
                  gen_rec.size(2) == w.gen_saved,
              "TEM window backward: the records do not fit (was the forward pass run with save?)");
  auto d_g0 = torch::empty({B, G}, w.g0.options()), d_x = torch::zeros({B, T_, W}, w.g0.options());
  std::vector<torch::Tensor> d_weights(N_WEIGHTS);  // undefined (None) where no gradient passes
  for (Slot p : kDifferentiable) d_weights[p] = torch::zeros_like(w.wt.all[p]);
  const bool inf_has_dense = w.idense.numel() > 0, gen_has_dense = w.gdense.numel() > 0;
  AT_DISPATCH_FLOATING_TYPES(w.g0.scalar_type(), "window_backward", [&] {
    using T = scalar_t;
    const T lo = static_cast<T>(w.g_min), off = static_cast<T>(w.offset), kap = static_cast<T>(w.kappa);
    const T *ik = w.ik.data_ptr<T>(), *iv = w.iv.data_ptr<T>(), *gk = w.gk.data_ptr<T>(), *gv = w.gv.data_ptr<T>();
    const T *iw = w.iw.data_ptr<T>(), *gw = w.gw.data_ptr<T>(), *ft = w.ft.data_ptr<T>();
    const T *d_path0 = grads[0].data_ptr<T>(), *d_inf0 = grads[1].data_ptr<T>(), *d_pb0 = grads[2].data_ptr<T>();
    const T *d_px0 = grads[3].data_ptr<T>(), *d_pg0 = grads[4].data_ptr<T>();
    const int64_t* g_to_p = w.wt.g_to_p.data_ptr<int64_t>();
    const int64_t I_inf = w.I_inf, I_gen = w.I_gen, n_fixed = w.n_fixed;
    const auto groups = balanced_groups(iw, B, M, w.inf_first, n_fixed, T_, at::get_num_threads());
    std::vector<WeightGrads<T>> sums(groups.size(), WeightGrads<T>(w.wt));  // per group, added in order below
    std::vector<int64_t> group_of(B);
    for (size_t i = 0; i < groups.size(); ++i)
      for (int64_t b : groups[i]) group_of[b] = i;
    at::parallel_for(0, groups.size(), 1, [&](int64_t begin, int64_t end) {
      BackScratch<T> tmp(s);
      // the gradients of the window's written pairs, (T, W) (inference) and (F, T, S) (generative)
      std::vector<T> dki(T_ * W), dvi(T_ * W), dkg(T_ * W), dvg(T_ * W);
      std::vector<T> dpb(W), dpx(W), dh(Q * W), dquery(Q * W), dinf(G), dpath(G), dg(G), carry(G);
      std::vector<T> dpre(W), dscore(M), dinto(F * M), pending(Q * F * M);
      for (int64_t b : slots_of(groups, begin, end)) {
        WeightGrads<T>& acc = sums[group_of[b]];
        for (auto* v : {&dki, &dvi, &dkg, &dvg}) std::fill(v->begin(), v->end(), T(0));
        std::fill(carry.begin(), carry.end(), T(0));
        const T* i_dense = inf_has_dense ? w.idense.data_ptr<T>() + b * W * W : nullptr;
        const T* g_dense = gen_has_dense ? w.gdense.data_ptr<T>() + b * W * W : nullptr;
        for (int64_t t = T_ - 1; t >= 0; --t) {
          const int64_t m = n_fixed + t, bt = b * T_ + t;
          const T scale = static_cast<T>(std::pow(w.lam, static_cast<double>(t)));
          // 5. the writes: keys p_inf + p, values p_inf - p (p = p_x, p_gen[0])
          for (int64_t k = 0; k < W; ++k) {
            const int64_t at = ((k / S) * T_ + t) * S + k % S;
            const T ki = dki[t * W + k], vi = dvi[t * W + k], kg = dkg[at], vg = dvg[at];
            dpb[k] = d_pb0[bt * W + k] + ki + vi + kg + vg;
            dpx[k] = d_px0[bt * W + k] + ki - vi;
            dh[k] = d_pg0[bt * Q * W + k] + kg - vg;
          }
          std::copy(d_pg0 + bt * Q * W + W, d_pg0 + (bt + 1) * Q * W, dh.begin() + W);
          // 4. the generative read
          const T* g_hs = gen_rec.data_ptr<T>() + bt * w.gen_saved;
          const T *g_pres = g_hs + I_gen * Q * W, *g_intos = g_pres + I_gen * Q * W, *q = g_intos + I_gen * Q * F * M;
          const int64_t i_from = first_weighted(iw + (t * B + b) * M, w.inf_first, n_fixed);
          const int64_t g_from = first_weighted(gw + (t * B + b) * M, w.gen_first, n_fixed);
          modular_slot_backward(dh.data(), q, dquery.data(), Q, F, S, gk + (b * M + g_from) * S, B * M * S, S,
                                gv + (b * M + g_from) * S, B * M * S, S, m - g_from, gw + (t * B + b) * M + g_from, ft,
                                g_dense, scale, kap, w.gen_counts, g_hs, g_pres, g_intos, n_fixed - g_from, dkg.data(),
                                dvg.data(), T_ * S, dpre.data(), dinto.data(), pending.data());
          for (int64_t j = 0; j < G; ++j) dinf[j] = d_inf0[bt * G + j] + carry[j], dpath[j] = d_path0[bt * G + j];
          for (int64_t k = 0; k < W; ++k) {
            const int64_t j = g_to_p[k];
            if (j == G) continue;
            dinf[j] += dquery[k];
            if (Q > 1) dpath[j] += dquery[W + k];
          }
          // 1-3. the step between the reads
          const T* g_prev = t > 0 ? g_inf.data_ptr<T>() + (bt - 1) * G : w.g0.data_ptr<T>() + b * G;
          T* dx = d_x.data_ptr<T>() + bt * W;
          step_slot_backward(w.wt, s, g_prev, w.act.data_ptr<int64_t>()[bt], w.start.data_ptr<bool>()[bt],
                             w.x.data_ptr<T>() + bt * W, g_path.data_ptr<T>() + bt * G, g_inf.data_ptr<T>() + bt * G,
                             step_rec.data_ptr<T>() + bt * rec.size, off, lo, dpb.data(), dinf.data(), dpath.data(),
                             dpx.data(), dx, dg.data(), acc, tmp);
          // 2. the inference read (its query is the sensation)
          const T* i_hs = inf_rec.data_ptr<T>() + bt * w.inf_saved;
          flat_slot_backward(dpx.data(), w.x.data_ptr<T>() + bt * W, dquery.data(), 1, W, S, ik + (b * M + i_from) * W,
                             W, iv + (b * M + i_from) * W, W, m - i_from, iw + (t * B + b) * M + i_from, i_dense, scale,
                             kap, w.inf_counts, i_hs, i_hs + I_inf * W, i_hs + 2 * I_inf * W, n_fixed - i_from,
                             dki.data(), dvi.data(), dpre.data(), dscore.data());
          axpy(T(1), dquery.data(), dx, W);
          std::copy(dg.begin(), dg.end(), carry.begin());
        }
        std::copy(carry.begin(), carry.end(), d_g0.data_ptr<T>() + b * G);
      }
    });
    for (auto& acc : sums)
      for (Slot p : kDifferentiable) axpy(T(1), acc[p], d_weights[p].data_ptr<T>(), d_weights[p].numel());
  });
  d_weights.insert(d_weights.begin(), {d_g0, d_x});
  return d_weights;
}

}  // namespace

void bind_step(pybind11::module& m) {
  m.def("window_forward", &window_forward);
  m.def("window_backward", &window_backward);
}
