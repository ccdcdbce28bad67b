// TEM's window where no gradient is needed (evaluation, rate maps), fused: every step of
// TEM.forward (tem/tem/model.py) in one call, each slot's steps on one thread: the inference
// memory's read, path integration and its uncertainty, the memory-inferred g and its uncertainty
// (with the prediction error of p_x), the precision-weighted merge, the hippocampal conjunction,
// the generative memory's read and both memories' writes. In PyTorch a step is some hundred small
// operations, each costing more than its arithmetic at the batch sizes of the walks.
//
// Shapes (B slots, T steps, G MEC units, W = F * S the memories' padded width, A actions): g0 (B,
// G) the g before the window; action (B, T) the row block of D (A for "no action"); first (B, T)
// bool (a walk's first step); obs (B, T) object ids; x (B, T, W) the filtered sensation in p
// space. Weights as TEM._step_weights packs them. The memories as HebbianWindow.buffers gives
// them: keys and values buffers, flat (B, M, W) for the inference memory, per module (F, B, M, S)
// for the generative one, with the carried pairs in rows < n_fixed; each step's weights (T, B, 1,
// M); the dense part (B, W, W) or empty; the first row to read. Step t reads rows first .. n_fixed
// + t - 1 (and the dense part times lam^t) and writes row n_fixed + t. Returns g_path, g_inf (B, T,
// G), p_inf, p_x (B, T, W) and p_gen (B, T, Q, W): the generative read with g_inf, then with g_path
// when `predict`.
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "attractor_cpu.h"

