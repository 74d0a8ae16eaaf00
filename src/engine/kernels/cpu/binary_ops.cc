// Optimized FP32 Add, Sub, Mul, Div with numpy broadcasting, registered
// above the reference kernels.
//
// The broadcast is first simplified: output dims of size 1 are dropped and
// neighbouring dims are merged wherever both inputs walk them the same way
// (both contiguous, or both broadcast), so [1,128,768] + [768] becomes
// [128,768] + [1->128, 768] and [1,12,128,128] + [1,1,1,128] becomes
// [1536,128] + [1->1536, 128]. The innermost merged dim is then a row in
// which each input is either a contiguous vector or one repeated value:
// vector-vector, vector-scalar and scalar-vector row loops cover every case
// (same shapes, a scalar side, broadcast along leading dims, and the general
// strided case, whose outer dims are walked with an odometer). The flat
// output is split into contiguous chunks across the thread budget.
//
// Each element is computed with the same single IEEE operation as the
// reference kernel, so results are bit-identical to it.
//
// Fallback: Unimplemented at build time when a known dtype is not FP32 (and
// for whatever the reference factory rejects); at run time other dtypes and
// incompatible shapes go to the reference kernel, which reports the error.
//
// Thread safety: Run is const and keeps no state.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <string>
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

enum class Op { kAdd, kSub, kMul, kDiv };

// Elements per parallel chunk (memory-bound: big chunks only).
constexpr int64_t kMinChunk = 16384;

template <Op kOp>
inline float Apply(float a, float b) {
  if constexpr (kOp == Op::kAdd) return a + b;
  if constexpr (kOp == Op::kSub) return a - b;
  if constexpr (kOp == Op::kMul) return a * b;
  if constexpr (kOp == Op::kDiv) return a / b;
}

template <Op kOp>
NEREID_AVX512 inline __m512 Apply(__m512 a, __m512 b) {
  if constexpr (kOp == Op::kAdd) return _mm512_add_ps(a, b);
  if constexpr (kOp == Op::kSub) return _mm512_sub_ps(a, b);
  if constexpr (kOp == Op::kMul) return _mm512_mul_ps(a, b);
  if constexpr (kOp == Op::kDiv) return _mm512_div_ps(a, b);
}

// One row: a[i * sa] op b[i * sb] for i < n, sa and sb each 0 or 1.
template <Op kOp>
void RowScalar(const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) out[i] = Apply<kOp>(a[i], b[i]);
  } else if (sa == 1) {
    const float y = b[0];
    for (int64_t i = 0; i < n; ++i) out[i] = Apply<kOp>(a[i], y);
  } else if (sb == 1) {
    const float x = a[0];
    for (int64_t i = 0; i < n; ++i) out[i] = Apply<kOp>(x, b[i]);
  } else {
    const float v = Apply<kOp>(a[0], b[0]);
    for (int64_t i = 0; i < n; ++i) out[i] = v;
  }
}

template <Op kOp>
NEREID_AVX512 void RowAvx512(const float* a, int64_t sa, const float* b, int64_t sb, float* out,
                             int64_t n) {
  int64_t i = 0;
  if (sa == 1 && sb == 1) {
    for (; i + 32 <= n; i += 32) {
      _mm512_storeu_ps(out + i, Apply<kOp>(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)));
      _mm512_storeu_ps(out + i + 16,
                       Apply<kOp>(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16)));
    }
    for (; i < n; i += 16) {
      const __mmask16 m = simd::TailMask(n - i);
      _mm512_mask_storeu_ps(
          out + i, m, Apply<kOp>(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i)));
    }
  } else if (sa == 1) {
    const __m512 y = _mm512_set1_ps(b[0]);
    for (; i + 32 <= n; i += 32) {
      _mm512_storeu_ps(out + i, Apply<kOp>(_mm512_loadu_ps(a + i), y));
      _mm512_storeu_ps(out + i + 16, Apply<kOp>(_mm512_loadu_ps(a + i + 16), y));
    }
    for (; i < n; i += 16) {
      const __mmask16 m = simd::TailMask(n - i);
      _mm512_mask_storeu_ps(out + i, m, Apply<kOp>(_mm512_maskz_loadu_ps(m, a + i), y));
    }
  } else if (sb == 1) {
    const __m512 x = _mm512_set1_ps(a[0]);
    for (; i + 32 <= n; i += 32) {
      _mm512_storeu_ps(out + i, Apply<kOp>(x, _mm512_loadu_ps(b + i)));
      _mm512_storeu_ps(out + i + 16, Apply<kOp>(x, _mm512_loadu_ps(b + i + 16)));
    }
    for (; i < n; i += 16) {
      const __mmask16 m = simd::TailMask(n - i);
      _mm512_mask_storeu_ps(out + i, m, Apply<kOp>(x, _mm512_maskz_loadu_ps(m, b + i)));
    }
  } else {
    const __m512 v = _mm512_set1_ps(Apply<kOp>(a[0], b[0]));
    for (; i < n; i += 16) _mm512_mask_storeu_ps(out + i, simd::TailMask(n - i), v);
  }
}

// The simplified broadcast: dims (outermost first) and each input's element
// stride per dim (0 where it is broadcast). The last dim's strides are 0 or 1.
struct Walk {
  std::vector<int64_t> dims;
  std::vector<int64_t> sa;
  std::vector<int64_t> sb;
};

