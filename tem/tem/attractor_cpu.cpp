// Fused CPU kernels for TEM's attractor, h <- f(kappa h + h M) with M = sum_m w_m k_m^T v_m
// (tem/memory/attractor.py has the same computation as batched PyTorch products, and documents it).
//
// The batched products stream every batch element's stored pairs through the cache once per
// product, four times per iteration (forward and backward); here each batch element runs all its
// iterations while its pairs stay in cache, and batch elements run in parallel (at::parallel_for).
//
// Layouts: h, query, pre (B, Q, W), W = F * S (module f = entries f*S .. f*S + S - 1).
// Flat (fully connected) memory: keys, values (B, M, W). Modular (per-module) memory: keys,
// values (F, B, M, S). Rows may be strided; the last dimension is contiguous. weights (B, M).
// Saved for the backward pass, per batch element: hs, pres (B, I, Q, W; of pres, iteration i
// writes and reads the first counts[i] * S entries), intos (B, I, Q, M) (flat)
// or (B, I, Q, F, M) (modular); counts[i] = number of modules iteration i updates.
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <vector>

namespace {

template <typename T>
inline T activation(T x) {  // TEM's f_p: leaky ReLU (0.01) of x clamped to [-1, 1]
  x = x < T(-1) ? T(-1) : (x > T(1) ? T(1) : x);
  return x > T(0) ? x : T(0.01) * x;
}

template <typename T>
inline T activation_grad(T x) {  // as autograd takes it: the clamp passes its ends
  if (x > T(1) || x < T(-1)) return T(0);
  return x > T(0) ? T(1) : T(0.01);
}

template <typename T>
inline T dot(const T* a, const T* b, int64_t n) {
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < n; ++j) sum += a[j] * b[j];
  return sum;
}

// out[m] = scale[m] * dot(x, rows + m * stride, n) for m < M; four rows at a time, so that the
// vector FMAs of four sums need not wait on each other and x is loaded once for four rows.
template <typename T>
inline void dots(const T* x, const T* rows, int64_t stride, int64_t M, int64_t n, const T* scale, T* out) {
  int64_t m = 0;
  for (; m + 4 <= M; m += 4) {
    const T *r0 = rows + m * stride, *r1 = r0 + stride, *r2 = r1 + stride, *r3 = r2 + stride;
    T s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
    for (int64_t j = 0; j < n; ++j) {
      const T v = x[j];
      s0 += v * r0[j];
      s1 += v * r1[j];
      s2 += v * r2[j];
      s3 += v * r3[j];
    }
    out[m] = s0 * (scale ? scale[m] : T(1));
    out[m + 1] = s1 * (scale ? scale[m + 1] : T(1));
    out[m + 2] = s2 * (scale ? scale[m + 2] : T(1));
    out[m + 3] = s3 * (scale ? scale[m + 3] : T(1));
  }
  for (; m < M; ++m) out[m] = dot(x, rows + m * stride, n) * (scale ? scale[m] : T(1));
}

template <typename T>
inline void axpy(T alpha, const T* x, T* y, int64_t n) {  // y += alpha x
  if (alpha == T(0)) return;
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) y[j] += alpha * x[j];
}

// y += sum_m alpha[m] rows[m] (m < M, rows m * stride apart), the rows whose alpha is not 0 (stored
// pairs a slot no longer holds weigh 0) four at a time: y is loaded and stored once per four rows
// (the forward passes' reads of the values: ~10% faster than a row at a time; the backward passes'
// sums were not faster so)
template <typename T>
inline void rows_axpy(const T* alpha, const T* rows, int64_t stride, int64_t M, T* y, int64_t n) {
  int64_t m = 0;
  while (true) {
    int64_t pick[4], k = 0;
    for (; m < M && k < 4; ++m)
      if (alpha[m] != T(0)) pick[k++] = m;
    if (k < 4) {
      for (int64_t i = 0; i < k; ++i) axpy(alpha[pick[i]], rows + pick[i] * stride, y, n);
      return;
    }
    const T a0 = alpha[pick[0]], a1 = alpha[pick[1]], a2 = alpha[pick[2]], a3 = alpha[pick[3]];
    const T *r0 = rows + pick[0] * stride, *r1 = rows + pick[1] * stride, *r2 = rows + pick[2] * stride,
            *r3 = rows + pick[3] * stride;
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) y[j] += a0 * r0[j] + a1 * r1[j] + a2 * r2[j] + a3 * r3[j];
  }
}

