#include "engine/runtime/plan.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <new>

#include "engine/ir/onnx_import.h"
#include "engine/kernels/kernel.h"
#include "engine/passes/assign_precision.h"
#include "engine/passes/chain_int8.h"
#include "engine/passes/pass.h"
#include "engine/runtime/calibration.h"
#include "engine/runtime/cpu_features.h"
#include "engine/runtime/graph_plan.h"
#include "engine/runtime/plan_file.h"
#include "engine/runtime/shape_profile.h"

namespace nereid::engine {
namespace {

// What the passes could otherwise hide by removing a dead node: every node
// of the model must be an operator we run, with at least one output.
Status CheckNodes(const Graph& graph) {
  const KernelRegistry& registry = KernelRegistry::Global();
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& node = graph.nodes[i];
    if (registry.Find(node.domain, node.op_type) == nullptr) {
      return Unimplemented(DescribeNode(node, i) + " is not supported");
    }
    if (node.outputs.empty()) return InvalidArgument(DescribeNode(node, i) + " has no outputs");
  }
  return Status::Ok();
}

// Options that contradict each other, or that ask for what this engine
// cannot do yet (said plainly rather than ignored).
Status CheckCompileOptions(const CompileOptions& options) {
  if (!options.calibration_data.empty() && options.precision != Precision::kInt8 &&
      options.precision != Precision::kBest) {
    return InvalidArgument("calibration data is only used with precision int8 or best, not " +
                           std::string(PrecisionName(options.precision)));
  }
  if (options.tuning_budget_ms < 0) {
    return InvalidArgument("the tuning budget must be >= 0 ms, got " +
                           std::to_string(options.tuning_budget_ms));
  }
  return Status::Ok();
}

// CPU features the optimized graph's own decisions assumed. Kernels choose
// their instruction set when they are built (oneDNN, our AVX-512 kernels
// with portable fallbacks), so they add nothing; the layout pass picks
// 16-channel blocks for AVX-512 and 8 otherwise, which it records in
// attributes.
std::vector<std::string> RequiredCpuFeatures(const Graph& graph) {
  for (const Node& node : graph.nodes) {
    for (const char* name : {"block", "src_block", "dst_block"}) {
      const Attribute* a = node.FindAttribute(name);
      if (a != nullptr && a->kind == Attribute::Kind::kInt && a->i == 16) return {"avx512f"};
    }
  }
  return {};
}

RuntimeSettings SettingsOf(const CompileOptions& o) {
  return {o.intra_op_threads, o.reference_kernels_only, o.memory_planning, o.max_planned_shapes,
          o.in_place};
}

RuntimeSettings SettingsOf(const PlanLoadOptions& o) {
  return {o.intra_op_threads, false, o.memory_planning, o.max_planned_shapes, o.in_place};
}

// INT8 nodes come from AssignPrecision or from a QDQ model (fuse_qdq):
// quantized tensors between them (passes/chain_int8.h), which need the
// oneDNN kernels. `info` records the pass.
Status Chain(Graph* graph, const CompileOptions& options, PlanInfo* info) {
  const auto& off = options.disabled_passes;
  if (!options.optimize || options.reference_kernels_only ||
      std::find(off.begin(), off.end(), "chain_int8") != off.end()) {
    return Status::Ok();
  }
  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(int chained, ChainInt8(graph));
  if (chained > 0) {
    info->passes.push_back(
        {"chain_int8", chained,
         std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
             .count()});
  }
  return Status::Ok();
}

// Median ms of three runs of `graph` on calibration sample 0, after a
// warm-up run.
StatusOr<double> TimeWholeGraph(const Graph& graph, const CompileOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<Plan> plan,
                   GraphPlan::Create(graph, SettingsOf(options), PlanInfo{}));
  std::vector<TensorView> views;
  for (const Tensor& t : options.calibration->samples.front()) views.push_back(t.view());
  std::vector<double> ms;
  for (int i = 0; i < 4; ++i) {
    std::vector<Tensor> outputs;
    const auto start = std::chrono::steady_clock::now();
    RETURN_IF_ERROR(plan->Run(views, &outputs));
    if (i > 0) {
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count());
    }
  }
  std::sort(ms.begin(), ms.end());
  return ms[1];
}

