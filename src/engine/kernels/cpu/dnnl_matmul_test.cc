// Tests of the oneDNN MatMul and Gemm kernels against the reference kernels:
// both are built by their registered factories from the same node (the
// optimized one at priority 10, the reference at priority 0) and run on the
// same random inputs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/kernels/kernel.h"

namespace nereid::engine::cpu {
int64_t DnnlMatMulFallbackCountForTesting();
}  // namespace nereid::engine::cpu

namespace nereid::engine {
namespace {

constexpr int kOptimizedPriority = 10;

KernelFactory FactoryAt(const std::string& op, int priority) {
  for (const auto& [p, f] : KernelRegistry::Global().FindAll("", op)) {
    if (p == priority) return f;
  }
  return nullptr;
}

Tensor Random(Shape shape, std::mt19937& rng, DataType dtype = DataType::kFp32) {
  Tensor t = Tensor::AllocateDense(dtype, std::move(shape));
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  if (dtype == DataType::kFp32) {
    float* p = t.mutable_data_as<float>();
    for (size_t i = 0; i < t.byte_size() / sizeof(float); ++i) p[i] = dist(rng);
  } else {
    double* p = t.mutable_data_as<double>();
    for (size_t i = 0; i < t.byte_size() / sizeof(double); ++i) p[i] = dist(rng);
  }
  return t;
}

// A node plus what the factories see at build time.
struct Op {
  Node node;
  std::vector<const Tensor*> constants;
  std::vector<DataType> dtypes;
  int threads = 1;

