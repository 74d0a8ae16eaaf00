// Optimized FP32 unary elementwise kernels, registered above the reference
// kernels: Relu, LeakyRelu, Sigmoid, Tanh, Erf, Exp, Clip, HardSigmoid,
// HardSwish, Sqrt, Neg, Abs, Elu, Softplus.
//
// Each runs over the flat tensor split into contiguous chunks across the
// kernel's thread budget (ParallelFor), 16 lanes at a time with AVX-512
// (masked tail, vector math from simd_math.h) or with a scalar loop using
// the reference formulas on CPUs without AVX-512. Results match the
// reference kernels bit for bit for Relu, LeakyRelu, Clip, Sqrt, Neg and
// Abs, within an ulp for HardSigmoid/HardSwish (the compiler may fuse their
// multiply-add) and within a few ulps for the transcendental ones (relative
// error < 1e-6, see simd_math.h), NaN and infinities flowing as in the
// reference code.
//
// Fallback: the factory builds the reference kernel (its attribute checks
// and messages are ours) and answers Unimplemented when a dtype known at
// build time is not FP32. At run time anything else (another dtype, a Clip
// bound that is not an FP32 scalar, missing inputs) is delegated to it.
//
// Thread safety: Run is const and keeps no state beyond the immutable
// attributes and the reference kernel.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "engine/kernels/cpu/cpu_util.h"
#include "engine/kernels/cpu/simd_math.h"
#include "engine/kernels/kernel.h"
#include "engine/kernels/parallel.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::cpu {
namespace {

enum class Op {
  kRelu,
  kLeakyRelu,
  kSigmoid,
  kTanh,
  kErf,
  kExp,
  kClip,
  kHardSigmoid,
  kHardSwish,
  kSqrt,
  kNeg,
  kAbs,
  kElu,
  kSoftplus,
};

// Attribute values: LeakyRelu/Elu alpha in a; HardSigmoid alpha, beta in a,
// b; Clip lower and upper bounds in a, b.
struct Params {
  float a = 0.0f;
  float b = 0.0f;
};

// Elements per chunk below which a range is not split further: cheap ops
// are memory bound and need big chunks to be worth a thread.
constexpr bool IsTranscendental(Op op) {
  return op == Op::kSigmoid || op == Op::kTanh || op == Op::kErf || op == Op::kExp ||
         op == Op::kElu || op == Op::kSoftplus;
}
template <Op kOp>
constexpr int64_t kMinChunk = IsTranscendental(kOp) ? 4096 : 16384;

// ---------------------------------------------------------------------------
// Scalar forms: the reference kernels' formulas, operation for operation.
// ---------------------------------------------------------------------------

template <Op kOp>
float Scalar(float x, const Params& p) {
  if constexpr (kOp == Op::kRelu) return x < 0.0f ? 0.0f : x;
  if constexpr (kOp == Op::kLeakyRelu) return x < 0.0f ? p.a * x : x;
  if constexpr (kOp == Op::kSigmoid) {
    if (x >= 0.0f) return 1.0f / (1.0f + std::exp(-x));
    const float e = std::exp(x);
    return e / (1.0f + e);
  }
  if constexpr (kOp == Op::kTanh) return std::tanh(x);
  if constexpr (kOp == Op::kErf) return std::erf(x);
  if constexpr (kOp == Op::kExp) return std::exp(x);
  if constexpr (kOp == Op::kClip) {
    if (x < p.a) x = p.a;
    if (x > p.b) x = p.b;
    return x;
  }
  if constexpr (kOp == Op::kHardSigmoid) return std::max(0.0f, std::min(1.0f, p.a * x + p.b));
  if constexpr (kOp == Op::kHardSwish) return x * std::max(0.0f, std::min(1.0f, x / 6.0f + 0.5f));
  if constexpr (kOp == Op::kSqrt) return std::sqrt(x);
  if constexpr (kOp == Op::kNeg) return -x;
  if constexpr (kOp == Op::kAbs) return std::fabs(x);
  if constexpr (kOp == Op::kElu) return x < 0.0f ? p.a * std::expm1(x) : x;
  if constexpr (kOp == Op::kSoftplus) {
    return x > 0.0f ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
  }
}

template <Op kOp>
void MapScalar(const float* in, float* out, int64_t n, const Params& p) {
  for (int64_t i = 0; i < n; ++i) out[i] = Scalar<kOp>(in[i], p);
}

// ---------------------------------------------------------------------------
// AVX-512 forms. simd::Max/Min(a, b) (vmaxps/vminps) compute
// "a > b ? a : b" / "a < b ? a : b", the same comparisons as std::max /
// std::min with swapped arguments, so NaN and signed zeros come out as in
// the scalar code.
// ---------------------------------------------------------------------------

template <Op kOp>
NEREID_AVX512 inline __m512 Vector(__m512 x, const Params& p) {
  const __m512 zero = _mm512_setzero_ps();
  if constexpr (kOp == Op::kRelu) {
    return simd::Max(zero, x);  // x < 0 ? 0 : x; NaN and -0 pass through
  }
  if constexpr (kOp == Op::kLeakyRelu) {
    const __mmask16 neg = _mm512_cmp_ps_mask(x, zero, _CMP_LT_OQ);
    return _mm512_mask_mul_ps(x, neg, x, _mm512_set1_ps(p.a));
  }
  if constexpr (kOp == Op::kSigmoid) return simd::Sigmoid(x);
  if constexpr (kOp == Op::kTanh) return simd::Tanh(x);
  if constexpr (kOp == Op::kErf) return simd::Erf(x);
  if constexpr (kOp == Op::kExp) return simd::Exp(x);
  if constexpr (kOp == Op::kClip) {
    const __m512 lo = _mm512_set1_ps(p.a);
    const __m512 hi = _mm512_set1_ps(p.b);
    x = _mm512_mask_mov_ps(x, _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ), lo);
    return _mm512_mask_mov_ps(x, _mm512_cmp_ps_mask(x, hi, _CMP_GT_OQ), hi);
  }
  if constexpr (kOp == Op::kHardSigmoid) {
    const __m512 y = _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(p.a), x), _mm512_set1_ps(p.b));
    // std::max(0, std::min(1, y)): min(1, y) = y < 1 ? y : 1 (1 for NaN).
    return simd::Max(simd::Min(y, _mm512_set1_ps(1.0f)), zero);
  }
  if constexpr (kOp == Op::kHardSwish) {
    const __m512 y =
        _mm512_add_ps(_mm512_div_ps(x, _mm512_set1_ps(6.0f)), _mm512_set1_ps(0.5f));
    return _mm512_mul_ps(x, simd::Max(simd::Min(y, _mm512_set1_ps(1.0f)), zero));
  }
  if constexpr (kOp == Op::kSqrt) return simd::Sqrt(x);
  if constexpr (kOp == Op::kNeg) return _mm512_xor_ps(x, _mm512_set1_ps(-0.0f));
  if constexpr (kOp == Op::kAbs) return simd::Abs(x);
  if constexpr (kOp == Op::kElu) {
    const __mmask16 neg = _mm512_cmp_ps_mask(x, zero, _CMP_LT_OQ);
    return _mm512_mask_mul_ps(x, neg, _mm512_set1_ps(p.a), simd::Expm1(x));
  }
  if constexpr (kOp == Op::kSoftplus) {
    // x > 0 ? x + log1p(e^-x) : log1p(e^x), i.e. max(x, 0) + log1p(e^-|x|).
    const __m512 t = simd::Log1pUnit(simd::Exp(_mm512_sub_ps(zero, simd::Abs(x))));
    const __mmask16 pos = _mm512_cmp_ps_mask(x, zero, _CMP_GT_OQ);
    return _mm512_mask_add_ps(t, pos, t, x);
  }
}

