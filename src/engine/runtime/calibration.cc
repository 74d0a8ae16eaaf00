#include "engine/runtime/calibration.h"

#include <algorithm>
#include <filesystem>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "common/npy.h"
#include "engine/ir/precision_attrs.h"
#include "engine/runtime/cpu_features.h"
#include "engine/runtime/graph_plan.h"
#include "engine/runtime/plan_file.h"

namespace nereid::engine {
namespace {

// The graph with `values` added to its outputs, so a run returns them.
Graph ObservingGraph(const Graph& graph, const std::vector<int>& values) {
  Graph g = graph;
  for (int v : values) {
    if (std::find(g.outputs.begin(), g.outputs.end(), v) == g.outputs.end() &&
        std::find(g.inputs.begin(), g.inputs.end(), v) == g.inputs.end() &&
        !g.initializers.count(v)) {
      g.outputs.push_back(v);
    }
  }
  return g;
}

// The tensor of value `v` in one run: an output of the observing plan, or
// the sample's own input tensor.
const Tensor* Find(const Graph& g, int v, const std::vector<Tensor>& sample,
                   const std::vector<Tensor>& outputs) {
  for (size_t i = 0; i < g.outputs.size(); ++i) {
    if (g.outputs[i] == v) return &outputs[i];
  }
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    if (g.inputs[i] == v) return &sample[i];
  }
  return nullptr;
}

Status CheckSample(const Graph& g, const std::vector<Tensor>& sample, size_t index) {
  if (sample.size() != g.inputs.size()) {
    return InvalidArgument("calibration sample " + std::to_string(index) + " has " +
                           std::to_string(sample.size()) + " tensors; the model has " +
                           std::to_string(g.inputs.size()) + " inputs");
  }
  return Status::Ok();
}

double Kl(const std::vector<double>& p, const std::vector<double>& q) {
  double kl = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] > 0) kl += p[i] * std::log(p[i] / q[i]);
  }
  return kl;
}

// TensorRT's entropy calibration over `hist` (of |x|, bins of width
// `bin_width`): the first i bins, outliers folded into the last, against the
// same distribution squeezed into `levels` steps and expanded back.
float EntropyThreshold(const std::vector<int64_t>& hist, float bin_width, int levels) {
  const int bins = static_cast<int>(hist.size());
  if (bins <= levels) return bin_width * bins;
  double best_kl = std::numeric_limits<double>::infinity();
  int best_i = bins;
  for (int i = levels; i <= bins; ++i) {
    std::vector<double> p(hist.begin(), hist.begin() + i);
    for (int k = i; k < bins; ++k) p[i - 1] += static_cast<double>(hist[k]);
    double total = 0;
    for (double x : p) total += x;
    if (total <= 0) continue;
    // Quantize the first i bins (unfolded) into `levels` groups; each group's
    // mass is spread evenly over its non-empty bins.
    std::vector<double> q(i, 0.0);
    const double per = static_cast<double>(i) / levels;
    for (int l = 0; l < levels; ++l) {
      const int start = static_cast<int>(std::floor(l * per));
      const int end = l == levels - 1 ? i : static_cast<int>(std::floor((l + 1) * per));
      double mass = 0;
      int nonzero = 0;
      for (int k = start; k < end; ++k) {
        mass += static_cast<double>(hist[k]);
        nonzero += hist[k] != 0;
      }
      for (int k = start; k < end; ++k) {
        if (hist[k] != 0) q[k] = mass / nonzero;
      }
    }
    double q_total = 0;
    for (double x : q) q_total += x;
    if (q_total <= 0) continue;
    // Bins where P has mass and Q has none get a tiny share (smoothing), so
    // the divergence stays finite.
    constexpr double kEps = 1e-9;
    for (int k = 0; k < i; ++k) {
      p[k] /= total;
      q[k] = q[k] / q_total;
      if (p[k] > 0 && q[k] == 0) q[k] = kEps;
    }
    const double kl = Kl(p, q);
    if (kl < best_kl) {
      best_kl = kl;
      best_i = i;
    }
  }
  return (best_i + 0.5f) * bin_width;
}

