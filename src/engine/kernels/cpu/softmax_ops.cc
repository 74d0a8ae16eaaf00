// Optimized FP32 Softmax and LogSoftmax, registered above the reference
// kernels. Semantics as the reference: opset < 13 coerces the input to 2-D
// at `axis` (default 1) and normalizes each flattened trailing block;
// opset >= 13 normalizes along the single dim `axis` (default -1). The row
// maximum is subtracted first; LogSoftmax is x - max - log(sum(exp(x - max))).
//
// The tensor is viewed as [outer, len, inner]. With inner == 1 (the usual
// last-axis case) each row is contiguous: one pass for the maximum, one
// computing exp(x - max) (stored for Softmax) and the sum, one scaling by
// 1/sum (or subtracting log(sum)); rows are split across the thread budget.
// With inner > 1 the same passes run over blocks of up to 256 columns side
// by side, vectorized along the inner dim. Vector exp is simd_math.h's
// (a few ulps of std::exp); results agree with the reference to ~1e-6
// relative. A row containing NaN (or +inf) gives NaN throughout, as in the
// reference.
//
// Fallback: Unimplemented at build time for a known non-FP32 dtype; at run
// time other dtypes, empty tensors and out-of-range axes go to the
// reference kernel (which reports the errors).
//
// Thread safety: Run is const and keeps no state.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <utility>

#include "engine/kernels/cpu/cpu_util.h"
#include "engine/kernels/cpu/simd_math.h"
#include "engine/kernels/kernel.h"
#include "engine/kernels/parallel.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::cpu {
namespace {

// Elements per parallel chunk.
constexpr int64_t kMinChunkElements = 8192;
// Columns processed side by side when inner > 1.
constexpr int64_t kBlock = 256;

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// ---------------------------------------------------------------------------
// Contiguous rows (inner == 1).
// ---------------------------------------------------------------------------

template <bool kLog>
void RowScalar(const float* in, float* out, int64_t len) {
  float max_v = in[0];
  for (int64_t j = 1; j < len; ++j) max_v = std::max(max_v, in[j]);
  float sum = 0.0f;
  if constexpr (kLog) {
    for (int64_t j = 0; j < len; ++j) sum += std::exp(in[j] - max_v);
    const float log_sum = std::log(sum);
    for (int64_t j = 0; j < len; ++j) out[j] = (in[j] - max_v) - log_sum;
  } else {
    for (int64_t j = 0; j < len; ++j) {
      out[j] = std::exp(in[j] - max_v);
      sum += out[j];
    }
    for (int64_t j = 0; j < len; ++j) out[j] = out[j] / sum;
  }
}

template <bool kLog>
NEREID_AVX512 void RowAvx512(const float* in, float* out, int64_t len) {
  __m512 vmax = _mm512_set1_ps(kNegInf);
  for (int64_t j = 0; j < len; j += 16) {
    const __mmask16 m = simd::TailMask(len - j);
    vmax = simd::Max(vmax, _mm512_mask_loadu_ps(_mm512_set1_ps(kNegInf), m, in + j));
  }
  const __m512 max_v = _mm512_set1_ps(simd::ReduceMax(vmax));
  __m512 acc0 = _mm512_setzero_ps();
  __m512 acc1 = _mm512_setzero_ps();
  int64_t j = 0;
  for (; j + 32 <= len; j += 32) {
    const __m512 e0 = simd::Exp(_mm512_sub_ps(_mm512_loadu_ps(in + j), max_v));
    const __m512 e1 = simd::Exp(_mm512_sub_ps(_mm512_loadu_ps(in + j + 16), max_v));
    if constexpr (!kLog) {
      _mm512_storeu_ps(out + j, e0);
      _mm512_storeu_ps(out + j + 16, e1);
    }
    acc0 = _mm512_add_ps(acc0, e0);
    acc1 = _mm512_add_ps(acc1, e1);
  }
  for (; j < len; j += 16) {
    const __mmask16 m = simd::TailMask(len - j);
    const __m512 e = simd::Exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, in + j), max_v));
    if constexpr (!kLog) _mm512_mask_storeu_ps(out + j, m, e);
    acc0 = _mm512_mask_add_ps(acc0, m, acc0, e);
  }
  const float sum = simd::ReduceAdd(_mm512_add_ps(acc0, acc1));
  if constexpr (kLog) {
    const __m512 log_sum = _mm512_set1_ps(std::log(sum));
    for (j = 0; j < len; j += 16) {
      const __mmask16 m = simd::TailMask(len - j);
      const __m512 shifted = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, in + j), max_v);
      _mm512_mask_storeu_ps(out + j, m, _mm512_sub_ps(shifted, log_sum));
    }
  } else {
    const __m512 scale = _mm512_set1_ps(1.0f / sum);
    for (j = 0; j < len; j += 16) {
      const __mmask16 m = simd::TailMask(len - j);
      _mm512_mask_storeu_ps(out + j, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, out + j), scale));
    }
  }
}