// pre_q[:u] += scale * (h_q @ dense)[:u] ; dense (W, W) row-major
template <typename T>
inline void dense_read(const T* h, const T* dense, T scale, T* pre, int64_t W, int64_t u) {
  for (int64_t r = 0; r < W; ++r) axpy(scale * h[r], dense + r * W, pre, u);
}

// dh_q += scale * dense[:, :u] @ dpre_q
template <typename T>
inline void dense_grad(const T* dpre, const T* dense, T scale, T* dh, int64_t W, int64_t u) {
  for (int64_t r = 0; r < W; ++r) dh[r] += scale * dot(dpre, dense + r * W, u);
}

struct Shape {
  int64_t B, Q, W, M, I;
};

Shape shape_of(const torch::Tensor& query, const torch::Tensor& keys, const std::vector<int64_t>& counts) {
  TORCH_CHECK(query.is_contiguous() && keys.stride(-1) == 1, "attractor kernel: query contiguous, rows contiguous");
  return {query.size(0), query.size(1), query.size(2), keys.size(-2), static_cast<int64_t>(counts.size())};
}

std::vector<torch::Tensor> flat_forward(torch::Tensor query, torch::Tensor keys, torch::Tensor values,
                                        torch::Tensor weights, torch::Tensor dense, double dense_scale, double kappa,
                                        std::vector<int64_t> counts, int64_t S) {
  const Shape d = shape_of(query, keys, counts);
  weights = weights.reshape({d.B, d.M}).contiguous();
  auto out = torch::empty_like(query);
  auto hs = torch::empty({d.B, d.I, d.Q, d.W}, query.options());
  auto pres = torch::empty({d.B, d.I, d.Q, d.W}, query.options());
  auto intos = torch::empty({d.B, d.I, d.Q, d.M}, query.options());
  const bool has_dense = dense.numel() > 0;
  AT_DISPATCH_FLOATING_TYPES(query.scalar_type(), "flat_forward", [&] {
    using T = scalar_t;
    const T *q0 = query.data_ptr<T>(), *k0 = keys.data_ptr<T>(), *v0 = values.data_ptr<T>(), *w0 = weights.data_ptr<T>();
    const T* d0 = has_dense ? dense.data_ptr<T>() : nullptr;
    T *out0 = out.data_ptr<T>(), *hs0 = hs.data_ptr<T>(), *pre0 = pres.data_ptr<T>(), *into0 = intos.data_ptr<T>();
    const int64_t kb = keys.stride(0), km = keys.stride(1), vb = values.stride(0), vm = values.stride(1);
    const T kap = static_cast<T>(kappa), scale = static_cast<T>(dense_scale);
    at::parallel_for(0, d.B, 1, [&](int64_t begin, int64_t end) {
      std::vector<T> h(d.Q * d.W);
      for (int64_t b = begin; b < end; ++b) {
        const T *K = k0 + b * kb, *V = v0 + b * vb, *w = w0 + b * d.M;
        for (int64_t j = 0; j < d.Q * d.W; ++j) h[j] = activation(q0[b * d.Q * d.W + j]);
        for (int64_t i = 0; i < d.I; ++i) {
          const int64_t u = counts[i] * S, at = (b * d.I + i) * d.Q;
          std::copy(h.begin(), h.end(), hs0 + at * d.W);
          for (int64_t q = 0; q < d.Q; ++q) {
            const T* hq = h.data() + q * d.W;
            T *pre = pre0 + (at + q) * d.W, *into = into0 + (at + q) * d.M;
            dots(hq, K, km, d.M, d.W, w, into);
            for (int64_t j = 0; j < u; ++j) pre[j] = kap * hq[j];
            rows_axpy(into, V, vm, d.M, pre, u);
            if (has_dense) dense_read(hq, d0 + b * d.W * d.W, scale, pre, d.W, u);
          }
          for (int64_t q = 0; q < d.Q; ++q)
            for (int64_t j = 0; j < u; ++j) h[q * d.W + j] = activation(pre0[(at + q) * d.W + j]);
        }
        std::copy(h.begin(), h.end(), out0 + b * d.Q * d.W);
      }
    });
  });
  return {out, hs, pres, intos};
}

