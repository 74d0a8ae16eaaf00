#include "engine/runtime/shape_profile.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/ir/test_models.h"
#include "engine/runtime/cpu_features.h"

namespace nereid::engine {
namespace {

using ::testing::HasSubstr;
using testing::ModelBuilder;

constexpr int32_t kFloat = onnx::TensorProto::FLOAT;

TEST(ShapeProfileTest, ParsesTrtexecShapeLists) {
  auto list = ParseShapeList("input:0:1x3x224x224,mask:1x128", "--shapes");
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].first, "input:0");  // the name ends at the last ':'
  EXPECT_EQ((*list)[0].second, (Shape{1, 3, 224, 224}));
  EXPECT_EQ((*list)[1].second, (Shape{1, 128}));
  for (const char* bad : {"x", "x:", ":1x2", "x:1xx2", "x:1x-2", "x:1,x:2", "x:1x2,", "x:a"}) {
    auto parsed = ParseShapeList(bad, "--shapes");
    EXPECT_FALSE(parsed.ok()) << bad;
    EXPECT_THAT(parsed.status().message(), HasSubstr("--shapes")) << bad;
  }
}

TEST(ShapeProfileTest, BuildsFixedAndRangedProfiles) {
  auto fixed = MakeShapeProfile("x:2x4", "", "", "");
  ASSERT_TRUE(fixed.ok());
  EXPECT_EQ((*fixed)[0].min, (Shape{2, 4}));
  EXPECT_EQ((*fixed)[0].max, (Shape{2, 4}));
  auto range = MakeShapeProfile("", "x:1x4", "x:4x4", "x:8x4");
  ASSERT_TRUE(range.ok()) << range.status().ToString();
  EXPECT_EQ(DescribeShapeRange((*range)[0]), "min [1,4], opt [4,4], max [8,4]");
  EXPECT_EQ(ShapeListText(*range, "opt"), "x:4x4");
  auto no_opt = MakeShapeProfile("", "x:1x4", "", "x:8x4");
  ASSERT_TRUE(no_opt.ok());
  EXPECT_EQ((*no_opt)[0].opt, (Shape{8, 4}));  // opt defaults to max
  EXPECT_EQ(FixedDimsOf(*range).at("x"), (Shape{-1, 4}));
  EXPECT_TRUE(MakeShapeProfile("", "", "", "")->empty());

  EXPECT_THAT(MakeShapeProfile("x:1", "x:1", "", "x:2").status().message(),
              HasSubstr("cannot be combined"));
  EXPECT_THAT(MakeShapeProfile("", "x:1x4", "", "").status().message(),
              HasSubstr("needs both --min-shapes and --max-shapes"));
  EXPECT_THAT(MakeShapeProfile("", "x:1x4", "", "y:1x4").status().message(),
              HasSubstr("'x' is in --min-shapes but not in --max-shapes"));
  EXPECT_THAT(MakeShapeProfile("", "x:1x4", "x:9x4", "x:8x4").status().message(),
              HasSubstr("dimension 0 must satisfy min <= opt <= max"));
  EXPECT_THAT(MakeShapeProfile("", "x:1x4", "", "x:8x4x1").status().message(),
              HasSubstr("same rank"));
}

TEST(ShapeProfileTest, ChecksTheProfileAgainstTheModelInputs) {
  std::vector<ValueInfo> inputs = {{"x", DataType::kFp32, {-1, 4}}};
  EXPECT_TRUE(CheckShapeProfile(*MakeShapeProfile("x:2x4", "", "", ""), inputs).ok());
  EXPECT_THAT(CheckShapeProfile(*MakeShapeProfile("y:2x4", "", "", ""), inputs).message(),
              HasSubstr("'y' is not an input of the model (inputs: x)"));
  EXPECT_THAT(CheckShapeProfile(*MakeShapeProfile("x:2x4x1", "", "", ""), inputs).message(),
              HasSubstr("rank 2"));
  EXPECT_THAT(CheckShapeProfile(*MakeShapeProfile("x:2x5", "", "", ""), inputs).message(),
              HasSubstr("dimension 1 is fixed at 4 by the model"));
}

