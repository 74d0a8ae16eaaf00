// Tests of the oneDNN Conv kernel (cpu/dnnl_conv.cc) against the reference
// Conv kernel: random shapes and attributes (fixed seeds), constant and
// non-constant weights, dynamic batch (shape cache), concurrent runs and
// fallback to the reference for what the kernel does not cover.
//
// Both kernels are built from the registry's factories for the same node
// (priority 10 = oneDNN, priority 0 = reference), which is what a plan with
// and without CompileOptions::reference_kernels_only selects.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/passes/graph_util.h"

namespace nereid::engine {
namespace {

KernelFactory FactoryAt(int priority) {
  for (const auto& [p, f] : KernelRegistry::Global().FindAll("", "Conv")) {
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

struct ConvCase {
  Node node;
  int64_t opset = 11;

  ConvCase() { node.op_type = "Conv"; }
  ConvCase& Int(const std::string& name, int64_t v) {
    Attribute a;
    a.kind = Attribute::Kind::kInt;
    a.i = v;
    node.attributes[name] = std::move(a);
    return *this;
  }
  ConvCase& Str(const std::string& name, std::string v) {
    Attribute a;
    a.kind = Attribute::Kind::kString;
    a.s = std::move(v);
    node.attributes[name] = std::move(a);
    return *this;
  }
  ConvCase& Ints(const std::string& name, std::vector<int64_t> v) {
    Attribute a;
    a.kind = Attribute::Kind::kInts;
    a.ints = std::move(v);
    node.attributes[name] = std::move(a);
    return *this;
  }

  // Builds with the factory of `priority`. `constant_w` marks input 1 as an
  // initializer; `dtypes` are the known input dtypes (empty: unknown).
  StatusOr<std::unique_ptr<Kernel>> Build(int priority, size_t num_inputs,
                                          const Tensor* constant_w = nullptr,
                                          std::vector<DataType> dtypes = {},
                                          int threads = 1) const {
    KernelFactory factory = FactoryAt(priority);
    if (factory == nullptr) return NotFound("no Conv factory at priority " + std::to_string(priority));
    Node n = node;
    n.inputs.assign(num_inputs, 0);
    n.outputs.assign(1, 0);
    std::vector<const Tensor*> constants(num_inputs, nullptr);
    if (constant_w != nullptr) constants[1] = constant_w;
    KernelBuildContext context{n, opset, std::move(dtypes), {}, std::move(constants), threads};
    return factory(context);
  }
};

StatusOr<Tensor> RunKernel(const Kernel& kernel, std::vector<const Tensor*> inputs) {
  std::vector<Tensor> outputs(1);
  RETURN_IF_ERROR(kernel.Run(inputs, outputs));
  return std::move(outputs[0]);
}

// Max |a - b| / (1 + |b|) over all elements; infinity on shape mismatch.
double MaxRelError(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.byte_size() != b.byte_size()) return INFINITY;
  const float* pa = a.data_as<float>();
  const float* pb = b.data_as<float>();
  double worst = 0;
  for (size_t i = 0; i < a.byte_size() / sizeof(float); ++i) {
    worst = std::max(worst, std::abs(double{pa[i]} - pb[i]) / (1.0 + std::abs(double{pb[i]})));
  }
  return worst;
}

// INT8 and BF16 (attributes of engine/ir/precision_attrs.h) against the FP32
// reference: grouped and plain, signed and unsigned inputs, with a bias. The
// error bound follows from the quantization steps: per output element at
// most K terms, each off by half an input step times |w| plus half a weight
// step times |x|.
TEST(DnnlConvTest, Int8AndBf16StayWithinTheirQuantizationError) {
  std::mt19937 rng(77);
  for (int group : {1, 2}) {
    for (bool is_unsigned : {true, false}) {
      Tensor x = Random({2, 8, 9, 9}, rng);
      if (is_unsigned) {
        float* p = x.mutable_data_as<float>();
        for (size_t i = 0; i < x.byte_size() / 4; ++i) p[i] = std::fabs(p[i]);
      }
      Tensor w = Random({16, 8 / group, 3, 3}, rng);
      Tensor b = Random({16}, rng);
      ConvCase base;
      base.Ints("pads", {1, 1, 1, 1}).Int("group", group);
      auto ref = base.Build(KernelRegistry::kReferencePriority, 3);
      ASSERT_TRUE(ref.ok());
      auto want = RunKernel(**ref, {&x, &w, &b});
      ASSERT_TRUE(want.ok());

      ConvCase q = base;
      q.Str("nereid_precision", "int8").Int("nereid_input_unsigned", is_unsigned ? 1 : 0);
      Attribute scale;
      scale.kind = Attribute::Kind::kFloat;
      scale.f = 1.0f / (is_unsigned ? 255 : 127);  // inputs within [-1, 1]
      q.node.attributes["nereid_input_scale"] = scale;
      auto int8 = q.Build(10, 3, &w);
      ASSERT_TRUE(int8.ok()) << int8.status().message();
      auto got = RunKernel(**int8, {&x, &w, &b});
      ASSERT_TRUE(got.ok()) << got.status().message();
      const double k = 8.0 / group * 9;
      const double bound = k * (scale.f / 2 * 1.0 + 1.0 / 127 / 2 * 1.0) + 1e-4;
      const float* a = got->data_as<float>();
      const float* e = want->data_as<float>();
      double worst = 0;
      for (size_t i = 0; i < got->byte_size() / 4; ++i) worst = std::max(worst, double(std::fabs(a[i] - e[i])));
      EXPECT_LT(worst, bound) << "group " << group << " unsigned " << is_unsigned;
      EXPECT_GT(worst, 0.0);  // it did quantize

      ConvCase h = base;
      h.Str("nereid_precision", "bf16");
      auto bf16 = h.Build(10, 3, &w);
      ASSERT_TRUE(bf16.ok());
      auto got16 = RunKernel(**bf16, {&x, &w, &b});
      ASSERT_TRUE(got16.ok());
      // BF16 keeps 8 significant bits: relative error per product ~2^-8.
      EXPECT_LT(MaxRelError(*got16, *want), k * 2 * std::pow(2.0, -8));
    }
  }
  ConvCase bad;
  bad.Str("nereid_precision", "int4");
  EXPECT_FALSE(bad.Build(10, 2).ok());
  ConvCase no_scale;
  no_scale.Str("nereid_precision", "int8");
  EXPECT_FALSE(no_scale.Build(10, 2).ok());
}

TEST(DnnlConvTest, RegisteredAboveReference) {
  auto all = KernelRegistry::Global().FindAll("", "Conv");
  ASSERT_GE(all.size(), 2u);
  EXPECT_EQ(all.front().first, 10);
  EXPECT_EQ(all.back().first, KernelRegistry::kReferencePriority);
}

// Random 1-D/2-D/3-D convolutions: groups (incl. depthwise), strides,
// dilations, explicit pads and every auto_pad, optional bias, constant and
// non-constant weights.
TEST(DnnlConvTest, RandomMatchesReference) {
  std::mt19937 rng(12345);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const char* kAutoPads[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
  for (int iter = 0; iter < 120; ++iter) {
    const int spatial = pick(1, 3);
    const int64_t n = pick(1, 3);
    const int group_kind = pick(0, 2);  // 0: group 1, 1: group 2, 2: depthwise
    int64_t group = 1;
    int64_t c = pick(1, 8);
    int64_t m = pick(1, 8);
    if (group_kind == 1) {
      group = 2;
      c = 2 * pick(1, 4);
      m = 2 * pick(1, 4);
    } else if (group_kind == 2) {
      c = pick(2, 12);
      group = c;
      m = c * pick(1, 2);
    }
    ConvCase conv;
    conv.opset = pick(0, 1) ? 11 : 1;
    if (group != 1) conv.Int("group", group);
    Shape xs = {n, c};
    Shape ws = {m, c / group};
    std::vector<int64_t> strides, dilations, pads_begin, pads_end;
    for (int i = 0; i < spatial; ++i) {
      const int64_t k = pick(1, spatial == 3 ? 3 : 5);
      ws.push_back(k);
      strides.push_back(pick(1, 3));
      dilations.push_back(pick(1, 2));
      const int64_t span = (k - 1) * dilations.back() + 1;
      xs.push_back(span + pick(0, spatial == 3 ? 6 : 12));
      pads_begin.push_back(pick(0, 2));
      pads_end.push_back(pick(0, 2));
    }
    if (pick(0, 1)) conv.Ints("strides", strides);
    if (pick(0, 1)) conv.Ints("dilations", dilations);
    if (pick(0, 1)) conv.Ints("kernel_shape", std::vector<int64_t>(ws.begin() + 2, ws.end()));
    const std::string auto_pad = kAutoPads[pick(0, 3)];
    if (auto_pad == "NOTSET") {
      std::vector<int64_t> pads = pads_begin;
      pads.insert(pads.end(), pads_end.begin(), pads_end.end());
      if (pick(0, 1)) conv.Ints("pads", pads);
      if (pick(0, 1)) conv.Str("auto_pad", "NOTSET");
    } else {
      conv.Str("auto_pad", auto_pad);
    }
    const bool bias = pick(0, 1);
    const bool constant_w = pick(0, 1);
    Tensor x = Random(xs, rng);
    Tensor w = Random(ws, rng);
    Tensor b = Random({m}, rng);
    std::vector<const Tensor*> inputs = {&x, &w};
    if (bias) inputs.push_back(&b);
    const std::string what = "iter " + std::to_string(iter) + " X " + ShapeToString(xs) + " W " +
                             ShapeToString(ws) + " group " + std::to_string(group) +
                             " auto_pad " + auto_pad + (bias ? " bias" : "") +
                             (constant_w ? " constW" : "");
    auto opt = conv.Build(10, inputs.size(), constant_w ? &w : nullptr,
                          std::vector<DataType>(inputs.size(), DataType::kFp32));
    auto ref = conv.Build(0, inputs.size(), constant_w ? &w : nullptr);
    ASSERT_TRUE(opt.ok()) << what << ": " << opt.status().ToString();
    ASSERT_TRUE(ref.ok()) << what << ": " << ref.status().ToString();
    auto y_ref = RunKernel(**ref, inputs);
    auto y_opt = RunKernel(**opt, inputs);
    ASSERT_EQ(y_ref.ok(), y_opt.ok()) << what << ": ref " << y_ref.status().ToString()
                                      << " opt " << y_opt.status().ToString();
    if (!y_ref.ok()) {
      EXPECT_EQ(y_ref.status().ToString(), y_opt.status().ToString()) << what;
      continue;
    }
    EXPECT_LE(MaxRelError(*y_opt, *y_ref), 1e-4) << what;
  }
}

// Same kernel, several batch sizes (and back): one cache entry per shape.
TEST(DnnlConvTest, DynamicBatchUsesShapeCache) {
  std::mt19937 rng(7);
  Tensor w = Random({16, 8, 3, 3}, rng);
  Tensor b = Random({16}, rng);
  ConvCase conv;
  conv.Ints("pads", {1, 1, 1, 1}).Ints("strides", {2, 2});
  auto opt = conv.Build(10, 3, &w);
  auto ref = conv.Build(0, 3, &w);
  ASSERT_TRUE(opt.ok() && ref.ok());
  for (int64_t batch : {1, 4, 1, 2, 4}) {
    Tensor x = Random({batch, 8, 13, 11}, rng);
    auto y_opt = RunKernel(**opt, {&x, &w, &b});
    auto y_ref = RunKernel(**ref, {&x, &w, &b});
    ASSERT_TRUE(y_opt.ok()) << y_opt.status().ToString();
    ASSERT_TRUE(y_ref.ok());
    EXPECT_EQ(y_opt->shape(), (Shape{batch, 16, 7, 6}));
    EXPECT_LE(MaxRelError(*y_opt, *y_ref), 1e-4) << "batch " << batch;
  }
}

// More shapes than the cache holds: evicted entries are rebuilt correctly.
TEST(DnnlConvTest, CacheEviction) {
  std::mt19937 rng(9);
  Tensor w = Random({4, 3, 3}, rng);
  ConvCase conv;
  conv.Str("auto_pad", "SAME_UPPER");
  auto opt = conv.Build(10, 2, &w);
  auto ref = conv.Build(0, 2, &w);
  ASSERT_TRUE(opt.ok() && ref.ok());
  for (int round = 0; round < 2; ++round) {
    for (int64_t len = 3; len < 25; ++len) {
      Tensor x = Random({1, 3, len}, rng);
      auto y_opt = RunKernel(**opt, {&x, &w});
      auto y_ref = RunKernel(**ref, {&x, &w});
      ASSERT_TRUE(y_opt.ok() && y_ref.ok());
      EXPECT_LE(MaxRelError(*y_opt, *y_ref), 1e-4) << "len " << len;
    }
  }
}

// One kernel run from 4 threads at once on shared inputs (several shapes,
// so cache creation races with execution) gives the single-thread results.
TEST(DnnlConvTest, ConcurrentRunsAreIdentical) {
  std::mt19937 rng(11);
  Tensor w = Random({8, 4, 3, 3}, rng);
  Tensor b = Random({8}, rng);
  ConvCase conv;
  conv.Ints("pads", {1, 0, 1, 2}).Ints("dilations", {2, 1});
  auto opt = conv.Build(10, 3, &w, {}, /*threads=*/1);
  auto serial = conv.Build(10, 3, &w);
  ASSERT_TRUE(opt.ok() && serial.ok());
  std::vector<Tensor> xs;
  std::vector<Tensor> expected;
  for (int64_t batch = 1; batch <= 4; ++batch) {
    xs.push_back(Random({batch, 4, 9, 10}, rng));
    auto y = RunKernel(**serial, {&xs.back(), &w, &b});
    ASSERT_TRUE(y.ok()) << y.status().ToString();
    expected.push_back(std::move(*y));
  }
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const size_t k = (t + i) % xs.size();
        auto y = RunKernel(**opt, {&xs[k], &w, &b});
        if (!y.ok() || y->byte_size() != expected[k].byte_size() ||
            !std::equal(y->data(), y->data() + y->byte_size(), expected[k].data())) {
          ++mismatches[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

// Known non-fp32 dtypes are declined at build time (the plan takes the
// reference); unknown dtypes discovered at run time are delegated.
TEST(DnnlConvTest, NonFp32FallsBackToReference) {
  ConvCase conv;
  auto declined = conv.Build(10, 2, nullptr, {DataType::kFp64, DataType::kFp64});
  EXPECT_EQ(declined.status().code(), StatusCode::kUnimplemented);

  auto opt = conv.Build(10, 2);
  ASSERT_TRUE(opt.ok()) << opt.status().ToString();
  Tensor x = Tensor::AllocateDense(DataType::kFp64, {1, 1, 4});
  Tensor w = Tensor::AllocateDense(DataType::kFp64, {1, 1, 2});
  double* px = x.mutable_data_as<double>();
  for (int i = 0; i < 4; ++i) px[i] = i + 1;
  w.mutable_data_as<double>()[0] = 1;
  w.mutable_data_as<double>()[1] = 10;
  auto y = RunKernel(**opt, {&x, &w});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  ASSERT_EQ(y->shape(), (Shape{1, 1, 3}));
  EXPECT_EQ(y->data_as<double>()[0], 21);
  EXPECT_EQ(y->data_as<double>()[2], 43);
}

// 4-D spatial (rank 6) is beyond oneDNN: declined for a constant W at build
// time, delegated at run time otherwise.
TEST(DnnlConvTest, FourSpatialDimsFallBack) {
  std::mt19937 rng(3);
  Tensor x = Random({1, 2, 3, 3, 3, 3}, rng);
  Tensor w = Random({2, 2, 2, 2, 2, 2}, rng);
  ConvCase conv;
  EXPECT_EQ(conv.Build(10, 2, &w).status().code(), StatusCode::kUnimplemented);
  auto opt = conv.Build(10, 2);
  auto ref = conv.Build(0, 2);
  ASSERT_TRUE(opt.ok() && ref.ok());
  auto y_opt = RunKernel(**opt, {&x, &w});
  auto y_ref = RunKernel(**ref, {&x, &w});
  ASSERT_TRUE(y_opt.ok() && y_ref.ok());
  EXPECT_EQ(MaxRelError(*y_opt, *y_ref), 0);
}

// Malformed inputs and attributes give the reference kernel's errors.
TEST(DnnlConvTest, ErrorsMatchReference) {
  std::mt19937 rng(5);
  Tensor x = Random({1, 4, 5, 5}, rng);
  Tensor w_bad = Random({2, 3, 3, 3}, rng);  // C/group mismatch
  Tensor w = Random({2, 4, 3, 3}, rng);
  Tensor b_bad = Random({3}, rng);
  ConvCase conv;
  auto opt = conv.Build(10, 3);
  auto ref = conv.Build(0, 3);
  ASSERT_TRUE(opt.ok() && ref.ok());
  for (auto inputs : std::vector<std::vector<const Tensor*>>{{&x, &w_bad}, {&x, &w, &b_bad}}) {
    auto y_opt = RunKernel(**opt, inputs);
    auto y_ref = RunKernel(**ref, inputs);
    ASSERT_FALSE(y_ref.ok());
    EXPECT_EQ(y_opt.status().ToString(), y_ref.status().ToString());
  }
  ConvCase bad;
  bad.Ints("strides", {0, 1});
  EXPECT_EQ(bad.Build(10, 2).status().ToString(), bad.Build(0, 2).status().ToString());
  EXPECT_FALSE(bad.Build(10, 2).ok());
}

// Timing: a ResNet-50-style 3x3 conv, oneDNN vs reference. Run with
// --gtest_also_run_disabled_tests --gtest_filter='*DISABLED_*'.
TEST(DnnlConvTest, DISABLED_Benchmark) {
  std::mt19937 rng(1);
  Tensor x = Random({1, 64, 56, 56}, rng);
  Tensor w = Random({64, 64, 3, 3}, rng);
  Tensor b = Random({64}, rng);
  ConvCase conv;
  conv.Ints("pads", {1, 1, 1, 1});
  for (int priority : {10, 0}) {
    auto k = conv.Build(priority, 3, &w);
    ASSERT_TRUE(k.ok());
    ASSERT_TRUE(RunKernel(**k, {&x, &w, &b}).ok());  // warm-up (creates the primitive)
    const int iters = priority == 10 ? 20 : 2;
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) ASSERT_TRUE(RunKernel(**k, {&x, &w, &b}).ok());
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                    .count() / iters;
    std::printf("Conv 1x64x56x56 * 64x64x3x3 priority %d: %.3f ms\n", priority, ms);
  }
}

}  // namespace
}  // namespace nereid::engine

namespace nereid::engine {
namespace {

// FP32 [N, C, H, W] -> u8/s8 [N, H, W, C] with real = scale x q (round to
// nearest, saturate): the form INT8 chains pass between convolutions.
Tensor QuantizeNhwc(const Tensor& x, float scale, bool is_unsigned) {
  const Shape& s = x.shape();
  Tensor q = Tensor::AllocateDense(is_unsigned ? DataType::kUint8 : DataType::kInt8,
                                   {s[0], s[2], s[3], s[1]});
  const float* p = x.data_as<float>();
  const float lo = is_unsigned ? 0 : -128, hi = is_unsigned ? 255 : 127;
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t c = 0; c < s[1]; ++c)
      for (int64_t h = 0; h < s[2]; ++h)
        for (int64_t w = 0; w < s[3]; ++w) {
          const float v = std::clamp(std::nearbyint(p[((n * s[1] + c) * s[2] + h) * s[3] + w] /
                                                    scale), lo, hi);
          const size_t at = ((n * s[2] + h) * s[3] + w) * s[1] + c;
          if (is_unsigned) {
            q.mutable_data_as<uint8_t>()[at] = static_cast<uint8_t>(v);
          } else {
            q.mutable_data_as<int8_t>()[at] = static_cast<int8_t>(v);
          }
        }
  return q;
}

// The inverse: u8/s8 [N, H, W, C] -> FP32 [N, C, H, W].
Tensor DequantizeNhwc(const Tensor& q, float scale) {
  const Shape& s = q.shape();
  Tensor x = Tensor::AllocateDense(DataType::kFp32, {s[0], s[3], s[1], s[2]});
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t h = 0; h < s[1]; ++h)
      for (int64_t w = 0; w < s[2]; ++w)
        for (int64_t c = 0; c < s[3]; ++c) {
          const size_t at = ((n * s[1] + h) * s[2] + w) * s[3] + c;
          const float v = q.dtype() == DataType::kUint8 ? q.data_as<uint8_t>()[at]
                                                        : q.data_as<int8_t>()[at];
          x.mutable_data_as<float>()[((n * s[3] + c) * s[1] + h) * s[2] + w] = v * scale;
        }
  return x;
}

using passes::FloatAttr;
using passes::IntAttr;
using passes::IntsAttr;
using passes::StringAttr;

// INT8 chains (passes/chain_int8.h): X and the residual Z arriving quantized
// (NHWC) and Y leaving quantized, with every activation kind the scales must
// be threaded through (none, ReLU and Clip fold into the output scale,
// Sigmoid runs on real values), against the FP32 reference FusedConv. The
// bound adds, per quantized tensor, half its step (X and Z are quantized
// before the reference sees them, so only Y's rounding and the product's
// error remain).
TEST(DnnlConvTest, Int8ChainsAgreeWithFp32) {
  KernelFactory fused_ref = KernelRegistry::Global().FindReference("nereid", "FusedConv");
  KernelFactory fused_opt = KernelRegistry::Global().Find("nereid", "FusedConv");
  ASSERT_NE(fused_ref, nullptr);
  ASSERT_NE(fused_opt, fused_ref);
  std::mt19937 rng(5);
  const float x_scale = 1.0f / 255, y_scale = 4.0f / 127;
  int cases = 0;
  for (const char* act : {"", "Relu", "Clip", "Sigmoid"}) {
    for (int z_kind = 0; z_kind < 3; ++z_kind) {  // none, FP32, quantized
      for (bool x_quantized : {false, true}) {
        for (bool y_quantized : {false, true}) {
          const bool y_unsigned = std::string(act) == "Relu" || std::string(act) == "Sigmoid";
          Tensor x = Random({2, 16, 7, 7}, rng);
          for (size_t i = 0; i < x.byte_size() / 4; ++i) {
            x.mutable_data_as<float>()[i] = std::fabs(x.data_as<float>()[i]);
          }
          // What the int8 kernel sees of X is its quantized value: give the
          // reference the same.
          const Tensor xq = QuantizeNhwc(x, x_scale, true);
          const Tensor x_real = DequantizeNhwc(xq, x_scale);
          Tensor w = Random({32, 16, 3, 3}, rng);
          Tensor b = Random({32}, rng);
          // Z signed (s8) under a ReLU, whose Y is u8: the sum reads Z with
          // its own type (ResNet's projection shortcuts).
          const bool z_unsigned = std::string(act) != "Relu";
          const float z_scale = z_unsigned ? 2.0f / 255 : 2.0f / 127;
          Tensor z = Random({2, 32, 7, 7}, rng);
          for (size_t i = 0; i < z.byte_size() / 4; ++i) {
            const float v = z.data_as<float>()[i] * 2;
            z.mutable_data_as<float>()[i] = z_unsigned ? std::fabs(v) : v;
          }
          const Tensor zq = QuantizeNhwc(z, z_scale, z_unsigned);
          const Tensor z_real = z_kind == 2 ? DequantizeNhwc(zq, z_scale) : z;

          Node node;
          node.domain = "nereid";
          node.op_type = "FusedConv";
          node.attributes["pads"] = IntsAttr({1, 1, 1, 1});
          node.attributes["activation"] = StringAttr(act);
          if (std::string(act) == "Clip") {
            node.attributes["activation_alpha"] = FloatAttr(0.0f);
            node.attributes["activation_beta"] = FloatAttr(1.5f);
          }
          const size_t num_inputs = z_kind == 0 ? 3 : 4;
          node.inputs.assign(num_inputs, 0);
          node.outputs.assign(1, 0);
          std::vector<const Tensor*> constants(num_inputs, nullptr);
          KernelBuildContext ref_context{node, 11, {}, {}, constants, 1};
          auto ref = fused_ref(ref_context);
          ASSERT_TRUE(ref.ok()) << ref.status().message();
          std::vector<const Tensor*> ref_inputs = {&x_real, &w, &b};
          if (z_kind != 0) ref_inputs.push_back(&z_real);
          auto want = RunKernel(**ref, ref_inputs);
          ASSERT_TRUE(want.ok()) << want.status().message();

          Node q = node;
          q.attributes["nereid_precision"] = StringAttr("int8");
          q.attributes["nereid_input_scale"] = FloatAttr(x_scale);
          q.attributes["nereid_input_unsigned"] = IntAttr(1);
          if (y_quantized) {
            q.attributes["nereid_output_scale"] = FloatAttr(y_scale);
            q.attributes["nereid_output_unsigned"] = IntAttr(y_unsigned ? 1 : 0);
          }
          if (z_kind == 2) {
            q.attributes["nereid_sum_scale"] = FloatAttr(z_scale);
            q.attributes["nereid_sum_unsigned"] = IntAttr(z_unsigned ? 1 : 0);
          }
          constants[1] = &w;
          KernelBuildContext context{q, 11, {}, {}, constants, 1};
          auto kernel = fused_opt(context);
          ASSERT_TRUE(kernel.ok()) << kernel.status().message();
          std::vector<const Tensor*> inputs = {x_quantized ? &xq : &x_real, &w, &b};
          if (z_kind != 0) inputs.push_back(z_kind == 2 ? &zq : &z);
          auto got = RunKernel(**kernel, inputs);
          const std::string what = std::string("act '") + act + "' z " + std::to_string(z_kind) +
                                   " xq " + std::to_string(x_quantized) + " yq " +
                                   std::to_string(y_quantized);
          if (z_kind == 1 && y_quantized) {
            // An FP32 Z into a quantized Y: refused (the chain never asks).
            EXPECT_EQ(got.status().code(), StatusCode::kUnimplemented) << what;
            ++cases;
            continue;
          }
          ASSERT_TRUE(got.ok()) << what << ": " << got.status().message();
          Tensor y = *got;
          if (y_quantized) {
            ASSERT_EQ(got->dtype(), y_unsigned ? DataType::kUint8 : DataType::kInt8) << what;
            y = DequantizeNhwc(*got, y_scale);
          } else {
            ASSERT_EQ(got->dtype(), DataType::kFp32) << what;
          }
          ASSERT_EQ(y.shape(), want->shape()) << what;
          // Weight rounding: 144 products, each off by at most |x| x half a
          // weight step (|x| <= 1, |w| <= 1: step 1/127).
          // Sigmoid is 1/4-Lipschitz: it shrinks that error.
          double bound = 144 * (0.5 / 127) / (std::string(act) == "Sigmoid" ? 4 : 1) + 1e-4;
          if (y_quantized) bound += y_scale / 2;
          const float* a = y.data_as<float>();
          const float* e = want->data_as<float>();
          double worst = 0;
          for (size_t i = 0; i < y.byte_size() / 4; ++i) {
            // A quantized Y saturates at its range: compare within it.
            const float lo = y_quantized ? (y_unsigned ? 0.0f : -128 * y_scale) : -INFINITY;
            const float hi = y_quantized ? (y_unsigned ? 255 : 127) * y_scale : INFINITY;
            worst = std::max(worst, double(std::fabs(a[i] - std::clamp(e[i], lo, hi))));
          }
          EXPECT_LT(worst, bound) << what;
          if (worst >= bound) {
            for (int i = 0, shown = 0; i < 400 && shown < 12; ++i) {
              if (std::fabs(e[i]) < 3) {
                std::printf("  [%d] got %g want %g\n", i, a[i], e[i]);
                ++shown;
              }
            }
          }
          ++cases;
        }
      }
    }
  }
  EXPECT_EQ(cases, 48);
}

}  // namespace
}  // namespace nereid::engine
