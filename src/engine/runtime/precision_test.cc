// Reduced precision: calibrator thresholds, the precision assignment (for
// convolutions and for matrix products: which get BF16 / INT8 and why the
// others stay FP32, on a small attention block built here), and top-1
// accuracy on Fashion-MNIST's 10,000 test images in FP32, BF16 and INT8
// (calibrated on 500 training images) with the CNN that
// tests/models/fashion_mnist/train_fashion_mnist.py trains (its convolutions
// and its fully connected Gemm layers reduced). The data is the Debian
// package dataset-fashion-mnist; without it that test skips.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>

#include "engine/ir/onnx_import.h"
#include "engine/ir/precision_attrs.h"
#include "engine/ir/test_models.h"
#include "engine/passes/assign_precision.h"
#include "engine/passes/pass.h"
#include "engine/runtime/calibration.h"
#include "engine/runtime/plan.h"

namespace nereid::engine {
namespace {

const char kData[] = "/usr/share/datasets/fashion-mnist";
const std::string kModel =
    std::string(NEREID_SOURCE_DIR) + "/tests/models/fashion_mnist/fashion_cnn.onnx";

ActivationStats Stats(const std::vector<float>& xs) {
  ActivationStats s;
  s.min = *std::min_element(xs.begin(), xs.end());
  s.max = *std::max_element(xs.begin(), xs.end());
  s.abs_max = std::max(std::fabs(s.min), std::fabs(s.max));
  s.histogram.assign(kHistogramBins, 0);
  for (float x : xs) {
    int bin = static_cast<int>(std::fabs(x) / s.abs_max * kHistogramBins);
    s.histogram[std::min(bin, kHistogramBins - 1)]++;
  }
  s.count = static_cast<int64_t>(xs.size());
  return s;
}

TEST(Calibrators, ThresholdsFollowTheirRules) {
  // Mostly |x| < 1 (half-normal), plus a few outliers near 50.
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0, 0.3f);
  std::vector<float> xs;
  for (int i = 0; i < 200000; ++i) xs.push_back(std::fabs(normal(rng)));
  for (int i = 0; i < 5; ++i) xs.push_back(50.0f - i);
  ActivationStats s = Stats(xs);
  EXPECT_FLOAT_EQ(ChooseThreshold(s, Calibrator::kMinMax, 255), 50.0f);
  const float pct = ChooseThreshold(s, Calibrator::kPercentile, 255, 99.9);
  EXPECT_GT(pct, 0.8f);
  EXPECT_LT(pct, 1.5f);
  const float kl = ChooseThreshold(s, Calibrator::kEntropy, 255);
  EXPECT_LT(kl, 10.0f);  // the outliers are clipped
  EXPECT_GT(kl, 0.5f);   // the bulk is not
  ActivationStats zeros;
  EXPECT_EQ(ChooseThreshold(zeros, Calibrator::kEntropy, 127), 1.0f);
}

// Reads an idx file (gzip): images as [N,1,28,28] floats / 255, or labels.
std::vector<uint8_t> ReadIdx(const std::string& path, size_t header) {
  gzFile f = gzopen(path.c_str(), "rb");
  std::vector<uint8_t> bytes;
  if (!f) return bytes;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof(buf))) > 0) bytes.insert(bytes.end(), buf, buf + n);
  gzclose(f);
  if (bytes.size() < header) return {};
  return std::vector<uint8_t>(bytes.begin() + header, bytes.end());
}

Tensor Images(const std::vector<uint8_t>& pixels, size_t first, size_t count) {
  Tensor t = Tensor::AllocateDense(DataType::kFp32, {static_cast<int64_t>(count), 1, 28, 28});
  float* out = t.mutable_data_as<float>();
  for (size_t i = 0; i < count * 784; ++i) out[i] = pixels[first * 784 + i] / 255.0f;
  return t;
}

