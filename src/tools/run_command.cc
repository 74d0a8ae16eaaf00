#include "tools/run_command.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>
#include <random>

#include "engine/runtime/plan.h"
#include "common/npy.h"

namespace nereid::tools {
namespace {

StatusOr<Tensor> RandomInput(const engine::ValueInfo& info, int batch, std::mt19937* rng) {
  Shape shape = info.shape;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] >= 0) continue;
    if (i != 0) {
      return InvalidArgument("input '" + info.name + "' has symbolic dimension " +
                             std::to_string(i) + " " + ShapeToString(info.shape) +
                             "; give it with --input " + info.name + "=FILE.npy");
    }
    shape[i] = batch;
  }
  if (DataTypeByteSize(info.dtype) == 0) {
    return Unimplemented("cannot make random data for input '" + info.name + "' of type " +
                         std::string(DataTypeName(info.dtype)));
  }
  Tensor t = Tensor::AllocateDense(info.dtype, shape);
  ASSIGN_OR_RETURN(int64_t n, ElementCount(shape));
  std::uniform_real_distribution<float> real(-1.0f, 1.0f);
  std::uniform_int_distribution<int> small(0, 9);
  for (int64_t i = 0; i < n; ++i) {
    switch (info.dtype) {
      case DataType::kFp32: t.mutable_data_as<float>()[i] = real(*rng); break;
      case DataType::kFp64: t.mutable_data_as<double>()[i] = real(*rng); break;
      case DataType::kInt64: t.mutable_data_as<int64_t>()[i] = small(*rng); break;
      case DataType::kInt32: t.mutable_data_as<int32_t>()[i] = small(*rng); break;
      case DataType::kBool: t.mutable_data()[i] = 1; break;
      default: std::memset(t.mutable_data(), 0, t.byte_size()); i = n; break;
    }
  }
  return t;
}

void PrintSummary(const std::string& name, const Tensor& t) {
  std::printf("  %s: %s %s", name.c_str(), std::string(DataTypeName(t.dtype())).c_str(),
              ShapeToString(t.shape()).c_str());
  if (t.dtype() == DataType::kFp32) {
    const float* p = t.data_as<float>();
    size_t n = t.byte_size() / 4;
    double sum = 0, mn = INFINITY, mx = -INFINITY;
    for (size_t i = 0; i < n; ++i) {
      sum += p[i];
      mn = std::min<double>(mn, p[i]);
      mx = std::max<double>(mx, p[i]);
    }
    std::printf("  min %.6g max %.6g mean %.6g  first:", mn, mx, n ? sum / n : 0.0);
    for (size_t i = 0; i < std::min<size_t>(n, 5); ++i) std::printf(" %.6g", p[i]);
  }
  std::printf("\n");
}

std::string Bytes(size_t bytes) {
  char text[32];
  if (bytes >= (size_t{1} << 20)) {
    std::snprintf(text, sizeof(text), "%.2f MiB", static_cast<double>(bytes) / (1 << 20));
  } else {
    std::snprintf(text, sizeof(text), "%.1f KiB", static_cast<double>(bytes) / 1024);
  }
  return text;
}

// The memory plan of the runs' input shapes (engine/runtime/memory_plan.h).
void PrintMemory(const engine::MemoryReport& m) {
  const auto pct = [&](size_t bytes) {
    return m.naive_bytes ? 100.0 * static_cast<double>(bytes) / static_cast<double>(m.naive_bytes)
                         : 0.0;
  };
  std::printf("memory for %s: arena %s (%.1f%% of naive), heap peak %s (%.1f%%), naive sum %s\n",
              m.input_shapes.c_str(), Bytes(m.arena_bytes).c_str(), pct(m.arena_bytes),
              Bytes(m.heap_peak_bytes).c_str(), pct(m.heap_peak_bytes),
              Bytes(m.naive_bytes).c_str());
  std::printf("  %lld intermediates in %lld steps, %lld in place; %lld escaped to the heap (%s: "
              "outputs); planned in %.2f ms; %lld planned runs, %lld fell back to the heap\n",
              static_cast<long long>(m.allocations), static_cast<long long>(m.steps),
              static_cast<long long>(m.in_place_steps),
              static_cast<long long>(m.escaped_allocations), Bytes(m.escaped_bytes).c_str(),
              m.planning_ms, static_cast<long long>(m.planned_runs),
              static_cast<long long>(m.fallback_runs));
}

