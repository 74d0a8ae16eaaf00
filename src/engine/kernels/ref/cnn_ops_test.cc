// Tests of the CNN and normalization reference kernels (Conv, ConvTranspose,
// pools, BatchNormalization, InstanceNormalization, LayerNormalization, LRN,
// LogSoftmax, DepthToSpace, SpaceToDepth) beyond ONNX's node tests: attribute
// validation, malformed shapes and dtypes, edge cases.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/numeric.h"

namespace nereid::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Tensor F32(Shape shape, std::vector<float> values) {
  Tensor t = Tensor::AllocateDense(DataType::kFp32, std::move(shape));
  std::copy(values.begin(), values.end(), t.mutable_data_as<float>());
  return t;
}

Tensor Iota(Shape shape, float start = 0) {
  Tensor t = Tensor::AllocateDense(DataType::kFp32, std::move(shape));
  float* p = t.mutable_data_as<float>();
  for (size_t i = 0; i < t.byte_size() / sizeof(float); ++i) p[i] = start + static_cast<float>(i);
  return t;
}

template <typename T>
std::vector<T> Values(const Tensor& t) {
  const T* p = t.data_as<T>();
  return std::vector<T>(p, p + t.byte_size() / sizeof(T));
}

struct Op {
  Node node;
  int64_t opset = 17;

  explicit Op(std::string type) { node.op_type = std::move(type); }
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
  Op& Str(const std::string& name, std::string v) {
    Attribute a;
    a.kind = Attribute::Kind::kString;
    a.s = std::move(v);
    node.attributes[name] = std::move(a);
    return *this;
  }
  Op& Ints(const std::string& name, std::vector<int64_t> v) {
    Attribute a;
    a.kind = Attribute::Kind::kInts;
    a.ints = std::move(v);
    node.attributes[name] = std::move(a);
    return *this;
  }
  Op& Opset(int64_t v) {
    opset = v;
    return *this;
  }

  StatusOr<std::unique_ptr<Kernel>> Build(size_t num_inputs, size_t num_outputs) const {
    KernelFactory factory = KernelRegistry::Global().FindReference("", node.op_type);
    if (factory == nullptr) return NotFound("no kernel for " + node.op_type);
    Node n = node;
    n.inputs.assign(num_inputs, 0);
    n.outputs.assign(num_outputs, 0);
    KernelBuildContext context{n, opset, {}, {}, {}};
    return factory(context);
  }

  // Builds and runs; returns all outputs.
  StatusOr<std::vector<Tensor>> RunAll(std::vector<const Tensor*> inputs,
                                       size_t num_outputs) const {
    ASSIGN_OR_RETURN(auto kernel, Build(inputs.size(), num_outputs));
    std::vector<Tensor> outputs(num_outputs);
    RETURN_IF_ERROR(kernel->Run(inputs, outputs));
    return outputs;
  }
  StatusOr<Tensor> Run(std::vector<const Tensor*> inputs) const {
    ASSIGN_OR_RETURN(auto outputs, RunAll(std::move(inputs), 1));
    return std::move(outputs[0]);
  }
};

void ExpectCode(const Status& s, StatusCode code, const std::string& substr) {
  EXPECT_EQ(s.code(), code) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr(substr));
}

// ----------------------------------------------------------------------------
// Conv
// ----------------------------------------------------------------------------

TEST(CnnOpsTest, Conv1dWithBiasStrideAndDilation) {
  Tensor x = F32({1, 1, 7}, {1, 2, 3, 4, 5, 6, 7});
  Tensor w = F32({1, 1, 2}, {1, 10});
  Tensor b = F32({1}, {100});
  auto y = Op("Conv").Ints("strides", {2}).Ints("dilations", {2}).Run({&x, &w, &b});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(y->shape(), (Shape{1, 1, 3}));
  // windows start at 0, 2, 4 and read positions p and p+2.
  EXPECT_THAT(Values<float>(*y), ElementsAre(131, 153, 175));
}

