// Compiled plans: a plan loaded from its file computes exactly what the
// plan compiled from ONNX computes, and every damaged or foreign file is a
// precise error.
#include "engine/runtime/plan_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "engine/ir/test_models.h"
#include "engine/runtime/cpu_features.h"
#include "engine/runtime/crc32c.h"
#include "engine/runtime/plan.h"

namespace nereid::engine {
namespace {

using ::testing::HasSubstr;
using testing::ModelBuilder;
using testing::SetIntAttr;
using testing::SetIntsAttr;

constexpr int32_t kFloat = onnx::TensorProto::FLOAT;

std::vector<float> Iota(size_t n, float scale) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * static_cast<float>((i * 37) % 23) - 1.0f;
  return v;
}

// Two 3x3 convolutions with a residual Add and Relu, pooled and projected:
// exercises Conv+Relu fusion, residual fusion, the blocked layout (16
// channels), oneDNN kernels and a MatMul+Add fusion.
ModelBuilder ConvModel() {
  ModelBuilder b(17);
  b.Input("x", kFloat, {-1, 16, 6, 6});
  b.FloatInitializer("w1", {16, 16, 3, 3}, Iota(16 * 16 * 9, 0.01f));
  b.FloatInitializer("b1", {16}, Iota(16, 0.1f));
  b.FloatInitializer("w2", {16, 16, 3, 3}, Iota(16 * 16 * 9, 0.02f));
  b.FloatInitializer("fc", {16, 4}, Iota(64, 0.05f));
  b.FloatInitializer("fc_b", {4}, {0.5f, -0.5f, 0.25f, 0});
  b.Output("y", kFloat, {-1, 4});
  auto* conv1 = b.AddNode("Conv", {"x", "w1", "b1"}, {"c1"}, "conv1");
  b.AddNode("Relu", {"c1"}, {"r1"}, "relu1");
  auto* conv2 = b.AddNode("Conv", {"r1", "w2"}, {"c2"}, "conv2");
  for (auto* conv : {conv1, conv2}) {
    SetIntsAttr(conv, "pads", {1, 1, 1, 1});
    SetIntsAttr(conv, "kernel_shape", {3, 3});
  }
  b.AddNode("Add", {"c2", "r1"}, {"sum"}, "residual");
  b.AddNode("Relu", {"sum"}, {"r2"}, "relu2");
  b.AddNode("GlobalAveragePool", {"r2"}, {"pooled"}, "pool");
  auto* flat = b.AddNode("Flatten", {"pooled"}, {"flat"}, "flatten");
  SetIntAttr(flat, "axis", 1);
  b.AddNode("MatMul", {"flat", "fc"}, {"mm"}, "fc");
  b.AddNode("Add", {"mm", "fc_b"}, {"y"}, "fc_bias");
  return b;
}

std::unique_ptr<Plan> Compile(const ModelBuilder& b, CompileOptions options = {}) {
  auto plan = CompileToPlan(b.Serialize(), options);
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  return plan.ok() ? std::move(plan).value() : nullptr;
}

std::string Bytes(const Plan& plan) {
  auto bytes = plan.Serialize();
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  return bytes.ok() ? *bytes : std::string();
}

std::vector<Tensor> RunX(const Plan& plan, int64_t batch) {
  std::vector<float> x = Iota(static_cast<size_t>(batch) * 16 * 36, 0.03f);
  std::vector<Tensor> out;
  Status st = plan.Run({TensorView{DataType::kFp32,
                                   {batch, 16, 6, 6},
                                   reinterpret_cast<const char*>(x.data()),
                                   x.size() * 4}},
                       &out);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

void ExpectBitIdentical(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].shape(), b[i].shape());
    ASSERT_EQ(a[i].byte_size(), b[i].byte_size());
    EXPECT_EQ(std::memcmp(a[i].data(), b[i].data(), a[i].byte_size()), 0) << "output " << i;
  }
}

