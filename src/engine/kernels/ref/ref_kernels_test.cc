// Direct tests of reference kernels through the registry (no ONNX model).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/numeric.h"

namespace nereid::engine {
namespace {

using ::testing::HasSubstr;

template <typename T>
Tensor Make(DataType dtype, Shape shape, std::vector<T> values) {
  Tensor t = Tensor::AllocateDense(dtype, std::move(shape));
  std::copy(values.begin(), values.end(), t.mutable_data_as<T>());
  return t;
}

template <typename T>
std::vector<T> Values(const Tensor& t) {
  const T* p = t.data_as<T>();
  return std::vector<T>(p, p + t.byte_size() / sizeof(T));
}

// Builds the registered kernel for `op` with `node`'s attributes and runs it.
StatusOr<Tensor> RunOp(Node node, std::vector<const Tensor*> inputs, int64_t opset = 17) {
  KernelFactory factory = KernelRegistry::Global().FindReference("", node.op_type);
  if (factory == nullptr) return NotFound("no kernel for " + node.op_type);
  node.inputs.assign(inputs.size(), 0);
  node.outputs = {0};
  KernelBuildContext context{node, opset, {}, {}, {}};
  for (const Tensor* t : inputs)
    context.input_dtypes.push_back(t ? t->dtype() : DataType::kInvalid);
  ASSIGN_OR_RETURN(auto kernel, factory(context));
  std::vector<Tensor> outputs(1);
  RETURN_IF_ERROR(kernel->Run(inputs, outputs));
  return outputs[0];
}

Node Op(std::string op_type) {
  Node n;
  n.op_type = std::move(op_type);
  return n;
}

void SetInt(Node* n, const std::string& name, int64_t v) {
  n->attributes[name] = Attribute{Attribute::Kind::kInt, 0, v, {}, {}, {}, {}, {}};
}

TEST(RefKernelsTest, AllScopeOpsAreRegistered) {
  for (const char* op :
       {"Add", "Sub", "Mul", "Div", "MatMul", "Gemm", "Relu", "Sigmoid", "Tanh", "Softmax",
        "Identity", "Reshape", "Flatten", "Transpose", "Concat", "Cast", "CastLike", "Constant"}) {
    EXPECT_NE(KernelRegistry::Global().Find("ai.onnx", op), nullptr) << op;
  }
  EXPECT_EQ(KernelRegistry::Global().Find("", "Foo"), nullptr);
  EXPECT_EQ(KernelRegistry::Global().Find("com.example", "Add"), nullptr);
}

TEST(RefKernelsTest, AddBroadcastsBothWays) {
  Tensor a = Make<float>(DataType::kFp32, {2, 1}, {10, 20});
  Tensor b = Make<float>(DataType::kFp32, {3}, {1, 2, 3});
  auto y = RunOp(Op("Add"), {&a, &b});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(y->shape(), (Shape{2, 3}));
  EXPECT_EQ(Values<float>(*y), (std::vector<float>{11, 12, 13, 21, 22, 23}));
}

TEST(RefKernelsTest, IntegerArithmeticWrapsAndDivTruncates) {
  Tensor a = Make<int32_t>(DataType::kInt32, {4}, {7, -7, std::numeric_limits<int32_t>::min(), 9});
  Tensor b = Make<int32_t>(DataType::kInt32, {4}, {2, 2, -1, -4});
  auto y = RunOp(Op("Div"), {&a, &b});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(Values<int32_t>(*y),
            (std::vector<int32_t>{3, -3, std::numeric_limits<int32_t>::min(), -2}));
  Tensor big = Make<int32_t>(DataType::kInt32, {1}, {std::numeric_limits<int32_t>::max()});
  Tensor one = Make<int32_t>(DataType::kInt32, {1}, {1});
  y = RunOp(Op("Add"), {&big, &one});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(Values<int32_t>(*y)[0], std::numeric_limits<int32_t>::min());
}

TEST(RefKernelsTest, IntegerDivisionByZeroIsAnError) {
  Tensor a = Make<int64_t>(DataType::kInt64, {2}, {1, 2});
  Tensor b = Make<int64_t>(DataType::kInt64, {2}, {1, 0});
  auto y = RunOp(Op("Div"), {&a, &b});
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().code(), StatusCode::kInvalidArgument);
}

TEST(RefKernelsTest, MixedDtypesAreRejected) {
  Tensor a = Make<float>(DataType::kFp32, {1}, {1});
  Tensor b = Make<int64_t>(DataType::kInt64, {1}, {1});
  auto y = RunOp(Op("Mul"), {&a, &b});
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().code(), StatusCode::kInvalidArgument);
}

TEST(RefKernelsTest, MatMulVectorPromotionAndBatchBroadcast) {
  Tensor a = Make<float>(DataType::kFp32, {2}, {1, 2});
  Tensor b = Make<float>(DataType::kFp32, {2, 2, 3}, {1, 0, 0, 0, 1, 0, 1, 1, 1, 2, 2, 2});
  auto y = RunOp(Op("MatMul"), {&a, &b});  // [2] x [2,2,3] -> [2,3]
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(y->shape(), (Shape{2, 3}));
  EXPECT_EQ(Values<float>(*y), (std::vector<float>{1, 2, 0, 5, 5, 5}));

  Tensor m = Make<int64_t>(DataType::kInt64, {1, 2, 2}, {1, 2, 3, 4});
  Tensor v = Make<int64_t>(DataType::kInt64, {2}, {1, 1});
  y = RunOp(Op("MatMul"), {&m, &v});  // [1,2,2] x [2] -> [1,2]
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->shape(), (Shape{1, 2}));
  EXPECT_EQ(Values<int64_t>(*y), (std::vector<int64_t>{3, 7}));

  Tensor bad = Make<float>(DataType::kFp32, {3}, {1, 2, 3});
  EXPECT_EQ(RunOp(Op("MatMul"), {&a, &bad}).status().code(), StatusCode::kInvalidArgument);
}