TEST(CnnOpsTest, ConvGroupedDepthwise) {
  Tensor x = F32({1, 2, 2}, {1, 2, 3, 4});
  Tensor w = F32({2, 1, 1}, {10, 100});
  auto y = Op("Conv").Int("group", 2).Run({&x, &w});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_THAT(Values<float>(*y), ElementsAre(10, 20, 300, 400));
}

TEST(CnnOpsTest, ConvSameLowerPutsOddPadFirst) {
  Tensor x = F32({1, 1, 4}, {1, 2, 3, 4});
  Tensor w = F32({1, 1, 2}, {1, 1});
  auto upper = Op("Conv").Str("auto_pad", "SAME_UPPER").Run({&x, &w});
  auto lower = Op("Conv").Str("auto_pad", "SAME_LOWER").Run({&x, &w});
  ASSERT_TRUE(upper.ok() && lower.ok());
  EXPECT_THAT(Values<float>(*upper), ElementsAre(3, 5, 7, 4));
  EXPECT_THAT(Values<float>(*lower), ElementsAre(1, 3, 5, 7));
}

TEST(CnnOpsTest, ConvFp16AndDouble) {
  Tensor x = Tensor::AllocateDense(DataType::kFp16, {1, 1, 2});
  x.mutable_data_as<ref::Fp16>()[0] = ref::Fp16(1.5f);
  x.mutable_data_as<ref::Fp16>()[1] = ref::Fp16(2.0f);
  Tensor w = Tensor::AllocateDense(DataType::kFp16, {1, 1, 1});
  w.mutable_data_as<ref::Fp16>()[0] = ref::Fp16(2.0f);
  auto y = Op("Conv").Run({&x, &w});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(static_cast<float>(y->data_as<ref::Fp16>()[1]), 4.0f);
}

TEST(CnnOpsTest, ConvRejectsBadAttributes) {
  ExpectCode(Op("Conv").Int("group", 0).Build(2, 1).status(), StatusCode::kInvalidArgument,
             "group");
  ExpectCode(Op("Conv").Str("auto_pad", "SAME").Build(2, 1).status(),
             StatusCode::kInvalidArgument, "auto_pad");
  ExpectCode(Op("Conv").Ints("strides", {0}).Build(2, 1).status(), StatusCode::kInvalidArgument,
             "strides");
  ExpectCode(Op("Conv").Ints("pads", {-1, 0}).Build(2, 1).status(),
             StatusCode::kInvalidArgument, "pads");
  ExpectCode(Op("Conv").Ints("pads", {1, 1, 1}).Build(2, 1).status(),
             StatusCode::kInvalidArgument, "pads");
  ExpectCode(Op("Conv").Ints("strides", {1, 1}).Ints("dilations", {1}).Build(2, 1).status(),
             StatusCode::kInvalidArgument, "dilations");
  ExpectCode(Op("Conv").Build(1, 1).status(), StatusCode::kInvalidArgument, "inputs");
}

TEST(CnnOpsTest, ConvRejectsMalformedShapesAtRunTime) {
  Tensor x = Iota({1, 2, 3, 3});
  Tensor w_rank = Iota({1, 2, 2});
  Tensor w_chan = Iota({1, 3, 2, 2});
  Tensor w_big = Iota({1, 2, 4, 4});
  Tensor w = Iota({4, 2, 2, 2});
  Tensor b_bad = Iota({3});
  Tensor x_rank2 = Iota({2, 3});
  ExpectCode(Op("Conv").Run({&x, &w_rank}).status(), StatusCode::kInvalidArgument, "rank");
  ExpectCode(Op("Conv").Run({&x, &w_chan}).status(), StatusCode::kInvalidArgument, "channels");
  ExpectCode(Op("Conv").Run({&x, &w_big}).status(), StatusCode::kInvalidArgument, "larger");
  ExpectCode(Op("Conv").Run({&x, &w, &b_bad}).status(), StatusCode::kInvalidArgument, "bias");
  ExpectCode(Op("Conv").Int("group", 3).Run({&x, &w}).status(), StatusCode::kInvalidArgument,
             "group");
  ExpectCode(Op("Conv").Run({&x_rank2, &w}).status(), StatusCode::kInvalidArgument, "rank");
  ExpectCode(Op("Conv").Ints("kernel_shape", {3, 3}).Run({&x, &w}).status(),
             StatusCode::kInvalidArgument, "kernel_shape");
  ExpectCode(Op("Conv").Ints("strides", {1, 1, 1}).Run({&x, &w}).status(),
             StatusCode::kInvalidArgument, "strides");
}