// Gradients of the query and of rows >= first of keys and values.
std::vector<torch::Tensor> flat_backward(torch::Tensor grad, torch::Tensor query, torch::Tensor keys,
                                         torch::Tensor values, torch::Tensor weights, torch::Tensor dense,
                                         double dense_scale, double kappa, std::vector<int64_t> counts, int64_t S,
                                         torch::Tensor hs, torch::Tensor pres, torch::Tensor intos, int64_t first) {
  const Shape d = shape_of(query, keys, counts);
  grad = grad.contiguous();
  weights = weights.reshape({d.B, d.M}).contiguous();
  const int64_t rows = d.M - first;
  auto d_query = torch::empty_like(query);
  auto grad_keys = torch::zeros({d.B, rows, d.W}, query.options());
  auto grad_values = torch::zeros({d.B, rows, d.W}, query.options());
  const bool has_dense = dense.numel() > 0;
  AT_DISPATCH_FLOATING_TYPES(query.scalar_type(), "flat_backward", [&] {
    using T = scalar_t;
    const T *g0 = grad.data_ptr<T>(), *q0 = query.data_ptr<T>(), *k0 = keys.data_ptr<T>(), *v0 = values.data_ptr<T>();
    const T *w0 = weights.data_ptr<T>(), *hs0 = hs.data_ptr<T>(), *pre0 = pres.data_ptr<T>(), *into0 = intos.data_ptr<T>();
    const T* d0 = has_dense ? dense.data_ptr<T>() : nullptr;
    T *dq0 = d_query.data_ptr<T>(), *gk0 = grad_keys.data_ptr<T>(), *gv0 = grad_values.data_ptr<T>();
    const int64_t kb = keys.stride(0), km = keys.stride(1), vb = values.stride(0), vm = values.stride(1);
    const T kap = static_cast<T>(kappa), scale = static_cast<T>(dense_scale);
    at::parallel_for(0, d.B, 1, [&](int64_t begin, int64_t end) {
      std::vector<T> dh(d.Q * d.W), dpre(d.W), dscore(d.M);
      for (int64_t b = begin; b < end; ++b) {
        const T *K = k0 + b * kb, *V = v0 + b * vb, *w = w0 + b * d.M;
        T *gk = gk0 + b * rows * d.W, *gv = gv0 + b * rows * d.W;
        std::copy(g0 + b * d.Q * d.W, g0 + (b + 1) * d.Q * d.W, dh.begin());
        for (int64_t i = d.I - 1; i >= 0; --i) {
          const int64_t u = counts[i] * S, at = (b * d.I + i) * d.Q;
          for (int64_t q = 0; q < d.Q; ++q) {
            T* dhq = dh.data() + q * d.W;
            const T *pre = pre0 + (at + q) * d.W, *hq = hs0 + (at + q) * d.W, *into = into0 + (at + q) * d.M;
            for (int64_t j = 0; j < u; ++j) {
              dpre[j] = activation_grad(pre[j]) * dhq[j];
              dhq[j] = kap * dpre[j];  // entries >= u passed h through unchanged
            }
            dots(dpre.data(), V, vm, d.M, u, w, dscore.data());
            for (int64_t m = 0; m < d.M; ++m) axpy(dscore[m], K + m * km, dhq, d.W);
            if (has_dense) dense_grad(dpre.data(), d0 + b * d.W * d.W, scale, dhq, d.W, u);
            for (int64_t m = first; m < d.M; ++m) {
              axpy(dscore[m], hq, gk + (m - first) * d.W, d.W);
              axpy(into[m], dpre.data(), gv + (m - first) * d.W, u);
            }
          }
        }
        for (int64_t j = 0; j < d.Q * d.W; ++j)
          dq0[b * d.Q * d.W + j] = activation_grad(q0[b * d.Q * d.W + j]) * dh[j];
      }
    });
  });
  return {d_query, grad_keys, grad_values};
}

