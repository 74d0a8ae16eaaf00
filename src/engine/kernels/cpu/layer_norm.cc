// Optimized FP32 LayerNormalization (opset 17), registered above the
// reference kernel: Y = (X - mean) / sqrt(var + epsilon) * Scale + B over
// the dims from `axis` on, Scale and the optional B broadcast
// (unidirectionally) to those dims.
//
// Rows are split across the thread budget. Per row, mean and (population)
// variance are accumulated in double from 16-float vectors (two passes, as
// the reference computes them in double), then one pass writes
// (x - mean) * inv_std * scale + bias. A Scale/B with as many elements as a
// row is used in place; other broadcasts are expanded to a row once per run.
// Results agree with the reference (double arithmetic throughout) to ~1e-6.
//
// Fallback: the factory answers Unimplemented when a dtype known at build
// time is not FP32 or when the optional Mean / InvStdDev outputs are wanted
// (the reference kernel produces them); at run time other dtypes, empty
// tensors and invalid shapes/axes go to the reference kernel (which reports
// the errors). stash_type only affects those optional outputs.
//
// Thread safety: Run is const and keeps no state.
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "engine/kernels/cpu/cpu_util.h"
#include "engine/kernels/cpu/simd_math.h"
#include "engine/kernels/kernel.h"
#include "engine/kernels/parallel.h"
#include "engine/kernels/ref/broadcast.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::cpu {
namespace {

constexpr int64_t kMinChunkElements = 8192;

struct Moments {
  double mean;
  double var;
};

Moments RowMomentsScalar(const float* row, int64_t len) {
  double sum = 0;
  for (int64_t i = 0; i < len; ++i) sum += row[i];
  const double mean = sum / static_cast<double>(len);
  double sq = 0;
  for (int64_t i = 0; i < len; ++i) {
    const double d = static_cast<double>(row[i]) - mean;
    sq += d * d;
  }
  return {mean, sq / static_cast<double>(len)};
}

// Lanes 0-7 / 8-15 of v as doubles. (The maskz forms avoid GCC 12's
// false "uninitialized" warning on the plain intrinsics' undefined source.)
NEREID_AVX512 inline __m512d Low(__m512 v) {
  const __m256d low = _mm512_maskz_extractf64x4_pd(0xF, _mm512_castps_pd(v), 0);
  return _mm512_maskz_cvtps_pd(0xFF, _mm256_castpd_ps(low));
}
NEREID_AVX512 inline __m512d High(__m512 v) {
  const __m256d high = _mm512_maskz_extractf64x4_pd(0xF, _mm512_castps_pd(v), 1);
  return _mm512_maskz_cvtps_pd(0xFF, _mm256_castpd_ps(high));
}

NEREID_AVX512 Moments RowMomentsAvx512(const float* row, int64_t len) {
  __m512d s0 = _mm512_setzero_pd();
  __m512d s1 = _mm512_setzero_pd();
  for (int64_t i = 0; i < len; i += 16) {
    const __m512 v = _mm512_maskz_loadu_ps(simd::TailMask(len - i), row + i);
    s0 = _mm512_add_pd(s0, Low(v));
    s1 = _mm512_add_pd(s1, High(v));
  }
  const double mean = simd::ReduceAdd(_mm512_add_pd(s0, s1)) / static_cast<double>(len);
  const __m512d vmean = _mm512_set1_pd(mean);
  s0 = _mm512_setzero_pd();
  s1 = _mm512_setzero_pd();
  for (int64_t i = 0; i < len; i += 16) {
    const __mmask16 m = simd::TailMask(len - i);
    const __m512 v = _mm512_maskz_loadu_ps(m, row + i);
    // Masked-off lanes must add nothing: zero their deviations.
    const __m512d d0 = _mm512_maskz_sub_pd(static_cast<__mmask8>(m), Low(v), vmean);
    const __m512d d1 = _mm512_maskz_sub_pd(static_cast<__mmask8>(m >> 8), High(v), vmean);
    s0 = _mm512_fmadd_pd(d0, d0, s0);
    s1 = _mm512_fmadd_pd(d1, d1, s1);
  }
  return {mean, simd::ReduceAdd(_mm512_add_pd(s0, s1)) / static_cast<double>(len)};
}

// The mean is passed as mean_hi + mean_lo (two floats) so x - mean stays
// accurate when |mean| is large compared with the spread of the row.
void NormalizeScalar(const float* row, float* out, int64_t len, float mean_hi, float mean_lo,
                     float inv, const float* scale, const float* bias) {
  for (int64_t i = 0; i < len; ++i) {
    const float y = ((row[i] - mean_hi) - mean_lo) * inv * scale[i];
    out[i] = bias != nullptr ? y + bias[i] : y;
  }
}

NEREID_AVX512 void NormalizeAvx512(const float* row, float* out, int64_t len, float mean_hi,
                                   float mean_lo, float inv, const float* scale,
                                   const float* bias) {
  const __m512 vhi = _mm512_set1_ps(mean_hi);
  const __m512 vlo = _mm512_set1_ps(mean_lo);
  const __m512 vinv = _mm512_set1_ps(inv);
  for (int64_t i = 0; i < len; i += 16) {
    const __mmask16 m = simd::TailMask(len - i);
    const __m512 x = _mm512_maskz_loadu_ps(m, row + i);
    const __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_sub_ps(x, vhi), vlo), vinv);
    const __m512 s = _mm512_maskz_loadu_ps(m, scale + i);
    const __m512 y = bias != nullptr ? _mm512_fmadd_ps(d, s, _mm512_maskz_loadu_ps(m, bias + i))
                                     : _mm512_mul_ps(d, s);
    _mm512_mask_storeu_ps(out + i, m, y);
  }
}

