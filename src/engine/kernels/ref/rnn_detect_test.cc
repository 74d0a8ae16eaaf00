// Tests of the recurrent and detection kernels beyond ONNX's node tests:
// directions, sequence lengths, layouts, attribute validation, malformed
// inputs, edge cases, and the node-test cases whose expected data ONNX
// rounds to 4 decimals (checked at ONNX's own backend tolerance).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <vector>

#include "engine/ir/onnx_tensor.h"
#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/kernel_test_util.h"
#include "engine/kernels/ref/numeric.h"
#include "engine/runtime/plan.h"

namespace nereid::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

using namespace testutil;  // NOLINT: test helpers


// Builds the kernel with `outputs` named outputs (false: omitted) and runs it.
StatusOr<std::vector<Tensor>> RunNode(Node node, std::vector<const Tensor*> inputs,
                                      std::vector<bool> outputs = {true}, int64_t opset = 17) {
  KernelFactory factory = KernelRegistry::Global().Find("", node.op_type);
  if (factory == nullptr) return NotFound("no kernel for " + node.op_type);
  node.inputs.clear();
  for (const Tensor* t : inputs) node.inputs.push_back(t ? 0 : kNoValue);
  node.outputs.clear();
  for (bool named : outputs) node.outputs.push_back(named ? 1 : kNoValue);
  KernelBuildContext context{node, opset, {}, {}, {}};
  for (const Tensor* t : inputs) {
    context.input_dtypes.push_back(t ? t->dtype() : DataType::kInvalid);
  }
  ASSIGN_OR_RETURN(auto kernel, factory(context));
  std::vector<Tensor> result(outputs.size());
  RETURN_IF_ERROR(kernel->Run(inputs, result));
  return result;
}

StatusOr<Tensor> RunOne(Node node, std::vector<const Tensor*> inputs, int64_t opset = 17) {
  ASSIGN_OR_RETURN(auto out, RunNode(std::move(node), std::move(inputs), {true}, opset));
  return out[0];
}

// ---------------------------------------------------------------- RNN family

// Affine(alpha 1, beta 0) with W = R = 1 makes the RNN a running sum.
Node SummingRnn(const std::string& direction) {
  Node n = Op("RNN");
  SetString(&n, "direction", direction);
  SetStrings(&n, "activations", {"Affine"});
  SetInt(&n, "hidden_size", 1);
  return n;
}

TEST(RnnTest, ReverseRespectsSequenceLengths) {
  Tensor x = F32({3, 2, 1}, {1, 10, 2, 20, 3, 30});
  Tensor w = F32({1, 1, 1}, {1});
  Tensor r = F32({1, 1, 1}, {1});
  Tensor lens = I32({2}, {2, 3});
  auto out = RunNode(SummingRnn("reverse"), {&x, &w, &r, nullptr, &lens}, {true, true});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ((*out)[0].shape(), (Shape{3, 1, 2, 1}));
  // Batch 0 runs t=1 then t=0; batch 1 runs t=2..0. Steps past len are 0.
  EXPECT_THAT(Values<float>((*out)[0]), ElementsAre(3, 60, 2, 50, 0, 30));
  EXPECT_THAT(Values<float>((*out)[1]), ElementsAre(3, 60));
}

TEST(RnnTest, BidirectionalWithInitialStateAndBatchMajorLayout) {
  Tensor x = F32({1, 2, 1}, {1, 2});  // layout 1: [batch 1, seq 2, input 1]
  Tensor w = F32({2, 1, 1}, {1, 1});
  Tensor r = F32({2, 1, 1}, {1, 1});
  Tensor b = F32({2, 2}, {0, 0, 100, 0});  // backward direction adds 100 per step
  Tensor h0 = F32({1, 2, 1}, {5, 7});       // [batch, dirs, hidden]
  Node n = SummingRnn("bidirectional");
  SetInt(&n, "layout", 1);
  auto out = RunNode(n, {&x, &w, &r, &b, nullptr, &h0}, {true, true}, 14);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ((*out)[0].shape(), (Shape{1, 2, 2, 1}));
  // forward: 5+1=6, 6+2=8; backward: 7+2+100=109, 109+1+100=210.
  EXPECT_THAT(Values<float>((*out)[0]), ElementsAre(6, 210, 8, 109));
  EXPECT_THAT(Values<float>((*out)[1]), ElementsAre(8, 210));
}

