// Tests of the oneDNN matrix-product kernels' auto-tuning candidates
// (MatMul, Gemm: cpu/dnnl_matmul.cc; nereid.FusedMatMul:
// cpu/dnnl_fused_matmul.cc): oneDNN's implementations are listed for the
// shapes at hand, each builds from its "impl=..." parameters, says it applied
// them and computes what the reference kernel computes; unknown parameters
// are refused.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"

namespace nereid::engine {
namespace {

using ::testing::HasSubstr;

KernelFactory FactoryAt(const std::string& domain, const std::string& op, int priority) {
  for (const auto& [p, f] : KernelRegistry::Global().FindAll(domain, op)) {
    if (p == priority) return f;
  }
  return nullptr;
}

Tensor Random(Shape shape, std::mt19937& rng) {
  Tensor t = Tensor::AllocateDense(DataType::kFp32, std::move(shape));
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  float* p = t.mutable_data_as<float>();
  for (size_t i = 0; i < t.byte_size() / sizeof(float); ++i) p[i] = dist(rng);
  return t;
}

struct Case {
  std::string domain, op;
  std::vector<Tensor> inputs;
  bool constant_b = true;
  std::map<std::string, Attribute, std::less<>> attributes;

  StatusOr<std::unique_ptr<Kernel>> Build(int priority, std::string_view params) const {
    Node node;
    node.domain = domain;
    node.op_type = op;
    node.attributes = attributes;
    for (size_t i = 0; i < inputs.size(); ++i) node.inputs.push_back(static_cast<int>(i));
    node.outputs = {static_cast<int>(inputs.size())};
    std::vector<const Tensor*> constants(inputs.size(), nullptr);
    for (size_t i = 1; i < inputs.size() && constant_b; ++i) constants[i] = &inputs[i];
    KernelBuildContext context{node, domain.empty() ? 17 : 1, {}, {}, constants, 1};
    context.tuning_params = params;
    KernelFactory factory = FactoryAt(domain, op, priority);
    if (factory == nullptr) return NotFound("no factory");
    return factory(context);
  }
  std::vector<const Tensor*> Args() const {
    std::vector<const Tensor*> args;
    for (const Tensor& t : inputs) args.push_back(&t);
    return args;
  }
};

StatusOr<Tensor> RunOnce(const Kernel& kernel, std::vector<const Tensor*> inputs) {
  std::vector<Tensor> outputs(1);
  RETURN_IF_ERROR(kernel.Run(inputs, outputs));
  return std::move(outputs[0]);
}

double MaxRelError(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return INFINITY;
  double worst = 0;
  for (size_t i = 0; i < a.byte_size() / 4; ++i) {
    const double x = a.data_as<float>()[i], y = b.data_as<float>()[i];
    worst = std::max(worst, std::abs(x - y) / (1.0 + std::abs(y)));
  }
  return worst;
}

Attribute Int(int64_t v) {
  Attribute a;
  a.kind = Attribute::Kind::kInt;
  a.i = v;
  return a;
}

Attribute Str(std::string v) {
  Attribute a;
  a.kind = Attribute::Kind::kString;
  a.s = std::move(v);
  return a;
}

TEST(DnnlMatMulTuningTest, EveryImplementationComputesTheProduct) {
  std::mt19937 rng(21);
  std::vector<Case> cases;
  cases.push_back({"", "MatMul", {}, true, {}});
  cases.back().inputs.push_back(Random({2, 24, 48}, rng));
  cases.back().inputs.push_back(Random({48, 40}, rng));
  cases.push_back({"", "MatMul", {}, false, {}});
  cases.back().inputs.push_back(Random({3, 16, 32}, rng));
  cases.back().inputs.push_back(Random({3, 32, 8}, rng));
  cases.push_back({"", "Gemm", {}, true, {{"transB", Int(1)}}});
  cases.back().inputs.push_back(Random({8, 64}, rng));
  cases.back().inputs.push_back(Random({100, 64}, rng));
  cases.back().inputs.push_back(Random({100}, rng));
  cases.push_back({"nereid", "FusedMatMul", {}, true, {{"activation", Str("Relu")}}});
  cases.back().inputs.push_back(Random({1, 16, 96}, rng));
  cases.back().inputs.push_back(Random({96, 48}, rng));
  cases.back().inputs.push_back(Random({48}, rng));
  int listed = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.op + " " + ShapeToString(c.inputs[0].shape()) + " x " +
                 ShapeToString(c.inputs[1].shape()));
    auto reference = c.Build(0, "");
    auto fast = c.Build(10, "");
    ASSERT_TRUE(reference.ok()) << reference.status().ToString();
    ASSERT_TRUE(fast.ok()) << fast.status().ToString();
    auto want = RunOnce(**reference, c.Args());
    ASSERT_TRUE(want.ok());
    std::vector<TuningCandidate> candidates = (*fast)->TuningCandidates(c.Args());
    listed += candidates.size() >= 2 ? 1 : 0;
    for (const TuningCandidate& candidate : candidates) {
      SCOPED_TRACE(candidate.params + " (" + candidate.label + ")");
      auto kernel = c.Build(10, candidate.params);
      ASSERT_TRUE(kernel.ok()) << kernel.status().ToString();
      EXPECT_EQ((*kernel)->AppliedTuning(), candidate.params);
      auto got = RunOnce(**kernel, c.Args());
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      EXPECT_LT(MaxRelError(*got, *want), 1e-5);
    }
    // Listing did not leave a primitive in the cache that a tuned build would miss.
    auto again = RunOnce(**fast, c.Args());
    ASSERT_TRUE(again.ok());
    EXPECT_LT(MaxRelError(*again, *want), 1e-5);
  }
  // oneDNN 2.6 offers brgemm and gemm:jit for f32 on AVX-512 CPUs; at least
  // one of these problems has a choice wherever it has two implementations.
  EXPECT_GE(listed, 1);
}

TEST(DnnlMatMulTuningTest, UnknownParametersAreRefusedAndAnUnofferedImplFallsBack) {
  std::mt19937 rng(22);
  Case gemm{"", "Gemm", {}, true, {}};
  gemm.inputs.push_back(Random({4, 8}, rng));
  gemm.inputs.push_back(Random({8, 5}, rng));
  auto bad = gemm.Build(10, "alg=direct");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("unknown tuning parameter 'alg' for oneDNN Gemm"));
  Case fused{"nereid", "FusedMatMul", {}, true, {}};
  fused.inputs = {Random({4, 8}, rng), Random({8, 5}, rng)};
  bad = fused.Build(10, "layout=plain");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("for oneDNN FusedMatMul"));
  auto odd = gemm.Build(10, "impl=no_such_impl");
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ((*odd)->AppliedTuning(), "impl=no_such_impl");
  auto reference = gemm.Build(0, "");
  ASSERT_TRUE(reference.ok());
  auto got = RunOnce(**odd, gemm.Args());
  auto want = RunOnce(**reference, gemm.Args());
  ASSERT_TRUE(got.ok() && want.ok());
  EXPECT_LT(MaxRelError(*got, *want), 1e-5);
}

}  // namespace
}  // namespace nereid::engine
