#include "backends/torch/torch_instance.h"

#include <ATen/Parallel.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <optional>

#include "backends/onnx/batch_io.h"
#include "backends/torch/torch_errors.h"

namespace nereid::backends::pytorch {
namespace {

std::optional<c10::ScalarType> ToScalarType(DataType dtype) {
  switch (dtype) {
    case DataType::kBool:
      return c10::kBool;
    case DataType::kUint8:
      return c10::kByte;
    case DataType::kInt8:
      return c10::kChar;
    case DataType::kInt16:
      return c10::kShort;
    case DataType::kInt32:
      return c10::kInt;
    case DataType::kInt64:
      return c10::kLong;
    case DataType::kFp16:
      return c10::kHalf;
    case DataType::kBf16:
      return c10::kBFloat16;
    case DataType::kFp32:
      return c10::kFloat;
    case DataType::kFp64:
      return c10::kDouble;
    default:
      return std::nullopt;
  }
}

std::optional<DataType> FromScalarType(c10::ScalarType type) {
  for (DataType d :
       {DataType::kBool, DataType::kUint8, DataType::kInt8, DataType::kInt16, DataType::kInt32,
        DataType::kInt64, DataType::kFp16, DataType::kBf16, DataType::kFp32, DataType::kFp64}) {
    if (ToScalarType(d) == type) return d;
  }
  return std::nullopt;
}

// One request's tensors, or the batch's concatenated along dim 0, copied
// into memory the returned at::Tensor owns.
StatusOr<at::Tensor> GatherInput(const TorchBinding& binding,
                                 const std::vector<core::InferenceRequest*>& group, bool batched) {
  std::vector<TensorView> parts;
  for (const auto* r : group) parts.push_back(r->FindInput(binding.name)->tensor);
  const std::optional<c10::ScalarType> scalar = ToScalarType(parts[0].dtype);
  if (!scalar) {
    return InvalidArgument("input '" + binding.name + "' has type " +
                           std::string(DataTypeName(parts[0].dtype)) +
                           ", which libtorch has no tensor for");
  }
  StatusOr<Tensor> owned = batched ? GatherBatch(parts) : Tensor::CopyOf(parts[0]);
  if (!owned.ok()) return owned.status().WithPrefix("input '" + binding.name + "'");
  auto holder = std::make_shared<Tensor>(std::move(owned).value());
  std::vector<int64_t> sizes(holder->shape().begin(), holder->shape().end());
  return at::from_blob(
      holder->mutable_data(), sizes, [holder](void*) {}, at::TensorOptions().dtype(*scalar));
}

// forward()'s result as a list of tensors (the load checked that it is a
// Tensor, a tuple of them or a List[Tensor]; this re-checks what came back).
StatusOr<std::vector<at::Tensor>> Flatten(const c10::IValue& result) {
  if (result.isTensor()) return std::vector<at::Tensor>{result.toTensor()};
  std::vector<c10::IValue> items;
  if (result.isTuple()) {
    items = result.toTupleRef().elements().vec();
  } else if (result.isList()) {
    items = result.toListRef().vec();
  } else {
    return Internal("forward() returned a " + std::string(result.tagKind()) +
                    ", not a Tensor, a tuple of Tensors or a List[Tensor]");
  }
  std::vector<at::Tensor> tensors;
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].isTensor()) {
      return Internal("element " + std::to_string(i) + " of what forward() returned is a " +
                      items[i].tagKind() + ", not a Tensor");
    }
    tensors.push_back(items[i].toTensor());
  }
  return tensors;
}

}  // namespace

TorchInstance::TorchInstance(std::shared_ptr<const TorchProgram> program, torch::jit::Module module,
                             int intra_op_threads)
    : program_(std::move(program)), module_(std::move(module)), threads_(intra_op_threads) {}

Status TorchInstance::ApplyThreads() {
  if (threads_applied_on_ == std::this_thread::get_id()) return Status::Ok();
  try {
    // libtorch sizes a thread's OpenMP team once, lazily, from a process-wide
    // count that any other model may have set: initialize first, then set
    // this thread's own count, which later models cannot change.
    at::internal::lazy_init_num_threads();
    at::set_num_threads(threads_);
  } catch (const std::exception& e) {
    return Internal("cannot set " + std::to_string(threads_) +
                    " intra-op thread(s): " + SummarizeTorchError(e.what()));
  }
  threads_applied_on_ = std::this_thread::get_id();
  return Status::Ok();
}

void TorchInstance::Execute(std::vector<std::unique_ptr<core::InferenceRequest>>& requests) {
  Status threads = ApplyThreads();
  Group ready;
  for (auto& r : requests) {
    if (!threads.ok()) {
      r->CompleteWithError(threads);
      continue;
    }
    // Checked per request, so one request without an optional input does
    // not fail the others in its batch.
    const TorchBinding* missing = nullptr;
    for (const auto& b : program_->inputs) {
      if (!r->FindInput(b.name)) missing = &b;
    }
    if (missing) {
      r->CompleteWithError(InvalidArgument("input '" + missing->name +
                                           "' is missing; the pytorch backend passes every "
                                           "input to forward(), optional ones included"));
      continue;
    }
    ready.push_back(r.get());
  }
  if (ready.empty()) return;
  if (program_->batched) {
    Run(std::move(ready));
  } else {
    for (auto* r : ready) Run({r});
  }
}