TEST(RnnTest, ClipBoundsThePreActivation) {
  Tensor x = F32({2, 1, 1}, {5, -9});
  Tensor w = F32({1, 1, 1}, {1});
  Tensor r = F32({1, 1, 1}, {0});
  Node n = SummingRnn("forward");
  SetFloat(&n, "clip", 2.0f);
  auto out = RunNode(n, {&x, &w, &r}, {true});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_THAT(Values<float>((*out)[0]), ElementsAre(2, -2));
}

TEST(RnnTest, ActivationAlphaBetaAreConsumedInOrder) {
  Tensor x = F32({1, 1, 1}, {2});
  Tensor w = F32({1, 1, 1}, {1});
  Tensor r = F32({1, 1, 1}, {0});
  Node n = SummingRnn("forward");
  SetStrings(&n, "activations", {"ScaledTanh"});
  Attribute alpha{Attribute::Kind::kFloats, 0, 0, {}, {}, {3.0f}, {}, {}};
  Attribute beta{Attribute::Kind::kFloats, 0, 0, {}, {}, {0.5f}, {}, {}};
  n.attributes["activation_alpha"] = alpha;
  n.attributes["activation_beta"] = beta;
  auto out = RunNode(n, {&x, &w, &r}, {false, true});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_NEAR(Values<float>((*out)[1])[0], 3.0f * std::tanh(1.0f), 1e-6);
}

float Sigmoid(float v) { return 1.0f / (1.0f + std::exp(-v)); }

TEST(GruTest, LinearBeforeResetMatchesTheEquations) {
  // hidden 1, input 1: W = [z, r, h], R = [z, r, h], B = [Wb z r h, Rb z r h].
  Tensor x = F32({1, 1, 1}, {0.5f});
  Tensor w = F32({1, 3, 1}, {0.1f, 0.2f, 0.3f});
  Tensor r = F32({1, 3, 1}, {0.4f, 0.5f, 0.6f});
  Tensor b = F32({1, 6}, {0.01f, 0.02f, 0.03f, 0.04f, 0.05f, 0.06f});
  Tensor h0 = F32({1, 1, 1}, {0.7f});
  const float h = 0.7f, xv = 0.5f;
  const float z = Sigmoid(0.1f * xv + 0.4f * h + 0.01f + 0.04f);
  const float rg = Sigmoid(0.2f * xv + 0.5f * h + 0.02f + 0.05f);
  for (int lbr : {0, 1}) {
    Node n = Op("GRU");
    SetInt(&n, "hidden_size", 1);
    SetInt(&n, "linear_before_reset", lbr);
    auto out = RunNode(n, {&x, &w, &r, &b, nullptr, &h0}, {false, true});
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    const float cand = lbr ? std::tanh(0.3f * xv + 0.03f + rg * (0.6f * h + 0.06f))
                           : std::tanh(0.3f * xv + 0.03f + 0.6f * (rg * h) + 0.06f);
    EXPECT_NEAR(Values<float>((*out)[1])[0], (1 - z) * cand + z * h, 1e-6) << "lbr " << lbr;
  }
}

