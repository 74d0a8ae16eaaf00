// Model warmup (Triton's `model_warmup`): sample requests every instance of
// a model executes before the model is READY, so first requests do not pay
// for lazy initialization (oneDNN primitives, packed weights, JIT, caches).
//
// A sample (ModelWarmup) has a name, batch_size (requests executed together
// as one batch; 1 for models without batching), count (executions; 0 means
// 1) and inputs: name -> data_type, dims (without the batch dimension for
// batching models) and exactly one of zero_data, random_data (fixed seed)
// or input_data_file (raw row-major bytes in <model dir>/warmup/<file>;
// BYTES elements as 4-byte little-endian length + bytes). Every request is
// validated like a client's (names, types, shapes), except the sequence
// batcher's control and state tensors, which a sequence model's samples
// give themselves.
//
// Errors name the sample: a malformed sample is InvalidArgument/NotFound
// before anything runs; a failed execution returns the backend's error with
// the sample and instance in its message. Either fails the model's load.
//
// Thread safety: free functions; RunWarmup calls Execute on the calling
// thread (Model::Create gives each instance its own short-lived thread).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "common/tensor.h"
#include "core/backend/backend.h"
#include "proto/model_config.pb.h"

namespace nereid::core {

struct WarmupInput {
  std::string name;
  DataType dtype = DataType::kInvalid;
  Shape shape;  // of one request: [1, dims...] for batching models
  std::shared_ptr<const std::string> bytes;
};

struct WarmupSample {
  std::string name;
  int64_t batch_size = 1;  // requests per execution
  int64_t count = 1;       // executions
  std::vector<WarmupInput> inputs;
};

// The samples of `config` with their input data made or read.
StatusOr<std::vector<WarmupSample>> BuildWarmupSamples(const inference::ModelConfig& config,
                                                       const std::string& model_dir);

// Checks a request as the server would (Model::Validate); sets batch_size.
using RequestValidator = std::function<Status(InferenceRequest*)>;

// Executes every sample `count` times on `instance`, as batches of
// batch_size requests. The first failure stops and is returned.
Status RunWarmup(const inference::ModelConfig& config, const std::vector<WarmupSample>& samples,
                 ModelInstance* instance, const std::string& instance_name,
                 const RequestValidator& validate, Clock& clock);

}  // namespace nereid::core
