// Tests of the extended elementwise kernels beyond ONNX's node tests:
// attribute validation, dtype/shape errors, wrapping and rounding edge
// cases, NaN handling, legacy opset forms and broadcasting corners.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/numeric.h"

namespace nereid::engine {
namespace {

using ref::Bool8;
using ref::Fp16;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

template <typename T>
Tensor Make(DataType dtype, Shape shape, std::vector<T> values) {
  Tensor t = Tensor::AllocateDense(dtype, std::move(shape));
  std::copy(values.begin(), values.end(), t.mutable_data_as<T>());
  return t;
}

Tensor Bools(Shape shape, std::vector<uint8_t> values) {
  return Make<uint8_t>(DataType::kBool, std::move(shape), std::move(values));
}

template <typename T>
std::vector<T> Values(const Tensor& t) {
  const T* p = t.data_as<T>();
  return std::vector<T>(p, p + t.byte_size() / sizeof(T));
}

std::vector<float> HalfValues(const Tensor& t) {
  std::vector<float> out;
  for (Fp16 h : Values<Fp16>(t)) out.push_back(static_cast<float>(h));
  return out;
}

// Builds the registered kernel for `node` (null inputs are omitted optional
// inputs) and runs it.
StatusOr<Tensor> RunOp(Node node, std::vector<const Tensor*> inputs, int64_t opset = 17) {
  KernelFactory factory = KernelRegistry::Global().FindReference("", node.op_type);
  if (factory == nullptr) return NotFound("no kernel for " + node.op_type);
  node.inputs.clear();
  for (const Tensor* t : inputs) node.inputs.push_back(t ? 0 : kNoValue);
  node.outputs = {0};
  KernelBuildContext context{node, opset, {}, {}, {}};
  for (const Tensor* t : inputs) {
    context.input_dtypes.push_back(t ? t->dtype() : DataType::kInvalid);
  }
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

Node WithInt(Node n, const std::string& name, int64_t v) {
  Attribute a;
  a.kind = Attribute::Kind::kInt;
  a.i = v;
  n.attributes[name] = a;
  return n;
}

Node WithFloat(Node n, const std::string& name, float v) {
  Attribute a;
  a.kind = Attribute::Kind::kFloat;
  a.f = v;
  n.attributes[name] = a;
  return n;
}

Node WithString(Node n, const std::string& name, std::string v) {
  Attribute a;
  a.kind = Attribute::Kind::kString;
  a.s = std::move(v);
  n.attributes[name] = a;
  return n;
}

StatusCode CodeOf(const StatusOr<Tensor>& r) { return r.ok() ? StatusCode::kOk : r.status().code(); }

TEST(ElementwiseExtTest, AllOpsAreRegistered) {
  for (const char* op :
       {"Pow", "Sqrt", "Exp", "Log", "Erf", "Abs", "Neg", "Reciprocal", "Floor", "Ceil", "Round",
        "Sign", "LeakyRelu", "Elu", "Selu", "PRelu", "HardSigmoid", "HardSwish", "Softplus",
        "Softsign", "Clip", "Min", "Max", "Mean", "Sum", "Equal", "Less", "Greater",
        "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or", "Xor", "Where", "IsNaN", "IsInf",
        "Mod", "BitShift"}) {
    EXPECT_NE(KernelRegistry::Global().Find("", op), nullptr) << op;
  }
}

TEST(ElementwiseExtTest, IntegerNegAndAbsWrapAtLowest) {
  constexpr int32_t kMin = std::numeric_limits<int32_t>::min();
  Tensor x = Make<int32_t>(DataType::kInt32, {3}, {kMin, -5, 7});
  auto y = RunOp(Op("Neg"), {&x});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(Values<int32_t>(*y), (std::vector<int32_t>{kMin, 5, -7}));
  y = RunOp(Op("Abs"), {&x});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(Values<int32_t>(*y), (std::vector<int32_t>{kMin, 5, 7}));
}

TEST(ElementwiseExtTest, UnaryDtypeRestrictions) {
  Tensor u = Make<uint8_t>(DataType::kUint8, {1}, {3});
  EXPECT_EQ(CodeOf(RunOp(Op("Neg"), {&u})), StatusCode::kUnimplemented);
  EXPECT_EQ(CodeOf(RunOp(Op("Sqrt"), {&u})), StatusCode::kUnimplemented);
  EXPECT_EQ(CodeOf(RunOp(Op("Not"), {&u})), StatusCode::kInvalidArgument);
  auto y = RunOp(Op("Abs"), {&u});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(Values<uint8_t>(*y), (std::vector<uint8_t>{3}));
}

TEST(ElementwiseExtTest, RoundIsHalfToEven) {
  Tensor x = Make<float>(DataType::kFp32, {6}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.6f});
  auto y = RunOp(Op("Round"), {&x});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(Values<float>(*y), (std::vector<float>{0, 2, 2, -0.0f, -2, 3}));
}

TEST(ElementwiseExtTest, SignOfNaNAndIntegers) {
  Tensor x = Make<float>(DataType::kFp32, {3}, {kNaN, -0.0f, -3});
  auto y = RunOp(Op("Sign"), {&x});
  ASSERT_TRUE(y.ok());
  auto v = Values<float>(*y);
  EXPECT_TRUE(std::isnan(v[0]));
  EXPECT_EQ(v[1], 0.0f);
  EXPECT_EQ(v[2], -1.0f);
  Tensor i = Make<int8_t>(DataType::kInt8, {3}, {-128, 0, 9});
  y = RunOp(Op("Sign"), {&i});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(Values<int8_t>(*y), (std::vector<int8_t>{-1, 0, 1}));
}

TEST(ElementwiseExtTest, Float16ComputesThroughFloat) {
  Tensor x = Make<Fp16>(DataType::kFp16, {2}, {Fp16(4.0f), Fp16(0.25f)});
  auto y = RunOp(Op("Sqrt"), {&x});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(HalfValues(*y), (std::vector<float>{2.0f, 0.5f}));
}

TEST(ElementwiseExtTest, IsInfAttributes) {
  Tensor x = Make<double>(DataType::kFp64, {3}, {-kInf, kInf, kNaN});
  auto y = RunOp(WithInt(Op("IsInf"), "detect_positive", 0), {&x});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->dtype(), DataType::kBool);
  EXPECT_EQ(Values<uint8_t>(*y), (std::vector<uint8_t>{1, 0, 0}));
  auto bad = RunOp(WithInt(Op("IsInf"), "detect_negative", 2), {&x});
  ASSERT_EQ(CodeOf(bad), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().ToString().find("detect_negative"), std::string::npos);
  y = RunOp(Op("IsNaN"), {&x});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(Values<uint8_t>(*y), (std::vector<uint8_t>{0, 0, 1}));
}

TEST(ElementwiseExtTest, ActivationAttributeOfWrongKindIsRejected) {
  Tensor x = Make<float>(DataType::kFp32, {1}, {-1});
  auto bad = RunOp(WithInt(Op("LeakyRelu"), "alpha", 1), {&x});
  ASSERT_EQ(CodeOf(bad), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().ToString().find("alpha"), std::string::npos);
  auto y = RunOp(WithFloat(Op("LeakyRelu"), "alpha", 0.5f), {&x});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(Values<float>(*y), (std::vector<float>{-0.5f}));
}

TEST(ElementwiseExtTest, SoftplusDoesNotOverflowAndNaNPropagates) {
  Tensor x = Make<float>(DataType::kFp32, {3}, {1000.0f, -1000.0f, kNaN});
  auto y = RunOp(Op("Softplus"), {&x});
  ASSERT_TRUE(y.ok());
  auto v = Values<float>(*y);
  EXPECT_EQ(v[0], 1000.0f);
  EXPECT_EQ(v[1], 0.0f);
  EXPECT_TRUE(std::isnan(v[2]));
  y = RunOp(Op("Elu"), {&x});
  ASSERT_TRUE(y.ok());
  EXPECT_TRUE(std::isnan(Values<float>(*y)[2]));
}

TEST(ElementwiseExtTest, PReluSlopeMustBroadcastToX) {
  Tensor x = Make<float>(DataType::kFp32, {2, 3}, {-1, -1, -1, 1, 1, 1});
  Tensor slope = Make<float>(DataType::kFp32, {2}, {1, 2});
  EXPECT_EQ(CodeOf(RunOp(Op("PRelu"), {&x, &slope})), StatusCode::kInvalidArgument);
  Tensor wide = Make<float>(DataType::kFp32, {3, 3}, {1, 1, 1, 1, 1, 1, 1, 1, 1});
  EXPECT_EQ(CodeOf(RunOp(Op("PRelu"), {&x, &wide})), StatusCode::kInvalidArgument);
  Tensor s3 = Make<float>(DataType::kFp32, {3}, {1, 2, 3});
  auto y = RunOp(Op("PRelu"), {&x, &s3});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(Values<float>(*y), (std::vector<float>{-1, -2, -3, 1, 1, 1}));
}

TEST(ElementwiseExtTest, PReluOpset6SlopeIsPerChannel) {
  Tensor x = Make<float>(DataType::kFp32, {1, 2, 2}, {-1, -1, -1, 1});
  Tensor slope = Make<float>(DataType::kFp32, {2}, {2, 3});
  auto y = RunOp(Op("PRelu"), {&x, &slope}, 6);
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(Values<float>(*y), (std::vector<float>{-2, -2, -3, 1}));
}

TEST(ElementwiseExtTest, ClipLegacyAttributes) {
  Tensor x = Make<float>(DataType::kFp32, {4}, {-5, 0, 5, kNaN});
  auto y = RunOp(WithFloat(Op("Clip"), "max", 1.0f), {&x}, 6);
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  auto v = Values<float>(*y);
  EXPECT_EQ(v[0], -5.0f);
  EXPECT_EQ(v[2], 1.0f);
  EXPECT_TRUE(std::isnan(v[3]));
  EXPECT_EQ(CodeOf(RunOp(WithInt(Op("Clip"), "min", 1), {&x}, 6)), StatusCode::kInvalidArgument);
}

TEST(ElementwiseExtTest, ClipInputsBoundsAndErrors) {
  Tensor x = Make<int64_t>(DataType::kInt64, {3}, {-5, 0, 5});
  Tensor lo = Make<int64_t>(DataType::kInt64, {}, {-1});
  Tensor hi = Make<int64_t>(DataType::kInt64, {1}, {3});
  auto y = RunOp(Op("Clip"), {&x, nullptr, &hi});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(Values<int64_t>(*y), (std::vector<int64_t>{-5, 0, 3}));
  y = RunOp(Op("Clip"), {&x, &lo});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(Values<int64_t>(*y), (std::vector<int64_t>{-1, 0, 5}));
  // min > max: every value becomes max (opset 13 rule).
  Tensor big_lo = Make<int64_t>(DataType::kInt64, {}, {10});
  y = RunOp(Op("Clip"), {&x, &big_lo, &hi});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(Values<int64_t>(*y), (std::vector<int64_t>{3, 3, 3}));
  Tensor vec = Make<int64_t>(DataType::kInt64, {2}, {0, 1});
  EXPECT_EQ(CodeOf(RunOp(Op("Clip"), {&x, &vec})), StatusCode::kInvalidArgument);
  Tensor flo = Make<float>(DataType::kFp32, {}, {0});
  EXPECT_EQ(CodeOf(RunOp(Op("Clip"), {&x, &flo})), StatusCode::kInvalidArgument);
}

TEST(ElementwiseExtTest, VariadicBroadcastsAllInputs) {
  Tensor a = Make<int32_t>(DataType::kInt32, {2, 1}, {1, 10});
  Tensor b = Make<int32_t>(DataType::kInt32, {3}, {5, 0, 20});
  Tensor c = Make<int32_t>(DataType::kInt32, {}, {4});
  auto y = RunOp(Op("Max"), {&a, &b, &c});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(y->shape(), (Shape{2, 3}));
  EXPECT_EQ(Values<int32_t>(*y), (std::vector<int32_t>{5, 4, 20, 10, 10, 20}));
  y = RunOp(Op("Min"), {&c});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->shape(), Shape{});
  Tensor bad = Make<int32_t>(DataType::kInt32, {2}, {1, 2});
  EXPECT_EQ(CodeOf(RunOp(Op("Min"), {&b, &bad})), StatusCode::kInvalidArgument);
  Tensor f = Make<float>(DataType::kFp32, {3}, {1, 2, 3});
  EXPECT_EQ(CodeOf(RunOp(Op("Max"), {&b, &f})), StatusCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(RunOp(Op("Sum"), {&b})), StatusCode::kUnimplemented);
}

