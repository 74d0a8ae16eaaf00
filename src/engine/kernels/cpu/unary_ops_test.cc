// Tests of the optimized unary elementwise kernels (unary_ops.cc): accuracy
// of the vectorized transcendental functions against double-precision
// std:: functions over wide ranges and special values, agreement with the
// reference kernels on random shapes (both the AVX-512 and the portable
// paths), Clip's opset variants and errors, and dtype fallbacks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "engine/kernels/cpu/cpu_kernel_test_util.h"

namespace nereid::engine {
namespace {

using namespace cputest;  // NOLINT: test helpers

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Inputs for the accuracy sweep: a fine grid over [-120, 120], log-spaced
// magnitudes from 1e-38 to 1e4 of both signs, and special values.
std::vector<float> SweepValues() {
  std::vector<float> v;
  for (double x = -120.0; x <= 120.0; x += 0.0009765625) v.push_back(static_cast<float>(x));
  for (double m = 1e-38; m < 1e4; m *= 1.01) {
    v.push_back(static_cast<float>(m));
    v.push_back(static_cast<float>(-m));
  }
  for (float s : {0.0f, -0.0f, kInf, -kInf, kNaN, 1e-45f, -1e-45f, 88.72f, 88.73f, -87.33f,
                  -103.9f, -104.1f, 0.625f, -0.625f, 0.875f, -0.875f, 4.0f, -4.0f, 3.92f,
                  std::numeric_limits<float>::max(), std::numeric_limits<float>::lowest(),
                  std::numeric_limits<float>::min()}) {
    v.push_back(s);
  }
  return v;
}

struct AccuracyCase {
  const char* op;
  std::function<double(double)> exact;
  double rel;
};

// got vs the exact value: NaN iff NaN, infinities exact, else within
// rel * |exact| (plus 1e-37 absolute for results in the denormal range).
std::string CheckAccuracy(float x, float got, double exact, double rel) {
  // Past the float range the correctly rounded result is an infinity.
  const double float_max = std::numeric_limits<float>::max();
  if (std::fabs(exact) > float_max) {
    exact = std::fabs(exact) >= float_max * (1.0 + 0x1p-25) ? std::copysign(HUGE_VAL, exact)
                                                            : std::copysign(float_max, exact);
  }
  const bool ok = std::isnan(exact)   ? std::isnan(got)
                  : std::isinf(exact) ? got == exact
                                      : std::fabs(got - exact) <= rel * std::fabs(exact) + 1e-37;
  if (ok) return "";
  char buf[200];
  std::snprintf(buf, sizeof(buf), "x=%.9g: got %.9g, exact %.12g (rel err %.3g)", x, got, exact,
                std::fabs(got - exact) / std::fabs(exact));
  return buf;
}

TEST(CpuUnaryTest, TranscendentalAccuracyAgainstDoublePrecision) {
  const std::vector<float> values = SweepValues();
  Tensor x = Scalars({static_cast<int64_t>(values.size())}, values);
  const std::vector<AccuracyCase> cases = {
      {"Exp", [](double v) { return std::exp(v); }, 1e-6},
      {"Erf", [](double v) { return std::erf(v); }, 1e-6},
      {"Tanh", [](double v) { return std::tanh(v); }, 1e-6},
      {"Sigmoid", [](double v) { return 1.0 / (1.0 + std::exp(-v)); }, 1e-6},
      {"Elu", [](double v) { return v < 0 ? std::expm1(v) : v; }, 1e-6},
      {"Softplus",
       [](double v) { return v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v)); },
       1e-6},
  };
  ForBothPaths([&] {
    for (const AccuracyCase& c : cases) {
      SCOPED_TRACE(c.op);
      OpSpec spec(c.op, 1);
      auto kernel = spec.BuildOptimized();
      ASSERT_TRUE(kernel.ok()) << kernel.status().ToString();
      auto y = RunKernel(**kernel, {&x});
      ASSERT_TRUE(y.ok()) << y.status().ToString();
      const float* out = y->data_as<float>();
      int failures = 0;
      double worst = 0;
      for (size_t i = 0; i < values.size(); ++i) {
        const double exact = c.exact(static_cast<double>(values[i]));
        const std::string err = CheckAccuracy(values[i], out[i], exact, c.rel);
        if (!err.empty() && ++failures <= 5) ADD_FAILURE() << err;
        if (std::isfinite(out[i]) && std::fabs(exact) > 1e-30 &&
            std::fabs(exact) < std::numeric_limits<float>::max()) {
          worst = std::max(worst, std::fabs(out[i] - exact) / std::fabs(exact));
        }
      }
      EXPECT_EQ(failures, 0);
      char worst_text[32];
      std::snprintf(worst_text, sizeof(worst_text), "%.3g", worst);
      RecordProperty(std::string(c.op) + (cpu::UseAvx512() ? "_avx512" : "_portable") +
                         "_worst_rel_error",
                     worst_text);
    }
  });
}