  Op(std::string type, size_t num_inputs) {
    node.op_type = std::move(type);
    node.inputs.assign(num_inputs, 0);
    node.outputs.assign(1, 0);
    constants.assign(num_inputs, nullptr);
    dtypes.assign(num_inputs, DataType::kFp32);
  }
  Op& Int(const std::string& name, int64_t v) {
    Attribute a;
    a.kind = Attribute::Kind::kInt;
    a.i = v;
    node.attributes[name] = std::move(a);
    return *this;
  }
  Op& Float(const std::string& name, float v) {
    Attribute a;
    a.kind = Attribute::Kind::kFloat;
    a.f = v;
    node.attributes[name] = std::move(a);
    return *this;
  }
  StatusOr<std::unique_ptr<Kernel>> Build(int priority) const {
    KernelFactory f = FactoryAt(node.op_type, priority);
    if (f == nullptr) return NotFound("no factory");
    KernelBuildContext context{node, 17, dtypes, {DataType::kInvalid}, constants};
    context.intra_op_threads = threads;
    return f(context);
  }
};

StatusOr<Tensor> RunKernel(const Kernel& k, std::vector<const Tensor*> inputs) {
  std::vector<Tensor> out(1);
  RETURN_IF_ERROR(k.Run(inputs, out));
  return std::move(out[0]);
}

// max |x - y| / max(1, |y|).
double MaxRelError(const Tensor& x, const Tensor& y) {
  const float* px = x.data_as<float>();
  const float* py = y.data_as<float>();
  double worst = 0;
  for (size_t i = 0; i < y.byte_size() / sizeof(float); ++i) {
    worst = std::max(worst, std::abs(double(px[i]) - py[i]) / std::max(1.0, std::abs(double(py[i]))));
  }
  return worst;
}

// Builds both kernels, runs both, compares. Returns the optimized output.
void ExpectMatchesReference(const Op& op, const std::vector<const Tensor*>& inputs,
                            const std::string& what, bool expect_no_fallback = true) {
  SCOPED_TRACE(what);
  auto fast = op.Build(kOptimizedPriority);
  auto ref = op.Build(KernelRegistry::kReferencePriority);
  ASSERT_TRUE(fast.ok()) << fast.status().ToString();
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  const int64_t before = cpu::DnnlMatMulFallbackCountForTesting();
  auto y = RunKernel(**fast, inputs);
  const int64_t fallbacks = cpu::DnnlMatMulFallbackCountForTesting() - before;
  auto want = RunKernel(**ref, inputs);
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  ASSERT_EQ(y->shape(), want->shape());
  ASSERT_EQ(y->dtype(), want->dtype());
  if (y->dtype() == DataType::kFp32) {
    EXPECT_LE(MaxRelError(*y, *want), 1e-4);
  } else {
    EXPECT_EQ(std::memcmp(y->data(), want->data(), want->byte_size()), 0);
  }
  if (expect_no_fallback) {
    EXPECT_EQ(fallbacks, 0) << "ran the reference kernel";
  }
}

std::string ShapeStr(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

TEST(DnnlMatMulTest, RandomShapesMatchReference) {
  std::mt19937 rng(1234);
  auto dim = [&](int lo, int hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  for (int iter = 0; iter < 40; ++iter) {
    const int64_t m = dim(1, 40), k = dim(1, 70), n = dim(1, 40);
    const int64_t b1 = dim(1, 3), b2 = dim(2, 3);
    std::vector<std::pair<Shape, Shape>> cases = {
        {{m, k}, {k, n}},
        {{k}, {k, n}},
        {{m, k}, {k}},
        {{k}, {k}},
        {{b1, m, k}, {k, n}},
        {{b2, b1, m, k}, {k}},
        {{m, k}, {b1, k, n}},
        {{k}, {b2, k, n}},
        {{b2, m, k}, {b2, k, n}},
        {{b2, 1, m, k}, {1, b1, k, n}},
        {{1, m, k}, {b2, k, n}},
        {{b1, b2, m, k}, {b2, k, n}},
    };
    for (const auto& [sa, sb] : cases) {
      for (bool constant_b : {false, true}) {
        Tensor a = Random(sa, rng);
        Tensor b = Random(sb, rng);
        Op op("MatMul", 2);
        if (constant_b) op.constants[1] = &b;
        ExpectMatchesReference(op, {&a, &b},
                               ShapeStr(sa) + " x " + ShapeStr(sb) +
                                   (constant_b ? " const B" : ""));
      }
    }
  }
}

TEST(DnnlGemmTest, RandomAttributesMatchReference) {
  std::mt19937 rng(99);
  auto dim = [&](int lo, int hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  int combos = 0;
  for (int iter = 0; iter < 3; ++iter) {
    const int64_t m = dim(1, 33), k = dim(1, 65), n = dim(2, 33);
    for (int trans_a : {0, 1}) {
      for (int trans_b : {0, 1}) {
        for (float alpha : {1.0f, 0.5f, -2.0f}) {
          for (float beta : {1.0f, 0.0f, 0.25f}) {
            // C: none, scalar, [1], [N], [1,N], [M,1], [M,N], [1,1].
            std::vector<std::optional<Shape>> c_shapes = {
                std::nullopt, Shape{}, Shape{1}, Shape{n}, Shape{1, n}, Shape{m, 1}, Shape{m, n},
                Shape{1, 1}};
            for (const auto& cs : c_shapes) {
              for (int constants = 0; constants < 4; ++constants) {
                const bool const_b = constants & 1, const_c = constants & 2;
                if (!cs && const_c) continue;
                Tensor a = Random(trans_a ? Shape{k, m} : Shape{m, k}, rng);
                Tensor b = Random(trans_b ? Shape{n, k} : Shape{k, n}, rng);
                Tensor c = cs ? Random(*cs, rng) : Tensor();
                Op op("Gemm", cs ? 3 : 2);
                op.Int("transA", trans_a).Int("transB", trans_b);
                op.Float("alpha", alpha).Float("beta", beta);
                if (const_b) op.constants[1] = &b;
                if (const_c) op.constants[2] = &c;
                std::vector<const Tensor*> in = {&a, &b};
                if (cs) in.push_back(&c);
                ExpectMatchesReference(
                    op, in,
                    "M=" + std::to_string(m) + " K=" + std::to_string(k) + " N=" +
                        std::to_string(n) + " tA=" + std::to_string(trans_a) +
                        " tB=" + std::to_string(trans_b) + " alpha=" + std::to_string(alpha) +
                        " beta=" + std::to_string(beta) + " C=" + (cs ? ShapeStr(*cs) : "none") +
                        " constB=" + std::to_string(const_b) + " constC=" +
                        std::to_string(const_c));
                ++combos;
              }
            }
          }
        }
      }
    }
  }
  EXPECT_GT(combos, 1000);
}

TEST(DnnlMatMulTest, DynamicBatchReusesKernelAcrossShapes) {
  std::mt19937 rng(7);
  Tensor w = Random({48, 24}, rng);
  Op op("MatMul", 2);
  op.constants[1] = &w;
  auto fast = op.Build(kOptimizedPriority);
  auto ref = op.Build(KernelRegistry::kReferencePriority);
  ASSERT_TRUE(fast.ok() && ref.ok());
  const int64_t before = cpu::DnnlMatMulFallbackCountForTesting();
  // 1 -> 5 -> 1 -> 3-D: new shapes build primitives, repeats hit the cache.
  for (Shape sa : {Shape{1, 48}, Shape{5, 48}, Shape{1, 48}, Shape{2, 3, 48}, Shape{5, 48}}) {
    Tensor x = Random(sa, rng);
    auto y = RunKernel(**fast, {&x, &w});
    auto want = RunKernel(**ref, {&x, &w});
    ASSERT_TRUE(y.ok() && want.ok());
    ASSERT_EQ(y->shape(), want->shape());
    EXPECT_LE(MaxRelError(*y, *want), 1e-4) << ShapeStr(sa);
  }
  // More shapes than the cache holds still give right answers.
  for (int64_t rows = 1; rows <= 20; ++rows) {
    Tensor x = Random({rows, 48}, rng);
    auto y = RunKernel(**fast, {&x, &w});
    auto want = RunKernel(**ref, {&x, &w});
    ASSERT_TRUE(y.ok() && want.ok());
    EXPECT_LE(MaxRelError(*y, *want), 1e-4) << rows;
  }
  EXPECT_EQ(cpu::DnnlMatMulFallbackCountForTesting(), before);
}

TEST(DnnlGemmTest, DynamicBatchWithConstantWeightsAndBias) {
  std::mt19937 rng(8);
  Tensor w = Random({10, 32}, rng);  // transB: [N, K]
  Tensor bias = Random({10}, rng);
  Op op("Gemm", 3);
  op.Int("transB", 1);
  op.constants[1] = &w;
  op.constants[2] = &bias;
  for (int64_t batch : {1, 4, 1, 9}) {
    Tensor x = Random({batch, 32}, rng);
    ExpectMatchesReference(op, {&x, &w, &bias}, "batch " + std::to_string(batch));
  }
}

TEST(DnnlGemmTest, ConcurrentRunsGiveIdenticalResults) {
  std::mt19937 rng(11);
  Tensor w = Random({64, 96}, rng);
  Tensor bias = Random({64}, rng);
  Op op("Gemm", 3);
  op.Int("transB", 1).Float("alpha", 0.75f);
  op.constants[1] = &w;
  op.constants[2] = &bias;
  auto fast = op.Build(kOptimizedPriority);
  ASSERT_TRUE(fast.ok());
  std::vector<Tensor> xs;
  std::vector<Tensor> want;
  for (int64_t batch : {1, 3, 8, 17}) {
    xs.push_back(Random({batch, 96}, rng));
  }
  for (const Tensor& x : xs) {
    auto y = RunKernel(**fast, {&x, &w, &bias});
    ASSERT_TRUE(y.ok());
    want.push_back(std::move(*y));
  }
  // A fresh kernel (empty cache) hammered from 4 threads.
  auto shared = op.Build(kOptimizedPriority);
  ASSERT_TRUE(shared.ok());
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const size_t j = static_cast<size_t>(t + i) % xs.size();
        auto y = RunKernel(**shared, {&xs[j], &w, &bias});
        if (!y.ok() || y->byte_size() != want[j].byte_size() ||
            std::memcmp(y->data(), want[j].data(), y->byte_size()) != 0) {
          ++mismatches[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

TEST(DnnlMatMulTest, ConcurrentRunsGiveIdenticalResults) {
  std::mt19937 rng(12);
  Tensor a = Random({2, 3, 17, 40}, rng);
  Tensor b = Random({3, 40, 21}, rng);
  Op op("MatMul", 2);
  auto fast = op.Build(kOptimizedPriority);
  ASSERT_TRUE(fast.ok());
  auto want = RunKernel(**fast, {&a, &b});
  ASSERT_TRUE(want.ok());
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        auto y = RunKernel(**fast, {&a, &b});
        if (!y.ok() || std::memcmp(y->data(), want->data(), want->byte_size()) != 0) {
          ++mismatches[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

TEST(DnnlMatMulTest, UnsupportedDtypesFallBackToReference) {
  std::mt19937 rng(5);
  // Known at build time: the optimized factory declines.
  Op known("MatMul", 2);
  known.dtypes = {DataType::kFp64, DataType::kFp64};
  auto declined = known.Build(kOptimizedPriority);
  ASSERT_FALSE(declined.ok());
  EXPECT_EQ(declined.status().code(), StatusCode::kUnimplemented);
  Op gemm_known("Gemm", 2);
  gemm_known.dtypes = {DataType::kFp64, DataType::kFp64};
  EXPECT_EQ(gemm_known.Build(kOptimizedPriority).status().code(), StatusCode::kUnimplemented);

  // Discovered at run time: the kernel runs the reference one.
  Tensor a = Random({3, 5}, rng, DataType::kFp64);
  Tensor b = Random({5, 4}, rng, DataType::kFp64);
  Op unknown("MatMul", 2);
  unknown.dtypes = {DataType::kInvalid, DataType::kInvalid};
  ExpectMatchesReference(unknown, {&a, &b}, "fp64 MatMul", /*expect_no_fallback=*/false);
  auto fast = unknown.Build(kOptimizedPriority);
  ASSERT_TRUE(fast.ok());
  auto y = RunKernel(**fast, {&a, &b});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(y->dtype(), DataType::kFp64);
  EXPECT_EQ(y->shape(), (Shape{3, 4}));

  Op gemm_unknown("Gemm", 2);
  gemm_unknown.dtypes = {DataType::kInvalid, DataType::kInvalid};
  gemm_unknown.Int("transA", 1);
  Tensor at = Random({5, 3}, rng, DataType::kFp64);
  ExpectMatchesReference(gemm_unknown, {&at, &b}, "fp64 Gemm", /*expect_no_fallback=*/false);
}

TEST(DnnlMatMulTest, EdgeCasesFallBackOrFailLikeReference) {
  std::mt19937 rng(6);
  Op op("MatMul", 2);
  auto fast = op.Build(kOptimizedPriority);
  auto ref = op.Build(KernelRegistry::kReferencePriority);
  ASSERT_TRUE(fast.ok() && ref.ok());
  // Empty dims: same result as the reference (K == 0 gives zeros).
  for (auto [sa, sb] : std::vector<std::pair<Shape, Shape>>{
           {{0, 4}, {4, 3}}, {{3, 0}, {0, 2}}, {{2, 0, 4}, {4, 5}}}) {
    Tensor a = Random(sa, rng);
    Tensor b = Random(sb, rng);
    auto y = RunKernel(**fast, {&a, &b});
    auto want = RunKernel(**ref, {&a, &b});
    ASSERT_TRUE(y.ok() && want.ok());
    EXPECT_EQ(y->shape(), want->shape());
    EXPECT_EQ(std::memcmp(y->data(), want->data(), want->byte_size()), 0);
  }
  // Mismatched inner dims / batch dims: the reference's error.
  Tensor a = Random({2, 3}, rng);
  Tensor b = Random({4, 5}, rng);
  auto bad = RunKernel(**fast, {&a, &b});
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  Tensor a3 = Random({2, 3, 4}, rng);
  Tensor b3 = Random({3, 4, 5}, rng);
  EXPECT_EQ(RunKernel(**fast, {&a3, &b3}).status().code(), StatusCode::kInvalidArgument);
  // (Misaligned inputs never reach kernels: the plan copies them into
  // aligned storage first, see runtime/graph_plan.cc.)
}

TEST(DnnlGemmTest, BadShapesGiveReferenceErrors) {
  std::mt19937 rng(3);
  Op op("Gemm", 3);
  auto fast = op.Build(kOptimizedPriority);
  ASSERT_TRUE(fast.ok());
  Tensor a = Random({2, 3}, rng);
  Tensor b = Random({3, 4}, rng);
  Tensor c_bad = Random({3}, rng);
  EXPECT_EQ(RunKernel(**fast, {&a, &b, &c_bad}).status().code(), StatusCode::kInvalidArgument);
  Tensor b_bad = Random({5, 4}, rng);
  Tensor c = Random({4}, rng);
  EXPECT_EQ(RunKernel(**fast, {&a, &b_bad, &c}).status().code(), StatusCode::kInvalidArgument);
  Tensor a3 = Random({1, 2, 3}, rng);
  EXPECT_EQ(RunKernel(**fast, {&a3, &b, &c}).status().code(), StatusCode::kInvalidArgument);
}

// Timing, not a test: --gtest_also_run_disabled_tests --gtest_filter='*DISABLED_*'
TEST(DnnlMatMulTest, DISABLED_Benchmark) {
  std::mt19937 rng(1);
  struct Case {
    const char* name;
    Shape a, b;
    bool gemm;
  };
  for (const Case& cs : {Case{"Gemm 1x2048 @ 2048x1000 (tB, const)", {1, 2048}, {1000, 2048}, true},
                         Case{"Gemm 64x1024 @ 1024x1024 (tB, const)", {64, 1024}, {1024, 1024}, true},
                         Case{"MatMul 128x768 @ 768x768 (const)", {128, 768}, {768, 768}, false},
                         Case{"MatMul 12x128x64 @ 12x64x128", {12, 128, 64}, {12, 64, 128}, false}}) {
    Tensor a = Random(cs.a, rng);
    Tensor b = Random(cs.b, rng);
    Tensor c = Random({cs.b[0]}, rng);
    Op op(cs.gemm ? "Gemm" : "MatMul", cs.gemm ? 3 : 2);
    std::vector<const Tensor*> in = {&a, &b};
    if (cs.gemm) {
      op.Int("transB", 1);
      op.constants[2] = &c;
      in.push_back(&c);
    }
    if (cs.a.size() == 2) op.constants[1] = &b;
    for (int priority : {kOptimizedPriority, KernelRegistry::kReferencePriority}) {
      auto k = op.Build(priority);
      ASSERT_TRUE(k.ok());
      ASSERT_TRUE(RunKernel(**k, in).ok());  // warm-up (primitive, packing)
      const int iters = priority == kOptimizedPriority ? 20 : 2;
      auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < iters; ++i) ASSERT_TRUE(RunKernel(**k, in).ok());
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() /
          iters;
      std::printf("%-42s %-9s %9.3f ms\n", cs.name,
                  priority == kOptimizedPriority ? "oneDNN" : "reference", ms);
    }
  }
}

}  // namespace
}  // namespace nereid::engine