TEST(ElementwiseExtTest, MinMaxPropagateNaNAndMeanOfHalves) {
  Tensor a = Make<float>(DataType::kFp32, {2}, {kNaN, 1});
  Tensor b = Make<float>(DataType::kFp32, {2}, {0, kNaN});
  auto y = RunOp(Op("Max"), {&a, &b});
  ASSERT_TRUE(y.ok());
  EXPECT_TRUE(std::isnan(Values<float>(*y)[0]));
  EXPECT_TRUE(std::isnan(Values<float>(*y)[1]));
  Tensor h1 = Make<Fp16>(DataType::kFp16, {2}, {Fp16(1.0f), Fp16(2.0f)});
  Tensor h2 = Make<Fp16>(DataType::kFp16, {1}, {Fp16(2.0f)});
  y = RunOp(Op("Mean"), {&h1, &h2});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(HalfValues(*y), (std::vector<float>{1.5f, 2.0f}));
}

TEST(ElementwiseExtTest, EmptyTensorsBroadcast) {
  Tensor e = Make<float>(DataType::kFp32, {0, 3}, {});
  Tensor s = Make<float>(DataType::kFp32, {1}, {1});
  auto y = RunOp(Op("Sum"), {&e, &s});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->shape(), (Shape{0, 3}));
  y = RunOp(Op("Less"), {&e, &s});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->shape(), (Shape{0, 3}));
  y = RunOp(Op("Exp"), {&e});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->shape(), (Shape{0, 3}));
}