Status CheckFits(const Tensor& t, const ValueInfo& input, const std::string& file) {
  if (t.dtype() != input.dtype) {
    return InvalidArgument("calibration file " + file + " holds " +
                           std::string(DataTypeName(t.dtype())) + "; input '" + input.name +
                           "' is " + std::string(DataTypeName(input.dtype)));
  }
  bool fits = t.shape().size() == input.shape.size();
  for (size_t d = 0; fits && d < t.shape().size(); ++d) {
    fits = input.shape[d] < 0 || input.shape[d] == t.shape()[d];
  }
  if (!fits) {
    return InvalidArgument("calibration file " + file + " has shape " +
                           ShapeToString(t.shape()) + "; input '" + input.name + "' takes " +
                           ShapeToString(input.shape));
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::shared_ptr<CalibrationSet>> LoadCalibrationData(
    const std::string& dir, const std::vector<ValueInfo>& inputs) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return InvalidArgument("calibration data '" + dir + "' is not a directory");
  }
  std::vector<fs::path> entries;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const bool npy = e.is_regular_file() && e.path().extension() == ".npy";
    if ((inputs.size() == 1 && npy) || (inputs.size() > 1 && e.is_directory())) {
      entries.push_back(e.path());
    }
  }
  std::sort(entries.begin(), entries.end());
  if (entries.empty()) {
    return InvalidArgument("calibration data '" + dir + "' holds no samples (" +
                           (inputs.size() == 1 ? std::string("*.npy files")
                                               : "one subdirectory per sample with "
                                                 "<input name>.npy files") +
                           ")");
  }
  auto set = std::make_shared<CalibrationSet>();
  for (const fs::path& entry : entries) {
    std::vector<Tensor> sample;
    for (const ValueInfo& input : inputs) {
      const std::string file =
          inputs.size() == 1 ? entry.string() : (entry / (input.name + ".npy")).string();
      ASSIGN_OR_RETURN(Tensor t, ReadNpy(file));
      RETURN_IF_ERROR(CheckFits(t, input, file));
      sample.push_back(std::move(t));
    }
    set->samples.push_back(std::move(sample));
  }
  return set;
}

StatusOr<std::map<int, ActivationStats>> CollectActivationStats(
    const Graph& graph, const std::vector<int>& values, const CompileOptions& options,
    const CalibrationSet& calibration, bool with_histograms) {
  if (calibration.samples.empty()) return InvalidArgument("the calibration set is empty");
  Graph observing = ObservingGraph(graph, values);
  RuntimeSettings settings{options.intra_op_threads, options.reference_kernels_only,
                           options.memory_planning, options.max_planned_shapes, options.in_place};
  ASSIGN_OR_RETURN(std::unique_ptr<Plan> plan, GraphPlan::Create(observing, settings, PlanInfo{}));
  std::map<int, ActivationStats> stats;
  for (int v : values) {
    ActivationStats& s = stats[v];
    s.min = std::numeric_limits<float>::infinity();
    s.max = -std::numeric_limits<float>::infinity();
  }
  auto run = [&](size_t index, std::vector<Tensor>* outputs) -> Status {
    const std::vector<Tensor>& sample = calibration.samples[index];
    RETURN_IF_ERROR(CheckSample(observing, sample, index));
    std::vector<TensorView> views;
    for (const Tensor& t : sample) views.push_back(t.view());
    Status st = plan->Run(views, outputs);
    if (!st.ok()) return st.WithPrefix("calibration sample " + std::to_string(index));
    return Status::Ok();
  };
  for (size_t i = 0; i < calibration.samples.size(); ++i) {
    std::vector<Tensor> outputs;
    RETURN_IF_ERROR(run(i, &outputs));
    for (int v : values) {
      const Tensor* t = Find(observing, v, calibration.samples[i], outputs);
      if (t == nullptr || t->dtype() != DataType::kFp32) {
        return InvalidArgument("calibration: value '" + graph.values[v].name +
                               "' is not an FP32 tensor");
      }
      ActivationStats& s = stats[v];
      if (i == 0) s.shape = t->shape();
      const float* x = t->data_as<float>();
      const size_t n = t->byte_size() / sizeof(float);
      for (size_t k = 0; k < n; ++k) {
        s.min = std::min(s.min, x[k]);
        s.max = std::max(s.max, x[k]);
      }
      s.count += static_cast<int64_t>(n);
    }
  }
  for (auto& [v, s] : stats) {
    if (s.count == 0) s.min = s.max = 0;
    s.abs_max = std::max(std::fabs(s.min), std::fabs(s.max));
  }
  if (!with_histograms) return stats;
  for (auto& [v, s] : stats) s.histogram.assign(kHistogramBins, 0);
  for (size_t i = 0; i < calibration.samples.size(); ++i) {
    std::vector<Tensor> outputs;
    RETURN_IF_ERROR(run(i, &outputs));
    for (int v : values) {
      const Tensor* t = Find(observing, v, calibration.samples[i], outputs);
      ActivationStats& s = stats[v];
      if (s.abs_max <= 0) continue;
      const float* x = t->data_as<float>();
      const size_t n = t->byte_size() / sizeof(float);
      const float per_bin = kHistogramBins / s.abs_max;
      for (size_t k = 0; k < n; ++k) {
        int bin = static_cast<int>(std::fabs(x[k]) * per_bin);
        s.histogram[std::min(bin, kHistogramBins - 1)]++;
      }
    }
  }
  return stats;
}