TEST(ShapeProfileTest, RangeCheckNamesInputAndProfile) {
  InputShapeRange r{"x", {1, 4}, {4, 4}, {8, 4}};
  EXPECT_TRUE(CheckShapeInRange(r, {1, 4}).ok());
  EXPECT_TRUE(CheckShapeInRange(r, {8, 4}).ok());
  Status st = CheckShapeInRange(r, {9, 4});
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(),
            "input 'x': shape [9,4] is outside the plan's shape profile (min [1,4], opt [4,4], "
            "max [8,4])");
  EXPECT_FALSE(CheckShapeInRange(r, {0, 4}).ok());
  EXPECT_FALSE(CheckShapeInRange(r, {2, 4, 1}).ok());
}

// y = x * 2, x: [N, 4] (a dynamic batch).
ModelBuilder DoubleModel() {
  ModelBuilder b(17);
  b.Input("x", kFloat, {-1, 4});
  b.FloatInitializer("two", {1}, {2.0f});
  b.Output("y", kFloat, {-1, 4});
  b.AddNode("Mul", {"x", "two"}, {"y"}, "double");
  return b;
}

Status RunBatch(const Plan& plan, int64_t batch) {
  std::vector<float> x(static_cast<size_t>(batch) * 4, 1.5f);
  std::vector<Tensor> out;
  return plan.Run(
      {TensorView{
          DataType::kFp32, {batch, 4}, reinterpret_cast<const char*>(x.data()), x.size() * 4}},
      &out);
}

TEST(ShapeProfileTest, PlansRefuseShapesOutsideTheirProfileAlsoAfterLoading) {
  CompileOptions options;
  options.shape_profile = *MakeShapeProfile("", "x:1x4", "x:2x4", "x:4x4");
  auto compiled = CompileToPlan(DoubleModel().Serialize(), options);
  ASSERT_TRUE(compiled.ok()) << compiled.status().ToString();
  auto bytes = (*compiled)->Serialize();
  ASSERT_TRUE(bytes.ok());
  auto loaded = Plan::FromPlanBytes(*bytes, PlanLoadOptions{});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  for (const Plan* plan : {compiled->get(), loaded->get()}) {
    EXPECT_TRUE(RunBatch(*plan, 1).ok());
    EXPECT_TRUE(RunBatch(*plan, 4).ok());
    Status st = RunBatch(*plan, 5);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(st.message(), HasSubstr("input 'x': shape [5,4] is outside the plan's shape "
                                        "profile (min [1,4], opt [2,4], max [4,4])"));
    ASSERT_EQ(plan->info().shape_profile.size(), 1u);
    EXPECT_EQ(plan->info().shape_profile[0].opt, (Shape{2, 4}));
    // A range keeps the batch dimension dynamic.
    EXPECT_EQ(plan->inputs()[0].shape, (Shape{-1, 4}));
  }
}