TEST(ElementwiseExtTest, ComparisonsAndLogic) {
  Tensor a = Make<Fp16>(DataType::kFp16, {3}, {Fp16(1.0f), Fp16(kNaN), Fp16(3.0f)});
  Tensor b = Make<Fp16>(DataType::kFp16, {1}, {Fp16(1.0f)});
  auto y = RunOp(Op("GreaterOrEqual"), {&a, &b});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(Values<uint8_t>(*y), (std::vector<uint8_t>{1, 0, 1}));
  Tensor t = Bools({2}, {1, 0});
  Tensor u = Bools({2, 1}, {2, 0});  // any non-zero byte is true
  y = RunOp(Op("Equal"), {&t, &u});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(Values<uint8_t>(*y), (std::vector<uint8_t>{1, 0, 0, 1}));
  y = RunOp(Op("Xor"), {&t, &u});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(Values<uint8_t>(*y), (std::vector<uint8_t>{0, 1, 1, 0}));
  EXPECT_EQ(CodeOf(RunOp(Op("Less"), {&t, &u})), StatusCode::kUnimplemented);
  EXPECT_EQ(CodeOf(RunOp(Op("And"), {&t, &a})), StatusCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(RunOp(Op("Equal"), {&t, &a})), StatusCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(RunOp(WithInt(Op("Equal"), "axis", 0), {&a, &b}, 1)),
            StatusCode::kUnimplemented);
}