TEST(CnnOpsTest, ConvRejectsIntegersAndMixedDtypes) {
  Tensor x = Tensor::AllocateDense(DataType::kInt32, {1, 1, 2});
  Tensor w = Tensor::AllocateDense(DataType::kInt32, {1, 1, 1});
  ExpectCode(Op("Conv").Run({&x, &w}).status(), StatusCode::kUnimplemented, "INT32");
  Tensor xf = Iota({1, 1, 2});
  ExpectCode(Op("Conv").Run({&xf, &w}).status(), StatusCode::kInvalidArgument, "element type");
}

TEST(CnnOpsTest, ConvEmptyBatchAndHugeZeroShapes) {
  Tensor x = Iota({0, 1, 3});
  Tensor w = Iota({2, 1, 2});
  auto y = Op("Conv").Run({&x, &w});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(y->shape(), (Shape{0, 2, 2}));
  // Zero elements but dims whose product overflows: rejected, not UB.
  Tensor x_huge = Tensor::AllocateDense(DataType::kFp32, {0, 1, int64_t{1} << 40, int64_t{1} << 40});
  Tensor w2 = Iota({1, 1, 1, 1});
  ExpectCode(Op("Conv").Run({&x_huge, &w2}).status(), StatusCode::kInvalidArgument, "too large");
}

// ----------------------------------------------------------------------------
// ConvTranspose
// ----------------------------------------------------------------------------

TEST(CnnOpsTest, ConvTransposeGroupsAndOutputPadding) {
  // Two groups of one channel each; stride 2 with output_padding 1.
  Tensor x = F32({1, 2, 2}, {1, 2, 3, 4});
  Tensor w = F32({2, 1, 1}, {1, 10});
  Tensor b = F32({2}, {0.5f, -0.5f});
  auto y = Op("ConvTranspose")
               .Int("group", 2)
               .Ints("strides", {2})
               .Ints("output_padding", {1})
               .Run({&x, &w, &b});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(y->shape(), (Shape{1, 2, 4}));
  EXPECT_THAT(Values<float>(*y), ElementsAre(1.5f, 0.5f, 2.5f, 0.5f, 29.5f, -0.5f, 39.5f, -0.5f));
}

TEST(CnnOpsTest, ConvTransposeRejectsMalformedInputs) {
  Tensor x = Iota({1, 2, 3});
  Tensor w_bad = Iota({3, 1, 2});
  ExpectCode(Op("ConvTranspose").Run({&x, &w_bad}).status(), StatusCode::kInvalidArgument,
             "W.shape[0]");
  Tensor w = Iota({2, 1, 2});
  ExpectCode(Op("ConvTranspose").Ints("pads", {5, 5}).Run({&x, &w}).status(),
             StatusCode::kInvalidArgument, "negative");
  ExpectCode(Op("ConvTranspose").Ints("output_shape", {1, 2}).Run({&x, &w}).status(),
             StatusCode::kInvalidArgument, "output_shape");
  ExpectCode(Op("ConvTranspose").Ints("output_padding", {-1}).Build(2, 1).status(),
             StatusCode::kInvalidArgument, "output_padding");
}

// ----------------------------------------------------------------------------
// Pools
// ----------------------------------------------------------------------------

TEST(CnnOpsTest, MaxPoolIndicesRowAndColumnMajor) {
  Tensor x = F32({1, 1, 2, 3}, {1, 9, 2, 3, 4, 8});
  for (int64_t order : {0, 1}) {
    auto out = Op("MaxPool")
                   .Ints("kernel_shape", {2, 2})
                   .Int("storage_order", order)
                   .RunAll({&x}, 2);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_THAT(Values<float>((*out)[0]), ElementsAre(9, 9));
    // 9 sits at (h=0, w=1): row-major 1, column-major 0 + 1 * 2 = 2.
    EXPECT_THAT(Values<int64_t>((*out)[1]), ElementsAre(order == 0 ? 1 : 2, order == 0 ? 1 : 2));
    EXPECT_EQ((*out)[1].dtype(), DataType::kInt64);
  }
}