double Accuracy(const Plan& plan, const std::vector<uint8_t>& pixels,
                const std::vector<uint8_t>& labels) {
  const size_t n = labels.size();
  size_t right = 0;
  for (size_t first = 0; first < n; first += 500) {
    const size_t count = std::min<size_t>(500, n - first);
    Tensor x = Images(pixels, first, count);
    std::vector<Tensor> out;
    Status st = plan.Run({x.view()}, &out);
    EXPECT_TRUE(st.ok()) << st.message();
    if (!st.ok()) return 0;
    const float* logits = out[0].data_as<float>();
    for (size_t i = 0; i < count; ++i) {
      const float* row = logits + i * 10;
      right += static_cast<size_t>(std::max_element(row, row + 10) - row) == labels[first + i];
    }
  }
  return 100.0 * static_cast<double>(right) / static_cast<double>(n);
}

TEST(FashionMnist, Bf16AndInt8LoseUnderOnePointOfTop1) {
  const std::string dir = kData;
  if (!std::filesystem::exists(dir + "/t10k-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)";
  }
  const auto test_pixels = ReadIdx(dir + "/t10k-images-idx3-ubyte.gz", 16);
  const auto test_labels = ReadIdx(dir + "/t10k-labels-idx1-ubyte.gz", 8);
  const auto train_pixels = ReadIdx(dir + "/train-images-idx3-ubyte.gz", 16);
  ASSERT_EQ(test_labels.size(), 10000u);
  ASSERT_EQ(test_pixels.size(), 10000u * 784);
  // 500 training images, 50 per batch.
  auto calibration = std::make_shared<CalibrationSet>();
  for (size_t first = 0; first < 500; first += 50) {
    calibration->samples.push_back({Images(train_pixels, first, 50)});
  }
  CompileOptions options;
  options.intra_op_threads = 2;
  auto fp32 = Plan::FromOnnxFile(kModel, options);
  ASSERT_TRUE(fp32.ok()) << fp32.status().message();
  const double acc_fp32 = Accuracy(**fp32, test_pixels, test_labels);
  std::printf("Fashion-MNIST top-1, 10000 test images: FP32 %.2f %%\n", acc_fp32);
  EXPECT_GT(acc_fp32, 85.0);

  options.precision = Precision::kBf16;
  auto bf16 = Plan::FromOnnxFile(kModel, options);
  ASSERT_TRUE(bf16.ok()) << bf16.status().message();
  const double acc_bf16 = Accuracy(**bf16, test_pixels, test_labels);
  std::printf("  BF16 %.2f %% (%+.2f)\n", acc_bf16, acc_bf16 - acc_fp32);
  EXPECT_LT(std::fabs(acc_bf16 - acc_fp32), 1.0);

  options.precision = Precision::kInt8;
  options.calibration = calibration;
  for (auto [calibrator, name] : {std::pair{Calibrator::kMinMax, "minmax"},
                                  {Calibrator::kPercentile, "percentile"},
                                  {Calibrator::kEntropy, "entropy"}}) {
    options.calibrator = calibrator;
    auto int8 = Plan::FromOnnxFile(kModel, options);
    ASSERT_TRUE(int8.ok()) << int8.status().message();
    const double acc = Accuracy(**int8, test_pixels, test_labels);
    std::printf("  INT8 (%s, 500 calibration images) %.2f %% (%+.2f)\n", name, acc,
                acc - acc_fp32);
    EXPECT_LT(std::fabs(acc - acc_fp32), 1.0) << name;
  }
}

TEST(AssignPrecision, MarksConvolutionsAndExplainsTheRest) {
  if (!std::filesystem::exists(kModel)) GTEST_SKIP() << kModel << " missing";
  auto graph = ImportOnnxFile(kModel, {});
  ASSERT_TRUE(graph.ok()) << graph.status().message();
  ASSERT_TRUE(RunPasses(&*graph, {}).ok());
  CompileOptions options;
  options.precision = Precision::kInt8;
  EXPECT_FALSE(AssignPrecision(&*graph, options, nullptr).ok());  // no calibration data
  auto calibration = std::make_shared<CalibrationSet>();
  Tensor x = Tensor::AllocateDense(DataType::kFp32, {2, 1, 28, 28});
  for (int i = 0; i < 2 * 784; ++i) x.mutable_data_as<float>()[i] = (i % 17) / 17.0f;
  calibration->samples.push_back({x});
  options.calibration = calibration;
  PrecisionReport report;
  ASSERT_TRUE(AssignPrecision(&*graph, options, &report).ok());
  EXPECT_EQ(report.reduced, 4);    // conv2, conv3 and the two fully connected Gemms
  EXPECT_EQ(report.kept_fp32, 1);  // conv1: one input channel
  int int8_nodes = 0;
  for (const Node& n : graph->nodes) {
    auto p = n.GetString(kPrecisionAttr, "fp32");
    if (p.ok() && *p == "int8") {
      ++int8_nodes;
      EXPECT_GT(*n.GetFloat(kInputScaleAttr), 0.0f);
      EXPECT_EQ(*n.GetInt(kInputUnsignedAttr), 1);  // post-ReLU/max-pool inputs
    }
  }
  EXPECT_EQ(int8_nodes, 4);
  // Best: calibrated like INT8, then each eligible node timed in FP32, BF16
  // and INT8; the fastest stays, and the report says the times.
  options.precision = Precision::kBest;
  auto g_best = ImportOnnxFile(kModel, {});
  ASSERT_TRUE(g_best.ok());
  ASSERT_TRUE(RunPasses(&*g_best, {}).ok());
  PrecisionReport best;
  ASSERT_TRUE(AssignPrecision(&*g_best, options, &best).ok());
  int timed = 0;
  for (const std::string& line : best.lines) {
    if (line.find("fastest at batch 1: fp32 ") != std::string::npos &&
        line.find(", bf16 ") != std::string::npos && line.find(", int8 ") != std::string::npos) {
      ++timed;
    }
  }
  EXPECT_EQ(timed, 4) << ::testing::PrintToString(best.lines);  // 2 convolutions, 2 Gemms
  CompileOptions no_data;
  no_data.precision = Precision::kBest;
  EXPECT_EQ(AssignPrecision(&*g_best, no_data, nullptr).code(), StatusCode::kInvalidArgument);
  // Calibration samples must fit the model's inputs.
  options.precision = Precision::kInt8;
  calibration->samples.push_back({x, x});
  auto g2 = ImportOnnxFile(kModel, {});
  ASSERT_TRUE(g2.ok());
  Status bad = AssignPrecision(&*g2, options, nullptr);
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("calibration sample 1"), std::string::npos) << bad.message();
}

