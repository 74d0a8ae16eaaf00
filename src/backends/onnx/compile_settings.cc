#include "backends/onnx/compile_settings.h"

#include <charconv>
#include <filesystem>
#include <map>

#include "engine/runtime/shape_profile.h"

namespace nereid::backends {
namespace {

namespace fs = std::filesystem;

constexpr const char* kKeys[] = {"precision",  "shapes",          "min_shapes",
                                 "opt_shapes", "max_shapes",      "calibration_data",
                                 "calibrator", "tuning_budget_ms"};

bool IsCompileKey(const std::string& key) {
  for (const char* k : kKeys) {
    if (key == k) return true;
  }
  return false;
}

// Collects the compile keys from `parameters` and the "nereid" accelerator.
StatusOr<std::map<std::string, std::string>> CollectValues(const inference::ModelConfig& config) {
  std::map<std::string, std::string> values;
  for (const auto& [key, value] : config.parameters()) {
    if (IsCompileKey(key)) values[key] = value.string_value();
  }
  const auto& accelerators = config.optimization().execution_accelerators();
  for (const auto& gpu : accelerators.gpu_execution_accelerator()) {
    return InvalidArgument("optimization: gpu_execution_accelerator '" + gpu.name() +
                           "' is not supported (there is no GPU path)");
  }
  for (const auto& accelerator : accelerators.cpu_execution_accelerator()) {
    if (accelerator.name() != "nereid") {
      return InvalidArgument("optimization: cpu_execution_accelerator '" + accelerator.name() +
                             "' is not supported (the only one is 'nereid')");
    }
    for (const auto& [key, value] : accelerator.parameters()) {
      if (!IsCompileKey(key)) {
        return InvalidArgument("optimization: the 'nereid' accelerator has no parameter '" + key +
                               "' (known: precision, shapes, min_shapes, opt_shapes, max_shapes, "
                               "calibration_data, calibrator, tuning_budget_ms)");
      }
      auto [it, inserted] = values.emplace(key, value);
      if (!inserted && it->second != value) {
        return InvalidArgument("compile setting '" + key + "' is '" + it->second +
                               "' in parameters but '" + value + "' in the 'nereid' accelerator");
      }
    }
  }
  return values;
}

StatusOr<std::string> CalibrationDir(const std::string& value, const std::string& model_dir) {
  fs::path rel(value);
  if (rel.is_absolute() || rel.empty() || *rel.lexically_normal().begin() == "..") {
    return InvalidArgument("parameter 'calibration_data': '" + value +
                           "' must name a directory inside the model directory");
  }
  const fs::path dir = fs::path(model_dir) / rel;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return NotFound("parameter 'calibration_data': " + dir.string() + " is not a directory");
  }
  return dir.lexically_normal().string();
}

}  // namespace

StatusOr<OnnxCompileSettings> ReadCompileSettings(const inference::ModelConfig& config,
                                                  const std::string& model_dir) {
  ASSIGN_OR_RETURN(auto values, CollectValues(config));
  OnnxCompileSettings settings;
  settings.given = !values.empty();
  engine::CompileOptions& o = settings.options;
  auto get = [&](const char* key) {
    auto it = values.find(key);
    return it == values.end() ? std::string() : it->second;
  };
  if (!get("precision").empty()) {
    auto precision = engine::ParsePrecision(get("precision"));
    if (!precision.ok()) return precision.status().WithPrefix("parameter 'precision'");
    o.precision = *precision;
  }
  if (!get("calibrator").empty()) {
    auto calibrator = engine::ParseCalibrator(get("calibrator"));
    if (!calibrator.ok()) return calibrator.status().WithPrefix("parameter 'calibrator'");
    o.calibrator = *calibrator;
  }
  if (!get("calibration_data").empty()) {
    ASSIGN_OR_RETURN(o.calibration_data, CalibrationDir(get("calibration_data"), model_dir));
  }
  if (const std::string budget = get("tuning_budget_ms"); !budget.empty()) {
    auto [end, ec] =
        std::from_chars(budget.data(), budget.data() + budget.size(), o.tuning_budget_ms);
    if (ec != std::errc() || end != budget.data() + budget.size() || o.tuning_budget_ms < 0) {
      return InvalidArgument("parameter 'tuning_budget_ms' must be an integer >= 0, got '" +
                             budget + "'");
    }
  }
  auto profile = engine::MakeShapeProfile(get("shapes"), get("min_shapes"), get("opt_shapes"),
                                          get("max_shapes"));
  if (!profile.ok()) {
    // The engine's messages name the flags; here they are parameters.
    std::string message = profile.status().message();
    for (const char* flag : {"--min-shapes", "--opt-shapes", "--max-shapes", "--shapes"}) {
      for (size_t at = message.find(flag); at != std::string::npos; at = message.find(flag)) {
        std::string name = std::string(flag).substr(2);
        for (char& c : name) c = c == '-' ? '_' : c;
        message.replace(at, std::string(flag).size(), "parameter '" + name + "'");
      }
    }
    return Status(profile.status().code(), message);
  }
  o.shape_profile = std::move(profile).value();
  settings.canonical = "precision=" + std::string(engine::PrecisionName(o.precision)) +
                       ";calibrator=" + std::string(engine::CalibratorName(o.calibrator)) +
                       ";calibration_data=" + o.calibration_data +
                       ";min=" + engine::ShapeListText(o.shape_profile, "min") +
                       ";opt=" + engine::ShapeListText(o.shape_profile, "opt") +
                       ";max=" + engine::ShapeListText(o.shape_profile, "max") +
                       ";tuning_budget_ms=" + std::to_string(o.tuning_budget_ms);
  return settings;
}

}  // namespace nereid::backends