Walk Simplify(const Shape& out, const Shape& a, const Shape& b) {
  const std::vector<int64_t> sa = ref::BroadcastStrides(a, out);
  const std::vector<int64_t> sb = ref::BroadcastStrides(b, out);
  Walk w;
  for (size_t d = 0; d < out.size(); ++d) {
    if (out[d] == 1) continue;
    if (!w.dims.empty()) {
      // Merge into the previous dim when both inputs continue contiguously
      // (or both stay broadcast) across the boundary.
      const int64_t n = out[d];
      if (w.sa.back() == sa[d] * n && w.sb.back() == sb[d] * n) {
        w.dims.back() *= n;
        w.sa.back() = sa[d];
        w.sb.back() = sb[d];
        continue;
      }
    }
    w.dims.push_back(out[d]);
    w.sa.push_back(sa[d]);
    w.sb.push_back(sb[d]);
  }
  if (w.dims.empty()) {  // a single element
    w.dims = {1};
    w.sa = {0};
    w.sb = {0};
  }
  return w;
}

template <Op kOp>
void Compute(const Walk& w, const float* pa, const float* pb, float* po, int64_t total,
             int threads) {
  const size_t rank = w.dims.size();
  const int64_t inner = w.dims.back();
  const int64_t ia = w.sa.back();
  const int64_t ib = w.sb.back();
  const bool avx512 = UseAvx512();
  ParallelFor(total, threads, kMinChunk, [&](int64_t begin, int64_t end) {
    // Position of `begin`: row index over the outer dims (odometer) and column.
    std::array<int64_t, 16> index_small{};
    std::vector<int64_t> index_big;
    int64_t* index = index_small.data();
    if (rank > index_small.size()) {
      index_big.assign(rank, 0);
      index = index_big.data();
    }
    int64_t row = begin / inner;
    int64_t col = begin % inner;
    int64_t off_a = col * ia;
    int64_t off_b = col * ib;
    for (size_t d = rank - 1; d-- > 0;) {
      index[d] = row % w.dims[d];
      row /= w.dims[d];
      off_a += index[d] * w.sa[d];
      off_b += index[d] * w.sb[d];
    }
    int64_t pos = begin;
    while (pos < end) {
      const int64_t n = std::min(inner - col, end - pos);
      if (avx512) {
        RowAvx512<kOp>(pa + off_a, ia, pb + off_b, ib, po + pos, n);
      } else {
        RowScalar<kOp>(pa + off_a, ia, pb + off_b, ib, po + pos, n);
      }
      pos += n;
      if (pos >= end) break;
      // Next row: back to column 0, advance the odometer.
      off_a -= col * ia;
      off_b -= col * ib;
      col = 0;
      for (size_t d = rank - 1; d-- > 0;) {
        off_a += w.sa[d];
        off_b += w.sb[d];
        if (++index[d] < w.dims[d]) break;
        off_a -= w.sa[d] * w.dims[d];
        off_b -= w.sb[d] * w.dims[d];
        index[d] = 0;
      }
    }
  });
}

template <Op kOp>
class BinaryKernel final : public FallbackKernel {
 public:
  BinaryKernel(std::unique_ptr<Kernel> reference, int threads)
      : FallbackKernel(std::move(reference), threads) {}

  // Output element i reads element i of input 0 only (input 0 is reused
  // only when it has the output's shape), so writing over it is safe.
  int InPlaceInput() const override { return 0; }

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    if (inputs.size() != 2 || outputs.empty() || !IsDenseFp32(inputs[0]) ||
        !IsDenseFp32(inputs[1])) {
      return Fallback(inputs, outputs);
    }
    const Tensor& a = *inputs[0];
    const Tensor& b = *inputs[1];
    auto shape = ref::BroadcastShapes(a.shape(), b.shape());
    if (!shape.ok()) return Fallback(inputs, outputs);  // the reference reports it
    RETURN_IF_ERROR(ref::ReuseOrAllocateOutput(&outputs[0], DataType::kFp32, *shape));
    const int64_t total = ref::NumElements(*shape);
    if (total == 0) return Status::Ok();
    const Walk w = Simplify(*shape, a.shape(), b.shape());
    Compute<kOp>(w, a.data_as<float>(), b.data_as<float>(), outputs[0].mutable_data_as<float>(),
                 total, threads_);
    return Status::Ok();
  }

};

template <Op kOp>
StatusOr<std::unique_ptr<Kernel>> MakeBinary(const KernelBuildContext& context) {
  // The reference factory checks arity and rejects the legacy 'axis' form.
  ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, BuildFp32Reference(context));
  return std::unique_ptr<Kernel>(
      new BinaryKernel<kOp>(std::move(reference), context.intra_op_threads));
}

constexpr int kPriority = 10;
NEREID_REGISTER_KERNEL_PRIORITY("", "Add", MakeBinary<Op::kAdd>, kPriority);
NEREID_REGISTER_KERNEL_PRIORITY("", "Sub", MakeBinary<Op::kSub>, kPriority);
NEREID_REGISTER_KERNEL_PRIORITY("", "Mul", MakeBinary<Op::kMul>, kPriority);
NEREID_REGISTER_KERNEL_PRIORITY("", "Div", MakeBinary<Op::kDiv>, kPriority);

}  // namespace
}  // namespace nereid::engine::cpu
