// EnsemblePlan: the dataflow of an ensemble (platform "ensemble",
// ensemble_scheduling) as plain data the EnsembleScheduler runs: steps, the
// ensemble tensors each step reads and writes, who produces and who consumes
// each tensor, and what the validation learned from the composing models'
// configs (whether they batch, the dims of their inputs).
//
// A plan is built and checked from protobuf configs by ensemble_config.h
// (core); this header has no protobuf so the scheduler and its tests build
// without it. Names: "ensemble tensor" is a name in the ensemble's dataflow
// (an ensemble input, an ensemble output or an intermediate); a step maps a
// composing model's input/output names onto ensemble tensors.
//
// Thread safety: immutable once built; share it as shared_ptr<const>.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/data_type.h"

namespace nereid::core {

struct EnsembleStep {
  std::string model_name;
  int64_t model_version = -1;  // -1: the latest ready version at request time
  // (composing model input, ensemble tensor), ordered by input name.
  std::vector<std::pair<std::string, std::string>> inputs;
  // (composing model output, ensemble tensor), ordered by output name.
  std::vector<std::pair<std::string, std::string>> outputs;
  // From the composing model's config (ensemble_config.h fills them).
  bool model_batches = false;                              // max_batch_size > 0
  std::map<std::string, std::vector<int64_t>> input_dims;  // mapped inputs, without batch

  // "step 1 (model 'm')", for messages.
  std::string Describe(size_t index) const;
};

struct EnsemblePlan {
  std::string name;
  bool batches = false;  // the ensemble's max_batch_size > 0
  std::vector<std::string> inputs;
  // Ensemble outputs in config order, with their config dims (without batch).
  std::vector<std::pair<std::string, std::vector<int64_t>>> outputs;
  std::vector<EnsembleStep> steps;
  std::map<std::string, size_t> producer;                // tensor -> step writing it
  std::map<std::string, std::vector<size_t>> consumers;  // tensor -> steps reading it

  // Which steps must run to produce `requested` (ensemble output names;
  // empty means all outputs): the steps those outputs depend on, as Triton
  // prunes an ensemble for the requested outputs. Unknown names are ignored.
  std::vector<bool> NeededSteps(const std::vector<std::string>& requested) const;
};

// The shape an ensemble tensor gets when it enters a consumer with config
// `dims` (without batch dimension), following Triton's conversions between
// batching and non-batching models:
//   - a tensor from a non-batching producer (tensor_batch == 0) entering a
//     batching consumer gets a leading batch dimension of 1 when its shape
//     equals `dims` (-1 matches anything);
//   - a tensor with batch size 1 entering a non-batching consumer loses its
//     batch dimension when its full shape does not already match `dims`.
// Otherwise the shape is unchanged.
Shape AdaptShape(const std::vector<int64_t>& dims, bool consumer_batches, int64_t tensor_batch,
                 const Shape& shape);

// True when `a` and `b` have the same rank and every pair of dimensions is
// equal or one of them is -1.
bool DimsCompatible(const std::vector<int64_t>& a, const std::vector<int64_t>& b);

}  // namespace nereid::core