// An attention block in miniature: projections with constant weights (INT8 /
// BF16) around the two products of computed tensors (FP32), plus products
// the reduced kernel does not take (3-D constant B, permuted output).
std::string AttentionBlock() {
  using onnx::TensorProto;
  testing::ModelBuilder b(17);
  b.Input("x", TensorProto::FLOAT, {-1, 4, 16});
  b.Output("g", TensorProto::FLOAT, {-1, 8});
  b.Output("z", TensorProto::FLOAT, {-1, 4, 8});
  b.Output("t", TensorProto::FLOAT, {-1, 8, 4});
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  auto weights = [&](const std::string& name, std::vector<int64_t> dims) {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = u(rng);
    b.FloatInitializer(name, dims, v);
  };
  weights("wq", {16, 16});
  weights("bq", {16});
  weights("wk", {16, 16});
  weights("bk", {16});
  weights("wg", {8, 16});
  weights("bg", {8});
  weights("w3", {1, 16, 8});
  weights("w2", {16, 8});
  b.Int64Initializer("rows", {2}, {-1, 16});
  b.AddNode("MatMul", {"x", "wq"}, {"q0"}, "q_proj");
  b.AddNode("Add", {"q0", "bq"}, {"q"});
  b.AddNode("MatMul", {"x", "wk"}, {"k0"}, "k_proj");
  b.AddNode("Add", {"k0", "bk"}, {"k"});
  testing::SetIntsAttr(b.AddNode("Transpose", {"k"}, {"kt"}), "perm", {0, 2, 1});
  b.AddNode("MatMul", {"q", "kt"}, {"s"}, "scores");
  testing::SetIntAttr(b.AddNode("Softmax", {"s"}, {"p"}), "axis", -1);
  b.AddNode("MatMul", {"p", "x"}, {"c"}, "context");
  b.AddNode("Reshape", {"c", "rows"}, {"r"});
  auto* gemm = b.AddNode("Gemm", {"r", "wg", "bg"}, {"g"}, "out_proj");
  testing::SetIntAttr(gemm, "transB", 1);
  b.AddNode("MatMul", {"x", "w3"}, {"z"}, "batched_weights");
  b.AddNode("MatMul", {"x", "w2"}, {"t0"}, "permuted_out");
  testing::SetIntsAttr(b.AddNode("Transpose", {"t0"}, {"t"}), "perm", {0, 2, 1});
  return b.Serialize();
}

