// Tests of the oneDNN int8 kernels for MatMulInteger, QLinearMatMul,
// ConvInteger and QLinearConv (dnnl_qlinear.cc) against the reference
// kernels (ref/qlinear_ops.cc): random shapes, attributes, data types and
// zero points. Integer outputs must be equal. QLinear outputs must be equal
// except where the exact value acc * scale lies within float precision of a
// .5 boundary (oneDNN scales in float, the reference in double): there they
// may differ by one; such near-ties are counted and printed. Also: half-even
// rounding and saturation on hand-made ties, constant and per-call weights,
// and the cases handed to the reference kernel (counted by a test hook).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/kernels/cpu/cpu_kernel_test_util.h"

namespace nereid::engine::cpu {
int64_t DnnlQLinearFallbackCountForTesting();
}  // namespace nereid::engine::cpu

namespace nereid::engine {
namespace {

using namespace cputest;  // NOLINT: test helpers
using ::testing::ElementsAre;

int64_t Fallbacks() { return cpu::DnnlQLinearFallbackCountForTesting(); }

int64_t Count(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

int Lo(DataType d) { return d == DataType::kUint8 ? 0 : -128; }
int Hi(DataType d) { return d == DataType::kUint8 ? 255 : 127; }

int32_t Get8(const Tensor& t, int64_t i) {
  return t.dtype() == DataType::kUint8 ? t.data_as<uint8_t>()[i] : t.data_as<int8_t>()[i];
}
void Set8(Tensor* t, int64_t i, int v) {
  v = std::clamp(v, Lo(t->dtype()), Hi(t->dtype()));
  if (t->dtype() == DataType::kUint8) {
    t->mutable_data_as<uint8_t>()[i] = static_cast<uint8_t>(v);
  } else {
    t->mutable_data_as<int8_t>()[i] = static_cast<int8_t>(v);
  }
}

Tensor Ints8(DataType d, Shape shape, const std::vector<int>& v) {
  Tensor t = Tensor::AllocateDense(d, std::move(shape));
  for (size_t i = 0; i < v.size(); ++i) Set8(&t, static_cast<int64_t>(i), v[i]);
  return t;
}

DataType Pick8(std::mt19937& rng) { return rng() % 2 ? DataType::kUint8 : DataType::kInt8; }

int Uniform(std::mt19937& rng, int lo, int hi) {
  return std::uniform_int_distribution<int>(lo, hi)(rng);
}
double UniformReal(std::mt19937& rng, double lo, double hi) {
  return std::uniform_real_distribution<double>(lo, hi)(rng);
}

// Random 8-bit values over the type's whole range.
Tensor Random8(DataType d, Shape shape, std::mt19937& rng) {
  Tensor t = Tensor::AllocateDense(d, std::move(shape));
  for (int64_t i = 0; i < Count(t.shape()); ++i) Set8(&t, i, Uniform(rng, Lo(d), Hi(d)));
  return t;
}

// Random weights around their zero point (channel c of element i is
// (i / inner) % zp.size()), within +-spread.
Tensor RandomAround(DataType d, Shape shape, const std::vector<int>& zp, int64_t inner,
                    int spread, std::mt19937& rng) {
  Tensor t = Tensor::AllocateDense(d, std::move(shape));
  const auto channels = static_cast<int64_t>(zp.size());
  for (int64_t i = 0; i < Count(t.shape()); ++i) {
    Set8(&t, i, zp[channels == 1 ? 0 : (i / inner) % channels] + Uniform(rng, -spread, spread));
  }
  return t;
}

// One operator invocation: its node and the tensors it reads (owned here).
struct Call {
  OpSpec spec;
  std::deque<Tensor> owned;
  std::vector<const Tensor*> inputs;

  Call(const std::string& op, size_t arity) : spec(op, arity) {
    spec.Threads(1);
    inputs.assign(arity, nullptr);
  }
  // Sets input i (and its build-time dtype); `constant` marks it an initializer.
  Call& Set(size_t i, Tensor t, bool constant = false) {
    owned.push_back(std::move(t));
    inputs[i] = &owned.back();
    spec.dtypes[i] = owned.back().dtype();
    spec.constants[i] = constant ? &owned.back() : nullptr;
    return *this;
  }
  Call& Omit(size_t i) {
    spec.Omit(i);
    inputs[i] = nullptr;
    return *this;
  }
};

struct Compared {
  int64_t fallbacks = 0;
  int64_t near_ties = 0;  // QLinear elements that differ by one at a near-tie
  int64_t elements = 0;
};

// Runs the optimized and the reference kernel on `call`. `exact(i)` (QLinear
// only) gives element i's exact value acc * multiplier; null for integer ops
// (which must match exactly).
Compared ExpectMatchesReference(const Call& call, const std::function<double(int64_t)>& exact,
                                const std::string& what) {
  SCOPED_TRACE(what);
  Compared out;
  auto fast = call.spec.Build(kOptimizedPriority);
  auto reference = call.spec.Build(KernelRegistry::kReferencePriority);
  EXPECT_TRUE(fast.ok()) << fast.status().ToString();
  EXPECT_TRUE(reference.ok()) << reference.status().ToString();
  if (!fast.ok() || !reference.ok()) return out;
  const int64_t before = Fallbacks();
  auto y = RunKernel(**fast, call.inputs);
  out.fallbacks = Fallbacks() - before;
  auto want = RunKernel(**reference, call.inputs);
  EXPECT_TRUE(want.ok()) << want.status().ToString();
  EXPECT_TRUE(y.ok()) << y.status().ToString();
  if (!y.ok() || !want.ok()) return out;
  EXPECT_EQ(y->shape(), want->shape());
  EXPECT_EQ(y->dtype(), want->dtype());
  if (y->shape() != want->shape() || y->dtype() != want->dtype()) return out;
  out.elements = Count(y->shape());
  if (y->dtype() == DataType::kInt32) {
    EXPECT_EQ(std::memcmp(y->data(), want->data(), want->byte_size()), 0);
    return out;
  }
  int64_t reported = 0;
  for (int64_t i = 0; i < out.elements; ++i) {
    const int32_t got = Get8(*y, i), expected = Get8(*want, i);
    if (got == expected) continue;
    const double v = exact(i);
    const double frac = v - std::floor(v);
    const bool near_tie = std::abs(frac - 0.5) <= 1e-6 * std::max(1.0, std::abs(v));
    if (std::abs(got - expected) == 1 && near_tie) {
      ++out.near_ties;
    } else if (reported++ < 5) {
      ADD_FAILURE() << "element " << i << ": got " << got << ", reference " << expected
                    << " (exact value before rounding " << v << ")";
    }
  }
  return out;
}

std::string Str(const Shape& s) { return ShapeToString(s); }

// ---- MatMul ------------------------------------------------------------------

struct MatMulShapes {
  Shape a, b;
  int64_t m, k, n;
};

MatMulShapes RandomMatMulShapes(std::mt19937& rng, int iter) {
  const int64_t m = Uniform(rng, 1, 33), k = Uniform(rng, 1, 70), n = Uniform(rng, 1, 40);
  switch (iter % 5) {
    case 0:
    case 1:
      return {{m, k}, {k, n}, m, k, n};
    case 2:  // batched A, one B (rows folded)
      return {{2, 3, m, k}, {k, n}, m, k, n};
    case 3:  // batch broadcast on both sides
      return {{2, 1, m, k}, {1, 3, k, n}, m, k, n};
    default:  // A a vector
      return {{k}, {2, k, n}, 1, k, n};
  }
}

TEST(DnnlQLinearTest, MatMulIntegerRandomMatchesReferenceExactly) {
  std::mt19937 rng(11);
  for (int iter = 0; iter < 40; ++iter) {
    const MatMulShapes s = RandomMatMulShapes(rng, iter);
    const DataType a_dt = Pick8(rng), b_dt = Pick8(rng);
    const int zp_kind = iter % 4;  // 0: none, 1: A only, 2: both per tensor, 3: B per column
    const bool constant = iter % 3 == 0;
    Call call("MatMulInteger", zp_kind == 0 ? 2 : 4);
    call.Set(0, Random8(a_dt, s.a, rng));
    std::vector<int> b_zp = {zp_kind >= 2 ? Uniform(rng, Lo(b_dt), Hi(b_dt)) : 0};
    if (zp_kind == 3) {
      b_zp.clear();
      for (int64_t j = 0; j < s.n; ++j) b_zp.push_back(Uniform(rng, Lo(b_dt), Hi(b_dt)));
    }
    // Per tensor: B over its whole range (u8 B goes through the shifted
    // zero-point form); per column: values that fit around the zero points.
    call.Set(1, zp_kind == 3 ? RandomAround(b_dt, s.b, b_zp, 1, 100, rng) : Random8(b_dt, s.b, rng),
             constant);
    if (zp_kind > 0) {
      call.Set(2, Ints8(a_dt, {}, {Uniform(rng, Lo(a_dt), Hi(a_dt))}));
      if (zp_kind == 1) {
        call.Omit(3);
      } else {
        call.Set(3, Ints8(b_dt, zp_kind == 3 ? Shape{s.n} : Shape{}, b_zp), constant);
      }
    }
    const Compared c = ExpectMatchesReference(
        call, nullptr, "MatMulInteger " + Str(s.a) + " x " + Str(s.b) + " zp kind " +
                           std::to_string(zp_kind) + (constant ? " constant B" : ""));
    EXPECT_EQ(c.fallbacks, 0) << "iteration " << iter;
  }
}

TEST(DnnlQLinearTest, QLinearMatMulRandomMatchesReferenceUpToNearTies) {
  std::mt19937 rng(12);
  Compared total;
  for (int iter = 0; iter < 40; ++iter) {
    const MatMulShapes s = RandomMatMulShapes(rng, iter);
    const DataType a_dt = Pick8(rng), b_dt = Pick8(rng), y_dt = Pick8(rng);
    const bool per_column = iter % 2 == 1;
    const bool constant = iter % 3 != 0;
    const int a_zp = Uniform(rng, Lo(a_dt), Hi(a_dt));
    std::vector<int> b_zp;
    for (int64_t j = 0; j < (per_column ? s.n : 1); ++j) {
      b_zp.push_back(Uniform(rng, Lo(b_dt), Hi(b_dt)));
    }
    const float a_scale = static_cast<float>(UniformReal(rng, 0.002, 0.05));
    std::vector<float> b_scale;
    for (int64_t j = 0; j < (per_column ? s.n : 1); ++j) {
      b_scale.push_back(static_cast<float>(UniformReal(rng, 0.002, 0.05)));
    }
    // Outputs mostly in range, some saturated.
    const double spread = std::sqrt(static_cast<double>(s.k)) * 80.0 * 60.0;
    const float y_scale =
        static_cast<float>(a_scale * b_scale[0] * spread / 60.0 * UniformReal(rng, 0.5, 2.0));
    const int y_zp = Uniform(rng, Lo(y_dt), Hi(y_dt));
    Call call("QLinearMatMul", 8);
    call.Set(0, Random8(a_dt, s.a, rng));
    call.Set(1, Scalars({}, {a_scale}), true);
    call.Set(2, Ints8(a_dt, {}, {a_zp}), true);
    call.Set(3, per_column ? RandomAround(b_dt, s.b, b_zp, 1, 100, rng) : Random8(b_dt, s.b, rng),
             constant);
    const Shape per = per_column ? Shape{s.n} : Shape{};
    call.Set(4, Scalars(per, b_scale), true);
    call.Set(5, Ints8(b_dt, per, b_zp), constant);
    call.Set(6, Scalars({}, {y_scale}), true);
    call.Set(7, Ints8(y_dt, {}, {y_zp}), true);
    // The exact values: the reference MatMulInteger's accumulator times the
    // multiplier in double.
    Call integer("MatMulInteger", 4);
    integer.Set(0, *call.inputs[0]).Set(1, *call.inputs[3]).Set(2, *call.inputs[2]);
    integer.Set(3, *call.inputs[5]);
    auto acc = RunKernel(**integer.spec.Build(KernelRegistry::kReferencePriority),
                         integer.inputs);
    ASSERT_TRUE(acc.ok()) << acc.status().ToString();
    auto exact = [&](int64_t i) {
      const double bs = b_scale[per_column ? i % s.n : 0];
      return acc->data_as<int32_t>()[i] * (double{a_scale} * bs / y_scale);
    };
    const Compared c = ExpectMatchesReference(
        call, exact, "QLinearMatMul " + Str(s.a) + " x " + Str(s.b) +
                         (per_column ? " per column" : "") + (constant ? " constant B" : ""));
    EXPECT_EQ(c.fallbacks, 0) << "iteration " << iter;
    total.near_ties += c.near_ties;
    total.elements += c.elements;
  }
  std::printf("QLinearMatMul: %lld of %lld outputs differ from the reference by one (near-ties)\n",
              static_cast<long long>(total.near_ties), static_cast<long long>(total.elements));
}

// Hand-made ties: acc * 0.5 with odd acc rounds half to even; the y zero
// point is added after rounding; results saturate.
TEST(DnnlQLinearTest, QLinearMatMulRoundsHalfToEvenAndSaturates) {
  for (DataType y_dt : {DataType::kUint8, DataType::kInt8}) {
    Call call("QLinearMatMul", 8);
    // A [8, 1] (s8, zero point 0) times B [1, 1] = 1: acc = A.
    call.Set(0, Ints8(DataType::kInt8, {8, 1}, {1, 3, 5, 7, -1, -3, -5, 127}));
    call.Set(1, Scalars({}, {1.0f}), true);
    call.Set(2, Ints8(DataType::kInt8, {}, {0}), true);
    call.Set(3, Ints8(DataType::kInt8, {1, 1}, {1}), true);
    call.Set(4, Scalars({}, {0.5f}), true);
    call.Set(5, Ints8(DataType::kInt8, {}, {0}), true);
    call.Set(6, Scalars({}, {1.0f}), true);
    const int y_zp = y_dt == DataType::kUint8 ? 3 : 100;
    call.Set(7, Ints8(y_dt, {}, {y_zp}), true);
    auto kernel = call.spec.BuildOptimized();
    ASSERT_TRUE(kernel.ok()) << kernel.status().ToString();
    const int64_t before = Fallbacks();
    auto y = RunKernel(**kernel, call.inputs);
    ASSERT_TRUE(y.ok()) << y.status().ToString();
    EXPECT_EQ(Fallbacks(), before);
    // 0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, 63.5 -> 0, 2, 2, 4, 0, -2, -2, 64.
    std::vector<int32_t> got;
    for (int64_t i = 0; i < 8; ++i) got.push_back(Get8(*y, i));
    if (y_dt == DataType::kUint8) {
      EXPECT_THAT(got, ElementsAre(3, 5, 5, 7, 3, 1, 1, 67));  // u8: -2 + 3 = 1
    } else {
      EXPECT_THAT(got, ElementsAre(100, 102, 102, 104, 100, 98, 98, 127));  // 164 saturates
    }
  }
}

TEST(DnnlQLinearTest, MatMulConstantBIsReusedAndOtherBRunPerCall) {
  std::mt19937 rng(13);
  Call call("MatMulInteger", 4);
  call.Set(0, Random8(DataType::kUint8, {5, 24}, rng));
  call.Set(1, Random8(DataType::kUint8, {24, 7}, rng), true);
  call.Set(2, Ints8(DataType::kUint8, {}, {128}), true);
  call.Set(3, Ints8(DataType::kUint8, {}, {120}), true);
  auto fast = call.spec.BuildOptimized();
  auto ref = call.spec.Build(KernelRegistry::kReferencePriority);
  ASSERT_TRUE(fast.ok() && ref.ok());
  const int64_t before = Fallbacks();
  for (int round = 0; round < 3; ++round) {
    std::vector<const Tensor*> in = call.inputs;
    Tensor other_b = Random8(DataType::kUint8, {24, 7}, rng);
    if (round == 2) in[1] = &other_b;  // not the constant: rewritten per call
    auto y = RunKernel(**fast, in);
    auto want = RunKernel(**ref, in);
    ASSERT_TRUE(y.ok() && want.ok());
    EXPECT_EQ(std::memcmp(y->data(), want->data(), want->byte_size()), 0) << "round " << round;
  }
  EXPECT_EQ(Fallbacks(), before);
}

// ---- Convolution -----------------------------------------------------------------

struct ConvCase {
  Shape x, w;
  int64_t group;
  std::vector<int64_t> strides, dilations, pads;
  std::string auto_pad;
};

ConvCase RandomConv(std::mt19937& rng, int iter) {
  const int spatial = iter % 7 == 5 ? 1 : (iter % 7 == 6 ? 3 : 2);
  ConvCase c;
  const int kind = iter % 3;  // 0: plain, 1: grouped, 2: depthwise
  c.group = kind == 0 ? 1 : (kind == 1 ? 2 : Uniform(rng, 2, 8));
  const int64_t cg = kind == 2 ? 1 : Uniform(rng, 1, 9);
  const int64_t mg = kind == 2 ? 1 : Uniform(rng, 1, 9);
  c.x = {Uniform(rng, 1, 2), cg * c.group};
  c.w = {mg * c.group, cg};
  for (int d = 0; d < spatial; ++d) {
    const int64_t k = Uniform(rng, 1, 3);
    const int64_t dil = Uniform(rng, 1, 2);
    c.w.push_back(k);
    c.x.push_back(Uniform(rng, static_cast<int>((k - 1) * dil + 1), spatial == 3 ? 6 : 11));
    c.strides.push_back(Uniform(rng, 1, 2));
    c.dilations.push_back(dil);
  }
  if (iter % 5 == 4) {
    c.auto_pad = iter % 2 ? "SAME_UPPER" : "VALID";
  } else {
    c.pads.assign(2 * spatial, 0);
    for (int64_t& p : c.pads) p = Uniform(rng, 0, 2);
  }
  return c;
}

void SetConvAttrs(OpSpec* spec, const ConvCase& c) {
  spec->Int("group", c.group).Ints("strides", c.strides).Ints("dilations", c.dilations);
  if (c.auto_pad.empty()) {
    spec->Ints("pads", c.pads);
  } else {
    spec->String("auto_pad", c.auto_pad);
  }
}

std::string Describe(const ConvCase& c) {
  std::string s = "x " + Str(c.x) + " w " + Str(c.w) + " group " + std::to_string(c.group) +
                  " strides " + Str(c.strides) + " dilations " + Str(c.dilations);
  return s + (c.auto_pad.empty() ? " pads " + Str(c.pads) : " auto_pad " + c.auto_pad);
}

TEST(DnnlQLinearTest, ConvIntegerRandomMatchesReferenceExactly) {
  std::mt19937 rng(21);
  for (int iter = 0; iter < 40; ++iter) {
    const ConvCase cc = RandomConv(rng, iter);
    const DataType x_dt = Pick8(rng), w_dt = Pick8(rng);
    const int zp_kind = iter % 4;  // 0: none, 1: x only, 2: both per tensor, 3: w per channel
    const bool constant = iter % 2 == 0;
    Call call("ConvInteger", zp_kind == 0 ? 2 : 4);
    SetConvAttrs(&call.spec, cc);
    call.Set(0, Random8(x_dt, cc.x, rng));
    std::vector<int> w_zp;
    for (int64_t m = 0; m < (zp_kind == 3 ? cc.w[0] : 1); ++m) {
      w_zp.push_back(zp_kind >= 2 ? Uniform(rng, Lo(w_dt), Hi(w_dt)) : 0);
    }
    // Weights around their zero point, within s8 range of it.
    call.Set(1, RandomAround(w_dt, cc.w, w_zp, Count(cc.w) / cc.w[0], 100, rng),
             constant);
    if (zp_kind > 0) {
      call.Set(2, Ints8(x_dt, {}, {Uniform(rng, Lo(x_dt), Hi(x_dt))}));
      if (zp_kind == 1) {
        call.Omit(3);
      } else {
        call.Set(3, Ints8(w_dt, zp_kind == 3 ? Shape{cc.w[0]} : Shape{}, w_zp), constant);
      }
    }
    const Compared c = ExpectMatchesReference(call, nullptr, "ConvInteger " + Describe(cc));
    EXPECT_EQ(c.fallbacks, 0) << "iteration " << iter << ": " << Describe(cc);
  }
}

TEST(DnnlQLinearTest, QLinearConvRandomMatchesReferenceUpToNearTies) {
  std::mt19937 rng(22);
  Compared total;
  for (int iter = 0; iter < 40; ++iter) {
    const ConvCase cc = RandomConv(rng, iter);
    const DataType x_dt = Pick8(rng), w_dt = Pick8(rng), y_dt = Pick8(rng);
    const bool per_channel = iter % 2 == 1;
    const bool constant = iter % 3 != 0;
    const bool with_bias = iter % 4 != 3;
    const int64_t oc = cc.w[0];
    const int64_t per_oc = Count(cc.w) / oc;
    std::vector<int> w_zp;
    std::vector<float> w_scale;
    for (int64_t m = 0; m < (per_channel ? oc : 1); ++m) {
      w_zp.push_back(Uniform(rng, Lo(w_dt), Hi(w_dt)));
      w_scale.push_back(static_cast<float>(UniformReal(rng, 0.002, 0.05)));
    }
    const float x_scale = static_cast<float>(UniformReal(rng, 0.002, 0.05));
    const double spread = std::sqrt(static_cast<double>(per_oc)) * 80.0 * 60.0;
    const float y_scale =
        static_cast<float>(x_scale * w_scale[0] * spread / 60.0 * UniformReal(rng, 0.5, 2.0));
    std::vector<int32_t> bias;
    for (int64_t m = 0; m < oc; ++m) bias.push_back(Uniform(rng, -20000, 20000));
    Call call("QLinearConv", with_bias ? 9 : 8);
    SetConvAttrs(&call.spec, cc);
    const Shape per = per_channel ? Shape{oc} : Shape{};
    call.Set(0, Random8(x_dt, cc.x, rng));
    call.Set(1, Scalars({}, {x_scale}), true);
    call.Set(2, Ints8(x_dt, {}, {Uniform(rng, Lo(x_dt), Hi(x_dt))}), true);
    call.Set(3, RandomAround(w_dt, cc.w, w_zp, per_oc, 100, rng), constant);
    call.Set(4, Scalars(per, w_scale), true);
    call.Set(5, Ints8(w_dt, per, w_zp), constant);
    call.Set(6, Scalars({}, {y_scale}), true);
    call.Set(7, Ints8(y_dt, {}, {Uniform(rng, Lo(y_dt), Hi(y_dt))}), true);
    if (with_bias) call.Set(8, testutil::I32({oc}, bias), true);
    Call integer("ConvInteger", 4);
    SetConvAttrs(&integer.spec, cc);
    integer.Set(0, *call.inputs[0]).Set(1, *call.inputs[3]).Set(2, *call.inputs[2]);
    integer.Set(3, *call.inputs[5]);
    auto acc = RunKernel(**integer.spec.Build(KernelRegistry::kReferencePriority),
                         integer.inputs);
    ASSERT_TRUE(acc.ok()) << acc.status().ToString();
    const int64_t out_size = Count(acc->shape()) / acc->shape()[0] / oc;
    auto exact = [&](int64_t i) {
      const int64_t m = (i / out_size) % oc;
      const double ws = w_scale[per_channel ? m : 0];
      return (static_cast<double>(acc->data_as<int32_t>()[i]) + (with_bias ? bias[m] : 0)) *
             (double{x_scale} * ws / y_scale);
    };
    const Compared c = ExpectMatchesReference(
        call, exact, "QLinearConv " + Describe(cc) + (per_channel ? " per channel" : "") +
                         (constant ? " constant W" : "") + (with_bias ? " bias" : ""));
    EXPECT_EQ(c.fallbacks, 0) << "iteration " << iter << ": " << Describe(cc);
    total.near_ties += c.near_ties;
    total.elements += c.elements;
  }
  std::printf("QLinearConv: %lld of %lld outputs differ from the reference by one (near-ties)\n",
              static_cast<long long>(total.near_ties), static_cast<long long>(total.elements));
}

// The int32 bias is in accumulator units (added before the scales), ties
// round half to even, padding is the x zero point (contributes nothing).
TEST(DnnlQLinearTest, QLinearConvBiasPaddingAndRounding) {
  Call call("QLinearConv", 9);
  call.spec.Ints("pads", {0, 1, 0, 1});
  call.Set(0, Ints8(DataType::kUint8, {1, 1, 1, 4}, {10, 11, 12, 13}));
  call.Set(1, Scalars({}, {1.0f}), true);
  call.Set(2, Ints8(DataType::kUint8, {}, {10}), true);  // x - zp = 0, 1, 2, 3
  call.Set(3, Ints8(DataType::kInt8, {2, 1, 1, 3}, {1, 1, 1, 1, 0, 0}), true);
  call.Set(4, Scalars({2}, {0.5f, 0.25f}), true);
  call.Set(5, Ints8(DataType::kInt8, {2}, {0, 0}), true);
  call.Set(6, Scalars({}, {1.0f}), true);
  call.Set(7, Ints8(DataType::kInt8, {}, {-1}), true);
  call.Set(8, testutil::I32({2}, {0, 2}), true);
  auto kernel = call.spec.BuildOptimized();
  ASSERT_TRUE(kernel.ok()) << kernel.status().ToString();
  const int64_t before = Fallbacks();
  auto y = RunKernel(**kernel, call.inputs);
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(Fallbacks(), before);
  // Channel 0: sums of 3 taps over [pad, 0, 1, 2, 3, pad] = 1, 3, 6, 5; * 0.5
  // = 0.5, 1.5, 3, 2.5 -> 0, 2, 3, 2; - 1. Channel 1: w = [1, 0, 0]: x at
  // the left tap = pad, 0, 1, 2; + bias 2 = 2, 2, 3, 4; * 0.25 = 0.5, 0.5,
  // 0.75, 1 -> 0, 0, 1, 1; - 1.
  std::vector<int32_t> got;
  for (int64_t i = 0; i < 8; ++i) got.push_back(Get8(*y, i));
  EXPECT_THAT(got, ElementsAre(-1, 1, 2, 1, -1, -1, 0, 0));
}

// ---- Delegation -------------------------------------------------------------

void ExpectFallsBack(const Call& call, const std::string& what) {
  const Compared c = ExpectMatchesReference(call, nullptr, what);
  EXPECT_EQ(c.fallbacks, 1) << what;
}

TEST(DnnlQLinearTest, WhatOneDnnCannotTakeRunsTheReference) {
  std::mt19937 rng(31);
  {
    // u8 weights above 127 with zero point 0 do not fit s8 (no weight zero
    // point for convolutions).
    Call call("ConvInteger", 2);
    call.Set(0, Random8(DataType::kUint8, {1, 3, 5, 5}, rng));
    call.Set(1, Ints8(DataType::kUint8, {2, 3, 1, 1}, {200, 1, 2, 3, 4, 5}), true);
    ExpectFallsBack(call, "ConvInteger u8 weights 200");
  }
  {
    // Per-channel weight zero points whose differences do not fit s8.
    Call call("ConvInteger", 4);
    call.Set(0, Random8(DataType::kUint8, {1, 2, 4, 4}, rng));
    call.Set(1, Ints8(DataType::kUint8, {2, 2, 1, 1}, {0, 255, 10, 12}));
    call.Set(2, Ints8(DataType::kUint8, {}, {3}));
    call.Set(3, Ints8(DataType::kUint8, {2}, {0, 10}));
    ExpectFallsBack(call, "ConvInteger w - zp = 255");
  }
  {
    // Per-row A zero point.
    Call call("MatMulInteger", 3);
    call.Set(0, Random8(DataType::kInt8, {3, 4}, rng));
    call.Set(1, Random8(DataType::kInt8, {4, 2}, rng));
    call.Set(2, Ints8(DataType::kInt8, {3}, {1, -2, 3}));
    ExpectFallsBack(call, "MatMulInteger per-row a zero point");
  }
  {
    // Per-column B zero points whose differences do not fit s8.
    Call call("MatMulInteger", 4);
    call.Set(0, Random8(DataType::kUint8, {3, 2}, rng));
    call.Set(1, Ints8(DataType::kUint8, {2, 2}, {255, 0, 0, 255}));
    call.Set(2, Ints8(DataType::kUint8, {}, {7}));
    call.Set(3, Ints8(DataType::kUint8, {2}, {0, 255}));
    ExpectFallsBack(call, "MatMulInteger per-column b zero points");
  }
  {
    // Per-row A scale.
    Call call("QLinearMatMul", 8);
    call.Set(0, Random8(DataType::kUint8, {2, 3}, rng));
    call.Set(1, Scalars({2}, {0.1f, 0.2f}));
    call.Set(2, Ints8(DataType::kUint8, {}, {128}));
    call.Set(3, Random8(DataType::kInt8, {3, 2}, rng));
    call.Set(4, Scalars({}, {0.05f}));
    call.Set(5, Ints8(DataType::kInt8, {}, {0}));
    call.Set(6, Scalars({}, {0.2f}));
    call.Set(7, Ints8(DataType::kUint8, {}, {10}));
    ExpectFallsBack(call, "QLinearMatMul per-row a scale");
  }
}

TEST(DnnlQLinearTest, MalformedInputsGetTheReferenceErrors) {
  std::mt19937 rng(32);
  Call call("MatMulInteger", 3);
  call.Set(0, Random8(DataType::kUint8, {2, 2}, rng));
  call.Set(1, Random8(DataType::kUint8, {2, 2}, rng));
  call.Set(2, Ints8(DataType::kInt8, {}, {0}));  // type differs from A's
  auto kernel = call.spec.BuildOptimized();
  ASSERT_TRUE(kernel.ok());
  auto y = RunKernel(**kernel, call.inputs);
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().code(), StatusCode::kInvalidArgument) << y.status().ToString();

  Call shapes("ConvInteger", 2);
  shapes.Set(0, Random8(DataType::kUint8, {1, 3, 4, 4}, rng));
  shapes.Set(1, Random8(DataType::kInt8, {2, 2, 1, 1}, rng));  // 2 != 3 input channels
  auto conv = shapes.spec.BuildOptimized();
  ASSERT_TRUE(conv.ok());
  auto yc = RunKernel(**conv, shapes.inputs);
  ASSERT_FALSE(yc.ok());
  EXPECT_EQ(yc.status().code(), StatusCode::kInvalidArgument) << yc.status().ToString();

  // Known non-8-bit operands: the factory leaves the node to the reference.
  OpSpec fp("MatMulInteger", 2);
  auto built = fp.BuildOptimized();
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.status().code(), StatusCode::kUnimplemented);
}

// One kernel run from several threads on several shapes at once (its cache
// filled concurrently, the constant B packed per shape) gives what a
// separately built kernel gives one call at a time. (Against the reference
// these outputs differ at near-ties: this scale, 0.02 * 0.01 / 0.3 = 1/1500,
// makes exact ties in double that float scaling breaks either way.)
TEST(DnnlQLinearTest, ConcurrentRunsMatchSequentialRuns) {
  std::mt19937 rng(51);
  Call call("QLinearMatMul", 8);
  call.Set(1, Scalars({}, {0.02f}), true);
  call.Set(2, Ints8(DataType::kUint8, {}, {128}), true);
  call.Set(3, Random8(DataType::kInt8, {64, 48}, rng), true);
  call.Set(4, Scalars({48}, std::vector<float>(48, 0.01f)), true);
  call.Set(5, Ints8(DataType::kInt8, {48}, std::vector<int>(48, 0)), true);
  call.Set(6, Scalars({}, {0.3f}), true);
  call.Set(7, Ints8(DataType::kUint8, {}, {128}), true);
  call.spec.dtypes[0] = DataType::kUint8;  // A: one per thread below
  auto fast = call.spec.BuildOptimized();
  auto sequential = call.spec.BuildOptimized();
  ASSERT_TRUE(fast.ok() && sequential.ok());
  std::vector<Tensor> a;
  std::vector<Tensor> want;
  for (int64_t rows : {1, 7, 16, 33}) {
    a.push_back(Random8(DataType::kUint8, {rows, 64}, rng));
    std::vector<const Tensor*> in = call.inputs;
    in[0] = &a.back();
    const int64_t before = Fallbacks();
    auto y = RunKernel(**sequential, in);
    ASSERT_TRUE(y.ok());
    EXPECT_EQ(Fallbacks(), before);
    want.push_back(std::move(*y));
  }
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int iter = 0; iter < 20; ++iter) {
        const size_t i = static_cast<size_t>(t + iter) % a.size();
        std::vector<const Tensor*> in = call.inputs;
        in[0] = &a[i];
        auto y = RunKernel(**fast, in);
        if (!y.ok() || y->byte_size() != want[i].byte_size() ||
            std::memcmp(y->data(), want[i].data(), want[i].byte_size()) != 0) {
          ++mismatches[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_THAT(mismatches, ElementsAre(0, 0, 0, 0));
}

// ---- Timing -----------------------------------------------------------------

// Timing, not a test: reference vs oneDNN on ResNet-50 / BERT-base sized
// layers, one thread. Run with
//   engine_kernels_test --gtest_also_run_disabled_tests
//       --gtest_filter='DnnlQLinearBenchmark.*'
double TimeMs(const Kernel& k, const std::vector<const Tensor*>& in, int iters, int reps) {
  double best = 1e30;
  for (int rep = 0; rep < reps; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) {
      auto y = RunKernel(k, in);
      if (!y.ok()) ADD_FAILURE() << y.status().ToString();
    }
    best = std::min(best, std::chrono::duration<double, std::milli>(
                              std::chrono::steady_clock::now() - t0)
                                  .count() /
                              iters);
  }
  return best;
}

TEST(DnnlQLinearBenchmark, DISABLED_Benchmark) {
  std::mt19937 rng(41);
  // A Call's inputs point into its own storage: never copied (deque keeps
  // the elements in place).
  std::deque<std::pair<std::string, Call>> cases;
  {
    Call c("QLinearConv", 9);
    c.spec.Ints("pads", {1, 1, 1, 1});
    std::vector<int> zp(64, 0);
    c.Set(0, Random8(DataType::kUint8, {1, 64, 56, 56}, rng));
    c.Set(1, Scalars({}, {0.02f}), true);
    c.Set(2, Ints8(DataType::kUint8, {}, {128}), true);
    c.Set(3, RandomAround(DataType::kInt8, {64, 64, 3, 3}, {0}, 1, 127, rng), true);
    c.Set(4, Scalars({64}, std::vector<float>(64, 0.01f)), true);
    c.Set(5, Ints8(DataType::kInt8, {64}, zp), true);
    c.Set(6, Scalars({}, {0.5f}), true);
    c.Set(7, Ints8(DataType::kUint8, {}, {128}), true);
    c.Set(8, testutil::I32({64}, std::vector<int32_t>(64, 100)), true);
    cases.emplace_back("QLinearConv 64->64 3x3 56x56 pad 1, u8 x, s8 w per channel", std::move(c));
  }
  {
    // An odd y zero point: int32 out of oneDNN, zero point added after.
    Call c("QLinearConv", 9);
    c.spec.Ints("pads", {1, 1, 1, 1});
    c.Set(0, Random8(DataType::kUint8, {1, 64, 56, 56}, rng));
    c.Set(1, Scalars({}, {0.02f}), true);
    c.Set(2, Ints8(DataType::kUint8, {}, {128}), true);
    c.Set(3, RandomAround(DataType::kInt8, {64, 64, 3, 3}, {0}, 1, 127, rng), true);
    c.Set(4, Scalars({64}, std::vector<float>(64, 0.01f)), true);
    c.Set(5, Ints8(DataType::kInt8, {64}, std::vector<int>(64, 0)), true);
    c.Set(6, Scalars({}, {0.5f}), true);
    c.Set(7, Ints8(DataType::kUint8, {}, {127}), true);
    c.Set(8, testutil::I32({64}, std::vector<int32_t>(64, 100)), true);
    cases.emplace_back("QLinearConv as above, odd y zero point", std::move(c));
  }
  {
    Call c("ConvInteger", 3);
    c.spec.Ints("pads", {1, 1, 1, 1});
    c.Set(0, Random8(DataType::kUint8, {1, 64, 56, 56}, rng));
    c.Set(1, RandomAround(DataType::kInt8, {64, 64, 3, 3}, {0}, 1, 127, rng), true);
    c.Set(2, Ints8(DataType::kUint8, {}, {128}), true);
    cases.emplace_back("ConvInteger 64->64 3x3 56x56 pad 1, u8 x, s8 w", std::move(c));
  }
  {
    Call c("QLinearMatMul", 8);
    c.Set(0, Random8(DataType::kUint8, {128, 768}, rng));
    c.Set(1, Scalars({}, {0.02f}), true);
    c.Set(2, Ints8(DataType::kUint8, {}, {128}), true);
    c.Set(3, Random8(DataType::kInt8, {768, 768}, rng), true);
    c.Set(4, Scalars({768}, std::vector<float>(768, 0.01f)), true);
    c.Set(5, Ints8(DataType::kInt8, {768}, std::vector<int>(768, 0)), true);
    c.Set(6, Scalars({}, {0.5f}), true);
    c.Set(7, Ints8(DataType::kUint8, {}, {128}), true);
    cases.emplace_back("QLinearMatMul 128x768x768, u8 A, s8 B per column", std::move(c));
  }
  {
    Call c("MatMulInteger", 4);
    c.Set(0, Random8(DataType::kUint8, {128, 768}, rng));
    c.Set(1, Random8(DataType::kUint8, {768, 768}, rng), true);
    c.Set(2, Ints8(DataType::kUint8, {}, {128}), true);
    c.Set(3, Ints8(DataType::kUint8, {}, {128}), true);
    cases.emplace_back("MatMulInteger 128x768x768, u8 A, u8 B", std::move(c));
  }
  std::printf("%-60s %10s %10s %8s\n", "op (1 thread)", "ref ms", "oneDNN ms", "ratio");
  for (auto& [name, call] : cases) {
    auto fast = call.spec.BuildOptimized();
    auto ref = call.spec.Build(KernelRegistry::kReferencePriority);
    ASSERT_TRUE(fast.ok() && ref.ok());
    const int64_t before = Fallbacks();
    ASSERT_TRUE(RunKernel(**fast, call.inputs).ok());  // primitive creation, weight packing
    const double fast_ms = TimeMs(**fast, call.inputs, 20, 5);
    EXPECT_EQ(Fallbacks(), before) << name;
    const double ref_ms = TimeMs(**ref, call.inputs, 1, 3);
    std::printf("%-60s %10.3f %10.3f %7.1fx\n", name.c_str(), ref_ms, fast_ms, ref_ms / fast_ms);
  }
}

}  // namespace
}  // namespace nereid::engine
