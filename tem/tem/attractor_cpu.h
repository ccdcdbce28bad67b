// The attractor's arithmetic for one batch element (slot), shared by the attractor kernels
// (attractor_cpu.cpp) and TEM's window kernel without gradients (step_cpu.cpp). See
// attractor_cpu.cpp for the layouts.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace tem_cpu {

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

// pre_q[modules < n] += scale * (h_q @ dense)[modules < n] for a memory read per module: the dense
// part holds only the connections ft (F, F) allows (as HebbianMemory.dense builds it), so a row of
// module f is read up to its last connected module only (a hierarchical memory's row of module f
// reaches modules <= f: a third of the products saved)
template <typename T>
inline void modular_dense_read(const T* h, const T* dense, T scale, T* pre, int64_t F, int64_t S, int64_t n,
                               const T* ft) {
  const int64_t W = F * S;
  for (int64_t f = 0; f < F; ++f) {
    int64_t reach = 0;  // modules 0 .. reach - 1 hold row f's connections
    for (int64_t g = 0; g < n; ++g)
      if (ft[f * F + g] != T(0)) reach = g + 1;
    for (int64_t r = f * S; r < (f + 1) * S && reach > 0; ++r) axpy(scale * h[r], dense + r * W, pre, reach * S);
  }
}

// One slot's attractor over a fully connected memory: query (Q, W) -> out (Q, W), updating the
// first counts[i] * S entries at iteration i. K, V: the slot's M stored rows (km, vm apart);
// w (M); dense (W, W) or nullptr, read times scale. hs (I, Q, W) or nullptr (not kept), pres
// (I, Q, W) and intos (I, Q, M): the iterations' values (kept for the backward pass, or scratch).
// h: (Q, W) scratch.
template <typename T>
void flat_slot(const T* query, T* out, int64_t Q, int64_t W, int64_t S, const T* K, int64_t km, const T* V,
               int64_t vm, int64_t M, const T* w, const T* dense, T scale, T kap, const std::vector<int64_t>& counts,
               T* hs, T* pres, T* intos, T* h) {
  for (int64_t j = 0; j < Q * W; ++j) h[j] = activation(query[j]);
  for (int64_t i = 0; i < static_cast<int64_t>(counts.size()); ++i) {
    const int64_t u = counts[i] * S, at = i * Q;
    if (hs) std::copy(h, h + Q * W, hs + at * W);
    for (int64_t q = 0; q < Q; ++q) {
      const T* hq = h + q * W;
      T *pre = pres + (at + q) * W, *into = intos + (at + q) * M;
      dots(hq, K, km, M, W, w, into);
      for (int64_t j = 0; j < u; ++j) pre[j] = kap * hq[j];
      rows_axpy(into, V, vm, M, pre, u);
      if (dense) dense_read(hq, dense, scale, pre, W, u);
    }
    for (int64_t q = 0; q < Q; ++q)
      for (int64_t j = 0; j < u; ++j) h[q * W + j] = activation(pres[(at + q) * W + j]);
  }
  std::copy(h, h + Q * W, out);
}

// One slot's attractor over a memory read per module (F modules of S entries, connectivity ft
// (F, F)): as flat_slot, with K, V the slot's rows of module 0 (module f kf / vf further), intos
// (I, Q, F, M) (the modules an iteration does not update left as they are) and score (Q, F, M)
// scratch (a module's scores are kept while it no longer changes).
template <typename T>
void modular_slot(const T* query, T* out, int64_t Q, int64_t F, int64_t S, const T* K, int64_t kf, int64_t km,
                  const T* V, int64_t vf, int64_t vm, int64_t M, const T* w, const T* ft, const T* dense, T scale,
                  T kap, const std::vector<int64_t>& counts, T* hs, T* pres, T* intos, T* h, T* score) {
  const int64_t W = F * S;
  for (int64_t j = 0; j < Q * W; ++j) h[j] = activation(query[j]);
  int64_t changed = F;
  for (int64_t i = 0; i < static_cast<int64_t>(counts.size()); ++i) {
    const int64_t n = counts[i], at = i * Q;
    if (hs) std::copy(h, h + Q * W, hs + at * W);
    // module by module, every query in turn: a module's stored rows (M x S) stay in L1
    for (int64_t f = 0; f < changed; ++f)
      for (int64_t q = 0; q < Q; ++q)
        dots(h + q * W + f * S, K + f * kf, km, M, S, (const T*)nullptr, score + (q * F + f) * M);
    for (int64_t g = 0; g < n; ++g)
      for (int64_t q = 0; q < Q; ++q) {
        const T *hq = h + q * W, *sq = score + q * F * M;
        T* ig = intos + ((at + q) * F + g) * M;  // into_g = w * sum_f from_to[f, g] score_f
        std::fill(ig, ig + M, T(0));
        for (int64_t f = 0; f < F; ++f) axpy(ft[f * F + g], sq + f * M, ig, M);
        for (int64_t m = 0; m < M; ++m) ig[m] *= w[m];
        T* pg = pres + (at + q) * W + g * S;
        for (int64_t s = 0; s < S; ++s) pg[s] = kap * hq[g * S + s];
        rows_axpy(ig, V + g * vf, vm, M, pg, S);
      }
    if (dense)
      for (int64_t q = 0; q < Q; ++q) modular_dense_read(h + q * W, dense, scale, pres + (at + q) * W, F, S, n, ft);
    for (int64_t q = 0; q < Q; ++q)
      for (int64_t j = 0; j < n * S; ++j) h[q * W + j] = activation(pres[(at + q) * W + j]);
    changed = n;
  }
  std::copy(h, h + Q * W, out);
}