template <Op kOp>
NEREID_AVX512 void MapAvx512(const float* in, float* out, int64_t n, const Params& p) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 a = _mm512_loadu_ps(in + i);
    const __m512 b = _mm512_loadu_ps(in + i + 16);
    _mm512_storeu_ps(out + i, Vector<kOp>(a, p));
    _mm512_storeu_ps(out + i + 16, Vector<kOp>(b, p));
  }
  for (; i < n; i += 16) {
    const __mmask16 m = simd::TailMask(n - i);
    _mm512_mask_storeu_ps(out + i, m, Vector<kOp>(_mm512_maskz_loadu_ps(m, in + i), p));
  }
}

template <Op kOp>
class UnaryKernel final : public FallbackKernel {
 public:
  UnaryKernel(std::unique_ptr<Kernel> reference, int threads, Params params,
              bool clip_bounds_are_inputs)
      : FallbackKernel(std::move(reference), threads),
        params_(params),
        clip_bounds_are_inputs_(clip_bounds_are_inputs) {}

  // Output element i reads element i of input 0 only (input 0 is reused
  // only when it has the output's shape), so writing over it is safe.
  int InPlaceInput() const override { return 0; }

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    if (inputs.empty() || outputs.empty() || !IsDenseFp32(inputs[0])) {
      return Fallback(inputs, outputs);
    }
    Params p = params_;
    if constexpr (kOp == Op::kClip) {
      if (clip_bounds_are_inputs_) {
        if (inputs.size() > 3) return Fallback(inputs, outputs);
        for (size_t i = 1; i < inputs.size(); ++i) {
          const Tensor* t = inputs[i];
          if (t == nullptr) continue;
          if (!IsDenseFp32(t) || ref::NumElements(t->shape()) != 1) {
            return Fallback(inputs, outputs);  // other dtypes; the reference's errors
          }
          (i == 1 ? p.a : p.b) = t->data_as<float>()[0];
        }
      } else if (inputs.size() != 1) {
        return Fallback(inputs, outputs);
      }
    } else if (inputs.size() != 1) {
      return Fallback(inputs, outputs);
    }
    const Tensor& x = *inputs[0];
    RETURN_IF_ERROR(ref::ReuseOrAllocateOutput(&outputs[0], DataType::kFp32, x.shape()));
    const int64_t n = ref::NumElements(x.shape());
    const float* in = x.data_as<float>();
    float* out = outputs[0].mutable_data_as<float>();
    const bool avx512 = UseAvx512();
    ParallelFor(n, threads_, kMinChunk<kOp>, [&](int64_t begin, int64_t end) {
      if (avx512) {
        MapAvx512<kOp>(in + begin, out + begin, end - begin, p);
      } else {
        MapScalar<kOp>(in + begin, out + begin, end - begin, p);
      }
    });
    return Status::Ok();
  }

 private:
  Params params_;
  bool clip_bounds_are_inputs_;
};