// ---------------------------------------------------------------------------
// Strided rows (inner > 1): columns [c0, c0 + w) of one outer block, w <=
// kBlock; element (j, c) of the block is at in[j * inner + c].
// ---------------------------------------------------------------------------

template <bool kLog>
void ColumnsScalar(const float* in, float* out, int64_t len, int64_t inner, int64_t w) {
  float max_v[kBlock];
  float sum[kBlock];
  for (int64_t c = 0; c < w; ++c) {
    max_v[c] = in[c];
    sum[c] = 0.0f;
  }
  for (int64_t j = 1; j < len; ++j) {
    for (int64_t c = 0; c < w; ++c) max_v[c] = std::max(max_v[c], in[j * inner + c]);
  }
  for (int64_t j = 0; j < len; ++j) {
    for (int64_t c = 0; c < w; ++c) {
      const float e = std::exp(in[j * inner + c] - max_v[c]);
      if constexpr (!kLog) out[j * inner + c] = e;
      sum[c] += e;
    }
  }
  for (int64_t c = 0; c < w; ++c) sum[c] = kLog ? std::log(sum[c]) : sum[c];
  for (int64_t j = 0; j < len; ++j) {
    for (int64_t c = 0; c < w; ++c) {
      float& o = out[j * inner + c];
      o = kLog ? (in[j * inner + c] - max_v[c]) - sum[c] : o / sum[c];
    }
  }
}

template <bool kLog>
NEREID_AVX512 void ColumnsAvx512(const float* in, float* out, int64_t len, int64_t inner,
                                 int64_t w) {
  alignas(64) float max_v[kBlock];
  alignas(64) float sum[kBlock];
  for (int64_t c = 0; c < w; c += 16) {
    const __mmask16 m = simd::TailMask(w - c);
    __m512 vmax = _mm512_maskz_loadu_ps(m, in + c);
    for (int64_t j = 1; j < len; ++j) {
      vmax = simd::Max(vmax, _mm512_maskz_loadu_ps(m, in + j * inner + c));
    }
    _mm512_store_ps(max_v + c, vmax);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t j = 0; j < len; ++j) {
      const __m512 e = simd::Exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, in + j * inner + c), vmax));
      if constexpr (!kLog) _mm512_mask_storeu_ps(out + j * inner + c, m, e);
      acc = _mm512_add_ps(acc, e);
    }
    _mm512_store_ps(sum + c, acc);
  }
  for (int64_t c = 0; c < w; c += 16) {
    const __mmask16 m = simd::TailMask(w - c);
    const __m512 vmax = _mm512_load_ps(max_v + c);
    if constexpr (kLog) {
      alignas(64) float logs[16];
      for (int64_t k = 0; k < 16; ++k) logs[k] = c + k < w ? std::log(sum[c + k]) : 0.0f;
      const __m512 log_sum = _mm512_load_ps(logs);
      for (int64_t j = 0; j < len; ++j) {
        const __m512 shifted = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, in + j * inner + c), vmax);
        _mm512_mask_storeu_ps(out + j * inner + c, m, _mm512_sub_ps(shifted, log_sum));
      }
    } else {
      const __m512 scale = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_load_ps(sum + c));
      for (int64_t j = 0; j < len; ++j) {
        float* o = out + j * inner + c;
        _mm512_mask_storeu_ps(o, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, o), scale));
      }
    }
  }
}