// Precision best chose per layer from each layer's own timing, which cannot
// see everything (conversions where a chain breaks, timing noise on small
// layers). The whole graph decides: the per-layer choice, all-INT8 and
// all-FP32 are each timed on the first calibration sample and the fastest
// is kept (`*graph` becomes it).
Status CheckBestAsAWhole(Graph* graph, Graph fp32_graph, const CompileOptions& options,
                         PlanInfo* info) {
  Graph int8_graph = fp32_graph;
  CompileOptions int8 = options;
  int8.precision = Precision::kInt8;
  RETURN_IF_ERROR(AssignPrecision(&int8_graph, int8, nullptr));
  PlanInfo scratch;
  RETURN_IF_ERROR(Chain(&int8_graph, options, &scratch));
  ASSIGN_OR_RETURN(double layered_ms, TimeWholeGraph(*graph, options));
  ASSIGN_OR_RETURN(double int8_ms, TimeWholeGraph(int8_graph, options));
  ASSIGN_OR_RETURN(double fp32_ms, TimeWholeGraph(fp32_graph, options));
  const char* kept = "per-layer choice";
  if (int8_ms < layered_ms && int8_ms <= fp32_ms) {
    kept = "all INT8";
    *graph = std::move(int8_graph);  // the per-layer lines stay: what the timing found
    info->passes.erase(std::remove_if(info->passes.begin(), info->passes.end(),
                                      [](const PlanInfo::Pass& p) { return p.name == "chain_int8"; }),
                       info->passes.end());
    for (auto& p : scratch.passes) info->passes.push_back(p);
  } else if (fp32_ms < layered_ms) {
    kept = "all FP32";
    *graph = std::move(fp32_graph);
    info->passes.erase(std::remove_if(info->passes.begin(), info->passes.end(),
                                      [](const PlanInfo::Pass& p) { return p.name == "chain_int8"; }),
                       info->passes.end());
  }
  char line[200];
  std::snprintf(line, sizeof(line),
                "best, whole graph on calibration sample 0: per-layer choice %.2f ms, all INT8 "
                "%.2f ms, all FP32 %.2f ms: kept %s",
                layered_ms, int8_ms, fp32_ms, kept);
  info->precision_lines.push_back(line);
  return Status::Ok();
}


std::vector<ValueInfo> InputsOf(const Graph& graph) {
  std::vector<ValueInfo> inputs;
  for (int id : graph.inputs) {
    const Value& v = graph.values[id];
    inputs.push_back({v.name, v.dtype, v.shape.value_or(Shape{})});
  }
  return inputs;
}

StatusOr<std::unique_ptr<Plan>> Compile(std::string_view onnx_bytes, const CompileOptions& options,
                                        const CompileProgressFn& progress,
                                        const std::string& external_data_dir) {
  RETURN_IF_ERROR(CheckCompileOptions(options));
  if (progress) progress({"import", 0, 1, ""});
  ImportOptions import;
  import.infer_shapes_for = [](std::string_view domain, std::string_view op_type) {
    return KernelRegistry::Global().Find(domain, op_type) != nullptr;
  };
  import.external_data_dir = external_data_dir;
  for (auto& [name, dims] : FixedDimsOf(options.shape_profile)) import.input_dims[name] = dims;
  ASSIGN_OR_RETURN(Graph graph, ImportOnnxModel(onnx_bytes, import));
  RETURN_IF_ERROR(CheckShapeProfile(options.shape_profile, InputsOf(graph)));

  PlanInfo info;
  info.engine_version = std::string(kEngineVersion);
  info.onednn_version = OneDnnVersion();
  info.compiled_on_cpu_features = DetectCpuFeatures();
  info.precision = options.precision;
  info.calibrator = options.calibrator;
  info.calibration_data = options.calibration_data;
  info.tuning_budget_ms = options.tuning_budget_ms;
  info.shape_profile = options.shape_profile;
  info.optimize = options.optimize;
  info.disabled_passes = options.disabled_passes;
  if (options.optimize) {
    RETURN_IF_ERROR(CheckNodes(graph));
    PassContext context;
    context.intra_op_threads = options.intra_op_threads;
    context.reference_kernels_only = options.reference_kernels_only;
    context.disabled = options.disabled_passes;
    std::vector<PassStats> stats;
    PassObserver observer;
    if (progress) {
      observer = [&](size_t index, size_t count, std::string_view name) {
        progress({"passes", static_cast<int64_t>(index), static_cast<int64_t>(count), name});
      };
    }
    RETURN_IF_ERROR(RunPasses(&graph, context, &stats, observer));
    for (const PassStats& s : stats) info.passes.push_back({s.name, s.rewrites, s.ms});
  }
  if (options.precision != Precision::kFp32) {
    if (progress) progress({"precision", 0, 1, PrecisionName(options.precision)});
    CompileOptions precision = options;
    const bool calibrated =
        options.precision == Precision::kInt8 || options.precision == Precision::kBest;
    if (calibrated && !options.calibration) {
      if (options.calibration_data.empty()) {
        return InvalidArgument("precision " + std::string(PrecisionName(options.precision)) +
                               " needs calibration data (--calibration-data DIR)" +
                               (options.precision == Precision::kBest
                                    ? ": best considers INT8 for every layer"
                                    : ""));
      }
      ASSIGN_OR_RETURN(precision.calibration,
                       LoadCalibrationData(options.calibration_data, InputsOf(graph)));
    }
    const bool best = options.precision == Precision::kBest;
    Graph fp32_graph;
    if (best) fp32_graph = graph;
    PrecisionReport report;
    RETURN_IF_ERROR(AssignPrecision(&graph, precision, &report));
    info.precision_lines = std::move(report.lines);
    RETURN_IF_ERROR(Chain(&graph, options, &info));
    if (best) RETURN_IF_ERROR(CheckBestAsAWhole(&graph, std::move(fp32_graph), precision, &info));
  } else {
    RETURN_IF_ERROR(Chain(&graph, options, &info));
  }
  info.required_cpu_features = RequiredCpuFeatures(graph);
  return GraphPlan::Create(std::move(graph), SettingsOf(options), std::move(info), progress);
}

