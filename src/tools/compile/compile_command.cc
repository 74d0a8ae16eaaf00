#include "tools/compile/compile_command.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

#include "engine/runtime/calibration.h"
#include "engine/runtime/cpu_features.h"
#include "engine/runtime/plan.h"
#include "engine/runtime/shape_profile.h"
#include "tools/compile/progress_line.h"

namespace nereid::tools {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kSteps = 6;  // read, import, passes, kernels, first run, write

double Ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

std::string Size(uint64_t bytes) {
  char text[32];
  if (bytes >= (uint64_t{1} << 20)) {
    std::snprintf(text, sizeof(text), "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  } else {
    std::snprintf(text, sizeof(text), "%.1f KiB", static_cast<double>(bytes) / 1024);
  }
  return text;
}

// Flag values -> engine options; false (after printing why) on a bad value.
bool ToEngineOptions(const CompileCommandOptions& o, engine::CompileOptions* co) {
  auto fail = [](const Status& s) {
    std::fprintf(stderr, "error: %s\n", s.message().c_str());
    return false;
  };
  auto precision = engine::ParsePrecision(o.precision);
  if (!precision.ok()) return fail(precision.status().WithPrefix("--precision"));
  auto calibrator = engine::ParseCalibrator(o.calibrator);
  if (!calibrator.ok()) return fail(calibrator.status().WithPrefix("--calibrator"));
  auto profile = engine::MakeShapeProfile(o.shapes, o.min_shapes, o.opt_shapes, o.max_shapes);
  if (!profile.ok()) return fail(profile.status());
  std::error_code ec;
  if (!o.calibration_data.empty() && !std::filesystem::is_directory(o.calibration_data, ec)) {
    return fail(
        InvalidArgument("--calibration-data: '" + o.calibration_data + "' is not a directory"));
  }
  if (o.tuning_budget_ms < 0) return fail(InvalidArgument("--tuning-budget-ms must be >= 0"));
  co->precision = *precision;
  co->calibrator = *calibrator;
  co->calibration_data = o.calibration_data;
  co->shape_profile = std::move(profile).value();
  co->tuning_budget_ms = o.tuning_budget_ms;
  co->intra_op_threads = o.threads;
  return true;
}

StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file) return NotFound("cannot open '" + path + "'");
  const std::streamoff size = file.tellg();
  std::string bytes(size > 0 ? static_cast<size_t>(size) : 0, '\0');
  file.seekg(0);
  if (size < 0 || !file.read(bytes.data(), size)) return Internal("cannot read '" + path + "'");
  return bytes;
}

// Zero inputs of the opt shapes (or the model's static shapes). Empty,
// with `why` set, when some input's shape is not known.
std::vector<Tensor> OptShapeInputs(const engine::Plan& plan, std::string* why) {
  std::vector<Tensor> inputs;
  for (const engine::ValueInfo& info : plan.inputs()) {
    Shape shape = info.shape;
    for (const engine::InputShapeRange& r : plan.info().shape_profile) {
      if (r.name == info.name) shape = r.opt;
    }
    bool known = DataTypeByteSize(info.dtype) > 0;
    for (int64_t d : shape) known &= d >= 0;
    if (!known) {
      *why = "input '" + info.name + "' has shape " + ShapeToString(info.shape) +
             " and no --shapes or --opt-shapes";
      return {};
    }
    Tensor t = Tensor::AllocateDense(info.dtype, shape);
    std::memset(t.mutable_data(), 0, t.byte_size());
    inputs.push_back(std::move(t));
  }
  return inputs;
}