std::vector<torch::Tensor> modular_forward(torch::Tensor query, torch::Tensor keys, torch::Tensor values,
                                           torch::Tensor weights, torch::Tensor from_to, torch::Tensor dense,
                                           double dense_scale, double kappa, std::vector<int64_t> counts) {
  const Shape d = shape_of(query, keys, counts);
  const int64_t F = keys.size(0), S = keys.size(3);
  weights = weights.reshape({d.B, d.M}).contiguous();
  from_to = from_to.to(query.scalar_type()).contiguous();
  auto out = torch::empty_like(query);
  auto hs = torch::empty({d.B, d.I, d.Q, d.W}, query.options());
  auto pres = torch::empty({d.B, d.I, d.Q, d.W}, query.options());
  auto intos = torch::zeros({d.B, d.I, d.Q, F, d.M}, query.options());
  const bool has_dense = dense.numel() > 0;
  AT_DISPATCH_FLOATING_TYPES(query.scalar_type(), "modular_forward", [&] {
    using T = scalar_t;
    const T *q0 = query.data_ptr<T>(), *k0 = keys.data_ptr<T>(), *v0 = values.data_ptr<T>(), *w0 = weights.data_ptr<T>();
    const T *ft = from_to.data_ptr<T>(), *d0 = has_dense ? dense.data_ptr<T>() : nullptr;
    T *out0 = out.data_ptr<T>(), *hs0 = hs.data_ptr<T>(), *pre0 = pres.data_ptr<T>(), *into0 = intos.data_ptr<T>();
    const int64_t kf = keys.stride(0), kb = keys.stride(1), km = keys.stride(2);
    const int64_t vf = values.stride(0), vb = values.stride(1), vm = values.stride(2);
    const T kap = static_cast<T>(kappa), scale = static_cast<T>(dense_scale);
    at::parallel_for(0, d.B, 1, [&](int64_t begin, int64_t end) {
      std::vector<T> h(d.Q * d.W), score(d.Q * F * d.M);  // score (Q, F, M): kept for modules that stopped
      for (int64_t b = begin; b < end; ++b) {
        const T* w = w0 + b * d.M;
        for (int64_t j = 0; j < d.Q * d.W; ++j) h[j] = activation(q0[b * d.Q * d.W + j]);
        int64_t changed = F;
        for (int64_t i = 0; i < d.I; ++i) {
          const int64_t n = counts[i], at = (b * d.I + i) * d.Q;
          std::copy(h.begin(), h.end(), hs0 + at * d.W);
          // module by module, every query in turn: a module's stored rows (M x S) stay in L1
          for (int64_t f = 0; f < changed; ++f)
            for (int64_t q = 0; q < d.Q; ++q)
              dots(h.data() + q * d.W + f * S, k0 + f * kf + b * kb, km, d.M, S, (const T*)nullptr,
                   score.data() + (q * F + f) * d.M);
          for (int64_t g = 0; g < n; ++g)
            for (int64_t q = 0; q < d.Q; ++q) {
              const T *hq = h.data() + q * d.W, *sq = score.data() + q * F * d.M;
              T* ig = into0 + ((at + q) * F + g) * d.M;  // into_g = w * sum_f from_to[f, g] score_f (zero-filled)
              for (int64_t f = 0; f < F; ++f) axpy(ft[f * F + g], sq + f * d.M, ig, d.M);
              for (int64_t m = 0; m < d.M; ++m) ig[m] *= w[m];
              T* pg = pre0 + (at + q) * d.W + g * S;
              for (int64_t s = 0; s < S; ++s) pg[s] = kap * hq[g * S + s];
              rows_axpy(ig, v0 + g * vf + b * vb, vm, d.M, pg, S);
            }
          if (has_dense)
            for (int64_t q = 0; q < d.Q; ++q)
              dense_read(h.data() + q * d.W, d0 + b * d.W * d.W, scale, pre0 + (at + q) * d.W, d.W, n * S);
          for (int64_t q = 0; q < d.Q; ++q)
            for (int64_t j = 0; j < n * S; ++j) h[q * d.W + j] = activation(pre0[(at + q) * d.W + j]);
          changed = n;
        }
        std::copy(h.begin(), h.end(), out0 + b * d.Q * d.W);
      }
    });
  });
  return {out, hs, pres, intos};
}