TEST(CnnOpsTest, MaxPoolCeilModeDropsWindowStartingInPadding) {
  // in 5, k 2, s 2: ceil((5-2)/2)+1 = 3; the last window starts at 4 (inside).
  Tensor x = F32({1, 1, 5}, {1, 2, 3, 4, 5});
  auto y = Op("MaxPool").Ints("kernel_shape", {2}).Ints("strides", {2}).Int("ceil_mode", 1).Run(
      {&x});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_THAT(Values<float>(*y), ElementsAre(2, 4, 5));
  // in 4, k 2, s 2, pads 0/1, ceil: ceil(3/2)+1 = 3 but window 3 would start at 4 (padding).
  Tensor x4 = F32({1, 1, 4}, {1, 2, 3, 4});
  y = Op("MaxPool")
          .Ints("kernel_shape", {2})
          .Ints("strides", {2})
          .Ints("pads", {0, 1})
          .Int("ceil_mode", 1)
          .Run({&x4});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_THAT(Values<float>(*y), ElementsAre(2, 4));
}

TEST(CnnOpsTest, MaxPoolInt8) {
  Tensor x = Tensor::AllocateDense(DataType::kInt8, {1, 1, 3});
  int8_t* p = x.mutable_data_as<int8_t>();
  p[0] = -5;
  p[1] = -7;
  p[2] = -1;
  auto y = Op("MaxPool").Ints("kernel_shape", {2}).Run({&x});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_THAT(Values<int8_t>(*y), ElementsAre(-5, -1));
}

TEST(CnnOpsTest, AveragePoolCountIncludePad) {
  Tensor x = F32({1, 1, 3}, {3, 6, 9});
  auto exclude = Op("AveragePool").Ints("kernel_shape", {2}).Ints("pads", {1, 1}).Run({&x});
  auto include = Op("AveragePool")
                     .Ints("kernel_shape", {2})
                     .Ints("pads", {1, 1})
                     .Int("count_include_pad", 1)
                     .Run({&x});
  ASSERT_TRUE(exclude.ok() && include.ok());
  EXPECT_THAT(Values<float>(*exclude), ElementsAre(3, 4.5f, 7.5f, 9));
  EXPECT_THAT(Values<float>(*include), ElementsAre(1.5f, 4.5f, 7.5f, 4.5f));
}

TEST(CnnOpsTest, PoolWindowsEntirelyInPadding) {
  // Pads larger than the kernel leave windows that see no input element.
  Tensor x = F32({1, 1, 1}, {5});
  auto max = Op("MaxPool").Ints("kernel_shape", {1}).Ints("pads", {2, 0}).RunAll({&x}, 2);
  ASSERT_TRUE(max.ok()) << max.status().ToString();
  EXPECT_THAT(Values<float>((*max)[0]),
              ElementsAre(std::numeric_limits<float>::lowest(),
                          std::numeric_limits<float>::lowest(), 5));
  EXPECT_THAT(Values<int64_t>((*max)[1]), ElementsAre(-1, -1, 0));
  auto avg = Op("AveragePool").Ints("kernel_shape", {1}).Ints("pads", {2, 0}).Run({&x});
  ASSERT_TRUE(avg.ok()) << avg.status().ToString();
  EXPECT_THAT(Values<float>(*avg), ElementsAre(0, 0, 5));
}