void PrintVerbose(const engine::PlanInfo& info) {
  std::printf("passes applied (in order):\n");
  for (const auto& p : info.passes) {
    std::printf("  %-28s %5d rewrite%s  %8.2f ms\n", p.name.c_str(), p.rewrites,
                p.rewrites == 1 ? " " : "s", p.ms);
  }
  if (!info.optimize) std::printf("  (none: optimization is off)\n");
  std::printf("kernels (step, node, priority of the factory chosen; 0 = reference):\n");
  for (size_t i = 0; i < info.kernels.size(); ++i) {
    const auto& k = info.kernels[i];
    std::printf("  %4zu  %-60s %3d %s%s%s\n", i, k.node.c_str(), k.priority,
                k.priority > 0 ? "optimized" : "reference", k.params.empty() ? "" : "  tuned: ",
                k.params.c_str());
  }
  if (!info.precision_lines.empty()) {
    std::printf("precision (per convolution / matrix product):\n");
    for (const std::string& line : info.precision_lines) std::printf("  %s\n", line.c_str());
  }
  const engine::PlanInfo::Tuning& t = info.tuning;
  if (!t.ran) return;
  std::printf("tuning (step, node, input shapes; the candidate chosen and its median time against "
              "the default's):\n");
  for (const auto& n : t.nodes) {
    std::printf("  %4zu  %s  %s\n", n.step, n.node.c_str(), n.input_shapes.c_str());
    const bool changed = n.chosen_label != n.default_label;
    if (changed) {
      std::printf("        chosen: %s %.3f ms, against %s %.3f ms: won by %.2fx",
                  n.chosen_label.c_str(), n.chosen_ms, n.default_label.c_str(), n.default_ms,
                  n.chosen_ms > 0 ? n.default_ms / n.chosen_ms : 0.0);
    } else {
      std::printf("        kept: %s %.3f ms (no candidate more than 3%% faster)",
                  n.default_label.c_str(), n.default_ms);
    }
    std::printf(" [%d candidate%s", n.candidates, n.candidates == 1 ? "" : "s");
    if (n.failed > 0) std::printf(", %d failed", n.failed);
    std::printf("]\n");
  }
  if (t.nodes.empty()) std::printf("  (no node was tuned)\n");
}

// The summary line of auto-tuning, or of why it did not run.
void PrintTuningSummary(const engine::PlanInfo& info) {
  const engine::PlanInfo::Tuning& t = info.tuning;
  if (info.tuning_budget_ms <= 0) return;
  if (!t.ran) {
    std::printf("  tuning skipped: %s\n", t.skipped.c_str());
    return;
  }
  double saved = 0, before = 0;
  for (const auto& n : t.nodes) {
    before += n.default_ms;
    saved += n.default_ms - n.chosen_ms;
  }
  std::printf("  tuning: %d node%s tuned at %s, %d changed (their summed time %.2f -> %.2f ms), "
              "in %.0f ms of a %lld ms budget",
              t.tuned, t.tuned == 1 ? "" : "s", t.input_shapes.c_str(), t.changed, before,
              before - saved, t.spent_ms, static_cast<long long>(info.tuning_budget_ms));
  if (t.not_reached > 0 || t.unfinished > 0) {
    std::printf("; budget spent: %d node%s not tuned", t.not_reached + t.unfinished,
                t.not_reached + t.unfinished == 1 ? "" : "s");
  }
  if (t.failed_candidates > 0) std::printf("; %d candidates failed", t.failed_candidates);
  std::printf("\n");
  if (!t.skipped.empty()) std::printf("  tuning stopped: %s\n", t.skipped.c_str());
}

// The plan's INT8 input scales as JSON at `path` (--write-calibration-table).
Status WriteCalibrationTable(const engine::Plan& plan, const std::string& path) {
  if (plan.info().precision != engine::Precision::kInt8) {
    return InvalidArgument("--write-calibration-table needs --precision int8");
  }
  ASSIGN_OR_RETURN(auto entries, engine::CalibrationEntriesOfPlan(plan));
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << engine::CalibrationTableJson(entries, plan.info().calibrator);
  if (!file.flush()) return Internal("cannot write '" + path + "'");
  std::printf("  calibration table: %zu tensors -> %s\n", entries.size(), path.c_str());
  return Status::Ok();
}

}  // namespace

