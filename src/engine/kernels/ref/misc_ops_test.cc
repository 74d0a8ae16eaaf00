// Tests of the loss, resize, quantization, einsum, trig and misc reference
// kernels beyond what the ONNX node tests cover: attribute validation,
// malformed inputs (InvalidArgument, never a crash), edge cases.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/kernel_test_util.h"
#include "engine/kernels/ref/numeric.h"

namespace nereid::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

using namespace testutil;  // NOLINT: test helpers


StatusCode CodeOf(const StatusOr<Tensor>& r) { return r.ok() ? StatusCode::kOk : r.status().code(); }

TEST(MiscOpsTest, AllOpsAreRegistered) {
  for (const char* op :
       {"Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh",
        "Celu", "ThresholdedRelu", "Shrink", "SoftmaxCrossEntropyLoss",
        "NegativeLogLikelihoodLoss", "Resize", "Upsample", "Hardmax", "Einsum", "QuantizeLinear",
        "DequantizeLinear", "DynamicQuantizeLinear", "MeanVarianceNormalization", "EyeLike",
        "Compress", "ReverseSequence", "Det", "HannWindow", "HammingWindow", "BlackmanWindow"}) {
    EXPECT_NE(KernelRegistry::Global().Find("", op), nullptr) << op;
  }
}

// ------------------------------------------------------------ unary ops

TEST(MiscOpsTest, TrigRejectsIntegersAndHandlesEmpty) {
  Tensor i = I64({2}, {1, 2});
  EXPECT_EQ(CodeOf(RunOp(Op("Sin"), {&i})), StatusCode::kUnimplemented);
  Tensor empty = F32({0, 3}, {});
  auto y = RunOp(Op("Atanh"), {&empty});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->shape(), (Shape{0, 3}));
  Tensor out_of_domain = F32({1}, {2.0f});
  y = RunOp(Op("Asin"), {&out_of_domain});
  ASSERT_TRUE(y.ok());
  EXPECT_TRUE(std::isnan(Values<float>(*y)[0]));
}

TEST(MiscOpsTest, CeluRejectsZeroAlpha) {
  Node n = Op("Celu");
  SetFloat(&n, "alpha", 0.0f);
  Tensor x = F32({1}, {1});
  auto y = RunOp(n, {&x});
  EXPECT_EQ(CodeOf(y), StatusCode::kInvalidArgument);
  EXPECT_THAT(y.status().ToString(), HasSubstr("alpha"));
}

TEST(MiscOpsTest, ShrinkWorksOnIntegers) {
  Node n = Op("Shrink");
  SetFloat(&n, "lambd", 1.5f);
  SetFloat(&n, "bias", 1.0f);
  Tensor x = Make<int32_t>(DataType::kInt32, {5}, {-3, -1, 0, 1, 3});
  auto y = RunOp(n, {&x});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_THAT(Values<int32_t>(*y), ElementsAre(-2, 0, 0, 0, 2));
}

// ---------------------------------------------------------------- losses

TEST(MiscOpsTest, LossRejectsBadAttributesAndShapes) {
  Node bad = Op("NegativeLogLikelihoodLoss");
  SetString(&bad, "reduction", "average");
  Tensor x = F32({2, 3}, {-1, -2, -3, -1, -2, -3});
  Tensor t = I64({2}, {0, 2});
  auto y = RunOp(bad, {&x, &t});
  EXPECT_EQ(CodeOf(y), StatusCode::kInvalidArgument);
  EXPECT_THAT(y.status().ToString(), HasSubstr("reduction"));

  Tensor wrong_t = I64({3}, {0, 1, 2});
  EXPECT_EQ(CodeOf(RunOp(Op("NegativeLogLikelihoodLoss"), {&x, &wrong_t})),
            StatusCode::kInvalidArgument);
  Tensor out_of_range = I64({2}, {0, 3});
  EXPECT_EQ(CodeOf(RunOp(Op("SoftmaxCrossEntropyLoss"), {&x, &out_of_range})),
            StatusCode::kInvalidArgument);
  Tensor rank1 = F32({3}, {1, 2, 3});
  Tensor t0 = I64({}, {0});
  EXPECT_EQ(CodeOf(RunOp(Op("SoftmaxCrossEntropyLoss"), {&rank1, &t0})),
            StatusCode::kInvalidArgument);
  Tensor bad_w = F32({2}, {1, 1});
  EXPECT_EQ(CodeOf(RunOp(Op("NegativeLogLikelihoodLoss"), {&x, &t, &bad_w})),
            StatusCode::kInvalidArgument);
  Tensor float_t = F32({2}, {0, 1});
  EXPECT_EQ(CodeOf(RunOp(Op("NegativeLogLikelihoodLoss"), {&x, &float_t})),
            StatusCode::kInvalidArgument);
}

