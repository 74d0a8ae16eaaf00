// One execution context of a TorchScript model. Private to the pytorch
// plugin: it includes libtorch, so only the plugin's two libtorch
// translation units may include it.
//
// Execute gathers the batch's requests into one tensor per input along the
// first dimension (always a copy, so a module that writes into its inputs
// cannot touch a request's buffer, a client's shared memory or a cached
// response), runs forward() once, and splits each output back per request;
// responses hold views of libtorch's output tensors, kept alive by a
// reference to them. A forward() that raises fails that batch's requests
// with INTERNAL and the exception's message; the instance keeps serving.
//
// Thread safety: Execute is called from the instance's own thread only
// (core's contract). The module may be shared with other instances
// (ENABLE_WEIGHT_SHARING); forward() is safe to run concurrently.
#pragma once

#include <torch/script.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "backends/torch/torch_options.h"
#include "common/data_type.h"
#include "core/backend/backend.h"

namespace nereid::backends::pytorch {

struct TorchBinding {
  std::string name;
  DataType dtype = DataType::kInvalid;  // outputs: what the config declares
  int position = -1;                    // forward() argument / result position
};

// What every instance of one model version needs to know; immutable.
struct TorchProgram {
  std::string model_name;
  bool batched = false;      // max_batch_size > 0: dim 0 of every tensor is the batch
  bool dict_input = false;   // forward(Dict[str, Tensor]): inputs go by name
  const char* binding = "";  // DescribeBinding(), for logs
  size_t arg_count = 0;
  std::vector<TorchBinding> inputs;   // config inputs, control inputs, state inputs
  std::vector<TorchBinding> outputs;  // config outputs, then state outputs
  TorchOptions options;
};

class TorchInstance final : public core::ModelInstance {
 public:
  TorchInstance(std::shared_ptr<const TorchProgram> program, torch::jit::Module module,
                int intra_op_threads);

  void Execute(std::vector<std::unique_ptr<core::InferenceRequest>>& requests) override;

 private:
  using Group = std::vector<core::InferenceRequest*>;
  using Responses = std::vector<std::unique_ptr<core::InferenceResponse>>;

  // Applies the thread count on this (the instance's) thread, once.
  Status ApplyThreads();
  // Runs `group` as one forward() and completes every request in it.
  void Run(Group group);
  StatusOr<Responses> Forward(const Group& group);
  StatusOr<std::vector<c10::IValue>> GatherInputs(const Group& group) const;
  StatusOr<Responses> ScatterOutputs(const c10::IValue& result, const Group& group) const;

  std::shared_ptr<const TorchProgram> program_;
  torch::jit::Module module_;
  const int threads_;
  // The thread whose OpenMP team got threads_ (the team size is per
  // thread: model warmup executes on another thread than serving does).
  std::thread::id threads_applied_on_;
};

}  // namespace nereid::backends::pytorch
