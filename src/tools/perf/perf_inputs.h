// The model description `nereid perf` reads from the server and the input
// tensors it builds from it: every input of the model, -1 dimensions filled
// from --shape, the batch dimension set to -b for batching models.
//
// Thread safety: free functions on values; no shared state.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace nereid::tools::perf {

// One tensor of the model metadata. For a batching model the shape starts
// with the batch dimension (-1), as the KServe metadata reports it.
struct TensorInfo {
  std::string name;
  std::string datatype;  // KServe name: "FP32", "BYTES", ...
  std::vector<int64_t> shape;
};

// What the server says about the model: metadata plus the config's
// max_batch_size (0: no batch dimension).
struct ModelInfo {
  std::string name;
  std::vector<std::string> versions;
  std::string platform;
  std::vector<TensorInfo> inputs;
  std::vector<TensorInfo> outputs;
  int64_t max_batch_size = 0;
};

// An input as sent: raw little-endian bytes (BYTES: Triton's framing, a
// 4-byte little-endian length before each element), the same bytes for HTTP's
// binary tensor extension and gRPC's raw_input_contents.
struct InputTensor {
  std::string name;
  std::string datatype;
  std::vector<int64_t> shape;
  std::string data;
};

enum class InputData { kZero, kRandom };
StatusOr<InputData> ParseInputData(std::string_view text);  // "zero" | "random"

// --shape NAME:D1,D2,... (dims without the batch dimension, each >= 0; the
// last ':' separates the name, so names may contain ':').
StatusOr<std::pair<std::string, std::vector<int64_t>>> ParseShapeFlag(std::string_view text);

// All --shape flags by input name; a name given twice is an error.
StatusOr<std::map<std::string, std::vector<int64_t>>> ParseShapeFlags(
    const std::vector<std::string>& flags);

// Largest total input size per request (a guard against a typo in --shape).
inline constexpr int64_t kMaxRequestBytes = int64_t{1} << 31;

// Builds every input of `model`. `batch` must be 1 for a model without
// batching and at most max_batch_size otherwise; each -1 dimension must be
// given by `shapes` (errors name the input); a --shape must have the input's
// rank (without the batch dimension) and agree with its fixed dimensions, and
// may only name inputs of the model. Random data comes from a fixed seed, so
// two runs send the same bytes.
StatusOr<std::vector<InputTensor>> BuildInputs(
    const ModelInfo& model, int batch, const std::map<std::string, std::vector<int64_t>>& shapes,
    InputData data);

}  // namespace nereid::tools::perf