TEST(CpuUnaryTest, ErfAbsoluteErrorBelow2e7) {
  std::vector<float> values;
  for (double v = -6.0; v <= 6.0; v += 1.0 / 4096) values.push_back(static_cast<float>(v));
  Tensor x = Scalars({static_cast<int64_t>(values.size())}, values);
  auto kernel = OpSpec("Erf", 1).BuildOptimized();
  ASSERT_TRUE(kernel.ok());
  auto y = RunKernel(**kernel, {&x});
  ASSERT_TRUE(y.ok());
  double worst = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    worst = std::max(worst, std::fabs(y->data_as<float>()[i] - std::erf(double(values[i]))));
  }
  EXPECT_LT(worst, 2e-7);
}

struct UnaryCase {
  const char* op;
  std::vector<std::pair<std::string, float>> attrs;
  int64_t min_opset = 6;
  bool exact = false;  // bit-identical to the reference (one IEEE operation)
};

const std::vector<UnaryCase>& AllUnaryCases() {
  static const std::vector<UnaryCase> cases = {
      {"Relu", {}, 6, true},
      {"LeakyRelu", {}, 6, true},
      {"LeakyRelu", {{"alpha", 0.3f}}, 6, true},
      {"Sigmoid", {}},
      {"Tanh", {}},
      {"Erf", {}, 9},
      {"Exp", {}},
      {"HardSigmoid", {}},
      {"HardSigmoid", {{"alpha", 0.7f}, {"beta", -0.1f}}},
      {"HardSwish", {}, 14},
      {"Sqrt", {}, 6, true},
      {"Neg", {}, 6, true},
      {"Abs", {}, 6, true},
      {"Elu", {}},
      {"Elu", {{"alpha", 2.5f}}},
      {"Softplus", {}},
  };
  return cases;
}

TEST(CpuUnaryTest, RandomShapesMatchReference) {
  std::mt19937 rng(42);
  const std::vector<Shape> shapes = {{},        {1},          {7},           {16},
                                     {17},      {33},         {3, 5},        {2, 3, 31},
                                     {0},       {4, 0, 3},    {2, 1, 3, 1, 5}, {3, 5, 2011},
                                     {65537},   {1, 64, 7, 7}};
  ForBothPaths([&] {
    for (const UnaryCase& c : AllUnaryCases()) {
      for (int64_t opset : {c.min_opset, int64_t{13}, int64_t{17}}) {
        if (opset < c.min_opset) continue;
        for (const Shape& shape : shapes) {
          for (int threads : {1, 3}) {
            OpSpec spec(c.op, 1);
            spec.Opset(opset).Threads(threads);
            for (const auto& [name, v] : c.attrs) spec.Float(name, v);
            // Wide values with NaN, infinities, signed zeros and huge values.
            Tensor x = RandomTensor(shape, rng, -12.0f, 12.0f, 0.05);
            ExpectMatchesReference(spec, {&x},
                                   std::string(c.op) + " opset " + std::to_string(opset) + " " +
                                       ShapeToString(shape) + " threads " +
                                       std::to_string(threads),
                                   c.exact ? 0 : 1e-5, c.exact ? 0 : 1e-6);
          }
        }
      }
    }
  });
}

TEST(CpuUnaryTest, ClipAttributesBeforeOpset11) {
  std::mt19937 rng(7);
  Tensor x = RandomTensor({5, 1031}, rng, -3.0f, 3.0f, 0.05);
  struct Bounds {
    std::optional<float> lo, hi;
  };
  ForBothPaths([&] {
    for (const Bounds& b : {Bounds{}, Bounds{-1.0f, std::nullopt}, Bounds{std::nullopt, 0.5f},
                            Bounds{-0.5f, 0.75f}, Bounds{1.0f, -1.0f}, Bounds{0.0f, 0.0f}}) {
      for (int64_t opset : {1, 6}) {
        OpSpec spec("Clip", 1);
        spec.Opset(opset);
        if (b.lo) spec.Float("min", *b.lo);
        if (b.hi) spec.Float("max", *b.hi);
        ExpectMatchesReference(spec, {&x}, "Clip attrs opset " + std::to_string(opset), 0, 0);
      }
    }
  });
}