Tensor RandomInput(int64_t n, uint32_t seed) {
  Tensor x = Tensor::AllocateDense(DataType::kFp32, {n, 4, 16});
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0, 1);
  for (size_t i = 0; i < x.byte_size() / 4; ++i) x.mutable_data_as<float>()[i] = normal(rng);
  return x;
}

TEST(AssignPrecision, MarksMatMulsWithConstantWeightsOnly) {
  const std::string model = AttentionBlock();
  auto graph = ImportOnnxModel(model, {});
  ASSERT_TRUE(graph.ok()) << graph.status().message();
  ASSERT_TRUE(RunPasses(&*graph, {}).ok());
  auto calibration = std::make_shared<CalibrationSet>();
  for (uint32_t seed = 0; seed < 4; ++seed) calibration->samples.push_back({RandomInput(2, seed)});
  CompileOptions options;
  options.precision = Precision::kInt8;
  options.calibration = calibration;
  PrecisionReport report;
  ASSERT_TRUE(AssignPrecision(&*graph, options, &report).ok());
  std::string all;
  for (const std::string& line : report.lines) all += line + "\n";
  EXPECT_EQ(report.reduced, 3) << all;    // q_proj, k_proj (with their biases), out_proj
  EXPECT_EQ(report.kept_fp32, 4) << all;  // scores, context, batched_weights, permuted_out
  auto line_of = [&](const std::string& name) {
    for (const std::string& line : report.lines) {
      if (line.find("'" + name + "'") != std::string::npos) return line;
    }
    return "(no line for " + name + ")\n" + all;
  };
  EXPECT_NE(line_of("q_proj").find("INT8 (input s8"), std::string::npos) << line_of("q_proj");
  EXPECT_NE(line_of("out_proj").find("INT8"), std::string::npos) << line_of("out_proj");
  EXPECT_NE(line_of("scores").find("B is computed"), std::string::npos) << line_of("scores");
  EXPECT_NE(line_of("context").find("B is computed"), std::string::npos) << line_of("context");
  EXPECT_NE(line_of("batched_weights").find("not a 2-D matrix"), std::string::npos)
      << line_of("batched_weights");
  EXPECT_NE(line_of("permuted_out").find("output is permuted"), std::string::npos)
      << line_of("permuted_out");
  for (const Node& n : graph->nodes) {
    const bool marked = n.FindAttribute(kPrecisionAttr) != nullptr;
    const bool product = n.op_type == "MatMul" || n.op_type == "Gemm" || n.op_type == "FusedMatMul";
    if (!product) {
      EXPECT_FALSE(marked) << DescribeNode(n, 0);  // Softmax, Transpose, ...
    }
    if (marked) {
      EXPECT_EQ(*n.GetInt(kInputUnsignedAttr), 0) << DescribeNode(n, 0);  // x, P@x are signed
      EXPECT_GT(*n.GetFloat(kInputScaleAttr), 0.0f);
    }
  }
  // End to end: BF16 and INT8 plans agree with FP32 on an input calibration
  // never saw.
  const Tensor x = RandomInput(3, 99);
  CompileOptions fp32_options;
  auto fp32 = Plan::FromOnnxBytes(model, fp32_options);
  ASSERT_TRUE(fp32.ok()) << fp32.status().message();
  std::vector<Tensor> want;
  ASSERT_TRUE((*fp32)->Run({x.view()}, &want).ok());
  for (Precision p : {Precision::kBf16, Precision::kInt8}) {
    options.precision = p;
    auto plan = Plan::FromOnnxBytes(model, options);
    ASSERT_TRUE(plan.ok()) << plan.status().message();
    std::vector<Tensor> got;
    ASSERT_TRUE((*plan)->Run({x.view()}, &got).ok());
    ASSERT_EQ(got.size(), want.size());
    for (size_t o = 0; o < got.size(); ++o) {
      const float* a = got[o].data_as<float>();
      const float* e = want[o].data_as<float>();
      double diff = 0, norm = 0;
      for (size_t i = 0; i < got[o].byte_size() / 4; ++i) {
        diff += (a[i] - e[i]) * (a[i] - e[i]);
        norm += e[i] * e[i];
      }
      // Relative L2 error: BF16 keeps 2^-8, INT8 ~1 % per product (steps of
      // 1/127 of the range), which the unscaled softmax scores amplify
      // (measured: BF16 0.6 %, INT8 3.0 %).
      EXPECT_LT(std::sqrt(diff / norm), p == Precision::kInt8 ? 0.05 : 0.01)
          << "output " << o << " " << (p == Precision::kInt8 ? "int8" : "bf16");
      if (o == 0) {
        EXPECT_GT(diff, 0.0) << "g: nothing was reduced";
      } else {
        EXPECT_EQ(diff, 0.0) << "output " << o << " comes from FP32 products only";
      }
    }
  }
}

