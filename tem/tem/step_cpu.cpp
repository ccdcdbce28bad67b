// TEM's step where no gradient is needed (evaluation, rate maps), fused: everything in
// TEM.forward (tem/tem/model.py) between the inference memory's read and the generative memory's
// read, for every slot in one call: path integration and its uncertainty, the memory-inferred g and
// its uncertainty (with the prediction error of p_x), the precision-weighted merge, the
// hippocampal conjunction and the generative memory's queries. In PyTorch these are some hundred
// small operations a step, each costing more than its arithmetic at the batch sizes of the walks.
//
// Shapes (B slots, G MEC units, W = the memory's padded width, A actions): g_prev (B, G); action
// (B,) the row block of D (A for "no action"); start (B,) bool; obs (B,) object ids; p_x, x (B, W).
// Weights as TEM.step_weights packs them. Returns g_path (B, G), g_inf (B, G), p_inf (B, W) and
// the queries (B, Q, W): g_inf's, then g_path's when `predict`.
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

// y = w x + b (w (out, in) row-major); spans (out, 2) or nullptr: the columns row o may use (the
// blocks of a masked per-module MLP), the others being 0
template <typename T>
void linear(const T* x, const T* w, const T* b, T* y, int64_t in, int64_t out, const int64_t* spans = nullptr) {
  for (int64_t o = 0; o < out; ++o) {
    const T* row = w + o * in;
    const int64_t begin = spans ? spans[2 * o] : 0, end = spans ? spans[2 * o + 1] : in;
    T sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = begin; i < end; ++i) sum += row[i] * x[i];
    y[o] = sum + b[o];
  }
}

// y += alpha x (a function: a pragma cannot sit inside AT_DISPATCH's macro argument)
template <typename T>
inline void add_scaled(T alpha, const T* x, T* y, int64_t n) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) y[j] += alpha * x[j];
}

template <typename T>
inline T elu(T v) {
  return v > T(0) ? v : std::expm1(v);
}