TEST(LstmTest, BatchMajorLayoutEqualsSequenceMajor) {
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> dist(-1, 1);
  auto random = [&](Shape s) {
    std::vector<float> v(static_cast<size_t>(s[0] * s[1] * (s.size() > 2 ? s[2] : 1)));
    for (float& f : v) f = dist(gen);
    return F32(s, v);
  };
  const int64_t seq = 3, batch = 2, in = 2, hid = 3;
  Tensor x = random({seq, batch, in});
  Tensor w = random({2, 4 * hid, in});
  Tensor r = random({2, 4 * hid, hid});
  Tensor b = random({2, 8 * hid});
  Tensor p = random({2, 3 * hid});
  Tensor c0 = random({2, batch, hid});
  Tensor lens = I32({batch}, {3, 1});
  Node n = Op("LSTM");
  SetString(&n, "direction", "bidirectional");
  SetInt(&n, "hidden_size", hid);
  auto a = RunNode(n, {&x, &w, &r, &b, &lens, nullptr, &c0, &p}, {true, true, true});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  // Same data in batch-major form.
  std::vector<float> xt(x.byte_size() / 4), ct(c0.byte_size() / 4);
  for (int64_t t = 0; t < seq; ++t)
    for (int64_t bb = 0; bb < batch; ++bb)
      for (int64_t i = 0; i < in; ++i)
        xt[(bb * seq + t) * in + i] = x.data_as<float>()[(t * batch + bb) * in + i];
  for (int64_t d = 0; d < 2; ++d)
    for (int64_t bb = 0; bb < batch; ++bb)
      for (int64_t j = 0; j < hid; ++j)
        ct[(bb * 2 + d) * hid + j] = c0.data_as<float>()[(d * batch + bb) * hid + j];
  Tensor x1 = F32({batch, seq, in}, xt), c1 = F32({batch, 2, hid}, ct);
  SetInt(&n, "layout", 1);
  auto bm = RunNode(n, {&x1, &w, &r, &b, &lens, nullptr, &c1, &p}, {true, true, true}, 14);
  ASSERT_TRUE(bm.ok()) << bm.status().ToString();
  const std::vector<float> ya = Values<float>((*a)[0]), yb = Values<float>((*bm)[0]);
  for (int64_t t = 0; t < seq; ++t)
    for (int64_t d = 0; d < 2; ++d)
      for (int64_t bb = 0; bb < batch; ++bb)
        for (int64_t j = 0; j < hid; ++j)
          EXPECT_FLOAT_EQ(ya[((t * 2 + d) * batch + bb) * hid + j],
                          yb[((bb * seq + t) * 2 + d) * hid + j]);
  const std::vector<float> ca = Values<float>((*a)[2]), cb = Values<float>((*bm)[2]);
  for (int64_t d = 0; d < 2; ++d)
    for (int64_t bb = 0; bb < batch; ++bb)
      for (int64_t j = 0; j < hid; ++j)
        EXPECT_FLOAT_EQ(ca[(d * batch + bb) * hid + j], cb[(bb * 2 + d) * hid + j]);
  // Batch 1 has length 1: its Y past step 0 is zero.
  EXPECT_EQ(ya[((1 * 2 + 0) * batch + 1) * hid], 0.0f);
}

TEST(LstmTest, InputForgetCouplesTheGates) {
  // All weights zero: i = f = o = sigmoid(0) = 0.5 unless coupled (f = 1 - i).
  Tensor x = F32({1, 1, 1}, {0});
  Tensor w = F32({1, 4, 1}, {0, 0, 0, 0});
  Tensor r = F32({1, 4, 1}, {0, 0, 0, 0});
  Tensor b = F32({1, 8}, {0, 0, 3, 0, 0, 0, 0, 0});  // forget bias 3 is ignored when coupled
  Tensor c0 = F32({1, 1, 1}, {2});
  Node n = Op("LSTM");
  SetInt(&n, "input_forget", 1);
  auto out = RunNode(n, {&x, &w, &r, &b, nullptr, nullptr, &c0}, {false, false, true});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_FLOAT_EQ(Values<float>((*out)[2])[0], 0.5f * 2.0f);
}