// A small residual network with both of ResNet's shortcuts: identity (the
// block's input, u8 after a ReLU) and projection (a strided 1x1 convolution
// without activation: s8).
std::string ResidualModel() {
  testing::ModelBuilder b(17);
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0, 1);
  auto weights = [&](const std::string& name, std::vector<int64_t> dims) {
    int64_t fan_in = dims[1] * dims[2] * dims[3], n = dims[0] * fan_in;
    std::vector<float> v(n);
    for (float& x : v) x = normal(rng) * std::sqrt(2.0f / fan_in);
    b.FloatInitializer(name, dims, v);
    std::vector<float> bias(dims[0]);
    for (float& x : bias) x = 0.1f * normal(rng);
    b.FloatInitializer(name + "_b", {dims[0]}, bias);
  };
  auto conv = [&](const std::string& x, const std::string& w, const std::string& y, int64_t k,
                  int64_t stride) {
    auto* n = b.AddNode("Conv", {x, w, w + "_b"}, {y});
    testing::SetIntsAttr(n, "pads", std::vector<int64_t>(4, k / 2));
    testing::SetIntsAttr(n, "strides", {stride, stride});
  };
  b.Input("x", onnx::TensorProto::FLOAT, {-1, 8, 16, 16});
  b.Output("y", onnx::TensorProto::FLOAT, {-1, 32});
  weights("w1", {16, 8, 3, 3});
  weights("w2", {16, 16, 3, 3});
  weights("w3", {16, 16, 1, 1});
  weights("w4", {32, 16, 3, 3});
  weights("w5", {32, 32, 1, 1});
  weights("wp", {32, 16, 1, 1});
  conv("x", "w1", "c1", 3, 1);
  b.AddNode("Relu", {"c1"}, {"a"});
  conv("a", "w2", "c2", 3, 1);
  b.AddNode("Relu", {"c2"}, {"r2"});
  conv("r2", "w3", "c3", 1, 1);
  b.AddNode("Add", {"c3", "a"}, {"s1"});
  b.AddNode("Relu", {"s1"}, {"d"});  // identity shortcut
  conv("d", "w4", "c4", 3, 2);
  b.AddNode("Relu", {"c4"}, {"r4"});
  conv("d", "wp", "p", 1, 2);        // projection shortcut
  conv("r4", "w5", "c5", 1, 1);
  b.AddNode("Add", {"c5", "p"}, {"s2"});
  b.AddNode("Relu", {"s2"}, {"e"});
  b.AddNode("GlobalAveragePool", {"e"}, {"g"});
  b.AddNode("Flatten", {"g"}, {"y"});
  return b.Serialize();
}