TEST(CnnOpsTest, PoolsRejectBadAttributesAndShapes) {
  ExpectCode(Op("MaxPool").Build(1, 1).status(), StatusCode::kInvalidArgument, "kernel_shape");
  ExpectCode(Op("MaxPool").Ints("kernel_shape", {2}).Int("storage_order", 2).Build(1, 1).status(),
             StatusCode::kInvalidArgument, "storage_order");
  ExpectCode(Op("MaxPool").Ints("kernel_shape", {2}).Build(1, 3).status(),
             StatusCode::kInvalidArgument, "outputs");
  ExpectCode(Op("AveragePool").Ints("kernel_shape", {2}).Int("ceil_mode", 3).Build(1, 1).status(),
             StatusCode::kInvalidArgument, "ceil_mode");
  ExpectCode(Op("LpPool").Ints("kernel_shape", {2}).Int("p", 0).Build(1, 1).status(),
             StatusCode::kInvalidArgument, "'p'");
  Tensor x = Iota({1, 1, 3});
  ExpectCode(Op("MaxPool").Ints("kernel_shape", {2, 2}).Run({&x}).status(),
             StatusCode::kInvalidArgument, "spatial dims");
  ExpectCode(Op("MaxPool").Ints("kernel_shape", {4}).Run({&x}).status(),
             StatusCode::kInvalidArgument, "larger");
  Tensor x2 = Iota({1, 3});
  ExpectCode(Op("AveragePool").Ints("kernel_shape", {1}).Run({&x2}).status(),
             StatusCode::kInvalidArgument, "rank");
  Tensor b = Tensor::AllocateDense(DataType::kBool, {1, 1, 2});
  ExpectCode(Op("MaxPool").Ints("kernel_shape", {1}).Run({&b}).status(),
             StatusCode::kUnimplemented, "BOOL");
}

TEST(CnnOpsTest, LpPoolAndGlobalPools) {
  Tensor x = F32({1, 2, 2}, {3, -4, 1, 2});
  auto lp = Op("LpPool").Ints("kernel_shape", {2}).Run({&x});
  ASSERT_TRUE(lp.ok()) << lp.status().ToString();
  EXPECT_FLOAT_EQ(Values<float>(*lp)[0], 5.0f);
  auto glp = Op("GlobalLpPool").Int("p", 1).Run({&x});
  ASSERT_TRUE(glp.ok()) << glp.status().ToString();
  EXPECT_THAT(Values<float>(*glp), ElementsAre(7, 3));
  auto gavg = Op("GlobalAveragePool").Run({&x});
  ASSERT_TRUE(gavg.ok());
  EXPECT_EQ(gavg->shape(), (Shape{1, 2, 1}));
  EXPECT_THAT(Values<float>(*gavg), ElementsAre(-0.5f, 1.5f));
  auto gmax = Op("GlobalMaxPool").Run({&x});
  ASSERT_TRUE(gmax.ok());
  EXPECT_THAT(Values<float>(*gmax), ElementsAre(3, 2));
  // Rank 2: no spatial dims, identity-shaped output.
  Tensor x2 = F32({1, 2}, {5, 6});
  auto g2 = Op("GlobalMaxPool").Run({&x2});
  ASSERT_TRUE(g2.ok()) << g2.status().ToString();
  EXPECT_EQ(g2->shape(), (Shape{1, 2}));
  Tensor empty = Iota({1, 2, 0});
  ExpectCode(Op("GlobalAveragePool").Run({&empty}).status(), StatusCode::kInvalidArgument,
             "empty");
}

// ----------------------------------------------------------------------------
// Normalization
// ----------------------------------------------------------------------------

TEST(CnnOpsTest, BatchNormInferenceAndChecks) {
  Tensor x = F32({1, 2, 2}, {1, 2, 3, 4});
  Tensor scale = F32({2}, {1, 2});
  Tensor bias = F32({2}, {0, 1});
  Tensor mean = F32({2}, {1, 3});
  Tensor var = F32({2}, {4, 1});
  auto y = Op("BatchNormalization").Float("epsilon", 0).Run({&x, &scale, &bias, &mean, &var});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_THAT(Values<float>(*y), ElementsAre(0, 0.5f, 1, 3));
  Tensor bad = F32({3}, {1, 1, 1});
  ExpectCode(Op("BatchNormalization").Run({&x, &bad, &bias, &mean, &var}).status(),
             StatusCode::kInvalidArgument, "scale");
  Tensor x1 = F32({2}, {1, 2});
  ExpectCode(Op("BatchNormalization").Run({&x1, &scale, &bias, &mean, &var}).status(),
             StatusCode::kInvalidArgument, "rank");
  ExpectCode(Op("BatchNormalization").Opset(9).Build(5, 3).status(), StatusCode::kUnimplemented,
             "training");
  ExpectCode(Op("BatchNormalization").Build(5, 3).status(), StatusCode::kInvalidArgument,
             "training_mode");
}