TEST(ElementwiseExtTest, WhereBroadcastsThreeWays) {
  Tensor c = Bools({2, 1}, {1, 0});
  Tensor x = Make<int64_t>(DataType::kInt64, {3}, {1, 2, 3});
  Tensor y = Make<int64_t>(DataType::kInt64, {}, {-1});
  auto r = RunOp(Op("Where"), {&c, &x, &y});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->shape(), (Shape{2, 3}));
  EXPECT_EQ(Values<int64_t>(*r), (std::vector<int64_t>{1, 2, 3, -1, -1, -1}));
  Tensor fc = Make<float>(DataType::kFp32, {1}, {1});
  EXPECT_EQ(CodeOf(RunOp(Op("Where"), {&fc, &x, &y})), StatusCode::kInvalidArgument);
  Tensor yf = Make<float>(DataType::kFp32, {}, {0});
  EXPECT_EQ(CodeOf(RunOp(Op("Where"), {&c, &x, &yf})), StatusCode::kInvalidArgument);
  Tensor x2 = Make<int64_t>(DataType::kInt64, {2}, {1, 2});
  Tensor c3 = Bools({3}, {1, 1, 1});
  EXPECT_EQ(CodeOf(RunOp(Op("Where"), {&c3, &x2, &y})), StatusCode::kInvalidArgument);
}