TEST(PlanFileTest, LoadedPlanIsBitIdenticalToTheCompiledOne) {
  auto compiled = Compile(ConvModel());
  ASSERT_NE(compiled, nullptr);
  const std::string bytes = Bytes(*compiled);
  auto loaded = Plan::FromPlanBytes(bytes, PlanLoadOptions{});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  for (int64_t batch : {1, 3}) ExpectBitIdentical(RunX(*compiled, batch), RunX(**loaded, batch));
  // The loaded plan reports the compile's choices and round-trips to the same bytes.
  const PlanInfo& a = compiled->info();
  const PlanInfo& b = (*loaded)->info();
  EXPECT_TRUE(b.loaded_from_file);
  EXPECT_FALSE(a.loaded_from_file);
  ASSERT_EQ(a.kernels.size(), b.kernels.size());
  for (size_t i = 0; i < a.kernels.size(); ++i) {
    EXPECT_EQ(a.kernels[i].node, b.kernels[i].node);
    EXPECT_EQ(a.kernels[i].priority, b.kernels[i].priority);
  }
  ASSERT_EQ(a.passes.size(), b.passes.size());
  EXPECT_EQ(b.engine_version, kEngineVersion);
  EXPECT_EQ(b.onednn_version, OneDnnVersion());
  EXPECT_EQ(b.compiled_on_cpu_features, DetectCpuFeatures());
  EXPECT_EQ(Bytes(**loaded), bytes);
  // The optimized graph was stored, not the model: fused ops, optimized kernels.
  bool fused = false, optimized = false;
  for (const auto& k : b.kernels) {
    fused |= k.op_type == "nereid.FusedConv";
    optimized |= k.priority > 0;
  }
  EXPECT_TRUE(fused);
  EXPECT_TRUE(optimized);
}

TEST(PlanFileTest, ReferenceKernelPlansRoundTripAsReferenceKernels) {
  CompileOptions options;
  options.reference_kernels_only = true;
  auto compiled = Compile(ConvModel(), options);
  ASSERT_NE(compiled, nullptr);
  auto loaded = Plan::FromPlanBytes(Bytes(*compiled), PlanLoadOptions{});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  for (const auto& k : (*loaded)->info().kernels) EXPECT_EQ(k.priority, 0) << k.node;
  ExpectBitIdentical(RunX(*compiled, 2), RunX(**loaded, 2));
}

TEST(PlanFileTest, FileRoundTripAndMissingFile) {
  auto compiled = Compile(ConvModel());
  ASSERT_NE(compiled, nullptr);
  const auto path = std::filesystem::temp_directory_path() /
                    ("nereid_plan_test_" + std::to_string(::getpid()) + ".plan");
  ASSERT_TRUE(WritePlanFile(*compiled, path.string()).ok());
  auto loaded = Plan::FromPlanFile(path.string(), PlanLoadOptions{});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ExpectBitIdentical(RunX(*compiled, 1), RunX(**loaded, 1));
  std::filesystem::remove(path);
  auto missing = Plan::FromPlanFile(path.string(), PlanLoadOptions{});
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("cannot open plan file"));
}