// INT8 chains (passes/chain_int8.h) change where tensors are quantized, not
// the arithmetic: chained and unchained INT8 agree to output rounding, both
// agree with FP32 to quantization error, and a plan keeps the chain.
TEST(Int8Chain, ResidualNetworkAgreesWithUnchainedAndFp32) {
  const std::string model = ResidualModel();
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0, 1);
  auto images = [&](int64_t n) {
    Tensor t = Tensor::AllocateDense(DataType::kFp32, {n, 8, 16, 16});
    for (size_t i = 0; i < t.byte_size() / 4; ++i) t.mutable_data_as<float>()[i] = normal(rng);
    return t;
  };
  auto calibration = std::make_shared<CalibrationSet>();
  for (int i = 0; i < 4; ++i) calibration->samples.push_back({images(4)});
  const Tensor x = images(3);
  auto run = [&](Precision precision, bool chain, const Plan** keep = nullptr) {
    CompileOptions o;
    o.precision = precision;
    o.calibration = calibration;
    if (!chain) o.disabled_passes.push_back("chain_int8");
    auto plan = Plan::FromOnnxBytes(model, o);
    EXPECT_TRUE(plan.ok()) << plan.status().message();
    std::vector<Tensor> out;
    if (!plan.ok()) return std::pair{std::vector<float>{}, -1};
    EXPECT_TRUE((*plan)->Run({x.view()}, &out).ok());
    int chained = -1;
    for (const auto& pass : (*plan)->info().passes) {
      if (pass.name == "chain_int8") chained = pass.rewrites;
    }
    if (chain && precision == Precision::kInt8) {
      // The chained values survive a plan file round trip.
      auto bytes = (*plan)->Serialize();
      EXPECT_TRUE(bytes.ok());
      auto loaded = Plan::FromPlanBytes(*bytes, {});
      EXPECT_TRUE(loaded.ok()) << loaded.status().message();
      std::vector<Tensor> again;
      EXPECT_TRUE((*loaded)->Run({x.view()}, &again).ok());
      EXPECT_EQ(std::memcmp(again[0].data(), out[0].data(), out[0].byte_size()), 0);
    }
    const float* y = out[0].data_as<float>();
    return std::pair{std::vector<float>(y, y + out[0].byte_size() / 4), chained};
  };
  auto [fp32, none] = run(Precision::kFp32, true);
  auto [plain, unchained] = run(Precision::kInt8, false);
  auto [chained, count] = run(Precision::kInt8, true);
  ASSERT_EQ(fp32.size(), 3u * 32);
  ASSERT_EQ(plain.size(), fp32.size());
  ASSERT_EQ(chained.size(), fp32.size());
  EXPECT_EQ(none, -1);       // no chain pass in FP32
  EXPECT_EQ(unchained, -1);  // disabled
  // a (u8, read as X and as Z), r2 (u8), d (u8, two X readers), r4 (u8) and
  // the projection p (s8, read as Z only); e feeds the pool: FP32.
  EXPECT_EQ(count, 5);
  auto rel = [](const std::vector<float>& a, const std::vector<float>& b) {
    double d = 0, n = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      d += (a[i] - b[i]) * (a[i] - b[i]);
      n += b[i] * b[i];
    }
    return std::sqrt(d / n);
  };
  const double chained_vs_fp32 = rel(chained, fp32), plain_vs_fp32 = rel(plain, fp32);
  std::printf("INT8 relative L2 error vs FP32: chained %.3g, unchained %.3g; chained vs "
              "unchained %.3g\n", chained_vs_fp32, plain_vs_fp32, rel(chained, plain));
  EXPECT_LT(plain_vs_fp32, 0.05);
  EXPECT_LT(chained_vs_fp32, 0.05);
  EXPECT_LT(chained_vs_fp32, 2 * plain_vs_fp32 + 1e-3);
}