template <typename T>
inline T clamp(T v, T lo, T hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

template <typename T>
inline T activation(T v) {  // TEM's f_p, as in attractor_cpu.cpp
  v = clamp(v, T(-1), T(1));
  return v > T(0) ? v : T(0.01) * v;
}

// the three per-module MLPs come with their layers' row spans (BlockMLP.spans1, spans2)
struct Weights {
  torch::Tensor D, sp_w1, sp_b1, sp_s1, sp_w2, sp_b2, sp_s2, mu_w1, mu_b1, mu_s1, mu_w2, mu_b2, mu_s2, sm_w1, sm_b1,
      sm_s1, sm_w2, sm_b2, sm_s2, dec_w1, dec_b1, dec_w2, dec_b2, b_x, g_start, sigma_init, gsub_rows, g_to_p, g_module;
};

Weights unpack(const std::vector<torch::Tensor>& w) {
  TORCH_CHECK(w.size() == 29, "TEM step kernel: 29 weight tensors expected, got ", w.size());
  std::vector<torch::Tensor> c;
  for (const auto& t : w) c.push_back(t.contiguous());
  return {c[0],  c[1],  c[2],  c[3],  c[4],  c[5],  c[6],  c[7],  c[8],  c[9],  c[10], c[11], c[12], c[13], c[14],
          c[15], c[16], c[17], c[18], c[19], c[20], c[21], c[22], c[23], c[24], c[25], c[26], c[27], c[28]};
}

std::vector<torch::Tensor> track_step(torch::Tensor g_prev, torch::Tensor action, torch::Tensor start,
                                      torch::Tensor obs, torch::Tensor p_x, torch::Tensor x,
                                      std::vector<torch::Tensor> weights, double w_x, double offset, double g_min,
                                      int64_t n_x_c, int64_t n_p0, bool predict) {
  const Weights wt = unpack(weights);
  g_prev = g_prev.contiguous(), p_x = p_x.contiguous(), x = x.contiguous();
  auto act = action.to(torch::kLong).contiguous(), first = start.to(torch::kBool).contiguous();
  auto ob = obs.to(torch::kLong).contiguous();
  const int64_t B = g_prev.size(0), G = g_prev.size(1), W = p_x.size(1), Q = predict ? 2 : 1;
  const int64_t H_sp = wt.sp_w1.size(0), H_mu = wt.mu_w1.size(0), Gs = wt.mu_w1.size(1), H_sm = wt.sm_w1.size(0);
  const int64_t F = wt.g_module.size(1), H_dec = wt.dec_w1.size(0), X = wt.dec_w2.size(0);
  TORCH_CHECK(wt.sm_w1.size(1) == 2 * F && wt.D.size(1) % G == 0 && n_p0 % n_x_c == 0 && W % n_x_c == 0,
              "TEM step kernel: shapes do not fit");
  auto g_path = torch::empty({B, G}, g_prev.options()), g_inf = torch::empty({B, G}, g_prev.options());
  auto p_inf = torch::empty({B, W}, g_prev.options()), query = torch::empty({B, Q, W}, g_prev.options());
  AT_DISPATCH_FLOATING_TYPES(g_prev.scalar_type(), "track_step", [&] {
    using T = scalar_t;
    const T lo = static_cast<T>(g_min), wx = static_cast<T>(w_x), off = static_cast<T>(offset);
    const T* D = wt.D.data_ptr<T>();
    const int64_t D_cols = wt.D.size(1);
    const int64_t *gsub = wt.gsub_rows.data_ptr<int64_t>(), *g_to_p = wt.g_to_p.data_ptr<int64_t>();
    const T* module = wt.g_module.data_ptr<T>();
    at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
      std::vector<T> hidden(std::max({H_sp, H_mu, H_sm, H_dec})), sigma_path(G), mu(G), sigma_mem(G), sums(W / n_x_c),
          sub(Gs), code(n_x_c), logits(X), quality(2 * F), padded(G + 1);
      for (int64_t b = begin; b < end; ++b) {
        const T *g = g_prev.data_ptr<T>() + b * G, *px = p_x.data_ptr<T>() + b * W, *xb = x.data_ptr<T>() + b * W;
        T *path = g_path.data_ptr<T>() + b * G, *inf = g_inf.data_ptr<T>() + b * G;
        // 1. path integration: g + g D(a), clamped; sigma_path = exp(MLP(g_prev))
        const int64_t a = act.data_ptr<int64_t>()[b];
        for (int64_t j = 0; j < G; ++j) path[j] = 0;
        for (int64_t i = 0; i < G; ++i) {
          const T gi = g[i];
          add_scaled(gi, D + i * D_cols + a * G, path, G);
        }
        for (int64_t j = 0; j < G; ++j) path[j] = clamp(g[j] + path[j], lo, T(1));
        linear(g, wt.sp_w1.data_ptr<T>(), wt.sp_b1.data_ptr<T>(), hidden.data(), G, H_sp, wt.sp_s1.data_ptr<int64_t>());
        for (int64_t h = 0; h < H_sp; ++h) hidden[h] = std::tanh(hidden[h]);
        linear(hidden.data(), wt.sp_w2.data_ptr<T>(), wt.sp_b2.data_ptr<T>(), sigma_path.data(), H_sp, G,
               wt.sp_s2.data_ptr<int64_t>());
        for (int64_t j = 0; j < G; ++j) sigma_path[j] = std::exp(sigma_path[j]);
        if (first.data_ptr<bool>()[b])
          for (int64_t j = 0; j < G; ++j) path[j] = wt.g_start.data_ptr<T>()[j], sigma_path[j] = wt.sigma_init.data_ptr<T>()[j];
        // 2. memory-inferred g: MLP of p_x summed over x, per g_sub unit
        for (int64_t r = 0; r < W / n_x_c; ++r) {
          T sum = 0;
          for (int64_t k = 0; k < n_x_c; ++k) sum += px[r * n_x_c + k];
          sums[r] = sum;
        }
        for (int64_t s = 0; s < Gs; ++s) sub[s] = sums[gsub[s]];
        linear(sub.data(), wt.mu_w1.data_ptr<T>(), wt.mu_b1.data_ptr<T>(), hidden.data(), Gs, H_mu, wt.mu_s1.data_ptr<int64_t>());
        for (int64_t h = 0; h < H_mu; ++h) hidden[h] = elu(hidden[h]);
        linear(hidden.data(), wt.mu_w2.data_ptr<T>(), wt.mu_b2.data_ptr<T>(), mu.data(), H_mu, G, wt.mu_s2.data_ptr<int64_t>());
        // its uncertainty from the memory's quality: |mu|^2 per module and the error of p_x's prediction
        for (int64_t k = 0; k < n_x_c; ++k) code[k] = 0;
        for (int64_t r = 0; r < n_p0 / n_x_c; ++r)
          for (int64_t k = 0; k < n_x_c; ++k) code[k] += px[r * n_x_c + k];
        for (int64_t k = 0; k < n_x_c; ++k) code[k] = wx * code[k] + wt.b_x.data_ptr<T>()[k];
        linear(code.data(), wt.dec_w1.data_ptr<T>(), wt.dec_b1.data_ptr<T>(), hidden.data(), n_x_c, H_dec);
        for (int64_t h = 0; h < H_dec; ++h) hidden[h] = elu(hidden[h]);
        linear(hidden.data(), wt.dec_w2.data_ptr<T>(), wt.dec_b2.data_ptr<T>(), logits.data(), H_dec, X);
        T top = logits[0], total = 0, error = 0;
        for (int64_t o = 1; o < X; ++o) top = std::max(top, logits[o]);
        for (int64_t o = 0; o < X; ++o) total += (logits[o] = std::exp(logits[o] - top));
        const int64_t seen = ob.data_ptr<int64_t>()[b];
        for (int64_t o = 0; o < X; ++o) {
          const T diff = (o == seen ? T(1) : T(0)) - logits[o] / total;
          error += diff * diff;
        }
        error *= T(0.5);
        for (int64_t f = 0; f < F; ++f) {
          T sum = 0;
          for (int64_t j = 0; j < G; ++j) sum += mu[j] * mu[j] * module[j * F + f];
          quality[2 * f] = sum, quality[2 * f + 1] = error;
        }
        linear(quality.data(), wt.sm_w1.data_ptr<T>(), wt.sm_b1.data_ptr<T>(), hidden.data(), 2 * F, H_sm,
               wt.sm_s1.data_ptr<int64_t>());
        for (int64_t h = 0; h < H_sm; ++h) hidden[h] = std::tanh(hidden[h]);
        linear(hidden.data(), wt.sm_w2.data_ptr<T>(), wt.sm_b2.data_ptr<T>(), sigma_mem.data(), H_sm, G,
               wt.sm_s2.data_ptr<int64_t>());
        // precision-weighted merge
        for (int64_t j = 0; j < G; ++j) {
          const T s_mem = std::exp(sigma_mem[j]) + off;
          const T p_path = T(1) / (sigma_path[j] * sigma_path[j]), p_mem = T(1) / (s_mem * s_mem);
          inf[j] = (path[j] * p_path + clamp(mu[j], lo, T(1)) * p_mem) / (p_path + p_mem);
        }
        // 3. hippocampal conjunction; 4. the generative memory's queries (g_sub repeated over x)
        T *pb = p_inf.data_ptr<T>() + b * W, *qb = query.data_ptr<T>() + b * Q * W;
        padded[G] = 0;
        for (int64_t j = 0; j < G; ++j) padded[j] = inf[j];
        for (int64_t k = 0; k < W; ++k) {
          const T gk = padded[g_to_p[k]];
          pb[k] = activation(gk * xb[k]);
          qb[k] = gk;
        }
        if (predict) {
          for (int64_t j = 0; j < G; ++j) padded[j] = path[j];
          for (int64_t k = 0; k < W; ++k) qb[W + k] = padded[g_to_p[k]];
        }
      }
    });
  });
  return {g_path, g_inf, p_inf, query};
}

}  // namespace

void bind_step(pybind11::module& m) { m.def("track_step", &track_step); }