namespace {

using tem_cpu::activation;
using tem_cpu::axpy;
using tem_cpu::dot;
using tem_cpu::flat_slot;
using tem_cpu::modular_slot;

// y = w x + b (w (out, in) row-major); spans (out, 2) or nullptr: the columns row o may use (the
// blocks of a masked per-module MLP), the others being 0
template <typename T>
void linear(const T* x, const T* w, const T* b, T* y, int64_t in, int64_t out, const int64_t* spans = nullptr) {
  for (int64_t o = 0; o < out; ++o) {
    const int64_t begin = spans ? spans[2 * o] : 0, end = spans ? spans[2 * o + 1] : in;
    y[o] = dot(w + o * in + begin, x + begin, end - begin) + b[o];
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

// the three per-module MLPs come with their layers' row spans (BlockMLP.spans1, spans2)
struct Weights {
  torch::Tensor D, sp_w1, sp_b1, sp_s1, sp_w2, sp_b2, sp_s2, mu_w1, mu_b1, mu_s1, mu_w2, mu_b2, mu_s2, sm_w1, sm_b1,
      sm_s1, sm_w2, sm_b2, sm_s2, dec_w1, dec_b1, dec_w2, dec_b2, b_x, g_start, sigma_init, gsub_rows, g_to_p, g_module;
};

Weights unpack(const std::vector<torch::Tensor>& w) {
  TORCH_CHECK(w.size() == 29, "TEM window kernel: 29 weight tensors expected, got ", w.size());
  std::vector<torch::Tensor> c;
  for (const auto& t : w) c.push_back(t.contiguous());
  return {c[0],  c[1],  c[2],  c[3],  c[4],  c[5],  c[6],  c[7],  c[8],  c[9],  c[10], c[11], c[12], c[13], c[14],
          c[15], c[16], c[17], c[18], c[19], c[20], c[21], c[22], c[23], c[24], c[25], c[26], c[27], c[28]};
}

struct Sizes {
  int64_t G, W, Gs, H_sp, H_mu, H_sm, H_dec, X, F, n_x_c, n_p0, D_cols;
};

template <typename T>
struct StepScratch {
  std::vector<T> hidden, sigma_path, mu, sigma_mem, sums, sub, code, logits, quality, padded;
  explicit StepScratch(const Sizes& s)
      : hidden(std::max({s.H_sp, s.H_mu, s.H_sm, s.H_dec})), sigma_path(s.G), mu(s.G), sigma_mem(s.G),
        sums(s.W / s.n_x_c), sub(s.Gs), code(s.n_x_c), logits(s.X), quality(2 * s.F), padded(s.G + 1) {}
};

// One slot's step between the two reads: g (G) the previous g, a the action's block of D, px (W)
// the inference read, xb (W) the sensation -> path, inf (G), pb = p_inf (W), qb the generative
// queries (Q, W).
template <typename T>
void step_slot(const Weights& wt, const Sizes& s, const T* g, int64_t a, bool first, int64_t seen, const T* px,
               const T* xb, T wx, T off, T lo, bool predict, T* path, T* inf, T* pb, T* qb, StepScratch<T>& tmp) {
  const int64_t G = s.G, W = s.W, F = s.F, n_x_c = s.n_x_c;
  // 1. path integration: g + g D(a), clamped; sigma_path = exp(MLP(g_prev))
  std::fill(path, path + G, T(0));
  for (int64_t i = 0; i < G; ++i) axpy(g[i], wt.D.data_ptr<T>() + i * s.D_cols + a * G, path, G);
  for (int64_t j = 0; j < G; ++j) path[j] = clamp(g[j] + path[j], lo, T(1));
  T* hidden = tmp.hidden.data();
  linear(g, wt.sp_w1.data_ptr<T>(), wt.sp_b1.data_ptr<T>(), hidden, G, s.H_sp, wt.sp_s1.data_ptr<int64_t>());
  for (int64_t h = 0; h < s.H_sp; ++h) hidden[h] = std::tanh(hidden[h]);
  linear(hidden, wt.sp_w2.data_ptr<T>(), wt.sp_b2.data_ptr<T>(), tmp.sigma_path.data(), s.H_sp, G,
         wt.sp_s2.data_ptr<int64_t>());
  for (int64_t j = 0; j < G; ++j) tmp.sigma_path[j] = std::exp(tmp.sigma_path[j]);
  if (first)
    for (int64_t j = 0; j < G; ++j) path[j] = wt.g_start.data_ptr<T>()[j], tmp.sigma_path[j] = wt.sigma_init.data_ptr<T>()[j];
  // 2. memory-inferred g: MLP of p_x summed over x, per g_sub unit
  for (int64_t r = 0; r < W / n_x_c; ++r) {
    T sum = 0;
    for (int64_t k = 0; k < n_x_c; ++k) sum += px[r * n_x_c + k];
    tmp.sums[r] = sum;
  }
  for (int64_t u = 0; u < s.Gs; ++u) tmp.sub[u] = tmp.sums[wt.gsub_rows.data_ptr<int64_t>()[u]];
  linear(tmp.sub.data(), wt.mu_w1.data_ptr<T>(), wt.mu_b1.data_ptr<T>(), hidden, s.Gs, s.H_mu,
         wt.mu_s1.data_ptr<int64_t>());
  for (int64_t h = 0; h < s.H_mu; ++h) hidden[h] = elu(hidden[h]);
  linear(hidden, wt.mu_w2.data_ptr<T>(), wt.mu_b2.data_ptr<T>(), tmp.mu.data(), s.H_mu, G, wt.mu_s2.data_ptr<int64_t>());
  // its uncertainty from the memory's quality: |mu|^2 per module and the error of p_x's prediction
  std::fill(tmp.code.begin(), tmp.code.end(), T(0));
  for (int64_t r = 0; r < s.n_p0 / n_x_c; ++r)
    for (int64_t k = 0; k < n_x_c; ++k) tmp.code[k] += px[r * n_x_c + k];
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
    for (int64_t j = 0; j < G; ++j) sum += tmp.mu[j] * tmp.mu[j] * module[j * F + f];
    tmp.quality[2 * f] = sum, tmp.quality[2 * f + 1] = error;
  }
  linear(tmp.quality.data(), wt.sm_w1.data_ptr<T>(), wt.sm_b1.data_ptr<T>(), hidden, 2 * F, s.H_sm,
         wt.sm_s1.data_ptr<int64_t>());
  for (int64_t h = 0; h < s.H_sm; ++h) hidden[h] = std::tanh(hidden[h]);
  linear(hidden, wt.sm_w2.data_ptr<T>(), wt.sm_b2.data_ptr<T>(), tmp.sigma_mem.data(), s.H_sm, G,
         wt.sm_s2.data_ptr<int64_t>());
  // precision-weighted merge
  for (int64_t j = 0; j < G; ++j) {
    const T s_mem = std::exp(tmp.sigma_mem[j]) + off, s_path = tmp.sigma_path[j];
    const T p_path = T(1) / (s_path * s_path), p_mem = T(1) / (s_mem * s_mem);
    inf[j] = (path[j] * p_path + clamp(tmp.mu[j], lo, T(1)) * p_mem) / (p_path + p_mem);
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

void check_buffer(const torch::Tensor& t, const char* name) {
  TORCH_CHECK(t.is_contiguous(), "TEM window kernel: ", name, " must be contiguous (it is written in place)");
}

std::vector<torch::Tensor> window_no_grad(torch::Tensor g0, torch::Tensor action, torch::Tensor first,
                                          torch::Tensor obs, torch::Tensor x, std::vector<torch::Tensor> weights,
                                          double w_x, double offset, double g_min, int64_t n_x_c, int64_t n_p0,
                                          bool predict, torch::Tensor inf_keys, torch::Tensor inf_values,
                                          torch::Tensor inf_weights, torch::Tensor inf_dense, int64_t inf_first,
                                          std::vector<int64_t> inf_counts, torch::Tensor gen_keys,
                                          torch::Tensor gen_values, torch::Tensor gen_weights, torch::Tensor gen_dense,
                                          int64_t gen_first, torch::Tensor from_to, std::vector<int64_t> gen_counts,
                                          int64_t n_fixed, double kappa, double lam) {
  const Weights wt = unpack(weights);
  for (auto* t : {&inf_keys, &inf_values, &gen_keys, &gen_values}) check_buffer(*t, "a memory buffer");
  g0 = g0.contiguous(), x = x.contiguous(), inf_weights = inf_weights.contiguous();
  gen_weights = gen_weights.contiguous(), inf_dense = inf_dense.contiguous(), gen_dense = gen_dense.contiguous();
  auto act = action.to(torch::kLong).contiguous(), start = first.to(torch::kBool).contiguous();
  auto ob = obs.to(torch::kLong).contiguous();
  from_to = from_to.to(g0.scalar_type()).contiguous();
  const int64_t B = g0.size(0), G = g0.size(1), T_ = x.size(1), W = x.size(2), Q = predict ? 2 : 1;
  const int64_t F = gen_keys.size(0), S = gen_keys.size(3), M = gen_keys.size(2);
  const Sizes s{G, W, wt.mu_w1.size(1), wt.sp_w1.size(0), wt.mu_w1.size(0), wt.sm_w1.size(0), wt.dec_w1.size(0),
                wt.dec_w2.size(0), wt.g_module.size(1), n_x_c, n_p0, wt.D.size(1)};
  TORCH_CHECK(F * S == W && inf_keys.size(2) == W && inf_keys.size(1) == M && M >= n_fixed + T_ &&
                  wt.sm_w1.size(1) == 2 * s.F && s.D_cols % G == 0 && n_p0 % n_x_c == 0 && W % n_x_c == 0 &&
                  inf_weights.size(0) >= T_ && inf_weights.size(-1) == M && gen_weights.size(-1) == M &&
                  0 <= inf_first && inf_first <= n_fixed && 0 <= gen_first && gen_first <= n_fixed,
              "TEM window kernel: shapes do not fit");
  const bool inf_has_dense = inf_dense.numel() > 0, gen_has_dense = gen_dense.numel() > 0;
  auto options = g0.options();
  auto g_path = torch::empty({B, T_, G}, options), g_inf = torch::empty({B, T_, G}, options);
  auto p_inf = torch::empty({B, T_, W}, options), p_x = torch::empty({B, T_, W}, options);
  auto p_gen = torch::empty({B, T_, Q, W}, options);
  const int64_t I_inf = inf_counts.size(), I_gen = gen_counts.size();
  AT_DISPATCH_FLOATING_TYPES(g0.scalar_type(), "window_no_grad", [&] {
    using T = scalar_t;
    const T lo = static_cast<T>(g_min), wx = static_cast<T>(w_x), off = static_cast<T>(offset);
    const T kap = static_cast<T>(kappa);
    T *ik = inf_keys.data_ptr<T>(), *iv = inf_values.data_ptr<T>(), *gk = gen_keys.data_ptr<T>(),
      *gv = gen_values.data_ptr<T>();
    const T *iw = inf_weights.data_ptr<T>(), *gw = gen_weights.data_ptr<T>(), *ft = from_to.data_ptr<T>();
    at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
      StepScratch<T> tmp(s);
      std::vector<T> g(G), h(Q * W), query(Q * W), pres(std::max(I_inf, I_gen) * Q * W),
          intos(std::max(I_inf, I_gen * F) * Q * M), score(Q * F * M);
      for (int64_t b = begin; b < end; ++b) {
        std::copy(g0.data_ptr<T>() + b * G, g0.data_ptr<T>() + (b + 1) * G, g.begin());
        const T* i_dense = inf_has_dense ? inf_dense.data_ptr<T>() + b * W * W : nullptr;
        const T* g_dense = gen_has_dense ? gen_dense.data_ptr<T>() + b * W * W : nullptr;
        for (int64_t t = 0; t < T_; ++t) {
          const int64_t m = n_fixed + t, bt = b * T_ + t;
          const T scale = static_cast<T>(std::pow(lam, static_cast<double>(t)));
          T *px = p_x.data_ptr<T>() + bt * W, *pb = p_inf.data_ptr<T>() + bt * W, *pg = p_gen.data_ptr<T>() + bt * Q * W;
          T *path = g_path.data_ptr<T>() + bt * G, *inf = g_inf.data_ptr<T>() + bt * G;
          flat_slot(x.data_ptr<T>() + bt * W, px, 1, W, S, ik + (b * M + inf_first) * W, W,
                    iv + (b * M + inf_first) * W, W, m - inf_first, iw + (t * B + b) * M + inf_first, i_dense, scale,
                    kap, inf_counts, (T*)nullptr, pres.data(), intos.data(), h.data());
          step_slot(wt, s, g.data(), act.data_ptr<int64_t>()[bt], start.data_ptr<bool>()[bt],
                    ob.data_ptr<int64_t>()[bt], px, x.data_ptr<T>() + bt * W, wx, off, lo, predict, path, inf, pb,
                    query.data(), tmp);
          modular_slot(query.data(), pg, Q, F, S, gk + (b * M + gen_first) * S, B * M * S, S,
                       gv + (b * M + gen_first) * S, B * M * S, S, m - gen_first, gw + (t * B + b) * M + gen_first, ft,
                       g_dense, scale, kap, gen_counts, (T*)nullptr, pres.data(), intos.data(), h.data(),
                       score.data());
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
  return {g_path, g_inf, p_inf, p_x, p_gen};
}

}  // namespace

void bind_step(pybind11::module& m) { m.def("window_no_grad", &window_no_grad); }