void TorchInstance::Run(Group group) {
  StatusOr<Responses> responses = Forward(group);
  if (!responses.ok()) {
    for (auto* r : group) r->CompleteWithError(responses.status());
    return;
  }
  for (size_t i = 0; i < group.size(); ++i) group[i]->Complete(std::move((*responses)[i]));
}

StatusOr<TorchInstance::Responses> TorchInstance::Forward(const Group& group) {
  const TorchOptions& options = program_->options;
  bool started = false;
  try {
    c10::InferenceMode inference_mode(options.inference_mode);
    torch::NoGradGuard no_grad;
    // Thread-local: this instance's setting holds whatever other models use.
    torch::jit::GraphOptimizerEnabledGuard optimize(options.optimized_execution);
    // Process-wide switches; applied per execution, as Triton does.
    if (options.jit_executor) torch::jit::getExecutorMode() = *options.jit_executor;
    if (options.jit_profiling) torch::jit::getProfilingMode() = *options.jit_profiling;
    ASSIGN_OR_RETURN(std::vector<c10::IValue> args, GatherInputs(group));
    MarkInferStart();
    started = true;
    c10::IValue result = module_.forward(std::move(args));
    MarkInferEnd();
    return ScatterOutputs(result, group);
  } catch (const c10::Error& e) {
    if (started) MarkInferEnd();
    return Internal("TorchScript forward() of model '" + program_->model_name +
                    "' failed: " + SummarizeTorchError(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    if (started) MarkInferEnd();
    return Internal("TorchScript forward() of model '" + program_->model_name +
                    "' failed: " + SummarizeTorchError(e.what()));
  } catch (...) {
    if (started) MarkInferEnd();
    return Internal("TorchScript forward() of model '" + program_->model_name +
                    "' failed with an unknown exception");
  }
}

StatusOr<std::vector<c10::IValue>> TorchInstance::GatherInputs(const Group& group) const {
  std::vector<c10::IValue> args(program_->dict_input ? 1 : program_->arg_count);
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& b : program_->inputs) {
    ASSIGN_OR_RETURN(at::Tensor t, GatherInput(b, group, program_->batched));
    if (program_->dict_input) {
      dict.insert(b.name, std::move(t));
    } else {
      args[b.position] = std::move(t);
    }
  }
  if (program_->dict_input) args[0] = std::move(dict);
  return args;
}

StatusOr<TorchInstance::Responses> TorchInstance::ScatterOutputs(const c10::IValue& result,
                                                                 const Group& group) const {
  ASSIGN_OR_RETURN(std::vector<at::Tensor> tensors, Flatten(result));
  std::vector<int64_t> sizes;
  for (const auto* r : group) sizes.push_back(r->batch_size);
  Responses responses(group.size());
  for (auto& r : responses) r = std::make_unique<core::InferenceResponse>();
  for (const auto& b : program_->outputs) {
    const std::string what = "output '" + b.name + "'";
    if (b.position >= static_cast<int>(tensors.size())) {
      return Internal(what + " is position " + std::to_string(b.position) +
                      " of what forward() returns, but it returned " +
                      std::to_string(tensors.size()) + " tensor(s)");
    }
    at::Tensor t = tensors[b.position];
    if (!t.device().is_cpu()) {
      return Internal(what + ": forward() returned a tensor on " + t.device().str() +
                      "; the pytorch backend runs on the CPU");
    }
    const std::optional<DataType> dtype = FromScalarType(t.scalar_type());
    if (dtype != b.dtype) {
      return Internal(what + ": forward() returned a " +
                      std::string(c10::toString(t.scalar_type())) +
                      " tensor but the config declares " + ConfigDataTypeName(b.dtype));
    }
    auto holder = std::make_shared<at::Tensor>(t.contiguous());
    Shape shape(holder->sizes().begin(), holder->sizes().end());
    Tensor wrapped = Tensor::Wrap(b.dtype, shape, static_cast<const char*>(holder->data_ptr()),
                                  holder->nbytes(), holder);
    std::vector<Tensor> pieces;
    if (program_->batched) {
      auto split = ScatterBatch(wrapped, sizes);
      if (!split.ok()) return split.status().WithPrefix(what);
      pieces = std::move(split).value();
    } else {
      pieces.push_back(std::move(wrapped));
    }
    for (size_t i = 0; i < group.size(); ++i) {
      responses[i]->outputs.push_back({b.name, std::move(pieces[i])});
    }
  }
  return responses;
}

}  // namespace nereid::backends::pytorch