TEST(CnnOpsTest, BatchNormSpatialZeroUsesPerPositionParams) {
  Tensor x = F32({2, 1, 2}, {1, 2, 3, 4});
  Tensor scale = F32({1, 2}, {1, 10});
  Tensor zero = F32({1, 2}, {0, 0});
  Tensor one = F32({1, 2}, {1, 1});
  auto y = Op("BatchNormalization")
               .Opset(7)
               .Int("spatial", 0)
               .Float("epsilon", 0)
               .Run({&x, &scale, &zero, &zero, &one});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_THAT(Values<float>(*y), ElementsAre(1, 20, 3, 40));
}

TEST(CnnOpsTest, BatchNormTrainingModeUpdatesRunningStats) {
  Tensor x = F32({2, 1, 1}, {1, 3});
  Tensor scale = F32({1}, {1});
  Tensor bias = F32({1}, {0});
  Tensor mean = F32({1}, {0});
  Tensor var = F32({1}, {1});
  auto out = Op("BatchNormalization")
                 .Opset(15)
                 .Int("training_mode", 1)
                 .Float("momentum", 0.5f)
                 .Float("epsilon", 0)
                 .RunAll({&x, &scale, &bias, &mean, &var}, 3);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_THAT(Values<float>((*out)[0]), ElementsAre(-1, 1));
  EXPECT_THAT(Values<float>((*out)[1]), ElementsAre(1));  // 0 * .5 + 2 * .5
  EXPECT_THAT(Values<float>((*out)[2]), ElementsAre(1));  // 1 * .5 + 1 * .5
}

TEST(CnnOpsTest, InstanceNormChecksParamSizes) {
  Tensor x = F32({1, 2, 2}, {1, 3, 5, 7});
  Tensor scale = F32({2}, {1, 1});
  Tensor bias = F32({2}, {0, 7});
  auto y = Op("InstanceNormalization").Float("epsilon", 0).Run({&x, &scale, &bias});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_THAT(Values<float>(*y), ElementsAre(-1, 1, 6, 8));
  Tensor bad = F32({1}, {1});
  ExpectCode(Op("InstanceNormalization").Run({&x, &bad, &bias}).status(),
             StatusCode::kInvalidArgument, "scale");
}

TEST(CnnOpsTest, LayerNormOptionalOutputsAndBroadcastScale) {
  Tensor x = F32({2, 2}, {1, 3, 2, 6});
  Tensor scale = F32({1}, {2});
  auto out = Op("LayerNormalization").Float("epsilon", 0).RunAll({&x, &scale}, 3);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_THAT(Values<float>((*out)[0]), ElementsAre(-2, 2, -2, 2));
  EXPECT_EQ((*out)[1].shape(), (Shape{2, 1}));
  EXPECT_EQ((*out)[1].dtype(), DataType::kFp32);
  EXPECT_THAT(Values<float>((*out)[1]), ElementsAre(2, 4));
  EXPECT_THAT(Values<float>((*out)[2]), ElementsAre(1, 0.5f));
  Tensor bad = F32({3}, {1, 1, 1});
  ExpectCode(Op("LayerNormalization").Run({&x, &bad}).status(), StatusCode::kInvalidArgument,
             "broadcast");
  ExpectCode(Op("LayerNormalization").Int("axis", 2).Run({&x, &scale}).status(),
             StatusCode::kInvalidArgument, "axis");
  ExpectCode(Op("LayerNormalization").Int("stash_type", 7).Build(2, 1).status(),
             StatusCode::kInvalidArgument, "stash_type");
}

TEST(CnnOpsTest, LrnAndAttributeChecks) {
  Tensor x = F32({1, 2, 1}, {1, 2});
  auto y = Op("LRN").Int("size", 2).Float("alpha", 2).Float("beta", 1).Float("bias", 1).Run({&x});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  // c=0 window {0,1}: 1 / (1 + 1 * 5); c=1 window {1}: 2 / (1 + 1 * 4).
  EXPECT_FLOAT_EQ(Values<float>(*y)[0], 1.0f / 6);
  EXPECT_FLOAT_EQ(Values<float>(*y)[1], 2.0f / 5);
  ExpectCode(Op("LRN").Int("size", 0).Build(1, 1).status(), StatusCode::kInvalidArgument,
             "size");
  ExpectCode(Op("LRN").Build(1, 1).status(), StatusCode::kInvalidArgument, "size");
}

