// Post-training quantization: activation ranges from calibration data, and
// the thresholds three calibrators choose from them (TensorRT's vocabulary).
//
// CollectActivationStats runs an FP32 build of an optimized graph on every
// calibration sample, with the values to observe added as graph outputs (so
// the runtime needs no hooks), and keeps per value its minimum, maximum and
// a 2048-bin histogram of |x| over [0, max |x|] (a second pass over the
// samples, only for the calibrators that need it).
//
// Thresholds (T: real values in [-T, T], or [0, T] for non-negative ones,
// map onto the int8 / uint8 grid with scale T / 127 or T / 255):
//   kMinMax      T = max |x| seen: nothing clips, small values lose resolution.
//   kPercentile  T = the given percentile of |x| (default 99.99 %).
//   kEntropy     T minimizes the KL divergence between the histogram and its
//                quantized form (TensorRT's entropy calibrator): clips rare
//                outliers when that keeps the bulk of the distribution finer.
//
// Thread safety: stateless functions.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/tensor.h"
#include "engine/ir/graph.h"
#include "engine/runtime/plan.h"

namespace nereid::engine {

// What the calibration ran on: each sample holds one tensor per graph input,
// in graph input order (each may be a batch).
struct CalibrationSet {
  std::vector<std::vector<Tensor>> samples;
};

struct ActivationStats {
  float min = 0;
  float max = 0;
  float abs_max = 0;
  int64_t count = 0;
  std::vector<int64_t> histogram;  // of |x|, kHistogramBins bins over [0, abs_max]
  Shape shape;  // as the first sample saw it (precision best times nodes at it)
};

inline constexpr int kHistogramBins = 2048;

// Reads a calibration directory for a model with `inputs`: with one input,
// every *.npy file in `dir` is one sample (a batch of that input); with
// several, every subdirectory is one sample holding <input name>.npy for each
// input. Files are taken in name order. Errors name the file: an empty or
// missing directory, a dtype other than the input's, a rank or fixed
// dimension that does not fit it, a missing input file.
StatusOr<std::shared_ptr<CalibrationSet>> LoadCalibrationData(const std::string& dir,
                                                              const std::vector<ValueInfo>& inputs);

// Stats of `values` (value ids of `graph`, FP32 tensors) over `calibration`.
// `with_histograms`: also the |x| histograms (a second run per sample).
// Errors: a sample whose tensors do not fit the graph's inputs
// (InvalidArgument naming sample and input), an empty set, or a value that is
// not FP32.
StatusOr<std::map<int, ActivationStats>> CollectActivationStats(
    const Graph& graph, const std::vector<int>& values, const CompileOptions& options,
    const CalibrationSet& calibration, bool with_histograms);

// The threshold T for `stats` (see the file comment). `levels` is the
// number of quantization steps on one side (127 signed, 255 unsigned).
float ChooseThreshold(const ActivationStats& stats, Calibrator calibrator, int levels,
                      double percentile = 99.99);

// The calibration table (TensorRT's "calibration cache") of a compiled
// graph: for each INT8 convolution's input, its tensor name in the ONNX
// model, the scale (real = scale * quantized) and whether it is quantized to
// uint8 (never negative) or int8. tools/make_qdq.py turns a model and its
// table into a QDQ model that ONNX Runtime runs in INT8.
struct CalibrationEntry {
  std::string tensor;
  float scale = 0;
  bool is_unsigned = false;
};

// Entries of `graph`'s nodes marked INT8 (ir/precision_attrs.h), one per
// tensor, in node order. Names are the ONNX model's: the copies the layout
// pass adds ("<name>/plain", "<name>/blocked") map to their source.
std::vector<CalibrationEntry> CalibrationEntries(const Graph& graph);
// The same for a compiled plan (its serialized graph).
StatusOr<std::vector<CalibrationEntry>> CalibrationEntriesOfPlan(const Plan& plan);
// The table as JSON:
//   {"format": "nereid-calibration-table", "version": 1, "calibrator": "minmax",
//    "tensors": {"<name>": {"scale": 0.0123, "unsigned": true}, ...}}
// Scales are written with 9 significant digits, so they read back exactly.
std::string CalibrationTableJson(const std::vector<CalibrationEntry>& entries,
                                 Calibrator calibrator);

}  // namespace nereid::engine