void PrintProfile(const engine::RunProfile& profile, int runs) {
  double total = 0;
  for (const auto& step : profile.steps) total += step.total_ms;
  if (total <= 0 || runs <= 0) return;
  std::map<std::string, std::pair<double, int>> by_op;  // op -> (ms, steps)
  for (const auto& step : profile.steps) {
    by_op[step.op_type].first += step.total_ms;
    by_op[step.op_type].second += 1;
  }
  std::vector<std::pair<double, std::string>> ops;
  for (const auto& [op, v] : by_op) ops.emplace_back(v.first, op);
  std::sort(ops.rbegin(), ops.rend());
  std::printf("profile: %zu steps, %.3f ms per run inside kernels\n", profile.steps.size(),
              total / runs);
  std::printf("  by op type:              ms/run      %%   steps\n");
  for (const auto& [ms, op] : ops) {
    std::printf("  %-24s %9.3f %6.1f %7d\n", op.c_str(), ms / runs, 100.0 * ms / total,
                by_op[op].second);
  }
  std::vector<size_t> order(profile.steps.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return profile.steps[a].total_ms > profile.steps[b].total_ms;
  });
  std::printf("  slowest steps (#, ms/run, %%, step):\n");
  for (size_t k = 0; k < std::min<size_t>(order.size(), 25); ++k) {
    const auto& step = profile.steps[order[k]];
    std::printf("  %4zu %9.3f %6.1f  %s\n", order[k], step.total_ms / runs,
                100.0 * step.total_ms / total, step.label.c_str());
  }
}

}  // namespace

int RunModel(const RunOptions& options) {
  engine::CompileOptions co;
  co.intra_op_threads = options.threads;
  co.memory_planning = co.in_place = !options.no_memory_plan;
  auto t0 = std::chrono::steady_clock::now();
  // A compiled plan (nereid compile) runs as it was compiled.
  engine::PlanLoadOptions lo;
  lo.intra_op_threads = co.intra_op_threads;
  lo.memory_planning = lo.in_place = co.memory_planning;
  auto plan = engine::IsPlanFile(options.model) ? engine::Plan::FromPlanFile(options.model, lo)
                                                : engine::Plan::FromOnnxFile(options.model, co);
  auto t1 = std::chrono::steady_clock::now();
  if (!plan.ok()) {
    std::fprintf(stderr, "error: %s\n", plan.status().message().c_str());
    return 1;
  }
  std::printf("loaded %s in %.1f ms\n", options.model.c_str(),
              std::chrono::duration<double, std::milli>(t1 - t0).count());
  std::mt19937 rng(42);
  std::vector<Tensor> inputs;
  for (const auto& info : (*plan)->inputs()) {
    auto it = options.inputs.find(info.name);
    StatusOr<Tensor> t = it != options.inputs.end() ? ReadNpy(it->second)
                                                    : RandomInput(info, options.batch, &rng);
    if (!t.ok()) {
      std::fprintf(stderr, "error: %s\n", t.status().message().c_str());
      return 1;
    }
    inputs.push_back(std::move(t).value());
  }
  for (const auto& [name, path] : options.inputs) {
    bool known = false;
    for (const auto& info : (*plan)->inputs()) known |= info.name == name;
    if (!known) {
      std::fprintf(stderr, "error: the model has no input '%s'\n", name.c_str());
      return 1;
    }
  }
  std::vector<TensorView> views;
  for (const auto& t : inputs) views.push_back(t.view());
  std::vector<Tensor> outputs;
  for (int i = 0; i < options.warmup; ++i) {
    Status s = (*plan)->Run(views, &outputs);
    if (!s.ok()) {
      std::fprintf(stderr, "error: %s\n", s.message().c_str());
      return 1;
    }
  }
  std::vector<double> ms;
  engine::RunProfile profile;
  for (int i = 0; i < std::max(1, options.iterations); ++i) {
    auto a = std::chrono::steady_clock::now();
    Status s = (*plan)->Run(views, &outputs, options.profile ? &profile : nullptr);
    auto b = std::chrono::steady_clock::now();
    if (!s.ok()) {
      std::fprintf(stderr, "error: %s\n", s.message().c_str());
      return 1;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(b - a).count());
  }
  std::printf("outputs:\n");
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string& name = (*plan)->outputs()[i].name;
    PrintSummary(name, outputs[i]);
    if (!options.save_outputs.empty()) {
      std::filesystem::create_directories(options.save_outputs);
      Status s = WriteNpy((std::filesystem::path(options.save_outputs) / (name + ".npy")).string(),
                          outputs[i]);
      if (!s.ok()) std::fprintf(stderr, "warning: %s\n", s.message().c_str());
    }
  }
  // Without warm-up runs the first timed run includes what a plan does
  // lazily on the first run of a shape (oneDNN primitives, packed weights).
  const double first_ms = ms.front();
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) { return ms[std::min(ms.size() - 1, size_t(p * ms.size()))]; };
  double mean = 0;
  for (double v : ms) mean += v;
  mean /= ms.size();
  std::printf("latency over %zu runs: p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  mean %.3f ms\n",
              ms.size(), pct(0.5), pct(0.9), pct(0.99), mean);
  if (options.warmup == 0 && ms.size() > 1) {
    std::printf("first run %.3f ms (includes creating primitives and packing weights)\n",
                first_ms);
  }
  if (auto memory = (*plan)->LastMemoryReport(); memory.has_value()) PrintMemory(*memory);
  if (options.profile) PrintProfile(profile, static_cast<int>(ms.size()));
  return 0;
}

}  // namespace nereid::tools