// The backward pass of flat_slot: dh (Q, W) holds the output's gradient and is overwritten; d_query
// (Q, W) receives the query's. Gradients of stored rows m >= first are added to gk, gv (row m - first,
// W apart). hs, pres, intos: as flat_slot kept them. dpre (W), dscore (M): scratch.
template <typename T>
void flat_slot_backward(T* dh, const T* query, T* d_query, int64_t Q, int64_t W, int64_t S, const T* K, int64_t km,
                        const T* V, int64_t vm, int64_t M, const T* w, const T* dense, T scale, T kap,
                        const std::vector<int64_t>& counts, const T* hs, const T* pres, const T* intos, int64_t first,
                        T* gk, T* gv, T* dpre, T* dscore) {
  for (int64_t i = static_cast<int64_t>(counts.size()) - 1; i >= 0; --i) {
    const int64_t u = counts[i] * S, at = i * Q;
    for (int64_t q = 0; q < Q; ++q) {
      T* dhq = dh + q * W;
      const T *pre = pres + (at + q) * W, *hq = hs + (at + q) * W, *into = intos + (at + q) * M;
      for (int64_t j = 0; j < u; ++j) {
        dpre[j] = activation_grad(pre[j]) * dhq[j];
        dhq[j] = kap * dpre[j];  // entries >= u passed h through unchanged
      }
      dots(dpre, V, vm, M, u, w, dscore);
      for (int64_t m = 0; m < M; ++m) axpy(dscore[m], K + m * km, dhq, W);
      if (dense) dense_grad(dpre, dense, scale, dhq, W, u);
      for (int64_t m = first; m < M; ++m) {
        axpy(dscore[m], hq, gk + (m - first) * W, W);
        axpy(into[m], dpre, gv + (m - first) * W, u);
      }
    }
  }
  for (int64_t j = 0; j < Q * W; ++j) d_query[j] = activation_grad(query[j]) * dh[j];
}

// The backward pass of modular_slot: as flat_slot_backward, with the stored rows per module (K, V
// as modular_slot reads them) and the gradients of rows m >= first added to gk, gv at module f,
// row m - first: gk + f * gf + (m - first) * S. dpre (W), dinto (F, M), pending (Q, F, M): scratch.
template <typename T>
void modular_slot_backward(T* dh, const T* query, T* d_query, int64_t Q, int64_t F, int64_t S, const T* K, int64_t kf,
                           int64_t km, const T* V, int64_t vf, int64_t vm, int64_t M, const T* w, const T* ft,
                           const T* dense, T scale, T kap, const std::vector<int64_t>& counts, const T* hs,
                           const T* pres, const T* intos, int64_t first, T* gk, T* gv, int64_t gf, T* dpre, T* dinto,
                           T* pending) {
  const int64_t W = F * S;
  std::fill(pending, pending + Q * F * M, T(0));
  for (int64_t i = static_cast<int64_t>(counts.size()) - 1; i >= 0; --i) {
    const int64_t n = counts[i], changed = i == 0 ? F : counts[i - 1], at = i * Q;
    for (int64_t q = 0; q < Q; ++q) {
      T *dhq = dh + q * W, *pq = pending + q * F * M;
      const T *pre = pres + (at + q) * W, *hq = hs + (at + q) * W, *into = intos + (at + q) * F * M;
      for (int64_t j = 0; j < n * S; ++j) {
        dpre[j] = activation_grad(pre[j]) * dhq[j];
        dhq[j] = kap * dpre[j];  // modules >= n passed h through unchanged
      }
      for (int64_t g = 0; g < n; ++g) dots(dpre + g * S, V + g * vf, vm, M, S, w, dinto + g * M);
      // score gradients; a module's score computed in an earlier iteration collects them until then
      for (int64_t f = 0; f < F; ++f) {
        T* total = pq + f * M;  // d score_f = sum_g from_to[f, g] d into_g, plus what later iterations left
        for (int64_t g = 0; g < n; ++g) axpy(ft[f * F + g], dinto + g * M, total, M);
        if (f >= changed) continue;
        for (int64_t m = 0; m < M; ++m) {
          axpy(total[m], K + f * kf + m * km, dhq + f * S, S);
          if (m >= first) axpy(total[m], hq + f * S, gk + f * gf + (m - first) * S, S);
        }
        std::fill(total, total + M, T(0));
      }
      if (dense) dense_grad(dpre, dense, scale, dhq, W, n * S);
      for (int64_t g = 0; g < n; ++g)
        for (int64_t m = first; m < M; ++m) axpy(into[g * M + m], dpre + g * S, gv + g * gf + (m - first) * S, S);
    }
  }
  for (int64_t j = 0; j < Q * W; ++j) d_query[j] = activation_grad(query[j]) * dh[j];
}

}  // namespace tem_cpu