TEST(RefKernelsTest, SoftmaxLegacyCoercesTo2D) {
  Tensor x = Make<float>(DataType::kFp32, {1, 2, 2}, {0, 0, 0, 0});
  auto legacy = RunOp(Op("Softmax"), {&x}, /*opset=*/11);  // over the last 4 elements
  ASSERT_TRUE(legacy.ok());
  for (float v : Values<float>(*legacy)) EXPECT_FLOAT_EQ(v, 0.25f);
  auto modern = RunOp(Op("Softmax"), {&x}, /*opset=*/13);  // over the last axis only
  ASSERT_TRUE(modern.ok());
  for (float v : Values<float>(*modern)) EXPECT_FLOAT_EQ(v, 0.5f);
}

TEST(RefKernelsTest, ReshapeRules) {
  Tensor x = Make<float>(DataType::kFp32, {2, 3, 4}, std::vector<float>(24, 1.0f));
  Tensor shape = Make<int64_t>(DataType::kInt64, {3}, {0, -1, 2});
  auto y = RunOp(Op("Reshape"), {&x, &shape});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(y->shape(), (Shape{2, 6, 2}));
  EXPECT_EQ(y->data(), x.data());  // a view

  Tensor two_infer = Make<int64_t>(DataType::kInt64, {2}, {-1, -1});
  EXPECT_EQ(RunOp(Op("Reshape"), {&x, &two_infer}).status().code(), StatusCode::kInvalidArgument);
  Tensor wrong = Make<int64_t>(DataType::kInt64, {2}, {5, 5});
  EXPECT_EQ(RunOp(Op("Reshape"), {&x, &wrong}).status().code(), StatusCode::kInvalidArgument);

  Node allow = Op("Reshape");
  SetInt(&allow, "allowzero", 1);
  Tensor empty = Make<float>(DataType::kFp32, {0, 3}, {});
  Tensor zero_shape = Make<int64_t>(DataType::kInt64, {2}, {3, 0});
  y = RunOp(allow, {&empty, &zero_shape});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->shape(), (Shape{3, 0}));
}

TEST(RefKernelsTest, FlattenAndTranspose) {
  Tensor x = Make<int32_t>(DataType::kInt32, {2, 3}, {1, 2, 3, 4, 5, 6});
  Node flatten = Op("Flatten");
  SetInt(&flatten, "axis", -2);
  auto f = RunOp(flatten, {&x});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->shape(), (Shape{1, 6}));
  auto t = RunOp(Op("Transpose"), {&x});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->shape(), (Shape{3, 2}));
  EXPECT_EQ(Values<int32_t>(*t), (std::vector<int32_t>{1, 4, 2, 5, 3, 6}));
}

TEST(RefKernelsTest, CastSaturatesAndRounds) {
  Tensor x = Make<float>(DataType::kFp32, {5},
                         {1.9f, -1.9f, 1e20f, std::numeric_limits<float>::quiet_NaN(), 0.0f});
  Node cast = Op("Cast");
  SetInt(&cast, "to", 6);  // INT32
  auto y = RunOp(cast, {&x});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(Values<int32_t>(*y),
            (std::vector<int32_t>{1, -1, std::numeric_limits<int32_t>::max(), 0, 0}));
  SetInt(&cast, "to", 9);  // BOOL
  y = RunOp(cast, {&x});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(Values<uint8_t>(*y), (std::vector<uint8_t>{1, 1, 1, 1, 0}));
  SetInt(&cast, "to", 8);  // STRING
  EXPECT_EQ(RunOp(cast, {&x}).status().code(), StatusCode::kUnimplemented);
}

TEST(RefKernelsTest, HalfConversions) {
  using ref::FloatToHalfBits;
  using ref::HalfBitsToFloat;
  EXPECT_EQ(FloatToHalfBits(1.0f), 0x3C00);
  EXPECT_EQ(FloatToHalfBits(-2.0f), 0xC000);
  EXPECT_EQ(FloatToHalfBits(65504.0f), 0x7BFF);
  EXPECT_EQ(FloatToHalfBits(1e6f), 0x7C00);
  EXPECT_EQ(FloatToHalfBits(5.960464477539063e-08f), 0x0001);  // smallest subnormal
  EXPECT_EQ(FloatToHalfBits(1.0f + 1.0f / 2048), 0x3C00);      // tie rounds to even
  EXPECT_TRUE(std::isnan(HalfBitsToFloat(FloatToHalfBits(std::nanf("")))));
  for (uint32_t h = 0; h < 0x7C00; ++h) {
    ASSERT_EQ(FloatToHalfBits(HalfBitsToFloat(static_cast<uint16_t>(h))), h);
  }
  EXPECT_EQ(ref::FloatToBf16Bits(1.0f), 0x3F80);
  EXPECT_EQ(ref::Bf16BitsToFloat(0x3F80), 1.0f);
}

}  // namespace
}  // namespace nereid::engine