// Clip's opset < 11 bound attribute; absent gives `fallback`.
StatusOr<float> ClipAttribute(const Node& node, std::string_view name, float fallback) {
  if (node.FindAttribute(name) == nullptr) return fallback;
  return node.GetFloat(name);
}

template <Op kOp>
StatusOr<std::unique_ptr<Kernel>> MakeUnary(const KernelBuildContext& context) {
  // Validates arity and attributes exactly as the reference does.
  ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, BuildFp32Reference(context));
  const Node& node = context.node;
  Params p;
  bool bounds_are_inputs = false;
  if constexpr (kOp == Op::kLeakyRelu) {
    ASSIGN_OR_RETURN(p.a, node.GetFloat("alpha", 0.01f));
  } else if constexpr (kOp == Op::kElu) {
    ASSIGN_OR_RETURN(p.a, node.GetFloat("alpha", 1.0f));
  } else if constexpr (kOp == Op::kHardSigmoid) {
    ASSIGN_OR_RETURN(p.a, node.GetFloat("alpha", 0.2f));
    ASSIGN_OR_RETURN(p.b, node.GetFloat("beta", 0.5f));
  } else if constexpr (kOp == Op::kClip) {
    constexpr float kInf = std::numeric_limits<float>::infinity();
    p.a = -kInf;
    p.b = kInf;
    bounds_are_inputs = context.opset >= 11;
    if (!bounds_are_inputs) {
      ASSIGN_OR_RETURN(p.a, ClipAttribute(node, "min", -kInf));
      ASSIGN_OR_RETURN(p.b, ClipAttribute(node, "max", kInf));
    }
  }
  return std::unique_ptr<Kernel>(
      new UnaryKernel<kOp>(std::move(reference), context.intra_op_threads, p, bounds_are_inputs));
}

constexpr int kPriority = 10;
NEREID_REGISTER_KERNEL_PRIORITY("", "Relu", MakeUnary<Op::kRelu>, kPriority);
NEREID_REGISTER_KERNEL_PRIORITY("", "LeakyRelu", MakeUnary<Op::kLeakyRelu>, kPriority);
NEREID_REGISTER_KERNEL_PRIORITY("", "Sigmoid", MakeUnary<Op::kSigmoid>, kPriority);
NEREID_REGISTER_KERNEL_PRIORITY("", "Tanh", MakeUnary<Op::kTanh>, kPriority);
NEREID_REGISTER_KERNEL_PRIORITY("", "Erf", MakeUnary<Op::kErf>, kPriority);
NEREID_REGISTER_KERNEL_PRIORITY("", "Exp", MakeUnary<Op::kExp>, kPriority);
NEREID_REGISTER_KERNEL_PRIORITY("", "Clip", MakeUnary<Op::kClip>, kPriority);
NEREID_REGISTER_KERNEL_PRIORITY("", "HardSigmoid", MakeUnary<Op::kHardSigmoid>, kPriority);
NEREID_REGISTER_KERNEL_PRIORITY("", "HardSwish", MakeUnary<Op::kHardSwish>, kPriority);
NEREID_REGISTER_KERNEL_PRIORITY("", "Sqrt", MakeUnary<Op::kSqrt>, kPriority);
NEREID_REGISTER_KERNEL_PRIORITY("", "Neg", MakeUnary<Op::kNeg>, kPriority);
NEREID_REGISTER_KERNEL_PRIORITY("", "Abs", MakeUnary<Op::kAbs>, kPriority);
NEREID_REGISTER_KERNEL_PRIORITY("", "Elu", MakeUnary<Op::kElu>, kPriority);
NEREID_REGISTER_KERNEL_PRIORITY("", "Softplus", MakeUnary<Op::kSoftplus>, kPriority);

}  // namespace
}  // namespace nereid::engine::cpu
