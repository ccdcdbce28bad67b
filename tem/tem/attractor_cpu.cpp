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

#include "attractor_cpu.h"

namespace {

using namespace tem_cpu;

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
      for (int64_t b = begin; b < end; ++b)
        flat_slot(q0 + b * d.Q * d.W, out0 + b * d.Q * d.W, d.Q, d.W, S, k0 + b * kb, km, v0 + b * vb, vm, d.M,
                  w0 + b * d.M, has_dense ? d0 + b * d.W * d.W : nullptr, scale, kap, counts,
                  hs0 + b * d.I * d.Q * d.W, pre0 + b * d.I * d.Q * d.W, into0 + b * d.I * d.Q * d.M, h.data());
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
        const int64_t at = b * d.Q * d.W, saved = b * d.I * d.Q;
        std::copy(g0 + at, g0 + at + d.Q * d.W, dh.begin());
        flat_slot_backward(dh.data(), q0 + at, dq0 + at, d.Q, d.W, S, k0 + b * kb, km, v0 + b * vb, vm, d.M,
                           w0 + b * d.M, has_dense ? d0 + b * d.W * d.W : nullptr, scale, kap, counts,
                           hs0 + saved * d.W, pre0 + saved * d.W, into0 + saved * d.M, first, gk0 + b * rows * d.W,
                           gv0 + b * rows * d.W, dpre.data(), dscore.data());
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
      std::vector<T> h(d.Q * d.W), score(d.Q * F * d.M);
      for (int64_t b = begin; b < end; ++b)
        modular_slot(q0 + b * d.Q * d.W, out0 + b * d.Q * d.W, d.Q, F, S, k0 + b * kb, kf, km, v0 + b * vb, vf, vm,
                     d.M, w0 + b * d.M, ft, has_dense ? d0 + b * d.W * d.W : nullptr, scale, kap, counts,
                     hs0 + b * d.I * d.Q * d.W, pre0 + b * d.I * d.Q * d.W, into0 + b * d.I * d.Q * F * d.M, h.data(),
                     score.data());
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
        const int64_t at = b * d.Q * d.W, saved = b * d.I * d.Q;
        std::copy(g0 + at, g0 + at + d.Q * d.W, dh.begin());
        modular_slot_backward(dh.data(), q0 + at, dq0 + at, d.Q, F, S, k0 + b * kb, kf, km, v0 + b * vb, vf, vm, d.M,
                              w0 + b * d.M, ft, has_dense ? d0 + b * d.W * d.W : nullptr, scale, kap, counts,
                              hs0 + saved * d.W, pre0 + saved * d.W, into0 + saved * F * d.M, first,
                              gk0 + b * rows * S, gv0 + b * rows * S, d.B * rows * S, dpre.data(), dinto.data(),
                              pending.data());
      }
    });
  });
  return {d_query, grad_keys, grad_values};
}

}  // namespace

void bind_step(pybind11::module& m);  // step_cpu.cpp: TEM's window without gradients

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  bind_step(m);
  m.def("flat_forward", &flat_forward);
  m.def("flat_backward", &flat_backward);
  m.def("modular_forward", &modular_forward);
  m.def("modular_backward", &modular_backward);
}