TEST(PlanFileTest, WrongMagicIsNotAPlan) {
  auto plan = Plan::FromPlanBytes(ConvModel().Serialize(), PlanLoadOptions{});
  EXPECT_EQ(plan.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(plan.status().message(), HasSubstr("not a Nereid plan file"));
}

TEST(PlanFileTest, OtherEngineOrFormatVersionIsRefused) {
  auto compiled = Compile(ConvModel());
  ASSERT_NE(compiled, nullptr);
  // The decoded initializers point into `original` (no owner): keep it.
  const std::string original = Bytes(*compiled);
  auto file = DecodePlanFile(original, nullptr, DetectCpuFeatures());
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  PlanInfo info = file->info;
  info.engine_version = "0.0.9";
  auto other = EncodePlanFile(file->graph, info);
  ASSERT_TRUE(other.ok());
  auto plan = Plan::FromPlanBytes(*other, PlanLoadOptions{});
  EXPECT_EQ(plan.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(plan.status().message(), HasSubstr("compiled by engine version 0.0.9"));

  std::string bytes = Bytes(*compiled);
  const uint32_t version = 7;
  std::memcpy(bytes.data() + 8, &version, 4);
  plan = Plan::FromPlanBytes(bytes, PlanLoadOptions{});
  EXPECT_EQ(plan.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(plan.status().message(), HasSubstr("plan file format version 7"));
}

TEST(PlanFileTest, MissingCpuFeatureIsRefusedNamingIt) {
  auto compiled = Compile(ConvModel());
  ASSERT_NE(compiled, nullptr);
  // The decoded initializers point into `original` (no owner): keep it.
  const std::string original = Bytes(*compiled);
  auto file = DecodePlanFile(original, nullptr, DetectCpuFeatures());
  ASSERT_TRUE(file.ok());
  PlanInfo info = file->info;
  info.required_cpu_features = {"avx2", "amx_int8"};
  auto bytes = EncodePlanFile(file->graph, info);
  ASSERT_TRUE(bytes.ok());
  PlanLoadOptions options;
  options.cpu_features = std::vector<std::string>{"avx2", "avx512f", "fma"};
  auto plan = Plan::FromPlanBytes(*bytes, options);
  EXPECT_EQ(plan.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(plan.status().message(), HasSubstr("CPU features this CPU lacks: amx_int8"));
  EXPECT_THAT(plan.status().message(), HasSubstr("this CPU has: avx2 avx512f fma"));
  options.cpu_features->push_back("amx_int8");
  EXPECT_TRUE(Plan::FromPlanBytes(*bytes, options).ok());
}

TEST(PlanFileTest, BlockedLayoutRecordsTheAvx512Requirement) {
  auto compiled = Compile(ConvModel());
  ASSERT_NE(compiled, nullptr);
  const auto& required = compiled->info().required_cpu_features;
  const auto& have = DetectCpuFeatures();
  const bool avx512 = std::find(have.begin(), have.end(), "avx512f") != have.end();
  // The layout pass chose 16-channel blocks on AVX-512 CPUs, 8 elsewhere.
  EXPECT_EQ(required, avx512 ? std::vector<std::string>{"avx512f"} : std::vector<std::string>{});
  if (avx512) {
    PlanLoadOptions options;
    options.cpu_features = std::vector<std::string>{"avx2", "fma"};
    auto plan = Plan::FromPlanBytes(Bytes(*compiled), options);
    EXPECT_THAT(plan.status().message(), HasSubstr("lacks: avx512f"));
  }
}

TEST(PlanFileTest, TruncationAtAnyOffsetIsAPreciseError) {
  auto compiled = Compile(ConvModel());
  ASSERT_NE(compiled, nullptr);
  const std::string bytes = Bytes(*compiled);
  std::vector<size_t> cuts = {0, 1, 7, 8, 20, 63, 64, 100, bytes.size() / 2, bytes.size() - 1};
  auto sections = ReadPlanSections(bytes);
  ASSERT_TRUE(sections.ok());
  for (const PlanSection& s : *sections) cuts.push_back(s.offset + s.size / 2);
  for (size_t cut : cuts) {
    auto plan = Plan::FromPlanBytes(std::string_view(bytes).substr(0, cut), PlanLoadOptions{});
    ASSERT_FALSE(plan.ok()) << cut;
    EXPECT_EQ(plan.status().code(), StatusCode::kInvalidArgument) << cut;
    EXPECT_THAT(plan.status().message(), HasSubstr("truncated plan file")) << cut;
  }
  auto longer = Plan::FromPlanBytes(bytes + "xx", PlanLoadOptions{});
  EXPECT_THAT(longer.status().message(), HasSubstr("2 unexpected bytes"));
}

TEST(PlanFileTest, CorruptedByteInAnySectionIsAChecksumError) {
  auto compiled = Compile(ConvModel());
  ASSERT_NE(compiled, nullptr);
  const std::string bytes = Bytes(*compiled);
  auto sections = ReadPlanSections(bytes);
  ASSERT_TRUE(sections.ok());
  ASSERT_EQ(sections->size(), 5u);
  for (const PlanSection& s : *sections) {
    ASSERT_GT(s.size, 0u) << s.tag;
    for (uint64_t at : {s.offset, s.offset + s.size / 2, s.offset + s.size - 1}) {
      std::string damaged = bytes;
      damaged[at] ^= 0x20;
      auto plan = Plan::FromPlanBytes(damaged, PlanLoadOptions{});
      EXPECT_THAT(plan.status().message(), HasSubstr("plan section " + s.tag + " is corrupt"))
          << "byte " << at;
    }
  }
  // The header and the section table have their own checksum.
  for (size_t at : {16, 64, 64 + 8, 64 + 4 * 32 + 16}) {
    std::string damaged = bytes;
    damaged[at] ^= 0x01;
    auto plan = Plan::FromPlanBytes(damaged, PlanLoadOptions{});
    ASSERT_FALSE(plan.ok()) << at;
    EXPECT_EQ(plan.status().code(), StatusCode::kInvalidArgument) << at;
  }
  // Every single-byte corruption fails cleanly (never crashes).
  std::mt19937 rng(3);
  for (int trial = 0; trial < 200; ++trial) {
    std::string damaged = bytes;
    damaged[rng() % damaged.size()] ^= static_cast<char>(1 + rng() % 255);
    EXPECT_FALSE(Plan::FromPlanBytes(damaged, PlanLoadOptions{}).ok());
  }
}

TEST(PlanFileTest, KernelListMustMatchTheGraph) {
  auto compiled = Compile(ConvModel());
  ASSERT_NE(compiled, nullptr);
  // The decoded initializers point into `original` (no owner): keep it.
  const std::string original = Bytes(*compiled);
  auto file = DecodePlanFile(original, nullptr, DetectCpuFeatures());
  ASSERT_TRUE(file.ok());
  PlanInfo info = file->info;
  info.kernels[0].priority = 12345;
  auto bytes = EncodePlanFile(file->graph, info);
  auto plan = Plan::FromPlanBytes(*bytes, PlanLoadOptions{});
  EXPECT_EQ(plan.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(plan.status().message(), HasSubstr("kernel of priority 12345"));
  info = file->info;
  info.kernels.pop_back();
  bytes = EncodePlanFile(file->graph, info);
  plan = Plan::FromPlanBytes(*bytes, PlanLoadOptions{});
  EXPECT_THAT(plan.status().message(), HasSubstr("kernels for"));
  // The per-kernel tuning parameters are carried as they are, and checked
  // (runtime/tuner_test.cc has the other refusals).
  info = file->info;
  info.kernels[1].params = "alg=direct;layout=blocked";
  bytes = EncodePlanFile(file->graph, info);
  auto loaded = Plan::FromPlanBytes(*bytes, PlanLoadOptions{});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)->info().kernels[1].params, "alg=direct;layout=blocked");
  info.kernels[1].params = std::string("\x01\x00tuned", 7);
  bytes = EncodePlanFile(file->graph, info);
  loaded = Plan::FromPlanBytes(*bytes, PlanLoadOptions{});
  EXPECT_EQ(loaded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(loaded.status().message(),
              HasSubstr("tuning parameters '\\x01\\x00tuned') cannot be built: malformed tuning "
                        "parameters '\\x01\\x00tuned': expected key=value"));
}

TEST(PlanFileTest, StoredProfileMustFitTheStoredGraph) {
  auto compiled = Compile(ConvModel());
  ASSERT_NE(compiled, nullptr);
  // The decoded initializers point into `original` (no owner): keep it.
  const std::string original = Bytes(*compiled);
  auto file = DecodePlanFile(original, nullptr, DetectCpuFeatures());
  ASSERT_TRUE(file.ok());
  PlanInfo info = file->info;
  info.shape_profile = {{"nope", {1}, {1}, {1}}};
  auto plan = Plan::FromPlanBytes(*EncodePlanFile(file->graph, info), PlanLoadOptions{});
  EXPECT_EQ(plan.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(plan.status().message(), HasSubstr("shape profile does not fit its graph"));
}

}  // namespace
}  // namespace nereid::engine