TEST(CpuUnaryTest, ClipInputsFromOpset11) {
  std::mt19937 rng(8);
  Tensor x = RandomTensor({3, 7, 257}, rng, -3.0f, 3.0f, 0.05);
  Tensor lo = Scalars({}, {-0.75f});
  Tensor hi = Scalars({1}, {1.25f});
  Tensor nan = Scalars({}, {kNaN});
  Tensor big_lo = Scalars({}, {2.0f});
  ForBothPaths([&] {
    for (int64_t opset : {11, 12, 13}) {
      const std::string o = " opset " + std::to_string(opset);
      ExpectMatchesReference(OpSpec("Clip", 1).Opset(opset), {&x}, "no bounds" + o, 0, 0);
      ExpectMatchesReference(OpSpec("Clip", 2).Opset(opset), {&x, &lo}, "min" + o, 0, 0);
      ExpectMatchesReference(OpSpec("Clip", 3).Opset(opset).Omit(1), {&x, nullptr, &hi},
                             "max only" + o, 0, 0);
      ExpectMatchesReference(OpSpec("Clip", 3).Opset(opset), {&x, &lo, &hi}, "both" + o, 0, 0);
      ExpectMatchesReference(OpSpec("Clip", 3).Opset(opset), {&x, &big_lo, &hi}, "min > max" + o,
                             0, 0);
      ExpectMatchesReference(OpSpec("Clip", 3).Opset(opset), {&x, &nan, &nan}, "NaN bounds" + o,
                             0, 0);
      // Bounds only known at run time (dtypes unknown at build).
      OpSpec unknown("Clip", 3);
      unknown.Opset(opset).Dtypes(DataType::kInvalid);
      ExpectMatchesReference(unknown, {&x, &lo, &hi}, "unknown dtypes" + o, 0, 0);
    }
  });
}

TEST(CpuUnaryTest, ClipBadBoundGivesReferenceError) {
  std::mt19937 rng(9);
  Tensor x = RandomTensor({4, 4}, rng);
  Tensor two = Scalars({2}, {0.0f, 1.0f});
  auto fast = OpSpec("Clip", 2).Opset(13).BuildOptimized();
  ASSERT_TRUE(fast.ok());
  auto y = RunKernel(**fast, {&x, &two});
  EXPECT_EQ(y.status().code(), StatusCode::kInvalidArgument) << y.status().ToString();
  // A NaN attribute is rejected at build time, with the reference's message.
  OpSpec nan_attr("Clip", 1);
  nan_attr.Opset(6).Float("min", kNaN);
  auto built = nan_attr.BuildOptimized();
  EXPECT_EQ(built.status().code(), StatusCode::kInvalidArgument);
}

TEST(CpuUnaryTest, OtherDtypesFallBack) {
  // Known at build time: Unimplemented, so the plan picks the reference.
  for (const char* op : {"Relu", "Abs", "Neg", "Exp", "Clip"}) {
    OpSpec spec(op, 1);
    spec.Dtypes(DataType::kFp64);
    EXPECT_EQ(spec.BuildOptimized().status().code(), StatusCode::kUnimplemented)
        << op;
  }
  // Found at run time: delegated to the reference kernel.
  OpSpec relu("Relu", 1);
  relu.Dtypes(DataType::kInvalid);
  auto fast = relu.BuildOptimized();
  ASSERT_TRUE(fast.ok());
  Tensor ints = Tensor::AllocateDense(DataType::kInt32, {5});
  for (int i = 0; i < 5; ++i) ints.mutable_data_as<int32_t>()[i] = i - 2;
  const int64_t before = cpu::CpuKernelFallbackCountForTesting();
  auto y = RunKernel(**fast, {&ints});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(cpu::CpuKernelFallbackCountForTesting() - before, 1);
  EXPECT_EQ(y->dtype(), DataType::kInt32);
  EXPECT_EQ(y->data_as<int32_t>()[0], 0);
  EXPECT_EQ(y->data_as<int32_t>()[4], 2);
}

TEST(CpuUnaryTest, ArityErrorsComeFromTheReferenceFactory) {
  OpSpec two_inputs("Relu", 2);
  auto fast = two_inputs.BuildOptimized();
  auto ref = two_inputs.Build(KernelRegistry::kReferencePriority);
  ASSERT_FALSE(ref.ok());
  EXPECT_EQ(fast.status().code(), ref.status().code());
  EXPECT_EQ(fast.status().message(), ref.status().message());
}

}  // namespace
}  // namespace nereid::engine