template <bool kLog>
class SoftmaxKernel final : public FallbackKernel {
 public:
  SoftmaxKernel(std::unique_ptr<Kernel> reference, int threads, int64_t axis, bool coerce_2d)
      : FallbackKernel(std::move(reference), threads), axis_(axis), coerce_2d_(coerce_2d) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    if (inputs.size() != 1 || outputs.empty() || !IsDenseFp32(inputs[0])) {
      return Fallback(inputs, outputs);
    }
    const Tensor& x = *inputs[0];
    const Shape& shape = x.shape();
    const auto rank = static_cast<int64_t>(shape.size());
    auto axis_or = ref::NormalizeAxis(axis_, rank, /*allow_rank=*/coerce_2d_);
    const int64_t total = ref::NumElements(shape);
    if (!axis_or.ok() || total == 0) return Fallback(inputs, outputs);
    const int64_t axis = *axis_or;
    const int64_t outer = ref::DimProduct(shape, 0, axis);
    const int64_t len = coerce_2d_ ? ref::DimProduct(shape, axis, shape.size()) : shape[axis];
    const int64_t inner = coerce_2d_ ? 1 : ref::DimProduct(shape, axis + 1, shape.size());
    ASSIGN_OR_RETURN(outputs[0], ref::AllocateOutput(DataType::kFp32, shape));
    const float* in = x.data_as<float>();
    float* out = outputs[0].mutable_data_as<float>();
    const bool avx512 = UseAvx512();
    if (inner == 1) {
      const int64_t min_rows = std::max<int64_t>(1, kMinChunkElements / len);
      ParallelFor(outer, threads_, min_rows, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          if (avx512) {
            RowAvx512<kLog>(in + r * len, out + r * len, len);
          } else {
            RowScalar<kLog>(in + r * len, out + r * len, len);
          }
        }
      });
      return Status::Ok();
    }
    // Work items: (outer index, block of columns).
    const int64_t blocks = (inner + kBlock - 1) / kBlock;
    const int64_t min_items = std::max<int64_t>(1, kMinChunkElements / (len * std::min(inner, kBlock)));
    ParallelFor(outer * blocks, threads_, min_items, [&](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end; ++item) {
        const int64_t o = item / blocks;
        const int64_t c0 = (item % blocks) * kBlock;
        const int64_t w = std::min(kBlock, inner - c0);
        const int64_t base = o * len * inner + c0;
        if (avx512) {
          ColumnsAvx512<kLog>(in + base, out + base, len, inner, w);
        } else {
          ColumnsScalar<kLog>(in + base, out + base, len, inner, w);
        }
      }
    });
    return Status::Ok();
  }

 private:
  int64_t axis_;
  bool coerce_2d_;
};

template <bool kLog>
StatusOr<std::unique_ptr<Kernel>> MakeSoftmax(const KernelBuildContext& context) {
  ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, BuildFp32Reference(context));
  const bool coerce_2d = context.opset < 13;
  ASSIGN_OR_RETURN(int64_t axis, context.node.GetInt("axis", coerce_2d ? 1 : -1));
  return std::unique_ptr<Kernel>(new SoftmaxKernel<kLog>(
      std::move(reference), context.intra_op_threads, axis, coerce_2d));
}

NEREID_REGISTER_KERNEL_PRIORITY("", "Softmax", MakeSoftmax<false>, 10);
NEREID_REGISTER_KERNEL_PRIORITY("", "LogSoftmax", MakeSoftmax<true>, 10);

}  // namespace
}  // namespace nereid::engine::cpu