// Scale or B as one float per row element: the tensor's own data when it
// has a row's worth of elements, else `storage` filled by broadcasting.
const float* RowParam(const Tensor& t, const Shape& row_shape, int64_t len,
                      std::vector<float>* storage) {
  if (ref::NumElements(t.shape()) == len) return t.data_as<float>();
  storage->resize(static_cast<size_t>(len));
  const std::vector<int64_t> strides = ref::BroadcastStrides(t.shape(), row_shape);
  const float* p = t.data_as<float>();
  ref::ForEachBroadcast(row_shape, strides, strides, [&](int64_t o, int64_t i, int64_t) {
    (*storage)[static_cast<size_t>(o)] = p[i];
  });
  return storage->data();
}

class LayerNormKernel final : public FallbackKernel {
 public:
  LayerNormKernel(std::unique_ptr<Kernel> reference, int threads, int64_t axis, float epsilon)
      : FallbackKernel(std::move(reference), threads), axis_(axis), epsilon_(epsilon) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    if (inputs.size() < 2 || inputs.size() > 3 || outputs.empty() ||
        !IsDenseFp32(inputs[0]) || !IsDenseFp32(inputs[1]) ||
        (inputs.size() == 3 && inputs[2] != nullptr && !IsDenseFp32(inputs[2]))) {
      return Fallback(inputs, outputs);
    }
    const Tensor& x = *inputs[0];
    const Tensor* b = inputs.size() == 3 ? inputs[2] : nullptr;
    const Shape& xs = x.shape();
    auto axis_or = ref::NormalizeAxis(axis_, static_cast<int64_t>(xs.size()));
    if (!axis_or.ok() || ref::NumElements(xs) == 0) return Fallback(inputs, outputs);
    const int64_t axis = *axis_or;
    const Shape row_shape(xs.begin() + axis, xs.end());
    if (!ref::BroadcastsTo(inputs[1]->shape(), row_shape) ||
        (b != nullptr && !ref::BroadcastsTo(b->shape(), row_shape))) {
      return Fallback(inputs, outputs);  // the reference reports it
    }
    const int64_t rows = ref::DimProduct(xs, 0, axis);
    const int64_t len = ref::DimProduct(xs, axis, xs.size());
    std::vector<float> scale_storage;
    std::vector<float> bias_storage;
    const float* scale = RowParam(*inputs[1], row_shape, len, &scale_storage);
    const float* bias = b != nullptr ? RowParam(*b, row_shape, len, &bias_storage) : nullptr;
    ASSIGN_OR_RETURN(outputs[0], ref::AllocateOutput(DataType::kFp32, xs));
    const float* in = x.data_as<float>();
    float* out = outputs[0].mutable_data_as<float>();
    const bool avx512 = UseAvx512();
    const double epsilon = epsilon_;
    const int64_t min_rows = std::max<int64_t>(1, kMinChunkElements / len);
    ParallelFor(rows, threads_, min_rows, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const float* row = in + r * len;
        const Moments m = avx512 ? RowMomentsAvx512(row, len) : RowMomentsScalar(row, len);
        const auto inv = static_cast<float>(1.0 / std::sqrt(m.var + epsilon));
        const auto mean_hi = static_cast<float>(m.mean);
        const auto mean_lo = static_cast<float>(m.mean - static_cast<double>(mean_hi));
        if (avx512) {
          NormalizeAvx512(row, out + r * len, len, mean_hi, mean_lo, inv, scale, bias);
        } else {
          NormalizeScalar(row, out + r * len, len, mean_hi, mean_lo, inv, scale, bias);
        }
      }
    });
    return Status::Ok();
  }

 private:
  int64_t axis_;
  float epsilon_;
};

StatusOr<std::unique_ptr<Kernel>> MakeLayerNorm(const KernelBuildContext& context) {
  // The reference factory checks arity, epsilon and stash_type.
  ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, BuildFp32Reference(context));
  const Node& node = context.node;
  for (size_t i = 1; i < node.outputs.size(); ++i) {
    if (node.outputs[i] != kNoValue) {
      return Unimplemented("LayerNormalization: Mean/InvStdDev outputs run on the reference kernel");
    }
  }
  ASSIGN_OR_RETURN(int64_t axis, node.GetInt("axis", -1));
  ASSIGN_OR_RETURN(float epsilon, node.GetFloat("epsilon", 1e-5f));
  return std::unique_ptr<Kernel>(
      new LayerNormKernel(std::move(reference), context.intra_op_threads, axis, epsilon));
}

NEREID_REGISTER_KERNEL_PRIORITY("", "LayerNormalization", MakeLayerNorm, 10);

}  // namespace
}  // namespace nereid::engine::cpu