// Import and build may allocate large initializers; keep exceptions inside.
template <typename Fn>
StatusOr<std::unique_ptr<Plan>> Guarded(Fn&& fn, const char* what) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return ResourceExhausted(std::string("out of memory while ") + what);
  } catch (const std::exception& e) {
    return Internal(std::string("unexpected exception while ") + what + ": " + e.what());
  }
}

// 64-byte aligned storage for a plan file: the graph's initializers point
// into it (runtime/graph_codec.h), so it lives as long as any of them.
std::shared_ptr<char> AlignedBuffer(size_t size) {
  const size_t rounded = (std::max<size_t>(size, 1) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded);
  if (p == nullptr) throw std::bad_alloc();
  return std::shared_ptr<char>(static_cast<char*>(p), [](char* q) { std::free(q); });
}

StatusOr<std::unique_ptr<Plan>> Load(std::shared_ptr<char> buffer, size_t size,
                                     const PlanLoadOptions& options) {
  const std::vector<std::string>& cpu =
      options.cpu_features ? *options.cpu_features : DetectCpuFeatures();
  ASSIGN_OR_RETURN(PlanFile file,
                   DecodePlanFile(std::string_view(buffer.get(), size), buffer, cpu));
  // Checked at compile time; a stored profile that does not fit the stored
  // graph means the file was not written by CompileToPlan.
  RETURN_IF_ERROR(CheckShapeProfile(file.info.shape_profile, InputsOf(file.graph))
                      .WithPrefix("the plan's shape profile does not fit its graph"));
  return GraphPlan::Create(std::move(file.graph), SettingsOf(options), std::move(file.info));
}

}  // namespace

std::string_view PrecisionName(Precision precision) {
  switch (precision) {
    case Precision::kFp32:
      return "fp32";
    case Precision::kBf16:
      return "bf16";
    case Precision::kInt8:
      return "int8";
    case Precision::kBest:
      return "best";
  }
  return "unknown";
}

StatusOr<Precision> ParsePrecision(std::string_view text) {
  for (Precision p : {Precision::kFp32, Precision::kBf16, Precision::kInt8, Precision::kBest}) {
    if (text == PrecisionName(p)) return p;
  }
  return InvalidArgument("unknown precision '" + std::string(text) +
                         "' (expected fp32, bf16, int8 or best)");
}

std::string_view CalibratorName(Calibrator calibrator) {
  switch (calibrator) {
    case Calibrator::kMinMax:
      return "minmax";
    case Calibrator::kPercentile:
      return "percentile";
    case Calibrator::kEntropy:
      return "entropy";
  }
  return "unknown";
}

