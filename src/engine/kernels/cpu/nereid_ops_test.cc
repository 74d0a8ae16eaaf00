// The optimized kernels of the "nereid" domain (FusedMatMul, FusedConv,
// BlockedPool, ToBlocked/FromBlocked) against their reference kernels on
// random shapes and attribute combinations.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/kernels/blocked_layout.h"
#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/kernel_test_util.h"

namespace nereid::engine {
namespace {

using testutil::SetFloat;
using testutil::SetInt;
using testutil::SetInts;
using testutil::SetString;

Tensor Random(Shape shape, std::mt19937* rng) {
  Tensor t = Tensor::AllocateDense(DataType::kFp32, std::move(shape));
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  for (size_t i = 0; i < t.byte_size() / 4; ++i) t.mutable_data_as<float>()[i] = d(*rng);
  return t;
}

// Builds the optimized (priority 10) and reference kernels of a nereid-domain
// node and runs both; `constants` marks inputs passed as initializers.
void ExpectOptimizedMatchesReference(Node node, const std::vector<const Tensor*>& inputs,
                                     const std::vector<bool>& constants, float tol = 1e-4f) {
  node.domain = "nereid";
  node.inputs.clear();
  for (const Tensor* t : inputs) node.inputs.push_back(t ? 0 : kNoValue);
  node.outputs = {0};
  KernelBuildContext context{node, 1, {}, {}, {}};
  for (size_t i = 0; i < inputs.size(); ++i) {
    context.input_dtypes.push_back(inputs[i] ? inputs[i]->dtype() : DataType::kInvalid);
    context.constant_inputs.push_back(i < constants.size() && constants[i] ? inputs[i] : nullptr);
  }
  context.output_dtypes = {DataType::kFp32};
  context.intra_op_threads = 2;
  auto all = KernelRegistry::Global().FindAll("nereid", node.op_type);
  ASSERT_GE(all.size(), 2u) << node.op_type;
  ASSERT_GT(all.front().first, KernelRegistry::kReferencePriority);
  auto fast = all.front().second(context);
  auto ref = KernelRegistry::Global().FindReference("nereid", node.op_type)(context);
  ASSERT_TRUE(fast.ok()) << fast.status().ToString();
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  std::vector<Tensor> want(1), got(1);
  Status rs = (*ref)->Run(inputs, want);
  Status fs = (*fast)->Run(inputs, got);
  std::string desc;
  for (const Tensor* t : inputs) desc += (t ? ShapeToString(t->shape()) : "none") + " ";
  for (const auto& [name, attr] : node.attributes) {
    desc += name + "=" + (attr.kind == Attribute::Kind::kInts ? std::to_string(attr.ints.size())
                          : attr.kind == Attribute::Kind::kString ? attr.s
                                                                   : std::to_string(attr.f)) + " ";
  }
  ASSERT_EQ(rs.ok(), fs.ok()) << rs.ToString() << " vs " << fs.ToString() << " inputs " << desc;
  if (!rs.ok()) return;
  ASSERT_EQ(want[0].shape(), got[0].shape());
  const float* w = want[0].data_as<float>();
  const float* g = got[0].data_as<float>();
  float scale = 1e-3f;
  for (size_t i = 0; i < want[0].byte_size() / 4; ++i) scale = std::max(scale, std::fabs(w[i]));
  for (size_t i = 0; i < want[0].byte_size() / 4; ++i) {
    ASSERT_NEAR(g[i], w[i], tol * scale) << "element " << i;
  }
}

std::vector<int64_t> RandomPerm(size_t rank, std::mt19937* rng) {
  std::vector<int64_t> p(rank);
  for (size_t i = 0; i < rank; ++i) p[i] = static_cast<int64_t>(i);
  std::shuffle(p.begin(), p.end(), *rng);
  return p;
}

TEST(NereidOpsTest, FusedMatMulMatchesReferenceOnRandomProblems) {
  std::mt19937 rng(2024);
  auto dim = [&](int lo, int hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  for (int iter = 0; iter < 120; ++iter) {
    SCOPED_TRACE(iter);
    const int64_t m = dim(1, 33), k = dim(1, 40), n = dim(1, 37);
    const int batch_rank = static_cast<int>(dim(0, 2));
    Shape batch;
    for (int i = 0; i < batch_rank; ++i) batch.push_back(dim(1, 3));
    const bool b_2d = dim(0, 1) == 1;
    Shape a_logical = batch;
    a_logical.push_back(m);
    a_logical.push_back(k);
    Shape b_logical = b_2d ? Shape{k, n} : batch;
    if (!b_2d) {
      b_logical.push_back(k);
      b_logical.push_back(n);
    }
    Node node = testutil::Op("FusedMatMul");
    // Optionally store A/B permuted: the kernel reads them through a_perm/b_perm.
    auto permuted = [&](const Shape& logical, const char* attr) {
      if (logical.size() < 2 || dim(0, 2) != 0) return logical;
      std::vector<int64_t> perm = RandomPerm(logical.size(), &rng);
      // Stored tensor S with S.dims[perm[i]] = logical[i].
      Shape stored(logical.size());
      for (size_t i = 0; i < perm.size(); ++i) stored[perm[i]] = logical[i];
      SetInts(&node, attr, perm);
      return stored;
    };
    Tensor a = Random(permuted(a_logical, "a_perm"), &rng);
    Tensor b = Random(permuted(b_logical, "b_perm"), &rng);
    const float alpha = dim(0, 1) ? 1.0f : 0.37f;
    SetFloat(&node, "alpha", alpha);
    const char* acts[] = {"", "Relu", "Tanh", "Sigmoid", "Gelu"};
    SetString(&node, "activation", acts[dim(0, 4)]);
    Shape out = batch;
    out.push_back(m);
    out.push_back(n);
    std::vector<const Tensor*> inputs = {&a, &b};
    Tensor bias, addend;
    const int64_t extras = dim(0, 3);  // 0 none, 1 bias, 2 addend, 3 both
    if (extras > 0) {
      bias = Random({n}, &rng);
      inputs.push_back(extras & 1 ? &bias : nullptr);
    }
    if (extras >= 2) {
      Shape add_shape = out;
      for (auto& d : add_shape) {
        if (dim(0, 2) == 0) d = 1;  // broadcast some dims
      }
      addend = Random(add_shape, &rng);
      inputs.push_back(&addend);
    }
    if (dim(0, 3) == 0 && extras < 2 && out.size() >= 2) {
      SetInts(&node, "out_perm", RandomPerm(out.size(), &rng));
    }
    ExpectOptimizedMatchesReference(node, inputs, {false, dim(0, 1) == 1, true, false});
  }
}

TEST(NereidOpsTest, BlockedConversionsRoundTrip) {
  std::mt19937 rng(7);
  for (int64_t c : {1, 7, 8, 16, 17, 40}) {
    for (int64_t block : {8, 16}) {
      Tensor x = Random({2, c, 3, 5}, &rng);
      auto b = ToBlockedLayout(x, block, 2);
      ASSERT_TRUE(b.ok());
      EXPECT_EQ(b->shape(), (Shape{2, (c + block - 1) / block, 3, 5, block}));
      // Padding channels are zero.
      const float* p = b->data_as<float>();
      for (int64_t i = 0; i < static_cast<int64_t>(b->byte_size() / 4); ++i) {
        const int64_t lane = i % block;
        const int64_t cb = (i / (block * 15)) % ((c + block - 1) / block);
        if (cb * block + lane >= c) {
          ASSERT_EQ(p[i], 0.0f);
        }
      }
      auto back = FromBlockedLayout(*b, block, c, 2);
      ASSERT_TRUE(back.ok());
      ASSERT_EQ(back->shape(), x.shape());
      EXPECT_EQ(0, std::memcmp(back->data(), x.data(), x.byte_size()));
    }
  }
  Tensor bad = Random({2, 3, 4}, &rng);
  EXPECT_FALSE(ToBlockedLayout(bad, 16).ok());
  auto blocked = ToBlockedLayout(Random({1, 20, 2, 2}, &rng), 16);
  EXPECT_FALSE(FromBlockedLayout(*blocked, 16, 40).ok());  // wrong channel count
}

TEST(NereidOpsTest, BlockedPoolMatchesReference) {
  std::mt19937 rng(11);
  const char* pools[] = {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"};
  for (int iter = 0; iter < 40; ++iter) {
    SCOPED_TRACE(iter);
    const std::string pool = pools[iter % 4];
    const int64_t c = std::uniform_int_distribution<int64_t>(1, 35)(rng);
    const int64_t h = std::uniform_int_distribution<int64_t>(3, 12)(rng);
    const int64_t w = std::uniform_int_distribution<int64_t>(3, 12)(rng);
    Node node = testutil::Op("BlockedPool");
    SetString(&node, "pool", pool);
    SetInt(&node, "block", 16);
    SetInt(&node, "channels", c);
    if (pool == "MaxPool" || pool == "AveragePool") {
      const int64_t k = std::uniform_int_distribution<int64_t>(1, 3)(rng);
      SetInts(&node, "kernel_shape", {k, k});
      SetInts(&node, "strides", {1 + iter % 2, 1 + iter % 2});
      if (k > 1) SetInts(&node, "pads", {k / 2, k / 2, k / 2, k / 2});
      if (pool == "AveragePool") SetInt(&node, "count_include_pad", iter % 3 == 0);
      if (iter % 5 == 0) SetInt(&node, "ceil_mode", 1);  // oneDNN with grown right padding
    }
    auto x = ToBlockedLayout(Random({2, c, h, w}, &rng), 16);
    ASSERT_TRUE(x.ok());
    ExpectOptimizedMatchesReference(node, {&*x}, {false});
  }
}

}  // namespace
}  // namespace nereid::engine