// ----------------------------------------------------------------------------
// LogSoftmax, DepthToSpace, SpaceToDepth
// ----------------------------------------------------------------------------

TEST(CnnOpsTest, LogSoftmaxCoercesTo2dBeforeOpset13) {
  Tensor x = F32({1, 2, 2}, {0, 0, 0, 0});
  auto old_y = Op("LogSoftmax").Opset(11).Int("axis", 1).Run({&x});
  auto new_y = Op("LogSoftmax").Int("axis", 1).Run({&x});
  ASSERT_TRUE(old_y.ok() && new_y.ok());
  EXPECT_FLOAT_EQ(Values<float>(*old_y)[0], -std::log(4.0f));
  EXPECT_FLOAT_EQ(Values<float>(*new_y)[0], -std::log(2.0f));
  ExpectCode(Op("LogSoftmax").Int("axis", 3).Run({&x}).status(), StatusCode::kInvalidArgument,
             "axis");
  auto rank_axis = Op("LogSoftmax").Opset(11).Int("axis", 3).Run({&x});
  EXPECT_TRUE(rank_axis.ok()) << rank_axis.status().ToString();
}

TEST(CnnOpsTest, DepthToSpaceRoundTripsWithSpaceToDepth) {
  Tensor x = Iota({1, 8, 2, 3});
  auto s2d_in = Op("DepthToSpace").Int("blocksize", 2).Run({&x});
  ASSERT_TRUE(s2d_in.ok()) << s2d_in.status().ToString();
  EXPECT_EQ(s2d_in->shape(), (Shape{1, 2, 4, 6}));
  auto back = Op("SpaceToDepth").Int("blocksize", 2).Run({&*s2d_in});
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(Values<float>(*back), Values<float>(x));
  // CRD: y[0, 0, 0, 1] = x[0, 0*4 + 0*2 + 1, 0, 0] = x[1*6] = 6.
  auto crd = Op("DepthToSpace").Int("blocksize", 2).Str("mode", "CRD").Run({&x});
  ASSERT_TRUE(crd.ok());
  EXPECT_EQ(Values<float>(*crd)[1], 6);
}

TEST(CnnOpsTest, DepthSpaceRejectsBadInputs) {
  ExpectCode(Op("DepthToSpace").Int("blocksize", 0).Build(1, 1).status(),
             StatusCode::kInvalidArgument, "blocksize");
  ExpectCode(Op("DepthToSpace").Int("blocksize", 2).Str("mode", "XYZ").Build(1, 1).status(),
             StatusCode::kInvalidArgument, "mode");
  Tensor x = Iota({1, 3, 2, 2});
  ExpectCode(Op("DepthToSpace").Int("blocksize", 2).Run({&x}).status(),
             StatusCode::kInvalidArgument, "divisible");
  ExpectCode(Op("SpaceToDepth").Int("blocksize", 3).Run({&x}).status(),
             StatusCode::kInvalidArgument, "divisible");
  Tensor x3 = Iota({1, 4, 2});
  ExpectCode(Op("SpaceToDepth").Int("blocksize", 2).Run({&x3}).status(),
             StatusCode::kInvalidArgument, "rank 4");
  // Any fixed-size type: int64 moves 8-byte words.
  Tensor xi = Tensor::AllocateDense(DataType::kInt64, {1, 1, 2, 2});
  for (int i = 0; i < 4; ++i) xi.mutable_data_as<int64_t>()[i] = i;
  auto yi = Op("SpaceToDepth").Int("blocksize", 2).Run({&xi});
  ASSERT_TRUE(yi.ok());
  EXPECT_THAT(Values<int64_t>(*yi), ElementsAre(0, 1, 2, 3));
}

}  // namespace
}  // namespace nereid::engine