TEST(RnnTest, RejectsBadAttributesAndInputs) {
  Tensor x = F32({1, 1, 1}, {1});
  Tensor w = F32({1, 1, 1}, {1});
  Tensor r = F32({1, 1, 1}, {1});
  Node bad_dir = SummingRnn("sideways");
  EXPECT_EQ(RunNode(bad_dir, {&x, &w, &r}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(RunNode(bad_dir, {&x, &w, &r}).status().message(), HasSubstr("direction"));
  Node bad_act = SummingRnn("forward");
  SetStrings(&bad_act, "activations", {"Swish"});
  EXPECT_EQ(RunNode(bad_act, {&x, &w, &r}).status().code(), StatusCode::kUnimplemented);
  Node few = Op("LSTM");
  SetStrings(&few, "activations", {"Sigmoid"});
  EXPECT_EQ(RunNode(few, {&x, &w, &r}).status().code(), StatusCode::kInvalidArgument);
  Node layout = SummingRnn("forward");
  SetInt(&layout, "layout", 1);
  EXPECT_EQ(RunNode(layout, {&x, &w, &r}, {true}, 13).status().code(),
            StatusCode::kInvalidArgument);
  Node clip = SummingRnn("forward");
  SetFloat(&clip, "clip", -1.0f);
  EXPECT_EQ(RunNode(clip, {&x, &w, &r}).status().code(), StatusCode::kInvalidArgument);
  // hidden_size 2 disagrees with W's rows.
  Node hs = SummingRnn("forward");
  SetInt(&hs, "hidden_size", 2);
  EXPECT_EQ(RunNode(hs, {&x, &w, &r}).status().code(), StatusCode::kInvalidArgument);
  // Wrong ranks / gates / dtypes / lengths.
  Tensor x2 = F32({1, 1}, {1});
  EXPECT_EQ(RunNode(SummingRnn("forward"), {&x2, &w, &r}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(RunNode(Op("GRU"), {&x, &w, &r}).status().code(), StatusCode::kInvalidArgument);
  Tensor lens = I32({1}, {2});
  EXPECT_EQ(RunNode(SummingRnn("forward"), {&x, &w, &r, nullptr, &lens}).status().code(),
            StatusCode::kInvalidArgument);
  Tensor lens64 = I64({1}, {1});
  EXPECT_EQ(RunNode(SummingRnn("forward"), {&x, &w, &r, nullptr, &lens64}).status().code(),
            StatusCode::kInvalidArgument);
  Tensor xi = Make<int32_t>(DataType::kInt32, {1, 1, 1}, {1});
  EXPECT_EQ(RunNode(SummingRnn("forward"), {&xi, &w, &r}).status().code(),
            StatusCode::kUnimplemented);
}

TEST(RnnTest, EmptySequenceGivesInitialState) {
  Tensor x = F32({0, 1, 1}, {});
  Tensor w = F32({1, 1, 1}, {1});
  Tensor r = F32({1, 1, 1}, {1});
  Tensor h0 = F32({1, 1, 1}, {4});
  auto out = RunNode(SummingRnn("forward"), {&x, &w, &r, nullptr, nullptr, &h0}, {true, true});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ((*out)[0].shape(), (Shape{0, 1, 1, 1}));
  EXPECT_THAT(Values<float>((*out)[1]), ElementsAre(4));
}

TEST(RnnTest, DoubleAndHalfRun) {
  Tensor x = Make<double>(DataType::kFp64, {1, 1, 1}, {0.5});
  Tensor w = Make<double>(DataType::kFp64, {1, 1, 1}, {1});
  Tensor r = Make<double>(DataType::kFp64, {1, 1, 1}, {1});
  auto out = RunNode(Op("RNN"), {&x, &w, &r}, {false, true});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_DOUBLE_EQ(Values<double>((*out)[1])[0], std::tanh(0.5));
  using ref::Fp16;
  Tensor xh = Make<Fp16>(DataType::kFp16, {1, 1, 1}, {Fp16(0.5f)});
  Tensor wh = Make<Fp16>(DataType::kFp16, {1, 1, 1}, {Fp16(1.0f)});
  auto outh = RunNode(Op("RNN"), {&xh, &wh, &wh}, {false, true});
  ASSERT_TRUE(outh.ok()) << outh.status().ToString();
  EXPECT_NEAR(static_cast<float>(Values<Fp16>((*outh)[1])[0]), std::tanh(0.5f), 1e-3);
  // Mixed dtypes are an error.
  EXPECT_EQ(RunNode(Op("RNN"), {&xh, &w, &r}, {false, true}).status().code(),
            StatusCode::kInvalidArgument);
}

// ------------------------------------------------------------ detection ops

TEST(NmsTest, DefaultsSelectNothingAndInputsAreValidated) {
  Tensor boxes = F32({1, 1, 4}, {0, 0, 1, 1});
  Tensor scores = F32({1, 1, 1}, {0.9f});
  auto none = RunOne(Op("NonMaxSuppression"), {&boxes, &scores});
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(none->shape(), (Shape{0, 3}));
  Tensor max = I64({1}, {5});
  Tensor iou = F32({}, {1.5f});
  EXPECT_EQ(RunOne(Op("NonMaxSuppression"), {&boxes, &scores, &max, &iou}).status().code(),
            StatusCode::kInvalidArgument);
  Tensor bad_scores = F32({1, 1, 2}, {0.9f, 0.1f});
  EXPECT_EQ(RunOne(Op("NonMaxSuppression"), {&boxes, &bad_scores, &max}).status().code(),
            StatusCode::kInvalidArgument);
  Tensor max32 = I32({1}, {5});
  EXPECT_EQ(RunOne(Op("NonMaxSuppression"), {&boxes, &scores, &max32}).status().code(),
            StatusCode::kInvalidArgument);
  Node center = Op("NonMaxSuppression");
  SetInt(&center, "center_point_box", 2);
  EXPECT_EQ(RunOne(center, {&boxes, &scores}).status().code(), StatusCode::kInvalidArgument);
}

TEST(NmsTest, ScoreThresholdIsStrictAndTiesKeepIndexOrder) {
  Tensor boxes = F32({1, 3, 4}, {0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5});
  Tensor scores = F32({1, 1, 3}, {0.5f, 0.7f, 0.7f});
  Tensor max = I64({}, {10});
  Tensor iou = F32({}, {0.5f});
  Tensor score_th = F32({}, {0.5f});
  auto out = RunOne(Op("NonMaxSuppression"), {&boxes, &scores, &max, &iou, &score_th});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_THAT(Values<int64_t>(*out), ElementsAre(0, 0, 1, 0, 0, 2));
}

TEST(GridSampleTest, ValidatesAttributesAndShapes) {
  Tensor x = F32({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor grid = F32({1, 1, 1, 2}, {0, 0});
  Node mode = Op("GridSample");
  SetString(&mode, "mode", "linear");
  EXPECT_EQ(RunOne(mode, {&x, &grid}).status().code(), StatusCode::kInvalidArgument);
  Node pad = Op("GridSample");
  SetString(&pad, "padding_mode", "mirror");
  EXPECT_EQ(RunOne(pad, {&x, &grid}).status().code(), StatusCode::kInvalidArgument);
  Tensor x3 = F32({1, 2, 2}, {1, 2, 3, 4});
  EXPECT_EQ(RunOne(Op("GridSample"), {&x3, &grid}).status().code(), StatusCode::kInvalidArgument);
  Tensor grid3 = F32({1, 1, 1, 3}, {0, 0, 0});
  EXPECT_EQ(RunOne(Op("GridSample"), {&x, &grid3}).status().code(), StatusCode::kInvalidArgument);
  auto center = RunOne(Op("GridSample"), {&x, &grid});
  ASSERT_TRUE(center.ok());
  EXPECT_THAT(Values<float>(*center), ElementsAre(2.5f));
}

TEST(GridSampleTest, NonFiniteAndEmptyInputsDoNotCrash) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor x = F32({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor grid = F32({1, 1, 3, 2}, {inf, -inf, nan, 0, 1e30f, -1e30f});
  for (const char* mode : {"bilinear", "nearest", "bicubic"}) {
    for (const char* padding : {"zeros", "border", "reflection"}) {
      Node n = Op("GridSample");
      SetString(&n, "mode", mode);
      SetString(&n, "padding_mode", padding);
      auto out = RunOne(n, {&x, &grid});
      ASSERT_TRUE(out.ok()) << mode << " " << padding << ": " << out.status().ToString();
      EXPECT_EQ(out->shape(), (Shape{1, 1, 1, 3}));
    }
  }
  Tensor empty = F32({1, 1, 0, 0}, {});
  auto out = RunOne(Op("GridSample"), {&empty, &grid});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_THAT(Values<float>(*out), ElementsAre(0, 0, 0));
}

TEST(UniqueTest, NanCollapsesAndOrderOptionsWork) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor x = F32({6}, {3, nan, 1, 3, nan, -0.0f});
  Node n = Op("Unique");
  auto out = RunNode(n, {&x}, {true, true, true, true});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  std::vector<float> y = Values<float>((*out)[0]);
  ASSERT_EQ(y.size(), 4u);
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_EQ(y[1], 1.0f);
  EXPECT_EQ(y[2], 3.0f);
  EXPECT_TRUE(std::isnan(y[3]));
  EXPECT_THAT(Values<int64_t>((*out)[1]), ElementsAre(5, 2, 0, 1));
  EXPECT_THAT(Values<int64_t>((*out)[2]), ElementsAre(2, 3, 1, 2, 3, 0));
  EXPECT_THAT(Values<int64_t>((*out)[3]), ElementsAre(1, 1, 2, 2));
  Node unsorted = Op("Unique");
  SetInt(&unsorted, "sorted", 0);
  SetInt(&unsorted, "axis", -1);
  Tensor m = I64({2, 3}, {5, 1, 5, 6, 2, 6});  // columns: (5,6) (1,2) (5,6)
  auto cols = RunNode(unsorted, {&m}, {true, false, true});
  ASSERT_TRUE(cols.ok()) << cols.status().ToString();
  EXPECT_EQ((*cols)[0].shape(), (Shape{2, 2}));
  EXPECT_THAT(Values<int64_t>((*cols)[0]), ElementsAre(5, 1, 6, 2));
  EXPECT_THAT(Values<int64_t>((*cols)[2]), ElementsAre(0, 1, 0));
}

TEST(UniqueTest, EmptyBoolAndBadAxis) {
  Tensor empty = F32({0}, {});
  auto out = RunNode(Op("Unique"), {&empty}, {true, true});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ((*out)[0].shape(), (Shape{0}));
  Tensor b = Make<uint8_t>(DataType::kBool, {3}, {1, 0, 1});
  auto bo = RunOne(Op("Unique"), {&b});
  ASSERT_TRUE(bo.ok()) << bo.status().ToString();
  EXPECT_THAT(Values<uint8_t>(*bo), ElementsAre(0, 1));
  Node axis = Op("Unique");
  SetInt(&axis, "axis", 1);
  EXPECT_EQ(RunOne(axis, {&empty}).status().code(), StatusCode::kInvalidArgument);
  Node sorted = Op("Unique");
  SetInt(&sorted, "sorted", 2);
  EXPECT_EQ(RunOne(sorted, {&empty}).status().code(), StatusCode::kInvalidArgument);
}

TEST(RoiAlignTest, MaxModeAndValidation) {
  Tensor x = F32({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor rois = F32({1, 4}, {0, 0, 1, 1});
  Tensor idx = I64({1}, {0});
  Node n = Op("RoiAlign");
  SetString(&n, "mode", "max");
  SetInt(&n, "sampling_ratio", 1);
  SetString(&n, "coordinate_transformation_mode", "output_half_pixel");
  // One sample at (0.5, 0.5): the largest weighted corner is 0.25 * 4.
  auto out = RunOne(n, {&x, &rois, &idx});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_THAT(Values<float>(*out), ElementsAre(1.0f));
  Tensor bad_idx = I64({1}, {1});
  EXPECT_EQ(RunOne(Op("RoiAlign"), {&x, &rois, &bad_idx}).status().code(),
            StatusCode::kInvalidArgument);
  Tensor bad_rois = F32({1, 3}, {0, 0, 1});
  EXPECT_EQ(RunOne(Op("RoiAlign"), {&x, &bad_rois, &idx}).status().code(),
            StatusCode::kInvalidArgument);
  Node mode = Op("RoiAlign");
  SetString(&mode, "mode", "min");
  EXPECT_EQ(RunOne(mode, {&x, &rois, &idx}).status().code(), StatusCode::kInvalidArgument);
  Node height = Op("RoiAlign");
  SetInt(&height, "output_height", 0);
  EXPECT_EQ(RunOne(height, {&x, &rois, &idx}).status().code(), StatusCode::kInvalidArgument);
  Node ctm = Op("RoiAlign");
  SetString(&ctm, "coordinate_transformation_mode", "align_corners");
  EXPECT_EQ(RunOne(ctm, {&x, &rois, &idx}).status().code(), StatusCode::kInvalidArgument);
}

TEST(RoiAlignTest, Opset10HasNoPixelShift) {
  Tensor x = F32({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor rois = F32({1, 4}, {0, 0, 1, 1});
  Tensor idx = I64({1}, {0});
  Node n = Op("RoiAlign");
  SetInt(&n, "sampling_ratio", 1);
  auto v10 = RunOne(n, {&x, &rois, &idx}, 10);
  auto v16 = RunOne(n, {&x, &rois, &idx}, 16);
  ASSERT_TRUE(v10.ok() && v16.ok());
  EXPECT_FLOAT_EQ(Values<float>(*v10)[0], 2.5f);  // sample at (0.5, 0.5)
  EXPECT_FLOAT_EQ(Values<float>(*v16)[0], 1.0f);  // sample at (0, 0)
}

TEST(MaxUnpoolTest, ValidatesIndicesAndShapes) {
  Tensor x = F32({1, 1, 1, 1}, {7});
  Tensor i = I64({1, 1, 1, 1}, {3});
  Node n = Op("MaxUnpool");
  SetInts(&n, "kernel_shape", {2, 2});
  SetInts(&n, "strides", {2, 2});
  auto out = RunOne(n, {&x, &i});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_THAT(Values<float>(*out), ElementsAre(0, 0, 0, 7));
  Tensor far = I64({1, 1, 1, 1}, {4});
  EXPECT_EQ(RunOne(n, {&x, &far}).status().code(), StatusCode::kInvalidArgument);
  Tensor neg = I64({1, 1, 1, 1}, {-1});
  EXPECT_EQ(RunOne(n, {&x, &neg}).status().code(), StatusCode::kInvalidArgument);
  Tensor small = I64({4}, {1, 1, 1, 1});
  EXPECT_EQ(RunOne(n, {&x, &i, &small}).status().code(), StatusCode::kInvalidArgument);
  Tensor x3 = F32({1, 1, 1}, {7});
  Tensor i3 = I64({1, 1, 1}, {0});
  EXPECT_EQ(RunOne(n, {&x3, &i3}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RunOne(Op("MaxUnpool"), {&x, &i}).status().code(), StatusCode::kInvalidArgument);
  Node pads = Op("MaxUnpool");
  SetInts(&pads, "kernel_shape", {2, 2});
  SetInts(&pads, "pads", {0, 0});
  EXPECT_EQ(RunOne(pads, {&x, &i}).status().code(), StatusCode::kInvalidArgument);
}

TEST(ScatterTest, NegativeIndicesIntegersAndErrors) {
  Tensor data = Make<int32_t>(DataType::kInt32, {2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor idx = I64({2, 1}, {-1, 0});
  Tensor upd = Make<int32_t>(DataType::kInt32, {2, 1}, {10, 20});
  Node n = Op("Scatter");
  SetInt(&n, "axis", -1);
  auto out = RunOne(n, {&data, &idx, &upd}, 9);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_THAT(Values<int32_t>(*out), ElementsAre(1, 2, 10, 20, 5, 6));
  Tensor far = I64({2, 1}, {3, 0});
  EXPECT_EQ(RunOne(n, {&data, &far, &upd}, 9).status().code(), StatusCode::kInvalidArgument);
  Tensor upd_f = F32({2, 1}, {1, 2});
  EXPECT_EQ(RunOne(n, {&data, &idx, &upd_f}, 9).status().code(), StatusCode::kInvalidArgument);
  Tensor wide = I64({3, 1}, {0, 0, 0});
  Tensor wide_upd = Make<int32_t>(DataType::kInt32, {3, 1}, {1, 1, 1});
  EXPECT_EQ(RunOne(n, {&data, &wide, &wide_upd}, 9).status().code(),
            StatusCode::kInvalidArgument);
  Node axis = Op("Scatter");
  SetInt(&axis, "axis", 2);
  EXPECT_EQ(RunOne(axis, {&data, &idx, &upd}, 9).status().code(), StatusCode::kInvalidArgument);
  Tensor idx_f = F32({2, 1}, {0, 0});
  EXPECT_EQ(RunOne(n, {&data, &idx_f, &upd}, 9).status().code(), StatusCode::kInvalidArgument);
}

TEST(BernoulliTest, ShapeDtypeSeedAndExtremes) {
  Tensor p = F32({2, 3}, {0, 1, 0, 1, 0.5f, 0.5f});
  auto out = RunOne(Op("Bernoulli"), {&p}, 15);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->dtype(), DataType::kFp32);
  EXPECT_EQ(out->shape(), (Shape{2, 3}));
  std::vector<float> v = Values<float>(*out);
  EXPECT_EQ(v[0], 0);
  EXPECT_EQ(v[1], 1);
  EXPECT_TRUE(v[4] == 0 || v[4] == 1);
  Node typed = Op("Bernoulli");
  SetInt(&typed, "dtype", 9);  // ONNX BOOL
  SetFloat(&typed, "seed", 3.0f);
  auto a = RunOne(typed, {&p}, 15);
  auto b = RunOne(typed, {&p}, 15);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->dtype(), DataType::kBool);
  EXPECT_EQ(Values<uint8_t>(*a), Values<uint8_t>(*b));
  Tensor bad = F32({1}, {2.0f});
  EXPECT_EQ(RunOne(Op("Bernoulli"), {&bad}, 15).status().code(), StatusCode::kInvalidArgument);
  Node strings = Op("Bernoulli");
  SetInt(&strings, "dtype", 8);  // ONNX STRING
  EXPECT_EQ(RunOne(strings, {&p}, 15).status().code(), StatusCode::kUnimplemented);
}

// ONNX rounds the expected outputs of these node tests to 4 decimals, below
// the conformance runner's tolerance; ONNX's own backend runner compares
// them at rtol 1e-3, atol 1e-7, which the exact results must meet.
TEST(RoundedNodeTests, MatchAtOnnxBackendTolerance) {
  namespace fs = std::filesystem;
  const fs::path root = "/usr/share/libonnx-testdata/data/node";
  if (!fs::is_directory(root)) GTEST_SKIP() << "libonnx-testdata is not installed";
  for (const char* name :
       {"test_gridsample_bicubic", "test_roialign_aligned_false", "test_roialign_aligned_true"}) {
    auto read = [](const fs::path& p) {
      std::ifstream f(p, std::ios::binary);
      std::ostringstream s;
      s << f.rdbuf();
      return s.str();
    };
    const fs::path dir = root / name;
    auto plan = Plan::FromOnnxFile((dir / "model.onnx").string(), CompileOptions{});
    ASSERT_TRUE(plan.ok()) << name << ": " << plan.status().ToString();
    std::vector<Tensor> inputs;
    const fs::path set = dir / "test_data_set_0";
    for (int i = 0; fs::exists(set / ("input_" + std::to_string(i) + ".pb")); ++i) {
      auto t = TensorFromOnnxBytes(read(set / ("input_" + std::to_string(i) + ".pb")));
      ASSERT_TRUE(t.ok());
      inputs.push_back(std::move(t).value());
    }
    auto want = TensorFromOnnxBytes(read(set / "output_0.pb"));
    ASSERT_TRUE(want.ok());
    std::vector<TensorView> views;
    for (const Tensor& t : inputs) views.push_back(t.view());
    std::vector<Tensor> got;
    ASSERT_TRUE((*plan)->Run(views, &got).ok()) << name;
    ASSERT_EQ(got.size(), 1u);
    ASSERT_EQ(got[0].shape(), want->shape()) << name;
    std::vector<float> g = Values<float>(got[0]), w = Values<float>(*want);
    for (size_t i = 0; i < g.size(); ++i) {
      EXPECT_LE(std::fabs(g[i] - w[i]), 1e-7 + 1e-3 * std::fabs(w[i])) << name << " element " << i;
    }
  }
}

}  // namespace
}  // namespace nereid::engine
