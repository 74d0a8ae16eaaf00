// Reduced-precision (BF16 / INT8) matrix products with a constant B, shared
// by the oneDNN MatMul, Gemm and nereid.FusedMatMul kernels (dnnl_matmul.cc,
// dnnl_fused_matmul.cc) for the nodes the precision assignment marked
// (engine/passes/assign_precision.cc, attributes in ir/precision_attrs.h).
//
// Computes Y[rows, N] = act(alpha * A[rows, K] @ B[K, N] + bias + addend)
// with A, bias, addend and Y in FP32:
// alpha is folded into B when B is converted (once), so no post-op scales.
//   BF16: A is converted to bf16 per call (a oneDNN reorder), B once; the
//         product accumulates in FP32 and writes FP32.
//   INT8: A is quantized per call with its calibrated per-tensor scale (u8
//         when calibration saw no negative value, else s8); alpha * B is
//         quantized once, symmetric s8 with one scale per output column. The
//         primitive's output scales are A's scale x the column's scale. oneDNN
//         2.6.3's matmul adds the bias to the int32 accumulator BEFORE it
//         applies the output scales (measured with a probe: a bias of 10 on
//         an accumulator of 64 with scale 0.5 gave 37, not 42; the kernel
//         test Int8BiasIsAddedInOutputUnits keeps checking it), so the bias
//         is passed divided by the column's output scale.
// The addend (a residual of Y's shape) is a sum post-op: Y starts as a copy
// of it. The activation is an eltwise post-op after everything else.
//
// B is converted into the layout the primitive picks once per layout (all
// row counts usually share one) and kept; primitives are cached per (rows,
// transposed A, bias, addend). oneDNN's reference implementations are never
// used: when a shape gets one (or none), Run answers false and the caller
// computes that shape in FP32.
//
// Thread safety: Run is const and may run concurrently; the caches are
// guarded by a mutex that is not held while primitives execute.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "common/status.h"
#include "common/tensor.h"
#include "engine/ir/graph.h"
#include "engine/kernels/cpu/dnnl_common.h"

namespace nereid::engine::cpu {

struct MatMulPrecision {
  enum Kind { kFp32, kBf16, kInt8 } kind = kFp32;
  float input_scale = 1;        // INT8: real value of A = input_scale * quantized
  bool input_unsigned = false;  // INT8: A >= 0: u8, else s8
};

// The precision attributes of `node`; InvalidArgument for a malformed one.
StatusOr<MatMulPrecision> ReadMatMulPrecision(const Node& node);

class ReducedMatMul {
 public:
  // `b`: the constant FP32 B, [K, N], or [N, K] with `trans_b`. Null when
  // `precision` is FP32 or `b` is not a dense, aligned 2-D FP32 tensor.
  static std::unique_ptr<ReducedMatMul> Create(const MatMulPrecision& precision, const Tensor& b,
                                               bool trans_b, float alpha, dnnl::algorithm act);

  int64_t k() const { return k_; }
  int64_t n() const { return n_; }

  // Y (rows x N, dense, allocated by the caller) from A (rows x K dense, or
  // K x rows dense with `trans_a`), `bias` (N floats or null) and `addend`
  // (rows x N dense or null). False, with Y untouched, when oneDNN has no
  // non-reference implementation for this shape. Throws dnnl::error.
  bool Run(const float* a, int64_t rows, bool trans_a, const float* bias, const float* addend,
           float* y) const;

  ReducedMatMul(const ReducedMatMul&) = delete;
  ReducedMatMul& operator=(const ReducedMatMul&) = delete;

 private:
  struct Entry;
  ReducedMatMul(MatMulPrecision precision, Tensor b, bool trans_b, float alpha,
                dnnl::algorithm act);
  std::shared_ptr<const Entry> GetEntry(int64_t rows, bool trans_a, bool bias,
                                        bool addend) const;
  std::shared_ptr<const Entry> Create(int64_t rows, bool trans_a, bool bias, bool addend) const;
  dnnl::memory PackedB(const dnnl::memory::desc& layout) const;

  const MatMulPrecision precision_;
  const Tensor b_;  // the FP32 constant as given
  const bool trans_b_;
  const float alpha_;
  const dnnl::algorithm act_;
  int64_t k_ = 0, n_ = 0;
  std::vector<float> b_scales_;    // INT8: per column, real B = scale * quantized
  std::vector<float> out_scales_;  // INT8: alpha * input_scale * b_scales_

  mutable std::mutex mu_;
  ShapeCache<Entry> cache_;  // 16 shapes
  mutable std::vector<std::pair<dnnl::memory::desc, dnnl::memory>> packed_;    // GUARDED_BY(mu_)
};

}  // namespace nereid::engine::cpu