TEST(MiscOpsTest, LossIgnoreIndexOutOfClassRangeAndMean) {
  Node n = Op("NegativeLogLikelihoodLoss");
  SetInt(&n, "ignore_index", -1);
  Tensor x = F32({3, 2}, {-1, -2, -3, -4, -5, -6});
  Tensor t = I64({3}, {1, -1, 0});
  auto y = RunOp(n, {&x, &t});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(y->shape(), Shape{});
  EXPECT_FLOAT_EQ(Values<float>(*y)[0], (2.0f + 5.0f) / 2.0f);
  // Everything ignored: 0 / 0 like the reference.
  Tensor all = I64({3}, {-1, -1, -1});
  y = RunOp(n, {&x, &all});
  ASSERT_TRUE(y.ok());
  EXPECT_TRUE(std::isnan(Values<float>(*y)[0]));
}

TEST(MiscOpsTest, SoftmaxCrossEntropyLogProbOutput) {
  Node n = Op("SoftmaxCrossEntropyLoss");
  SetString(&n, "reduction", "none");
  Tensor x = F32({1, 2}, {0, 0});
  Tensor t = Make<int32_t>(DataType::kInt32, {1}, {1});
  auto out = RunOpN(n, {&x, &t}, 2);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ((*out)[0].shape(), Shape{1});
  EXPECT_NEAR(Values<float>((*out)[0])[0], std::log(2.0f), 1e-6);
  EXPECT_THAT(Values<float>((*out)[1]),
              ElementsAre(testing::FloatNear(-std::log(2.0f), 1e-6),
                          testing::FloatNear(-std::log(2.0f), 1e-6)));
}

// ---------------------------------------------------------------- resize