// Depthwise convolutions (W [C, 1, k, k], group C) count their input
// channels as C, not 1: they are no first layer and run INT8, chained
// (MobileNetV2's blocks: 1x1 -> depthwise 3x3 -> 1x1).
TEST(AssignPrecision, DepthwiseConvolutionsAreEligible) {
  testing::ModelBuilder b(17);
  b.Input("x", onnx::TensorProto::FLOAT, {-1, 16, 8, 8});
  b.Output("y", onnx::TensorProto::FLOAT, {-1, 16, 8, 8});
  std::vector<float> w1(16 * 16), dw(16 * 9), w3(16 * 16);
  for (size_t i = 0; i < w1.size(); ++i) w1[i] = 0.1f * static_cast<float>(i % 7) - 0.3f;
  for (size_t i = 0; i < dw.size(); ++i) dw[i] = 0.2f * static_cast<float>(i % 5) - 0.4f;
  for (size_t i = 0; i < w3.size(); ++i) w3[i] = 0.05f * static_cast<float>(i % 11) - 0.25f;
  b.FloatInitializer("w1", {16, 16, 1, 1}, w1);
  b.FloatInitializer("dw", {16, 1, 3, 3}, dw);
  b.FloatInitializer("w3", {16, 16, 1, 1}, w3);
  b.AddNode("Conv", {"x", "w1"}, {"c1"});
  b.AddNode("Relu", {"c1"}, {"r1"});
  auto* d = b.AddNode("Conv", {"r1", "dw"}, {"c2"});
  testing::SetIntAttr(d, "group", 16);
  testing::SetIntsAttr(d, "pads", {1, 1, 1, 1});
  b.AddNode("Relu", {"c2"}, {"r2"});
  b.AddNode("Conv", {"r2", "w3"}, {"y"});
  const std::string model = b.Serialize();
  auto calibration = std::make_shared<CalibrationSet>();
  Tensor x = Tensor::AllocateDense(DataType::kFp32, {2, 16, 8, 8});
  for (int i = 0; i < 2 * 16 * 64; ++i) x.mutable_data_as<float>()[i] = (i % 13) / 13.0f - 0.4f;
  calibration->samples.push_back({x});
  CompileOptions o;
  o.precision = Precision::kInt8;
  o.calibration = calibration;
  auto plan = Plan::FromOnnxBytes(model, o);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  int chained = 0;
  for (const auto& pass : (*plan)->info().passes) {
    if (pass.name == "chain_int8") chained = pass.rewrites;
  }
  EXPECT_EQ(chained, 2);  // r1 (into the depthwise conv) and r2 (out of it)
  std::vector<Tensor> out;
  ASSERT_TRUE((*plan)->Run({x.view()}, &out).ok());
  CompileOptions f;
  auto fp32 = Plan::FromOnnxBytes(model, f);
  ASSERT_TRUE(fp32.ok());
  std::vector<Tensor> want;
  ASSERT_TRUE((*fp32)->Run({x.view()}, &want).ok());
  double d2 = 0, n2 = 0;
  for (size_t i = 0; i < want[0].byte_size() / 4; ++i) {
    const double e = want[0].data_as<float>()[i], g = out[0].data_as<float>()[i];
    d2 += (g - e) * (g - e);
    n2 += e * e;
  }
  EXPECT_LT(std::sqrt(d2 / n2), 0.05);
}

// The calibration table names the ONNX model's tensors: the layout pass's
// copies map back to their source, other names (even ending in "/<n>") stay.
TEST(CalibrationTable, NamesTheModelsTensorsOncePerTensor) {
  Graph g;
  auto conv = [&](const std::string& input, float scale, bool is_unsigned) {
    Node n;
    n.op_type = "Conv";
    n.inputs = {g.GetOrAddValue(input)};
    Attribute kind, s, u;
    kind.kind = Attribute::Kind::kString;
    kind.s = "int8";
    s.kind = Attribute::Kind::kFloat;
    s.f = scale;
    u.kind = Attribute::Kind::kInt;
    u.i = is_unsigned ? 1 : 0;
    n.attributes[kPrecisionAttr] = kind;
    n.attributes[kInputScaleAttr] = s;
    n.attributes[kInputUnsignedAttr] = u;
    g.nodes.push_back(n);
  };
  conv("relu_1/plain", 0.5f, true);
  conv("relu_1", 0.5f, true);  // the same tensor: one entry
  conv("pool/blocked/2", 0.25f, false);
  conv("/layer1/conv/1", 0.125f, true);
  Node fp32;
  fp32.op_type = "Conv";
  fp32.inputs = {g.GetOrAddValue("image")};
  g.nodes.push_back(fp32);
  const std::vector<CalibrationEntry> e = CalibrationEntries(g);
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].tensor, "relu_1");
  EXPECT_EQ(e[1].tensor, "pool");
  EXPECT_FALSE(e[1].is_unsigned);
  EXPECT_EQ(e[2].tensor, "/layer1/conv/1");
  const std::string json = CalibrationTableJson(e, Calibrator::kEntropy);
  EXPECT_NE(json.find("\"calibrator\": \"entropy\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"pool\": {\"scale\": 0.25, \"unsigned\": false}"), std::string::npos)
      << json;
}

}  // namespace
}  // namespace nereid::engine