TEST(ShapeProfileTest, FixedShapesSpecializeTheModel) {
  CompileOptions options;
  options.shape_profile = *MakeShapeProfile("x:3x4", "", "", "");
  auto plan = CompileToPlan(DoubleModel().Serialize(), options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ((*plan)->inputs()[0].shape, (Shape{3, 4}));
  EXPECT_EQ((*plan)->outputs()[0].shape, (Shape{3, 4}));  // shape inference saw the fixed dims
  EXPECT_TRUE(RunBatch(**plan, 3).ok());
  EXPECT_THAT(RunBatch(**plan, 2).message(), HasSubstr("outside the plan's shape profile"));
}

TEST(ShapeProfileTest, CompileRefusesProfilesThatDoNotFitTheModel) {
  CompileOptions options;
  options.shape_profile = *MakeShapeProfile("x:3x5", "", "", "");
  auto plan = CompileToPlan(DoubleModel().Serialize(), options);
  EXPECT_EQ(plan.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(plan.status().message(), HasSubstr("dimension 1 is fixed at 4 by the model"));
  options.shape_profile = *MakeShapeProfile("", "z:1", "", "z:2");
  plan = CompileToPlan(DoubleModel().Serialize(), options);
  EXPECT_THAT(plan.status().message(), HasSubstr("'z' is not an input of the model (inputs: x)"));
}

TEST(CompileOptionsTest, PrecisionChecks) {
  CompileOptions best;
  best.precision = Precision::kBest;
  // Best considers INT8 for every layer: it needs calibration data too.
  EXPECT_EQ(CompileToPlan(DoubleModel().Serialize(), best).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_THAT(CompileToPlan(DoubleModel().Serialize(), best).status().message(),
              HasSubstr("precision best needs calibration data"));
  CompileOptions int8;
  int8.precision = Precision::kInt8;
  EXPECT_THAT(CompileToPlan(DoubleModel().Serialize(), int8).status().message(),
              HasSubstr("needs calibration data"));
  int8.calibration_data = "/nonexistent/calib";
  EXPECT_THAT(CompileToPlan(DoubleModel().Serialize(), int8).status().message(),
              HasSubstr("is not a directory"));
  // A graph without convolutions compiles in BF16 unchanged.
  CompileOptions bf16;
  bf16.precision = Precision::kBf16;
  auto plan = CompileToPlan(DoubleModel().Serialize(), bf16);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ((*plan)->info().precision, Precision::kBf16);
  CompileOptions options;
  options.calibration_data = "calib/";
  EXPECT_THAT(CompileToPlan(DoubleModel().Serialize(), options).status().message(),
              HasSubstr("calibration data is only used with precision int8 or best"));
  EXPECT_EQ(*ParsePrecision("bf16"), Precision::kBf16);
  EXPECT_THAT(ParsePrecision("fp8").status().message(), HasSubstr("unknown precision 'fp8'"));
  EXPECT_EQ(*ParseCalibrator("entropy"), Calibrator::kEntropy);
  EXPECT_FALSE(ParseCalibrator("mse").ok());
}

TEST(CompileOptionsTest, TuningBudgetAndProgressAreRecorded) {
  CompileOptions options;
  options.tuning_budget_ms = 250;
  std::vector<std::string> phases;
  auto plan = CompileToPlan(DoubleModel().Serialize(), options, [&](const CompileProgress& p) {
    if (phases.empty() || phases.back() != p.phase) phases.emplace_back(p.phase);
  });
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(phases, (std::vector<std::string>{"import", "passes", "kernels"}));
  auto loaded = Plan::FromPlanBytes(*(*plan)->Serialize(), PlanLoadOptions{});
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ((*loaded)->info().tuning_budget_ms, 250);
}

TEST(CpuFeaturesTest, MissingAndJoin) {
  EXPECT_EQ(MissingCpuFeatures({"avx2", "amx_int8", "fma"}, {"fma", "avx2"}),
            std::vector<std::string>{"amx_int8"});
  EXPECT_TRUE(MissingCpuFeatures({}, {}).empty());
  EXPECT_EQ(JoinCpuFeatures({}), "none");
  EXPECT_EQ(JoinCpuFeatures({"a", "b"}), "a b");
  const auto& features = DetectCpuFeatures();
  EXPECT_TRUE(std::is_sorted(features.begin(), features.end()));
#if defined(__x86_64__)
  // cpuid + XCR0 agree with the compiler runtime's own detection.
  EXPECT_EQ(std::count(features.begin(), features.end(), "sse4_2"),
            __builtin_cpu_supports("sse4.2") ? 1 : 0);
  EXPECT_EQ(std::count(features.begin(), features.end(), "avx512f"),
            __builtin_cpu_supports("avx512f") ? 1 : 0);
  EXPECT_EQ(std::count(features.begin(), features.end(), "avx2"),
            __builtin_cpu_supports("avx2") ? 1 : 0);
#endif
}

}  // namespace
}  // namespace nereid::engine