float ChooseThreshold(const ActivationStats& stats, Calibrator calibrator, int levels,
                      double percentile) {
  if (stats.abs_max <= 0) return 1.0f;  // all zeros: any scale works
  if (calibrator == Calibrator::kMinMax || stats.histogram.empty()) return stats.abs_max;
  const float bin_width = stats.abs_max / static_cast<float>(stats.histogram.size());
  if (calibrator == Calibrator::kPercentile) {
    int64_t total = 0;
    for (int64_t c : stats.histogram) total += c;
    const double want = total * percentile / 100.0;
    int64_t seen = 0;
    for (size_t b = 0; b < stats.histogram.size(); ++b) {
      seen += stats.histogram[b];
      if (seen >= want) return (b + 1) * bin_width;
    }
    return stats.abs_max;
  }
  return std::min(stats.abs_max, EntropyThreshold(stats.histogram, bin_width, levels));
}

namespace {

// The ONNX name behind a value the blocked-layout pass added:
// "<name>/plain" or "<name>/blocked", maybe with a "/<n>" that made it unique.
std::string SourceName(const std::string& name) {
  std::string base = name;
  const size_t slash = base.rfind('/');
  if (slash != std::string::npos && slash + 1 < base.size() &&
      base.find_first_not_of("0123456789", slash + 1) == std::string::npos) {
    base.resize(slash);
  }
  for (const std::string suffix : {"/plain", "/blocked"}) {
    if (base.size() > suffix.size() && base.ends_with(suffix)) {
      return base.substr(0, base.size() - suffix.size());
    }
  }
  return name;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof(esc), "\\u%04x", c);
      out += esc;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

std::vector<CalibrationEntry> CalibrationEntries(const Graph& graph) {
  std::vector<CalibrationEntry> entries;
  for (const Node& n : graph.nodes) {
    auto kind = n.GetString(kPrecisionAttr, "fp32");
    if (!kind.ok() || *kind != "int8" || n.inputs.empty() || n.inputs[0] == kNoValue) continue;
    auto scale = n.GetFloat(kInputScaleAttr);
    auto sign = n.GetInt(kInputUnsignedAttr, 0);
    if (!scale.ok() || !sign.ok()) continue;
    CalibrationEntry e{SourceName(graph.values[n.inputs[0]].name), *scale, *sign != 0};
    bool seen = false;
    for (const CalibrationEntry& o : entries) seen = seen || o.tensor == e.tensor;
    if (!seen) entries.push_back(std::move(e));
  }
  return entries;
}

StatusOr<std::vector<CalibrationEntry>> CalibrationEntriesOfPlan(const Plan& plan) {
  ASSIGN_OR_RETURN(std::string bytes, plan.Serialize());
  auto owner = std::make_shared<std::string>(std::move(bytes));
  ASSIGN_OR_RETURN(PlanFile file, DecodePlanFile(*owner, owner, DetectCpuFeatures()));
  return CalibrationEntries(file.graph);
}

std::string CalibrationTableJson(const std::vector<CalibrationEntry>& entries,
                                 Calibrator calibrator) {
  std::string out = "{\"format\": \"nereid-calibration-table\", \"version\": 1, \"calibrator\": " +
                    JsonString(std::string(CalibratorName(calibrator))) + ",\n \"tensors\": {";
  for (size_t i = 0; i < entries.size(); ++i) {
    char value[96];
    std::snprintf(value, sizeof(value), "{\"scale\": %.9g, \"unsigned\": %s}", entries[i].scale,
                  entries[i].is_unsigned ? "true" : "false");
    out += (i ? ",\n  " : "\n  ") + JsonString(entries[i].tensor) + ": " + value;
  }
  return out + "\n }\n}\n";
}

}  // namespace nereid::engine