StatusOr<Calibrator> ParseCalibrator(std::string_view text) {
  for (Calibrator c : {Calibrator::kMinMax, Calibrator::kPercentile, Calibrator::kEntropy}) {
    if (text == CalibratorName(c)) return c;
  }
  return InvalidArgument("unknown calibrator '" + std::string(text) +
                         "' (expected minmax, percentile or entropy)");
}

StatusOr<std::unique_ptr<Plan>> CompileToPlan(std::string_view onnx_bytes,
                                              const CompileOptions& options,
                                              const CompileProgressFn& progress,
                                              const std::string& external_data_dir) {
  return Guarded([&] { return Compile(onnx_bytes, options, progress, external_data_dir); },
                 "compiling the model");
}

StatusOr<std::unique_ptr<Plan>> CompileFileToPlan(const std::string& path,
                                                  const CompileOptions& options,
                                                  const CompileProgressFn& progress) {
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file) return InvalidArgument("cannot open ONNX model file '" + path + "'");
  const std::streamoff size = file.tellg();
  std::string bytes(size > 0 ? static_cast<size_t>(size) : 0, '\0');
  file.seekg(0);
  if (size < 0 || !file.read(bytes.data(), size)) {
    return InvalidArgument("cannot read ONNX model file '" + path + "'");
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  auto plan = CompileToPlan(bytes, options, progress, dir.empty() ? "." : dir);
  if (!plan.ok()) return plan.status().WithPrefix(path);
  return plan;
}

StatusOr<std::unique_ptr<Plan>> Plan::FromOnnxFile(const std::string& path,
                                                   const CompileOptions& options) {
  return CompileFileToPlan(path, options);
}

StatusOr<std::unique_ptr<Plan>> Plan::FromOnnxBytes(std::string_view bytes,
                                                    const CompileOptions& options) {
  return CompileToPlan(bytes, options);
}

StatusOr<std::unique_ptr<Plan>> Plan::FromPlanBytes(std::string_view bytes,
                                                    const PlanLoadOptions& options) {
  return Guarded(
      [&]() -> StatusOr<std::unique_ptr<Plan>> {
        std::shared_ptr<char> buffer = AlignedBuffer(bytes.size());
        std::copy(bytes.begin(), bytes.end(), buffer.get());
        return Load(std::move(buffer), bytes.size(), options);
      },
      "loading the plan");
}

StatusOr<std::unique_ptr<Plan>> Plan::FromPlanFile(const std::string& path,
                                                   const PlanLoadOptions& options) {
  auto plan = Guarded(
      [&]() -> StatusOr<std::unique_ptr<Plan>> {
        std::ifstream file(path, std::ios::binary | std::ios::ate);
        if (!file) return NotFound("cannot open plan file '" + path + "'");
        const std::streamoff size = file.tellg();
        if (size < 0) return InvalidArgument("cannot read plan file '" + path + "'");
        std::shared_ptr<char> buffer = AlignedBuffer(static_cast<size_t>(size));
        file.seekg(0);
        if (!file.read(buffer.get(), size)) {
          return InvalidArgument("cannot read plan file '" + path + "'");
        }
        return Load(std::move(buffer), static_cast<size_t>(size), options);
      },
      "loading the plan");
  if (!plan.ok()) return plan.status().WithPrefix(path);
  return plan;
}

bool IsPlanFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  char magic[8] = {};
  return file.read(magic, sizeof(magic)) && std::string_view(magic, sizeof(magic)) == kPlanMagic;
}

Status WritePlanFile(const Plan& plan, const std::string& path) {
  ASSIGN_OR_RETURN(std::string bytes, plan.Serialize());
  // A unique temporary name beside the target, so concurrent writers of the
  // same plan (two servers sharing a cache) never interleave their bytes.
  static std::atomic<uint64_t> next_temp{0};
  const std::string temp =
      path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(next_temp.fetch_add(1));
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) return InvalidArgument("cannot create '" + temp + "'");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      std::error_code ec;
      std::filesystem::remove(temp, ec);
      return Internal("cannot write plan file '" + temp + "' (disk full?)");
    }
  }
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    std::filesystem::remove(temp, ec);
    return Internal("cannot rename '" + temp + "' to '" + path + "': " + ec.message());
  }
  return Status::Ok();
}

}  // namespace nereid::engine
