// BF16 / INT8 matrix products (dnnl_matmul_reduced.h) through the MatMul,
// Gemm and nereid.FusedMatMul kernels, against the FP32 reference kernel of
// the same node: results within the quantization error (and visibly
// quantized, so a silent FP32 fallback fails), the bias in the right units,
// activations, batch broadcasting, transposed operands, residual addends,
// concurrent first calls, and the cases that must stay FP32.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/ir/precision_attrs.h"
#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/kernel_test_util.h"

namespace nereid::engine {
namespace {

using testutil::SetFloat;
using testutil::SetInt;
using testutil::SetInts;
using testutil::SetString;

Tensor Uniform(Shape shape, float lo, float hi, std::mt19937* rng) {
  Tensor t = Tensor::AllocateDense(DataType::kFp32, std::move(shape));
  std::uniform_real_distribution<float> d(lo, hi);
  for (size_t i = 0; i < t.byte_size() / 4; ++i) t.mutable_data_as<float>()[i] = d(*rng);
  return t;
}

float MaxAbs(const Tensor& t) {
  float m = 0;
  for (size_t i = 0; i < t.byte_size() / 4; ++i) m = std::max(m, std::fabs(t.data_as<float>()[i]));
  return m;
}

enum class Mode { kBf16, kInt8Unsigned, kInt8Signed };

const char* Name(Mode m) {
  return m == Mode::kBf16 ? "bf16" : m == Mode::kInt8Unsigned ? "int8 u8" : "int8 s8";
}

// Sets the precision attributes; INT8 A's scale covers [-a_max, a_max].
void SetPrecision(Node* node, Mode mode, float a_max) {
  if (mode == Mode::kBf16) {
    SetString(node, kPrecisionAttr, "bf16");
    return;
  }
  const bool u8 = mode == Mode::kInt8Unsigned;
  SetString(node, kPrecisionAttr, "int8");
  SetFloat(node, kInputScaleAttr, a_max / (u8 ? 255.0f : 127.0f));
  SetInt(node, kInputUnsignedAttr, u8 ? 1 : 0);
}

struct Built {
  std::unique_ptr<Kernel> fast, ref;
};

// The optimized (priority 10) and reference kernels of `node`; `constants`
// marks the inputs given as initializers.
Built Build(Node node, const std::vector<const Tensor*>& inputs,
            const std::vector<bool>& constants) {
  node.inputs.clear();
  for (const Tensor* t : inputs) node.inputs.push_back(t ? 0 : kNoValue);
  node.outputs = {0};
  KernelBuildContext context{node, node.domain.empty() ? 17 : 1, {}, {}, {}};
  for (size_t i = 0; i < inputs.size(); ++i) {
    context.input_dtypes.push_back(inputs[i] ? inputs[i]->dtype() : DataType::kInvalid);
    context.constant_inputs.push_back(i < constants.size() && constants[i] ? inputs[i] : nullptr);
  }
  context.output_dtypes = {DataType::kFp32};
  context.intra_op_threads = 2;
  auto all = KernelRegistry::Global().FindAll(node.domain, node.op_type);
  EXPECT_GE(all.size(), 2u);
  Built b;
  auto fast = all.front().second(context);
  auto ref = KernelRegistry::Global().FindReference(node.domain, node.op_type)(context);
  EXPECT_TRUE(fast.ok()) << fast.status().ToString();
  EXPECT_TRUE(ref.ok()) << ref.status().ToString();
  if (fast.ok()) b.fast = std::move(*fast);
  if (ref.ok()) b.ref = std::move(*ref);
  return b;
}

Tensor RunOne(const Kernel& k, const std::vector<const Tensor*>& inputs) {
  std::vector<Tensor> out(1);
  Status st = k.Run(inputs, out);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return std::move(out[0]);
}

// Worst-case error of one output element: K terms, each off by at most half
// an A step times |B| plus half a B step times |A| (plus their product),
// times |alpha| and the activation's slope (GELU's is below 1.13).
double Bound(Mode mode, int64_t k, float a_max, float b_max, float alpha) {
  if (mode == Mode::kBf16) {
    // 8 significant bits on each operand: 2^-8 relative each.
    return 1.13 * std::fabs(alpha) * k * a_max * b_max * 2 * std::pow(2.0, -8) + 1e-4;
  }
  const double sa = a_max / (mode == Mode::kInt8Unsigned ? 255.0 : 127.0);
  const double sb = b_max / 127.0;
  return 1.13 * std::fabs(alpha) * k * (sa / 2 * b_max + a_max * sb / 2 + sa * sb / 4) + 1e-4;
}

// Runs the reduced and the reference kernel; the worst difference must stay
// under `bound` and be large enough to show the product was quantized.
void ExpectQuantized(const Node& node, const std::vector<const Tensor*>& inputs,
                     const std::vector<bool>& constants, double bound, Mode mode,
                     const std::string& what) {
  SCOPED_TRACE(what + " " + Name(mode));
  Built k = Build(node, inputs, constants);
  ASSERT_TRUE(k.fast && k.ref);
  Tensor want = RunOne(*k.ref, inputs);
  Tensor got = RunOne(*k.fast, inputs);
  ASSERT_EQ(got.shape(), want.shape());
  double worst = 0;
  for (size_t i = 0; i < want.byte_size() / 4; ++i) {
    worst = std::max(worst, double(std::fabs(got.data_as<float>()[i] - want.data_as<float>()[i])));
  }
  EXPECT_LT(worst, bound);
  // FP32 paths agree to ~1e-6; BF16 / INT8 products of K >= 32 terms in
  // [-1, 1] are off by far more.
  EXPECT_GT(worst, 1e-4) << "not quantized (an FP32 path ran)";
}

const Mode kModes[] = {Mode::kBf16, Mode::kInt8Unsigned, Mode::kInt8Signed};

TEST(ReducedMatMulTest, MatMulWithBatchBroadcastingAndVectors) {
  std::mt19937 rng(1);
  const int64_t k = 96, n = 40;
  Tensor b = Uniform({k, n}, -1, 1, &rng);
  for (Mode mode : kModes) {
    const float lo = mode == Mode::kInt8Unsigned ? 0.0f : -1.0f;
    for (const Shape& as : {Shape{1, k}, Shape{2, 3, 5, k}, Shape{37, k}, Shape{k}}) {
      Tensor a = Uniform(as, lo, 1, &rng);
      Node node = testutil::Op("MatMul");
      SetPrecision(&node, mode, 1.0f);
      ExpectQuantized(node, {&a, &b}, {false, true}, Bound(mode, k, 1, MaxAbs(b), 1), mode,
                      "A " + ShapeToString(as));
    }
  }
}

TEST(ReducedMatMulTest, GemmTransposesAlphaAndEveryKindOfC) {
  std::mt19937 rng(2);
  const int64_t m = 9, k = 64, n = 24;
  for (Mode mode : kModes) {
    const float lo = mode == Mode::kInt8Unsigned ? 0.0f : -1.0f;
    for (int trans : {0, 1, 2, 3}) {
      const bool ta = trans & 1, tb = trans & 2;
      Tensor a = Uniform(ta ? Shape{k, m} : Shape{m, k}, lo, 1, &rng);
      Tensor b = Uniform(tb ? Shape{n, k} : Shape{k, n}, -1, 1, &rng);
      for (const Shape& cs : {Shape{}, Shape{n}, Shape{1, n}, Shape{1}, Shape{m, n}, Shape{m, 1}}) {
        Tensor c = Uniform(cs.empty() ? Shape{1} : cs, -3, 3, &rng);
        Node node = testutil::Op("Gemm");
        SetInt(&node, "transA", ta);
        SetInt(&node, "transB", tb);
        SetFloat(&node, "alpha", 0.5f);
        SetFloat(&node, "beta", 2.0f);
        SetPrecision(&node, mode, 1.0f);
        std::vector<const Tensor*> inputs = {&a, &b};
        if (!cs.empty()) inputs.push_back(&c);
        ExpectQuantized(node, inputs, {false, true, true}, Bound(mode, k, 1, MaxAbs(b), 0.5f),
                        mode,
                        "transA " + std::to_string(ta) + " transB " + std::to_string(tb) + " C " +
                            ShapeToString(cs));
      }
    }
  }
}

// oneDNN 2.6.3 adds a matmul's bias to the int32 accumulator before the
// output scales: a bias passed in output units would come out multiplied by
// A's scale x B's column scale (~1e-4 here), off by nearly its whole value.
TEST(ReducedMatMulTest, Int8BiasIsAddedInOutputUnits) {
  std::mt19937 rng(3);
  const int64_t k = 128, n = 48;
  Tensor a = Uniform({16, k}, -1, 1, &rng);
  Tensor b = Uniform({k, n}, -1, 1, &rng);
  Tensor bias = Uniform({n}, 20, 40, &rng);
  for (Mode mode : {Mode::kInt8Signed, Mode::kBf16}) {
    for (float alpha : {1.0f, 0.25f}) {
      Node node = testutil::Op("FusedMatMul");
      node.domain = "nereid";
      SetFloat(&node, "alpha", alpha);
      SetPrecision(&node, mode, 1.0f);
      ExpectQuantized(node, {&a, &b, &bias}, {false, true, true},
                      Bound(mode, k, 1, MaxAbs(b), alpha), mode,
                      "alpha " + std::to_string(alpha));
    }
  }
}

TEST(ReducedMatMulTest, FusedMatMulActivationsResidualsAndTransposedB) {
  std::mt19937 rng(4);
  const int64_t k = 64, n = 32;
  for (Mode mode : kModes) {
    const float lo = mode == Mode::kInt8Unsigned ? 0.0f : -1.0f;
    for (const char* act : {"", "Relu", "Gelu", "Tanh"}) {
      for (int variant = 0; variant < 4; ++variant) {
        // 0: bias; 1: bias + residual of Y's shape; 2: addend [N] only;
        // 3: B stored [N, K] (b_perm {1, 0}) with bias and residual.
        Tensor a = Uniform({2, 7, k}, lo, 1, &rng);
        Tensor b = Uniform(variant == 3 ? Shape{n, k} : Shape{k, n}, -1, 1, &rng);
        Tensor bias = Uniform({n}, -1, 1, &rng);
        Tensor full = Uniform({2, 7, n}, -2, 2, &rng);
        Tensor row = Uniform({1, n}, -2, 2, &rng);
        Node node = testutil::Op("FusedMatMul");
        node.domain = "nereid";
        SetFloat(&node, "alpha", variant == 1 ? 0.7f : 1.0f);
        SetString(&node, "activation", act);
        if (variant == 3) SetInts(&node, "b_perm", {1, 0});
        SetPrecision(&node, mode, 1.0f);
        std::vector<const Tensor*> inputs = {&a, &b, variant == 2 ? nullptr : &bias};
        if (variant == 1 || variant == 3) inputs.push_back(&full);
        if (variant == 2) inputs.push_back(&row);
        ExpectQuantized(node, inputs, {false, true, true, false},
                        Bound(mode, k, 1, MaxAbs(b), variant == 1 ? 0.7f : 1.0f), mode,
                        std::string("activation '") + act + "' variant " +
                            std::to_string(variant));
      }
    }
  }
}

// What stays FP32 even with precision attributes: a computed B (attention's
// products), a permuted A; both must match the FP32 reference closely.
TEST(ReducedMatMulTest, ComputedOrPermutedOperandsRunInFp32) {
  std::mt19937 rng(5);
  Tensor a = Uniform({2, 5, 64}, -1, 1, &rng);
  Tensor b = Uniform({64, 16}, -1, 1, &rng);
  for (const char* op : {"MatMul", "FusedMatMul"}) {
    Node node = testutil::Op(op);
    if (std::string(op) == "FusedMatMul") node.domain = "nereid";
    SetPrecision(&node, Mode::kInt8Signed, 1.0f);
    Built k = Build(node, {&a, &b}, {false, false});  // B not constant
    ASSERT_TRUE(k.fast && k.ref);
    Tensor want = RunOne(*k.ref, {&a, &b});
    Tensor got = RunOne(*k.fast, {&a, &b});
    for (size_t i = 0; i < want.byte_size() / 4; ++i) {
      ASSERT_NEAR(got.data_as<float>()[i], want.data_as<float>()[i], 1e-4) << op;
    }
  }
  Tensor at = Uniform({2, 64, 5}, -1, 1, &rng);
  Node node = testutil::Op("FusedMatMul");
  node.domain = "nereid";
  SetInts(&node, "a_perm", {0, 2, 1});
  SetPrecision(&node, Mode::kInt8Signed, 1.0f);
  Built k = Build(node, {&at, &b}, {false, true});
  ASSERT_TRUE(k.fast && k.ref);
  Tensor want = RunOne(*k.ref, {&at, &b});
  Tensor got = RunOne(*k.fast, {&at, &b});
  for (size_t i = 0; i < want.byte_size() / 4; ++i) {
    ASSERT_NEAR(got.data_as<float>()[i], want.data_as<float>()[i], 1e-4);
  }
}

TEST(ReducedMatMulTest, MalformedPrecisionAttributesFailTheBuild) {
  for (const char* op : {"MatMul", "Gemm", "FusedMatMul"}) {
    Node node = testutil::Op(op);
    if (std::string(op) == "FusedMatMul") node.domain = "nereid";
    node.inputs = {0, 0};
    node.outputs = {0};
    KernelBuildContext context{node, node.domain.empty() ? 17 : 1,
                               {DataType::kFp32, DataType::kFp32}, {DataType::kFp32},
                               {nullptr, nullptr}};
    auto factory = KernelRegistry::Global().FindAll(node.domain, op).front().second;
    SetString(&node, kPrecisionAttr, "int4");
    EXPECT_FALSE(factory(context).ok()) << op;
    SetString(&node, kPrecisionAttr, "int8");  // no scale
    EXPECT_FALSE(factory(context).ok()) << op;
    SetFloat(&node, kInputScaleAttr, -1.0f);
    EXPECT_FALSE(factory(context).ok()) << op;
    SetFloat(&node, kInputScaleAttr, 0.01f);
    EXPECT_TRUE(factory(context).ok()) << op;
  }
}

// Two threads make the first call of a fresh kernel together (primitive and
// packed B created concurrently), then keep running it.
TEST(ReducedMatMulTest, ConcurrentRunsAgree) {
  std::mt19937 rng(6);
  const int64_t k = 256, n = 64;
  Tensor a = Uniform({32, k}, -1, 1, &rng);
  Tensor b = Uniform({k, n}, -1, 1, &rng);
  Tensor bias = Uniform({n}, -1, 1, &rng);
  Node node = testutil::Op("FusedMatMul");
  node.domain = "nereid";
  SetString(&node, "activation", "Gelu");
  SetPrecision(&node, Mode::kInt8Signed, 1.0f);
  Built kernels = Build(node, {&a, &b, &bias}, {false, true, true});
  ASSERT_TRUE(kernels.fast);
  std::vector<Tensor> results(2);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      const std::vector<const Tensor*> inputs = {&a, &b, &bias};
      for (int i = 0; i < 20; ++i) {
        std::vector<Tensor> out(1);
        if (kernels.fast->Run(inputs, out).ok()) results[t] = std::move(out[0]);
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(results[0].byte_size(), results[1].byte_size());
  ASSERT_GT(results[0].byte_size(), 0u);
  EXPECT_TRUE(std::equal(results[0].data_as<float>(),
                         results[0].data_as<float>() + results[0].byte_size() / 4,
                         results[1].data_as<float>()));
}

}  // namespace
}  // namespace nereid::engine