TEST(ElementwiseExtTest, ModSignsAndErrors) {
  Tensor a = Make<int32_t>(DataType::kInt32, {4}, {-7, 7, -7, std::numeric_limits<int32_t>::min()});
  Tensor b = Make<int32_t>(DataType::kInt32, {4}, {3, -3, -3, -1});
  auto y = RunOp(Op("Mod"), {&a, &b});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(Values<int32_t>(*y), (std::vector<int32_t>{2, -2, -1, 0}));
  y = RunOp(WithInt(Op("Mod"), "fmod", 1), {&a, &b});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(Values<int32_t>(*y), (std::vector<int32_t>{-1, 1, -1, 0}));
  Tensor zero = Make<int32_t>(DataType::kInt32, {1}, {0});
  EXPECT_EQ(CodeOf(RunOp(Op("Mod"), {&a, &zero})), StatusCode::kInvalidArgument);
  Tensor f = Make<float>(DataType::kFp32, {1}, {1.5f});
  auto bad = RunOp(Op("Mod"), {&f, &f});
  ASSERT_EQ(CodeOf(bad), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().ToString().find("fmod"), std::string::npos);
  EXPECT_EQ(CodeOf(RunOp(WithInt(Op("Mod"), "fmod", 2), {&a, &b})), StatusCode::kInvalidArgument);
}

TEST(ElementwiseExtTest, PowTypeMixes) {
  Tensor base = Make<int64_t>(DataType::kInt64, {4}, {2, -1, 2, 3});
  Tensor ex = Make<int32_t>(DataType::kInt32, {4}, {62, -3, -1, 41});
  auto y = RunOp(Op("Pow"), {&base, &ex});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  auto v = Values<int64_t>(*y);
  EXPECT_EQ(v[0], int64_t{1} << 62);
  EXPECT_EQ(v[1], -1);
  EXPECT_EQ(v[2], 0);  // 1/2 truncated
  EXPECT_EQ(v[3], int64_t{-420491770248316829});  // 3^41 wraps modulo 2^64 like numpy
  Tensor h = Make<Fp16>(DataType::kFp16, {1}, {Fp16(3.0f)});
  Tensor two = Make<uint8_t>(DataType::kUint8, {1}, {2});
  y = RunOp(Op("Pow"), {&h, &two});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->dtype(), DataType::kFp16);
  EXPECT_EQ(HalfValues(*y), (std::vector<float>{9.0f}));
  Tensor i8 = Make<int8_t>(DataType::kInt8, {1}, {2});
  EXPECT_EQ(CodeOf(RunOp(Op("Pow"), {&i8, &two})), StatusCode::kUnimplemented);
  Tensor b2 = Bools({1}, {1});
  EXPECT_EQ(CodeOf(RunOp(Op("Pow"), {&h, &b2})), StatusCode::kUnimplemented);
}

TEST(ElementwiseExtTest, BitShiftEdgeCasesAndAttribute) {
  Tensor x = Make<uint32_t>(DataType::kUint32, {3}, {1, 0x80000000u, 7});
  Tensor s = Make<uint32_t>(DataType::kUint32, {3}, {31, 32, 100});
  auto y = RunOp(WithString(Op("BitShift"), "direction", "LEFT"), {&x, &s});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(Values<uint32_t>(*y), (std::vector<uint32_t>{0x80000000u, 0, 0}));
  y = RunOp(WithString(Op("BitShift"), "direction", "RIGHT"), {&x, &s});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(Values<uint32_t>(*y), (std::vector<uint32_t>{0, 0, 0}));
  auto bad = RunOp(WithString(Op("BitShift"), "direction", "UP"), {&x, &s});
  ASSERT_EQ(CodeOf(bad), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().ToString().find("direction"), std::string::npos);
  EXPECT_EQ(CodeOf(RunOp(Op("BitShift"), {&x, &s})), StatusCode::kInvalidArgument);
  Tensor i = Make<int32_t>(DataType::kInt32, {1}, {1});
  EXPECT_EQ(CodeOf(RunOp(WithString(Op("BitShift"), "direction", "LEFT"), {&i, &i})),
            StatusCode::kUnimplemented);
}

TEST(ElementwiseExtTest, ArityIsCheckedAtBuildTime) {
  Tensor x = Make<float>(DataType::kFp32, {1}, {1});
  EXPECT_EQ(CodeOf(RunOp(Op("Sqrt"), {&x, &x})), StatusCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(RunOp(Op("Where"), {&x, &x})), StatusCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(RunOp(Op("Max"), {})), StatusCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(RunOp(Op("Clip"), {&x, &x, &x, &x})), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace nereid::engine