// Gradients of the query and of rows >= first of keys and values (as (F, B, M - first, S)).
std::vector<torch::Tensor> modular_backward(torch::Tensor grad, torch::Tensor query, torch::Tensor keys,
                                            torch::Tensor values, torch::Tensor weights, torch::Tensor from_to,
                                            torch::Tensor dense, double dense_scale, double kappa,
                                            std::vector<int64_t> counts, torch::Tensor hs, torch::Tensor pres,
                                            torch::Tensor intos, int64_t first) {
  const Shape d = shape_of(query, keys, counts);
  const int64_t F = keys.size(0), S = keys.size(3), rows = d.M - first;
  grad = grad.contiguous();
  weights = weights.reshape({d.B, d.M}).contiguous();
  from_to = from_to.to(query.scalar_type()).contiguous();
  auto d_query = torch::empty_like(query);
  auto grad_keys = torch::zeros({F, d.B, rows, S}, query.options());
  auto grad_values = torch::zeros({F, d.B, rows, S}, query.options());
  const bool has_dense = dense.numel() > 0;
  AT_DISPATCH_FLOATING_TYPES(query.scalar_type(), "modular_backward", [&] {
    using T = scalar_t;
    const T *g0 = grad.data_ptr<T>(), *q0 = query.data_ptr<T>(), *k0 = keys.data_ptr<T>(), *v0 = values.data_ptr<T>();
    const T *w0 = weights.data_ptr<T>(), *ft = from_to.data_ptr<T>(), *hs0 = hs.data_ptr<T>();
    const T *pre0 = pres.data_ptr<T>(), *into0 = intos.data_ptr<T>(), *d0 = has_dense ? dense.data_ptr<T>() : nullptr;
    T *dq0 = d_query.data_ptr<T>(), *gk0 = grad_keys.data_ptr<T>(), *gv0 = grad_values.data_ptr<T>();
    const int64_t kf = keys.stride(0), kb = keys.stride(1), km = keys.stride(2);
    const int64_t vf = values.stride(0), vb = values.stride(1), vm = values.stride(2);
    const T kap = static_cast<T>(kappa), scale = static_cast<T>(dense_scale);
    at::parallel_for(0, d.B, 1, [&](int64_t begin, int64_t end) {
      std::vector<T> dh(d.Q * d.W), dpre(d.W), dinto(F * d.M), pending(d.Q * F * d.M);
      for (int64_t b = begin; b < end; ++b) {
        const T* w = w0 + b * d.M;
        std::copy(g0 + b * d.Q * d.W, g0 + (b + 1) * d.Q * d.W, dh.begin());
        std::fill(pending.begin(), pending.end(), T(0));
        for (int64_t i = d.I - 1; i >= 0; --i) {
          const int64_t n = counts[i], changed = i == 0 ? F : counts[i - 1], at = (b * d.I + i) * d.Q;
          for (int64_t q = 0; q < d.Q; ++q) {
            T *dhq = dh.data() + q * d.W, *pq = pending.data() + q * F * d.M;
            const T *pre = pre0 + (at + q) * d.W, *hq = hs0 + (at + q) * d.W, *into = into0 + (at + q) * F * d.M;
            for (int64_t j = 0; j < n * S; ++j) {
              dpre[j] = activation_grad(pre[j]) * dhq[j];
              dhq[j] = kap * dpre[j];  // modules >= n passed h through unchanged
            }
            for (int64_t g = 0; g < n; ++g) dots(dpre.data() + g * S, v0 + g * vf + b * vb, vm, d.M, S, w, dinto.data() + g * d.M);
            // score gradients; a module's score computed in an earlier iteration collects them until then
            for (int64_t f = 0; f < F; ++f) {
              T* total = pq + f * d.M;  // d score_f = sum_g from_to[f, g] d into_g, plus what later iterations left
              for (int64_t g = 0; g < n; ++g) axpy(ft[f * F + g], dinto.data() + g * d.M, total, d.M);
              if (f >= changed) continue;
              for (int64_t m = 0; m < d.M; ++m) {
                axpy(total[m], k0 + f * kf + b * kb + m * km, dhq + f * S, S);
                if (m >= first) axpy(total[m], hq + f * S, gk0 + ((f * d.B + b) * rows + m - first) * S, S);
              }
              std::fill(total, total + d.M, T(0));
            }
            if (has_dense) dense_grad(dpre.data(), d0 + b * d.W * d.W, scale, dhq, d.W, n * S);
            for (int64_t g = 0; g < n; ++g)
              for (int64_t m = first; m < d.M; ++m)
                axpy(into[g * d.M + m], dpre.data() + g * S, gv0 + ((g * d.B + b) * rows + m - first) * S, S);
          }
        }
        for (int64_t j = 0; j < d.Q * d.W; ++j)
          dq0[b * d.Q * d.W + j] = activation_grad(q0[b * d.Q * d.W + j]) * dh[j];
      }
    });
  });
  return {d_query, grad_keys, grad_values};
}

}  // namespace

void bind_step(pybind11::module& m);  // step_cpu.cpp: TEM's step without gradients

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  bind_step(m);
  m.def("flat_forward", &flat_forward);
  m.def("flat_backward", &flat_backward);
  m.def("modular_forward", &modular_forward);
  m.def("modular_backward", &modular_backward);
}