int RunCompile(const CompileCommandOptions& o) {
  engine::CompileOptions co;
  if (!ToEngineOptions(o, &co)) return 2;
  if (o.output.empty()) {
    std::fprintf(stderr, "error: no output file (-o model.plan)\n");
    return 2;
  }
  ProgressLine line(stderr);
  const Clock::time_point start = Clock::now();
  line.Update(1, kSteps, "read", 0, 0, o.model);
  auto bytes = ReadFile(o.model);
  if (!bytes.ok()) {
    line.Finish();
    std::fprintf(stderr, "error: %s\n", bytes.status().message().c_str());
    return 1;
  }
  // When each phase began (the last entry: compile done).
  std::map<std::string, Clock::time_point> began;
  began["import"] = Clock::now();
  auto progress = [&](const engine::CompileProgress& p) {
    const int step = p.phase == "import" ? 2 : p.phase == "passes" ? 3 : 4;
    began.emplace(std::string(p.phase), Clock::now());
    line.Update(step, kSteps, p.phase, p.done, p.total, p.detail);
  };
  const std::string dir = std::filesystem::path(o.model).parent_path().string();
  auto plan = engine::CompileToPlan(*bytes, co, progress, dir.empty() ? "." : dir);
  const Clock::time_point compiled = Clock::now();
  if (!plan.ok()) {
    line.Finish();
    std::fprintf(stderr, "error: cannot compile %s: %s\n", o.model.c_str(),
                 plan.status().message().c_str());
    return 1;
  }
  const engine::PlanInfo& info = (*plan)->info();

  // Compile-time work on the opt shapes: one run, which also checks the plan runs.
  line.Update(5, kSteps, "first run (opt shapes)", 0, 0, "");
  std::string skipped;
  double first_run_ms = -1;
  std::vector<Tensor> inputs = OptShapeInputs(**plan, &skipped);
  if (skipped.empty()) {
    std::vector<TensorView> views;
    for (const Tensor& t : inputs) views.push_back(t.view());
    std::vector<Tensor> outputs;
    const Clock::time_point a = Clock::now();
    Status ran = (*plan)->Run(views, &outputs);
    first_run_ms = Ms(a, Clock::now());
    if (!ran.ok()) {
      line.Finish();
      std::fprintf(stderr, "error: the compiled plan fails on its opt shapes: %s\n",
                   ran.message().c_str());
      return 1;
    }
  }

  line.Update(6, kSteps, "write", 0, 0, o.output);
  const Clock::time_point write_start = Clock::now();
  Status written = engine::WritePlanFile(**plan, o.output);
  const Clock::time_point done = Clock::now();
  line.Finish();
  if (!written.ok()) {
    std::fprintf(stderr, "error: %s\n", written.message().c_str());
    return 1;
  }

  if (!o.calibration_table.empty()) {
    Status table = WriteCalibrationTable(**plan, o.calibration_table);
    if (!table.ok()) {
      std::fprintf(stderr, "error: %s\n", table.message().c_str());
      return 1;
    }
  }

  std::error_code ec;
  const uint64_t plan_size = std::filesystem::file_size(o.output, ec);
  int optimized = 0;
  for (const auto& k : info.kernels) optimized += k.priority > 0 ? 1 : 0;
  // A phase ends where the next phase that happened began.
  auto phase_ms = [&](const char* phase) {
    auto a = began.find(phase);
    if (a == began.end()) return 0.0;
    Clock::time_point end = compiled;
    for (const auto& [name, t] : began) {
      if (t > a->second && t < end) end = t;
    }
    return Ms(a->second, end);
  };
  std::printf("compiled %s (%s) -> %s (%s)\n", o.model.c_str(), Size(bytes->size()).c_str(),
              o.output.c_str(), Size(plan_size).c_str());
  std::printf("  %zu steps (%d optimized kernels), precision %s, engine %s, oneDNN %s\n",
              info.kernels.size(), optimized,
              std::string(engine::PrecisionName(info.precision)).c_str(),
              info.engine_version.c_str(), info.onednn_version.c_str());
  std::printf("  needs CPU features: %s\n",
              info.required_cpu_features.empty()
                  ? "none beyond x86-64"
                  : engine::JoinCpuFeatures(info.required_cpu_features).c_str());
  if (info.shape_profile.empty()) {
    std::printf("  shapes: any (no profile)\n");
  }
  for (const auto& r : info.shape_profile) {
    std::printf("  shapes: %s %s\n", r.name.c_str(), engine::DescribeShapeRange(r).c_str());
  }
  std::printf("  time: read %.0f ms, import %.0f ms, passes %.0f ms, kernels %.0f ms, ",
              Ms(start, began["import"]), phase_ms("import"), phase_ms("passes"),
              phase_ms("kernels"));
  if (began.count("tuning") > 0) std::printf("tuning %.0f ms, ", phase_ms("tuning"));
  if (first_run_ms >= 0) {
    std::printf("first run %.0f ms, ", first_run_ms);
  }
  std::printf("write %.0f ms; total %.2f s\n", Ms(write_start, done), Ms(start, done) / 1000);
  if (!skipped.empty()) std::printf("  first run skipped: %s\n", skipped.c_str());
  PrintTuningSummary(info);
  if (o.verbose) PrintVerbose(info);
  return 0;
}

}  // namespace nereid::tools
