#include "backends/onnx/compile_settings.h"

#include <gmock/gmock.h>
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <filesystem>

namespace nereid::backends {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

inference::ModelConfig Parse(const std::string& text) {
  inference::ModelConfig config;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &config)) << text;
  return config;
}

std::string Param(const std::string& key, const std::string& value) {
  return "parameters { key: \"" + key + "\" value { string_value: \"" + value + "\" } }\n";
}

TEST(CompileSettingsTest, NoneGivenMeansDefaults) {
  auto settings = ReadCompileSettings(Parse(Param("intra_op_thread_count", "2")), "/m");
  ASSERT_TRUE(settings.ok()) << settings.status().ToString();
  EXPECT_FALSE(settings->given);
  EXPECT_EQ(settings->options.precision, engine::Precision::kFp32);
  EXPECT_TRUE(settings->options.shape_profile.empty());
  EXPECT_EQ(settings->canonical,
            "precision=fp32;calibrator=minmax;calibration_data=;min=;opt=;max=;tuning_budget_ms=0");
}

TEST(CompileSettingsTest, ParametersGiveEverySetting) {
  const fs::path dir = fs::temp_directory_path() / ("nereid_cs_" + std::to_string(::getpid()));
  fs::create_directories(dir / "calib");
  auto settings =
      ReadCompileSettings(Parse(Param("precision", "int8") + Param("min_shapes", "x:1x4") +
                                Param("opt_shapes", "x:2x4") + Param("max_shapes", "x:8x4") +
                                Param("calibration_data", "calib") +
                                Param("calibrator", "entropy") + Param("tuning_budget_ms", "500")),
                          dir.string());
  ASSERT_TRUE(settings.ok()) << settings.status().ToString();
  EXPECT_TRUE(settings->given);
  const engine::CompileOptions& o = settings->options;
  EXPECT_EQ(o.precision, engine::Precision::kInt8);
  EXPECT_EQ(o.calibrator, engine::Calibrator::kEntropy);
  EXPECT_EQ(o.calibration_data, (dir / "calib").string());
  EXPECT_EQ(o.tuning_budget_ms, 500);
  ASSERT_EQ(o.shape_profile.size(), 1u);
  EXPECT_EQ(o.shape_profile[0].opt, (Shape{2, 4}));
  EXPECT_THAT(settings->canonical, HasSubstr("min=x:1x4;opt=x:2x4;max=x:8x4"));
  fs::remove_all(dir);
}

TEST(CompileSettingsTest, TheNereidAcceleratorTakesTheSameKeys) {
  const std::string accelerator = R"(optimization { execution_accelerators {
      cpu_execution_accelerator: [ { name: "nereid"
        parameters { key: "precision" value: "fp32" }
        parameters { key: "shapes" value: "x:1x4" } } ] } })";
  auto settings = ReadCompileSettings(Parse(accelerator), "/m");
  ASSERT_TRUE(settings.ok()) << settings.status().ToString();
  EXPECT_TRUE(settings->given);
  EXPECT_EQ(settings->options.shape_profile[0].max, (Shape{1, 4}));
  // The same value in both places is fine; another is refused.
  EXPECT_TRUE(ReadCompileSettings(Parse(accelerator + Param("precision", "fp32")), "/m").ok());
  auto clash = ReadCompileSettings(Parse(accelerator + Param("precision", "bf16")), "/m");
  EXPECT_THAT(
      clash.status().message(),
      HasSubstr("'precision' is 'bf16' in parameters but 'fp32' in the 'nereid' accelerator"));
}

TEST(CompileSettingsTest, BadSettingsNameTheParameter) {
  struct Case {
    std::string config;
    std::string error;
  };
  const std::vector<Case> cases = {
      {Param("precision", "fp8"), "parameter 'precision': unknown precision 'fp8'"},
      {Param("calibrator", "mse"), "parameter 'calibrator': unknown calibrator 'mse'"},
      {Param("tuning_budget_ms", "-3"), "parameter 'tuning_budget_ms' must be an integer >= 0"},
      {Param("shapes", "x:1xq"), "parameter 'shapes': input 'x'"},
      {Param("min_shapes", "x:1x4"), "needs both"},
      {Param("min_shapes", "x:4x4") + Param("max_shapes", "x:2x4"), "min <= opt <= max"},
      {Param("calibration_data", "/etc"), "must name a directory inside the model directory"},
      {Param("calibration_data", "../other"), "must name a directory inside the model directory"},
      {Param("calibration_data", "missing"), "is not a directory"},
      {R"(optimization { execution_accelerators { cpu_execution_accelerator: [ { name: "openvino" } ] } })",
       "cpu_execution_accelerator 'openvino' is not supported"},
      {R"(optimization { execution_accelerators { gpu_execution_accelerator: [ { name: "tensorrt" } ] } })",
       "gpu_execution_accelerator 'tensorrt' is not supported"},
      {R"(optimization { execution_accelerators { cpu_execution_accelerator: [ { name: "nereid" parameters { key: "speed" value: "max" } } ] } })",
       "has no parameter 'speed'"},
  };
  for (const Case& c : cases) {
    auto settings = ReadCompileSettings(Parse(c.config), "/nonexistent-model-dir");
    ASSERT_FALSE(settings.ok()) << c.config;
    EXPECT_THAT(settings.status().message(), HasSubstr(c.error)) << c.config;
  }
}

}  // namespace
}  // namespace nereid::backends
