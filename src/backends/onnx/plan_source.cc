#include "backends/onnx/plan_source.h"

#include <chrono>
#include <filesystem>

#include "backends/onnx/compile_settings.h"
#include "common/logging.h"

namespace nereid::backends {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

StatusOr<std::unique_ptr<engine::Plan>> Compile(const std::string& name, const std::string& path,
                                                const OnnxCompileSettings& settings, int threads) {
  engine::CompileOptions options = settings.options;
  options.intra_op_threads = threads;
  const auto start = Clock::now();
  ASSIGN_OR_RETURN(auto plan, engine::CompileFileToPlan(path, options));
  if (settings.given) {
    NLOG(INFO) << "model '" << name << "': compiled " << path << " (" << settings.canonical
               << ") in " << MsSince(start) << " ms";
  }
  const engine::PlanInfo::Tuning& tuning = plan->info().tuning;
  if (tuning.ran) {
    NLOG(INFO) << "model '" << name << "': auto-tuning at " << tuning.input_shapes << " tuned "
               << tuning.tuned << " nodes (" << tuning.changed << " changed, "
               << tuning.not_reached + tuning.unfinished << " left untuned) in "
               << static_cast<int64_t>(tuning.spent_ms) << " ms"
               << (tuning.skipped.empty() ? "" : "; " + tuning.skipped);
  } else if (!tuning.skipped.empty()) {
    NLOG(INFO) << "model '" << name << "': auto-tuning skipped: " << tuning.skipped;
  }
  return plan;
}

}  // namespace

std::string ResolveModelPath(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return (fs::path(path) / "model.onnx").string();
  return path;
}

StatusOr<std::unique_ptr<engine::Plan>> ObtainPlan(const inference::ModelConfig& config,
                                                   const core::ModelFiles& files, int threads,
                                                   const PlanCache* cache) {
  const std::string& name = config.name();
  const std::string path = ResolveModelPath(files.model_path);
  ASSIGN_OR_RETURN(OnnxCompileSettings settings, ReadCompileSettings(config, files.model_dir));
  if (config.platform() == "nereid_plan" || engine::IsPlanFile(path)) {
    if (settings.given) {
      return InvalidArgument(
          "compile settings (precision, shapes, calibration, tuning budget) "
          "apply to ONNX models, but " +
          path + " is a compiled plan: its settings were fixed when it was compiled");
    }
    engine::PlanLoadOptions options;
    options.intra_op_threads = threads;
    const auto start = Clock::now();
    ASSIGN_OR_RETURN(auto plan, engine::Plan::FromPlanFile(path, options));
    NLOG(INFO) << "model '" << name << "': loaded plan file " << path << " in " << MsSince(start)
               << " ms";
    return plan;
  }
  if (cache == nullptr) return Compile(name, path, settings, threads);

  const auto start = Clock::now();
  ASSIGN_OR_RETURN(std::string key,
                   PlanCache::Key(path, settings.canonical, settings.options.calibration_data));
  const double key_ms = MsSince(start);
  engine::PlanLoadOptions options;
  options.intra_op_threads = threads;
  auto cached = cache->Load(key, options);
  if (cached.ok()) {
    NLOG(INFO) << "model '" << name << "': loaded cached plan " << cache->PathFor(key) << " in "
               << MsSince(start) << " ms (key " << key_ms << " ms)";
    return cached;
  }
  if (cached.status().code() != StatusCode::kNotFound) {
    NLOG(WARNING) << "model '" << name << "': cached plan is unusable, compiling the model again: "
                  << cached.status().message();
  }
  ASSIGN_OR_RETURN(auto plan, Compile(name, path, settings, threads));
  Status stored = cache->Store(key, *plan);
  if (stored.ok()) {
    NLOG(INFO) << "model '" << name << "': compiled and cached the plan as " << cache->PathFor(key)
               << " in " << MsSince(start) << " ms";
  } else {
    NLOG(WARNING) << "model '" << name << "': cannot cache the compiled plan: " << stored.message();
  }
  return plan;
}

std::string PlanHandoff::Key(const inference::ModelConfig& config, const core::ModelFiles& files,
                             int threads) {
  const fs::path path = ResolveModelPath(files.model_path);
  auto settings = ReadCompileSettings(config, files.model_dir);
  if (!settings.ok()) return "";
  std::string key = path.string() + "\n" + config.platform() + "\n" + std::to_string(threads) +
                    "\n" + settings->canonical;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(path.parent_path(), ec);
       !ec && it != fs::end(it); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const auto mtime = fs::last_write_time(it->path(), ec).time_since_epoch().count();
    key += "\n" + it->path().string() + ":" + std::to_string(it->file_size(ec)) + ":" +
           std::to_string(mtime);
  }
  return ec ? std::string() : key;
}

void PlanHandoff::Put(std::string key, std::unique_ptr<engine::Plan> plan) {
  std::lock_guard<std::mutex> lock(mu_);
  key_ = std::move(key);
  plan_ = key_.empty() ? nullptr : std::move(plan);
}

std::unique_ptr<engine::Plan> PlanHandoff::Take(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (key.empty() || key != key_) return nullptr;
  key_.clear();
  return std::move(plan_);
}

}  // namespace nereid::backends