TEST(MiscOpsTest, ResizeRejectsBadAttributes) {
  Tensor x = F32({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor scales = F32({4}, {1, 1, 2, 2});
  for (auto [attr, value] : std::vector<std::pair<std::string, std::string>>{
           {"mode", "bicubic"},
           {"coordinate_transformation_mode", "centered"},
           {"nearest_mode", "nearest"}}) {
    Node n = Op("Resize");
    SetString(&n, attr, value);
    auto y = RunOp(n, {&x, nullptr, &scales});
    EXPECT_EQ(CodeOf(y), StatusCode::kInvalidArgument) << attr;
    EXPECT_THAT(y.status().ToString(), HasSubstr(attr));
  }
}

TEST(MiscOpsTest, ResizeRejectsBadScalesAndSizes) {
  Tensor x = F32({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor short_scales = F32({2}, {2, 2});
  EXPECT_EQ(CodeOf(RunOp(Op("Resize"), {&x, nullptr, &short_scales})),
            StatusCode::kInvalidArgument);
  Tensor neg = F32({4}, {1, 1, -2, 2});
  EXPECT_EQ(CodeOf(RunOp(Op("Resize"), {&x, nullptr, &neg})), StatusCode::kInvalidArgument);
  Tensor huge = F32({4}, {1, 1, 1e30f, 1e30f});
  EXPECT_EQ(CodeOf(RunOp(Op("Resize"), {&x, nullptr, &huge})), StatusCode::kInvalidArgument);
  Tensor scales = F32({4}, {1, 1, 2, 2});
  Tensor sizes = I64({4}, {1, 1, 4, 4});
  EXPECT_EQ(CodeOf(RunOp(Op("Resize"), {&x, nullptr, &scales, &sizes})),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(RunOp(Op("Resize"), {&x})), StatusCode::kInvalidArgument);
  Tensor neg_sizes = I64({4}, {1, 1, -4, 4});
  EXPECT_EQ(CodeOf(RunOp(Op("Resize"), {&x, nullptr, nullptr, &neg_sizes})),
            StatusCode::kInvalidArgument);
  Node crop = Op("Resize");
  SetString(&crop, "coordinate_transformation_mode", "tf_crop_and_resize");
  Tensor short_roi = F32({2}, {0, 1});
  EXPECT_EQ(CodeOf(RunOp(crop, {&x, &short_roi, nullptr, &sizes})),
            StatusCode::kInvalidArgument);
}

TEST(MiscOpsTest, ResizeNearestOnIntegersAndEmpty) {
  Tensor x = Make<int32_t>(DataType::kInt32, {2, 2}, {1, 2, 3, 4});
  Tensor scales = F32({2}, {1, 2});
  Node n = Op("Resize");
  SetString(&n, "coordinate_transformation_mode", "asymmetric");
  SetString(&n, "nearest_mode", "floor");
  auto y = RunOp(n, {&x, nullptr, &scales});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(y->shape(), (Shape{2, 4}));
  EXPECT_THAT(Values<int32_t>(*y), ElementsAre(1, 1, 2, 2, 3, 3, 4, 4));

  Tensor empty = F32({0, 2}, {});
  Tensor sizes = I64({2}, {0, 4});
  y = RunOp(Op("Resize"), {&empty, nullptr, nullptr, &sizes});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(y->shape(), (Shape{0, 4}));
  Tensor grow = I64({2}, {2, 4});
  EXPECT_EQ(CodeOf(RunOp(Op("Resize"), {&empty, nullptr, nullptr, &grow})),
            StatusCode::kInvalidArgument);
}

TEST(MiscOpsTest, ResizeLinearOnIntegersAndOpset10) {
  Tensor x = Make<uint8_t>(DataType::kUint8, {1, 2}, {0, 100});
  Tensor scales = F32({2}, {1, 2});
  Node n = Op("Resize");
  SetString(&n, "mode", "linear");
  auto y = RunOp(n, {&x, &scales}, 10);  // opset 10: asymmetric
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_THAT(Values<uint8_t>(*y), ElementsAre(0, 50, 100, 100));
  Node cubic = Op("Resize");
  SetString(&cubic, "mode", "cubic");
  EXPECT_EQ(CodeOf(RunOp(cubic, {&x, &scales}, 10)), StatusCode::kInvalidArgument);
}

TEST(MiscOpsTest, Upsample7UsesScalesAttribute) {
  Node n = Op("Upsample");
  Attribute a;
  a.kind = Attribute::Kind::kFloats;
  a.floats = {1.0f, 2.0f};
  n.attributes["scales"] = a;
  Tensor x = F32({1, 2}, {1, 2});
  auto y = RunOp(n, {&x}, 7);
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_THAT(Values<float>(*y), ElementsAre(1, 1, 2, 2));
  EXPECT_EQ(CodeOf(RunOp(Op("Upsample"), {&x}, 7)), StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------- einsum

TEST(MiscOpsTest, EinsumRejectsMalformedEquations) {
  Tensor a = F32({2, 2}, {1, 2, 3, 4});
  for (const char* eq : {"ij..", "i$j->ij", "ij->k", "ij->ii", "ij,jk->ik"}) {
    Node n = Op("Einsum");
    SetString(&n, "equation", eq);
    EXPECT_EQ(CodeOf(RunOp(n, {&a})), StatusCode::kInvalidArgument) << eq;
  }
  Node n = Op("Einsum");
  SetString(&n, "equation", "ijk->i");
  EXPECT_EQ(CodeOf(RunOp(n, {&a})), StatusCode::kInvalidArgument);
  Tensor b = F32({3, 2}, {1, 2, 3, 4, 5, 6});
  Node mm = Op("Einsum");
  SetString(&mm, "equation", "ij,jk");
  EXPECT_EQ(CodeOf(RunOp(mm, {&a, &b})), StatusCode::kInvalidArgument);  // j: 2 vs 3
  EXPECT_EQ(CodeOf(RunOp(Op("Einsum"), {&a})), StatusCode::kInvalidArgument);  // no equation
}

TEST(MiscOpsTest, EinsumImplicitOutputEllipsisAndIntegers) {
  Tensor a = Make<int32_t>(DataType::kInt32, {2, 2}, {1, 2, 3, 4});
  Tensor b = Make<int32_t>(DataType::kInt32, {2, 2}, {5, 6, 7, 8});
  Node n = Op("Einsum");
  SetString(&n, "equation", "ij, jk");  // implicit output "ik"; spaces allowed
  auto y = RunOp(n, {&a, &b});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_THAT(Values<int32_t>(*y), ElementsAre(19, 22, 43, 50));

  Node trace = Op("Einsum");
  SetString(&trace, "equation", "ii");
  y = RunOp(trace, {&a});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->shape(), Shape{});
  EXPECT_THAT(Values<int32_t>(*y), ElementsAre(5));

  // "...": [2,1,2] broadcast against [3,2] -> [2,3].
  Tensor x = F32({2, 1, 2}, {1, 2, 3, 4});
  Tensor z = F32({3, 2}, {1, 0, 0, 1, 1, 1});
  Node bc = Op("Einsum");
  SetString(&bc, "equation", "...j,...j->...");
  y = RunOp(bc, {&x, &z});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(y->shape(), (Shape{2, 3}));
  EXPECT_THAT(Values<float>(*y), ElementsAre(1, 2, 3, 3, 4, 7));

  Tensor empty = F32({0, 2}, {});
  Node sum = Op("Einsum");
  SetString(&sum, "equation", "ij->j");
  y = RunOp(sum, {&empty});
  ASSERT_TRUE(y.ok());
  EXPECT_THAT(Values<float>(*y), ElementsAre(0, 0));
}

// ---------------------------------------------------------- quantization

TEST(MiscOpsTest, QuantizeRoundsHalfToEvenAndSaturates) {
  Tensor x = F32({5}, {2.5f, 3.5f, -2.5f, 1000.0f, -1000.0f});
  Tensor scale = F32({}, {1.0f});
  Tensor zp = Make<int8_t>(DataType::kInt8, {}, {0});
  auto y = RunOp(Op("QuantizeLinear"), {&x, &scale, &zp});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(y->dtype(), DataType::kInt8);
  EXPECT_THAT(Values<int8_t>(*y), ElementsAre(2, 4, -2, 127, -128));
  y = RunOp(Op("QuantizeLinear"), {&x, &scale});  // no zero point: uint8
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->dtype(), DataType::kUint8);
  EXPECT_THAT(Values<uint8_t>(*y), ElementsAre(2, 4, 0, 255, 0));
}

TEST(MiscOpsTest, QuantizeRejectsMismatchedParameters) {
  Tensor x = F32({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor scale2 = F32({2}, {1, 1});
  EXPECT_EQ(CodeOf(RunOp(Op("QuantizeLinear"), {&x, &scale2})), StatusCode::kInvalidArgument);
  Tensor scale3 = F32({3}, {1, 1, 1});
  Tensor zp2 = Make<uint8_t>(DataType::kUint8, {2}, {0, 0});
  EXPECT_EQ(CodeOf(RunOp(Op("QuantizeLinear"), {&x, &scale3, &zp2})),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(RunOp(Op("QuantizeLinear"), {&x, &scale3}).ok());  // per-axis, axis 1
  EXPECT_EQ(CodeOf(RunOp(Op("QuantizeLinear"), {&x, &scale3}, 10)),
            StatusCode::kInvalidArgument);  // opset 10: per-tensor only
  Node bad_axis = Op("QuantizeLinear");
  SetInt(&bad_axis, "axis", 5);
  EXPECT_EQ(CodeOf(RunOp(bad_axis, {&x, &scale3})), StatusCode::kInvalidArgument);
  Tensor int_scale = I64({}, {1});
  EXPECT_EQ(CodeOf(RunOp(Op("QuantizeLinear"), {&x, &int_scale})), StatusCode::kInvalidArgument);
  Tensor q = Make<uint8_t>(DataType::kUint8, {2}, {1, 2});
  Tensor s = F32({}, {1});
  Tensor zp_i8 = Make<int8_t>(DataType::kInt8, {}, {0});
  EXPECT_EQ(CodeOf(RunOp(Op("DequantizeLinear"), {&q, &s, &zp_i8})),
            StatusCode::kInvalidArgument);
}

TEST(MiscOpsTest, DequantizeInt32AndDynamicQuantizeOfZeros) {
  Tensor x = Make<int32_t>(DataType::kInt32, {2}, {-100000, 7});
  Tensor s = F32({}, {0.5f});
  auto y = RunOp(Op("DequantizeLinear"), {&x, &s});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_THAT(Values<float>(*y), ElementsAre(-50000.0f, 3.5f));

  Tensor zeros = F32({3}, {0, 0, 0});
  auto out = RunOpN(Op("DynamicQuantizeLinear"), {&zeros}, 3);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_THAT(Values<uint8_t>((*out)[0]), ElementsAre(0, 0, 0));
  EXPECT_EQ(Values<float>((*out)[1])[0], 0.0f);
  EXPECT_EQ(Values<uint8_t>((*out)[2])[0], 0);
  Tensor nan = F32({1}, {std::nanf("")});
  EXPECT_FALSE(RunOpN(Op("DynamicQuantizeLinear"), {&nan}, 3).ok());
}

// ------------------------------------------------------------------ misc

TEST(MiscOpsTest, HardmaxPicksFirstMaximum) {
  Tensor x = F32({2, 3}, {1, 3, 3, 5, 5, 5});
  auto y = RunOp(Op("Hardmax"), {&x});
  ASSERT_TRUE(y.ok());
  EXPECT_THAT(Values<float>(*y), ElementsAre(0, 1, 0, 1, 0, 0));
  Node n = Op("Hardmax");
  SetInt(&n, "axis", 2);
  EXPECT_EQ(CodeOf(RunOp(n, {&x})), StatusCode::kInvalidArgument);
  y = RunOp(n, {&x}, 11);  // opset < 13 accepts axis == rank (empty block)
  ASSERT_TRUE(y.ok()) << y.status().ToString();
}

TEST(MiscOpsTest, MvnRejectsRepeatedOrOutOfRangeAxes) {
  Tensor x = F32({2, 2}, {1, 2, 3, 4});
  Node rep = Op("MeanVarianceNormalization");
  SetInts(&rep, "axes", {0, -2});
  EXPECT_EQ(CodeOf(RunOp(rep, {&x})), StatusCode::kInvalidArgument);
  EXPECT_EQ(CodeOf(RunOp(Op("MeanVarianceNormalization"), {&x})),
            StatusCode::kInvalidArgument);  // default axes [0,2,3] need rank 4
  Node ok = Op("MeanVarianceNormalization");
  SetInts(&ok, "axes", {-1});
  auto y = RunOp(ok, {&x});
  ASSERT_TRUE(y.ok());
  EXPECT_THAT(Values<float>(*y), ElementsAre(testing::FloatNear(-1, 1e-6),
                                             testing::FloatNear(1, 1e-6),
                                             testing::FloatNear(-1, 1e-6),
                                             testing::FloatNear(1, 1e-6)));
}

TEST(MiscOpsTest, DetOfSingularPivotedAndBadShapes) {
  Tensor x = F32({2, 2, 2}, {1, 2, 2, 4, 0, 1, 1, 0});
  auto y = RunOp(Op("Det"), {&x});
  ASSERT_TRUE(y.ok());
  EXPECT_THAT(Values<float>(*y), ElementsAre(0.0f, -1.0f));
  Tensor rect = F32({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(CodeOf(RunOp(Op("Det"), {&rect})), StatusCode::kInvalidArgument);
  Tensor vec = F32({2}, {1, 2});
  EXPECT_EQ(CodeOf(RunOp(Op("Det"), {&vec})), StatusCode::kInvalidArgument);
}

TEST(MiscOpsTest, EyeLikeExtremeDiagonalsAndBadRank) {
  Tensor x = I64({2, 3}, {0, 0, 0, 0, 0, 0});
  Node n = Op("EyeLike");
  SetInt(&n, "k", std::numeric_limits<int64_t>::max());
  auto y = RunOp(n, {&x});
  ASSERT_TRUE(y.ok());
  EXPECT_THAT(Values<int64_t>(*y), ElementsAre(0, 0, 0, 0, 0, 0));
  SetInt(&n, "k", -1);
  SetInt(&n, "dtype", 9);  // BOOL
  y = RunOp(n, {&x});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->dtype(), DataType::kBool);
  EXPECT_THAT(Values<uint8_t>(*y), ElementsAre(0, 0, 0, 1, 0, 0));
  Tensor r3 = F32({1, 1, 1}, {0});
  EXPECT_EQ(CodeOf(RunOp(Op("EyeLike"), {&r3})), StatusCode::kInvalidArgument);
  Node bad = Op("EyeLike");
  SetInt(&bad, "dtype", 14);  // COMPLEX64
  EXPECT_EQ(CodeOf(RunOp(bad, {&x})), StatusCode::kUnimplemented);
}

TEST(MiscOpsTest, CompressConditionLengths) {
  Tensor x = F32({3}, {1, 2, 3});
  Tensor shorter = Bools({2}, {0, 1});
  auto y = RunOp(Op("Compress"), {&x, &shorter});
  ASSERT_TRUE(y.ok());
  EXPECT_THAT(Values<float>(*y), ElementsAre(2));
  Tensor longer_false = Bools({4}, {1, 0, 1, 0});
  y = RunOp(Op("Compress"), {&x, &longer_false});
  ASSERT_TRUE(y.ok());
  EXPECT_THAT(Values<float>(*y), ElementsAre(1, 3));
  Tensor longer_true = Bools({4}, {0, 0, 0, 1});
  EXPECT_EQ(CodeOf(RunOp(Op("Compress"), {&x, &longer_true})), StatusCode::kInvalidArgument);
  Tensor not_bool = I64({3}, {1, 1, 1});
  EXPECT_EQ(CodeOf(RunOp(Op("Compress"), {&x, &not_bool})), StatusCode::kInvalidArgument);
  Node n = Op("Compress");
  SetInt(&n, "axis", 1);
  EXPECT_EQ(CodeOf(RunOp(n, {&x, &shorter})), StatusCode::kInvalidArgument);
}

TEST(MiscOpsTest, ReverseSequenceValidatesLengths) {
  Tensor x = F32({2, 2}, {1, 2, 3, 4});  // [time, batch]
  Tensor lens = I64({2}, {2, 3});
  EXPECT_EQ(CodeOf(RunOp(Op("ReverseSequence"), {&x, &lens})), StatusCode::kInvalidArgument);
  Tensor neg = I64({2}, {-1, 0});
  EXPECT_EQ(CodeOf(RunOp(Op("ReverseSequence"), {&x, &neg})), StatusCode::kInvalidArgument);
  Tensor short_lens = I64({1}, {1});
  EXPECT_EQ(CodeOf(RunOp(Op("ReverseSequence"), {&x, &short_lens})),
            StatusCode::kInvalidArgument);
  Tensor ok = I64({2}, {2, 1});
  auto y = RunOp(Op("ReverseSequence"), {&x, &ok});
  ASSERT_TRUE(y.ok());
  EXPECT_THAT(Values<float>(*y), ElementsAre(3, 2, 1, 4));
  Node bad = Op("ReverseSequence");
  SetInt(&bad, "batch_axis", 0);
  EXPECT_EQ(CodeOf(RunOp(bad, {&x, &ok})), StatusCode::kInvalidArgument);
}

TEST(MiscOpsTest, WindowsValidateSizeAndType) {
  Tensor size = Make<int32_t>(DataType::kInt32, {}, {4});
  auto y = RunOp(Op("HannWindow"), {&size});
  ASSERT_TRUE(y.ok());
  EXPECT_THAT(Values<float>(*y), ElementsAre(testing::FloatNear(0, 1e-7),
                                             testing::FloatNear(0.5, 1e-7),
                                             testing::FloatNear(1, 1e-7),
                                             testing::FloatNear(0.5, 1e-7)));
  Tensor zero = I64({}, {0});
  y = RunOp(Op("HammingWindow"), {&zero});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->shape(), Shape{0});
  Tensor neg = I64({}, {-3});
  EXPECT_EQ(CodeOf(RunOp(Op("BlackmanWindow"), {&neg})), StatusCode::kInvalidArgument);
  Tensor vec = I64({2}, {3, 3});
  EXPECT_EQ(CodeOf(RunOp(Op("BlackmanWindow"), {&vec})), StatusCode::kInvalidArgument);
  Node bad = Op("HannWindow");
  SetInt(&bad, "output_datatype", 8);  // STRING
  EXPECT_EQ(CodeOf(RunOp(bad, {&size})), StatusCode::kUnimplemented);
  Node dbl = Op("HannWindow");
  SetInt(&dbl, "output_datatype", 11);  // DOUBLE
  SetInt(&dbl, "periodic", 0);
  y = RunOp(dbl, {&size});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->dtype(), DataType::kFp64);
  EXPECT_NEAR(Values<double>(*y)[3], 0.0, 1e-12);
}

}  // namespace
}  // namespace nereid::engine
