// Tests of the integer and quantized product kernels (qlinear_ops.cc)
// beyond the ONNX node tests (which cover uint8 and per-tensor parameters
// only): int8 operands, per-channel / per-row / per-column parameters,
// rounding half to even, saturation, and malformed inputs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/kernel_test_util.h"

namespace nereid::engine {
namespace {

using ::testing::ElementsAre;
using namespace testutil;  // NOLINT: test helpers

StatusCode CodeOf(const StatusOr<Tensor>& r) { return r.ok() ? StatusCode::kOk : r.status().code(); }

Tensor S8(Shape shape, std::vector<int8_t> v) { return Make<int8_t>(DataType::kInt8, shape, v); }
Tensor U8(Shape shape, std::vector<uint8_t> v) { return Make<uint8_t>(DataType::kUint8, shape, v); }

TEST(QLinearOpsTest, MatMulIntegerPerRowAndPerColumnZeroPoints) {
  Tensor a = S8({2, 2}, {1, -2, 3, 4});
  Tensor b = U8({2, 3}, {10, 20, 30, 40, 50, 60});
  Tensor a_zp = S8({2}, {1, -1});      // per row of A
  Tensor b_zp = U8({3}, {10, 0, 30});  // per column of B
  auto y = RunOp(Op("MatMulInteger"), {&a, &b, &a_zp, &b_zp}, 10);
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(y->dtype(), DataType::kInt32);
  // A - zp = [[0, -3], [4, 5]]; B - zp = [[0, 20, 0], [30, 50, 30]].
  EXPECT_THAT(Values<int32_t>(*y), ElementsAre(-90, -150, -90, 150, 330, 150));
}

TEST(QLinearOpsTest, QLinearConvInt8PerChannelRoundsHalfToEvenAndSaturates) {
  Tensor x = S8({1, 1, 2, 2}, {10, -3, 127, 5});
  Tensor x_scale = F32({}, {1.0f});
  Tensor x_zp = S8({}, {1});
  Tensor w = S8({2, 1, 1, 1}, {2, -1});
  Tensor w_scale = F32({2}, {0.5f, 0.25f});
  Tensor w_zp = S8({2}, {0, 0});
  Tensor y_scale = F32({}, {1.0f});
  Tensor y_zp = S8({}, {100});
  Tensor bias = I32({2}, {1, 0});
  auto y = RunOp(Op("QLinearConv"),
                 {&x, &x_scale, &x_zp, &w, &w_scale, &w_zp, &y_scale, &y_zp, &bias}, 10);
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(y->dtype(), DataType::kInt8);
  // Channel 0: (2 * (x - 1) + 1) * 0.5 = 9.5, -3.5, 126.5, 4.5 -> 10, -4, 126, 4; +100
  // saturates 226 to 127. Channel 1: -(x - 1) * 0.25 = -2.25, 1, -31.5, -1 -> -2, 1, -32, -1.
  EXPECT_THAT(Values<int8_t>(*y), ElementsAre(110, 96, 127, 104, 98, 101, 68, 99));
}

TEST(QLinearOpsTest, ConvIntegerPadsWithTheZeroPoint) {
  Tensor x = U8({1, 1, 1, 2}, {7, 9});
  Tensor w = U8({1, 1, 1, 3}, {1, 1, 1});
  Tensor x_zp = U8({}, {5});
  Node conv = Op("ConvInteger");
  SetInts(&conv, "pads", {0, 1, 0, 1});
  auto y = RunOp(conv, {&x, &w, &x_zp}, 10);
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_THAT(Values<int32_t>(*y), ElementsAre(6, 6));  // padding adds 0, not -5
}

TEST(QLinearOpsTest, MalformedInputsAreErrors) {
  Tensor a = U8({2, 2}, {1, 2, 3, 4});
  Tensor b = U8({2, 2}, {1, 2, 3, 4});
  Tensor zp3 = U8({3}, {0, 0, 0});
  EXPECT_EQ(CodeOf(RunOp(Op("MatMulInteger"), {&a, &b, &zp3}, 10)),
            StatusCode::kInvalidArgument);  // 3 zero points for 2 rows
  Tensor s8_zp = S8({}, {0});
  EXPECT_EQ(CodeOf(RunOp(Op("MatMulInteger"), {&a, &b, &s8_zp}, 10)),
            StatusCode::kInvalidArgument);  // zero point type differs from A's
  Tensor f = F32({2, 2}, {1, 2, 3, 4});
  EXPECT_EQ(CodeOf(RunOp(Op("MatMulInteger"), {&f, &b}, 10)), StatusCode::kUnimplemented);
  Tensor x = U8({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor w = U8({1, 1, 1, 1}, {1});
  Tensor one = F32({}, {1.0f});
  Tensor zero = U8({}, {0});
  Tensor bad_bias = I32({2}, {0, 0});
  EXPECT_EQ(CodeOf(RunOp(Op("QLinearConv"),
                         {&x, &one, &zero, &w, &one, &zero, &one, &zero, &bad_bias}, 10)),
            StatusCode::kInvalidArgument);
  Tensor negative = F32({}, {-1.0f});
  EXPECT_EQ(CodeOf(RunOp(Op("QLinearConv"),
                         {&x, &negative, &zero, &w, &one, &zero, &one, &zero}, 10)),
            StatusCode::kInvalidArgument);
  Tensor w3 = U8({1, 1, 1}, {1});
  EXPECT_EQ(CodeOf(RunOp(Op("ConvInteger"), {&x, &w3}, 10)), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace nereid::engine
