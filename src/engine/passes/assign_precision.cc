#include "engine/passes/assign_precision.h"

#include <algorithm>
#include <cstdio>

#include "engine/ir/precision_attrs.h"
#include "engine/passes/graph_util.h"
#include "engine/passes/precision_timing.h"
#include "engine/runtime/calibration.h"

namespace nereid::engine {
namespace {

bool IsMatMul(const Node& n) {
  return (n.domain.empty() && (n.op_type == "MatMul" || n.op_type == "Gemm")) ||
         (n.domain == "nereid" && n.op_type == "FusedMatMul");
}

// Why the matrix product `n` stays FP32, or "" when it may use reduced
// precision: B must be a constant FP32 matrix (after b_perm / transB), and
// a FusedMatMul must not permute A or its output (the reduced kernel folds
// A's leading dims into rows of one 2-D product).
std::string IneligibleMatMul(const Graph& g, const Node& n) {
  if (n.inputs.size() < 2) return "no B";
  auto w = g.initializers.find(n.inputs[1]);
  if (w == g.initializers.end()) return "B is computed, not constant";
  if (w->second.dtype() != DataType::kFp32) return "B is not FP32";
  if (w->second.shape().size() != 2) return "B is not a 2-D matrix";
  if (n.domain == "nereid") {
    auto ints = [&](const char* name) {
      auto v = n.GetInts(name, std::vector<int64_t>{});
      return v.ok() ? *v : std::vector<int64_t>{-1};
    };
    if (!ints("a_perm").empty()) return "A is permuted";
    if (!ints("out_perm").empty()) return "the output is permuted";
    const std::vector<int64_t> b_perm = ints("b_perm");
    if (!b_perm.empty() && b_perm != std::vector<int64_t>{1, 0}) return "B is permuted";
  } else if (n.op_type == "Gemm") {
    auto alpha = n.GetFloat("alpha", 1.0f);
    if (!alpha.ok() || *alpha == 0.0f) return "alpha is 0";
  }
  return "";
}

// Why `n` stays FP32, or "" when it may use reduced precision.
std::string Ineligible(const Graph& g, const Node& n) {
  if (IsMatMul(n)) return IneligibleMatMul(g, n);
  if (n.inputs.size() < 2) return "no weights";
  auto w = g.initializers.find(n.inputs[1]);
  if (w == g.initializers.end()) return "weights are computed, not constant";
  if (w->second.dtype() != DataType::kFp32) return "weights are not FP32";
  const Shape& ws = w->second.shape();
  if (ws.size() < 3 || ws.size() > 5) return "not a 1-D to 3-D convolution";
  // Input channels: W holds C / group per output channel (1 for depthwise).
  auto group = n.GetInt("group", 1);
  const int64_t channels = ws[1] * (group.ok() ? *group : 1);
  if (channels < 4) return "first layer (" + std::to_string(channels) + " input channels)";
  return "";
}

}  // namespace

Status AssignPrecision(Graph* graph, const CompileOptions& options, PrecisionReport* report) {
  PrecisionReport local;
  PrecisionReport& r = report ? *report : local;
  if (options.precision == Precision::kFp32) return Status::Ok();
  const bool best = options.precision == Precision::kBest;
  // Best considers INT8 too: it calibrates like INT8, then times each node.
  const bool int8 = options.precision == Precision::kInt8 || best;
  if (int8 && (!options.calibration || options.calibration->samples.empty())) {
    return InvalidArgument(std::string(best ? "precision best" : "INT8") +
                           " needs calibration data (a non-empty calibration set)");
  }
  std::vector<size_t> chosen;
  for (size_t i = 0; i < graph->nodes.size(); ++i) {
    const Node& n = graph->nodes[i];
    if (!passes::IsConvOp(n) && !IsMatMul(n)) continue;
    if (n.FindAttribute(kPrecisionAttr) != nullptr) {  // set by fuse_qdq from the model's Q/DQ
      ++r.reduced;
      r.lines.push_back(DescribeNode(n, i) + ": INT8 (the model's QuantizeLinear/DequantizeLinear)");
      continue;
    }
    const std::string why = Ineligible(*graph, n);
    if (!why.empty()) {
      ++r.kept_fp32;
      r.lines.push_back(DescribeNode(n, i) + ": FP32 (" + why + ")");
      continue;
    }
    chosen.push_back(i);
  }
  std::map<int, ActivationStats> stats;
  if (int8 && !chosen.empty()) {
    std::vector<int> values;
    for (size_t i : chosen) {
      const Node& n = graph->nodes[i];
      values.push_back(n.inputs[0]);
      // A FusedConv's residual Z: its range lets INT8 chains keep it quantized.
      if (passes::IsConvOp(n) && n.inputs.size() > 3 && n.inputs[3] != kNoValue) {
        values.push_back(n.inputs[3]);
      }
      // Best times the node: every computed input's shape is needed.
      for (size_t k = 1; best && k < n.inputs.size(); ++k) {
        if (n.inputs[k] != kNoValue && graph->initializers.count(n.inputs[k]) == 0) {
          values.push_back(n.inputs[k]);
        }
      }
    }
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    const bool histograms = options.calibrator != Calibrator::kMinMax;
    ASSIGN_OR_RETURN(stats, CollectActivationStats(*graph, values, options, *options.calibration,
                                                   histograms));
  }
  for (size_t i : chosen) {
    Node& n = graph->nodes[i];
    if (!int8) {
      n.attributes[kPrecisionAttr] = passes::StringAttr("bf16");
      r.lines.push_back(DescribeNode(n, i) + ": BF16");
      ++r.reduced;
      continue;
    }
    // real = scale x quantized, u8 when the value is never negative.
    auto quantization = [&](int value, const char* scale_attr, const char* sign_attr) {
      const ActivationStats& s = stats.at(value);
      const bool is_unsigned = s.min >= 0;
      const int levels = is_unsigned ? 255 : 127;
      const float threshold = ChooseThreshold(s, options.calibrator, levels);
      n.attributes[scale_attr] = passes::FloatAttr(threshold / levels);
      n.attributes[sign_attr] = passes::IntAttr(is_unsigned ? 1 : 0);
      return std::pair{threshold, is_unsigned};
    };
    const ActivationStats& s = stats.at(n.inputs[0]);
    n.attributes[kPrecisionAttr] = passes::StringAttr("int8");
    const auto [threshold, is_unsigned] = quantization(n.inputs[0], kInputScaleAttr,
                                                        kInputUnsignedAttr);
    if (passes::IsConvOp(n) && n.inputs.size() > 3 && n.inputs[3] != kNoValue) {
      quantization(n.inputs[3], kSumScaleAttr, kSumUnsignedAttr);
    }
    char line[160];
    std::snprintf(line, sizeof(line), ": INT8 (input %s, range [%g, %g], threshold %g)",
                  is_unsigned ? "u8" : "s8", s.min, s.max, threshold);
    if (!best) {
      r.lines.push_back(DescribeNode(n, i) + line);
      ++r.reduced;
      continue;
    }
    // Best: the same node in FP32, BF16 and INT8, timed; the fastest stays.
    Node fp32 = n;
    for (const char* a : {kPrecisionAttr, kInputScaleAttr, kInputUnsignedAttr, kSumScaleAttr,
                          kSumUnsignedAttr}) {
      fp32.attributes.erase(a);
    }
    Node bf16 = fp32;
    bf16.attributes[kPrecisionAttr] = passes::StringAttr("bf16");
    std::map<int, Shape> shapes;
    for (int v : n.inputs) {
      auto it = stats.find(v);
      if (it != stats.end()) shapes[v] = it->second.shape;
    }
    ASSIGN_OR_RETURN(std::vector<PrecisionTiming> timings,
                     TimePrecisions(*graph,
                                    {{"fp32", fp32}, {"bf16", bf16}, {"int8", n},
                                     {"int8-unchained", n}},
                                    shapes, options.intra_op_threads));
    // INT8 is timed as a chain runs it; leaving the chain makes this layer's
    // neighbours convert (quantize its output, dequantize its input), which
    // costs about what INT8 without the chain costs more than INT8 with it.
    // FP32/BF16 must win by that much.
    const double chain_ms = timings[2].ms, unchained_ms = timings[3].ms;
    const double leave_penalty =
        chain_ms >= 0 && unchained_ms > chain_ms ? unchained_ms - chain_ms : 0;
    timings.pop_back();
    size_t pick = 0;  // FP32 unless a reduced precision ran and was faster
    auto cost = [&](size_t k) { return timings[k].ms + (k == 2 ? 0 : leave_penalty); };
    for (size_t k = 1; k < timings.size(); ++k) {
      if (timings[k].ms >= 0 && (timings[pick].ms < 0 || cost(k) < cost(pick))) pick = k;
    }
    std::string times;
    for (const PrecisionTiming& t : timings) {
      char one[64];
      if (t.ms < 0) {
        std::snprintf(one, sizeof(one), "%s failed", t.precision.c_str());
      } else {
        std::snprintf(one, sizeof(one), "%s %.3f ms", t.precision.c_str(), t.ms);
      }
      times += (times.empty() ? "" : ", ") + std::string(one);
    }
    if (leave_penalty > 0) {
      char one[64];
      std::snprintf(one, sizeof(one), "; leaving the INT8 chain costs %.3f ms", leave_penalty);
      times += one;
    }
    const std::string& chosen_precision = timings[pick].precision;
    if (chosen_precision == "fp32") {
      n = fp32;
      ++r.kept_fp32;
      r.lines.push_back(DescribeNode(n, i) + ": FP32 (fastest at batch 1: " + times + ")");
    } else if (chosen_precision == "bf16") {
      n = bf16;
      ++r.reduced;
      r.lines.push_back(DescribeNode(n, i) + ": BF16 (fastest at batch 1: " + times + ")");
    } else {
      ++r.reduced;
      r.lines.push_back(DescribeNode(n, i) + line + " (fastest at batch 1: " + times + ")");
    }
  }
  return Status::Ok();
}

}  // namespace nereid::engine
