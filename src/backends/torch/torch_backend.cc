// The pytorch backend plugin (libnereid_backend_pytorch.so): TorchScript
// modules run with libtorch. This and torch_instance.cc are the only files
// that include libtorch (about 20 s and 750 MB of compiler each); the naming
// rules, parameters and error texts are plain C++ beside them.
//
// Loading: torch::jit::load on the CPU, eval(), then forward()'s schema is
// checked against the config (torch_io_mapping.h) so that a model whose
// names, argument types or return type cannot be served fails its load with
// the reason, never a request later. Every libtorch call is wrapped: its
// exceptions become Status values here and never reach core.
#include <ATen/Parallel.h>
#include <torch/script.h>
#include <torch/version.h>

#include <mutex>

#include "backends/backend_plugin.h"
#include "backends/torch/torch_errors.h"
#include "backends/torch/torch_instance.h"
#include "backends/torch/torch_io_mapping.h"
#include "backends/torch/torch_options.h"
#include "common/logging.h"
#include "proto/model_config.pb.h"

namespace nereid::backends::pytorch {
namespace {

StatusOr<torch::jit::Module> LoadModule(const std::string& path) {
  try {
    torch::jit::Module module = torch::jit::load(path, c10::Device(c10::kCPU));
    module.eval();
    return module;
  } catch (const c10::Error& e) {
    return InvalidArgument(
        path + " is not a TorchScript model that libtorch " TORCH_VERSION " can load: " +
        SummarizeTorchError(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return InvalidArgument(
        path + " is not a TorchScript model that libtorch " TORCH_VERSION " can load: " +
        SummarizeTorchError(e.what()));
  }
}

TorchArg DescribeArg(const c10::Argument& arg) {
  TorchArg a;
  a.name = arg.name();
  a.type = arg.type()->annotation_str();
  if (arg.type()->kind() == c10::TypeKind::TensorType) {
    a.kind = TorchArgKind::kTensor;
  } else if (auto dict = arg.type()->cast<c10::DictType>()) {
    if (dict->getKeyType()->kind() == c10::TypeKind::StringType &&
        dict->getValueType()->kind() == c10::TypeKind::TensorType) {
      a.kind = TorchArgKind::kTensorDict;
    }
  }
  return a;
}

void DescribeResult(const c10::TypePtr& type, TorchSignature* sig) {
  sig->result_type = type->annotation_str();
  if (type->kind() == c10::TypeKind::TensorType) {
    sig->result = TorchResultKind::kTensor;
  } else if (auto tuple = type->cast<c10::TupleType>()) {
    bool tensors = true;
    for (const auto& e : tuple->elements()) tensors &= e->kind() == c10::TypeKind::TensorType;
    if (tensors) {
      sig->result = TorchResultKind::kTensorTuple;
      sig->tuple_size = tuple->elements().size();
    }
  } else if (auto list = type->cast<c10::ListType>()) {
    if (list->getElementType()->kind() == c10::TypeKind::TensorType) {
      sig->result = TorchResultKind::kTensorList;
    }
  } else if (type->kind() == c10::TypeKind::DictType) {
    sig->result = TorchResultKind::kDict;
  }
}

StatusOr<TorchSignature> DescribeForward(const torch::jit::Module& module) {
  try {
    auto method = module.find_method("forward");
    if (!method) return InvalidArgument("the TorchScript module has no forward() method");
    const c10::FunctionSchema& schema = method->function().getSchema();
    TorchSignature sig;
    const auto& args = schema.arguments();
    // The first argument of a module's method is `self`, of the module's class.
    size_t first = !args.empty() && args[0].type()->kind() == c10::TypeKind::ClassType ? 1 : 0;
    for (size_t i = first; i < args.size(); ++i) sig.args.push_back(DescribeArg(args[i]));
    if (schema.returns().size() == 1) {
      DescribeResult(schema.returns()[0].type(), &sig);
    } else {
      sig.result_type = std::to_string(schema.returns().size()) + " values";
    }
    return sig;
  } catch (const std::exception& e) {
    return Internal("cannot read forward()'s schema: " + SummarizeTorchError(e.what()));
  }
}

template <typename Tensors>
Status CheckTypes(const char* what, const Tensors& tensors) {
  for (const auto& t : tensors) {
    const auto dtype = static_cast<DataType>(t.data_type());
    if (!TorchSupportsDataType(dtype)) {
      return InvalidArgument(std::string(what) + " '" + t.name() + "' has type " +
                             ConfigDataTypeName(dtype) +
                             ", which the pytorch backend does not support (libtorch has no "
                             "tensor type for it; strings are not supported yet)");
    }
  }
  return Status::Ok();
}

Status CheckSequenceTypes(const inference::ModelSequenceBatching& seq) {
  for (const auto& ci : seq.control_input()) {
    for (const auto& c : ci.control()) {
      const auto dtype = static_cast<DataType>(c.data_type());
      if (dtype != DataType::kInvalid && !TorchSupportsDataType(dtype)) {
        return InvalidArgument("sequence_batching control input '" + ci.name() + "' has type " +
                               ConfigDataTypeName(dtype) +
                               ", which the pytorch backend does not support");
      }
    }
  }
  for (const auto& st : seq.state()) {
    const auto dtype = static_cast<DataType>(st.data_type());
    if (!TorchSupportsDataType(dtype)) {
      return InvalidArgument("sequence_batching state '" + st.input_name() + "' has type " +
                             ConfigDataTypeName(dtype) +
                             ", which the pytorch backend does not support");
    }
  }
  return Status::Ok();
}

// libtorch has one inter-op pool per process and refuses to resize it once
// it has run, so the first model that asks decides (as in Triton).
void SetInterOpThreads(int threads, const std::string& model) {
  static std::mutex mu;
  static int applied = 0;
  if (threads <= 0) return;
  std::lock_guard<std::mutex> lock(mu);
  if (applied == 0) {
    try {
      at::set_num_interop_threads(threads);
      applied = threads;
      return;
    } catch (const std::exception& e) {
      NLOG(WARNING) << "model '" << model << "': INTER_OP_THREAD_COUNT " << threads
                    << " not applied: " << SummarizeTorchError(e.what());
      return;
    }
  }
  if (applied != threads) {
    NLOG(WARNING) << "model '" << model << "': INTER_OP_THREAD_COUNT " << threads
                  << " ignored: the process-wide inter-op pool already has " << applied
                  << " thread(s), set by the first model that asked";
  }
}

StatusOr<std::shared_ptr<const TorchProgram>> MakeProgram(const inference::ModelConfig& config,
                                                          const TorchSignature& sig,
                                                          TorchOptions options) {
  std::vector<std::string> inputs, outputs;
  std::vector<DataType> output_types;
  for (const auto& in : config.input()) inputs.push_back(in.name());
  for (const auto& ci : config.sequence_batching().control_input()) inputs.push_back(ci.name());
  for (const auto& st : config.sequence_batching().state()) inputs.push_back(st.input_name());
  for (const auto& out : config.output()) {
    outputs.push_back(out.name());
    output_types.push_back(static_cast<DataType>(out.data_type()));
  }
  for (const auto& st : config.sequence_batching().state()) {
    outputs.push_back(st.output_name());
    output_types.push_back(static_cast<DataType>(st.data_type()));
  }
  ASSIGN_OR_RETURN(TorchIoMapping mapping, MapTorchIo(inputs, outputs, sig));
  auto program = std::make_shared<TorchProgram>();
  program->model_name = config.name();
  program->batched = config.max_batch_size() > 0;
  program->dict_input = mapping.dict_input;
  program->binding = DescribeBinding(mapping.binding);
  program->arg_count = sig.args.size();
  program->options = options;
  for (size_t i = 0; i < inputs.size(); ++i) {
    program->inputs.push_back(
        {inputs[i], DataType::kInvalid, mapping.dict_input ? -1 : mapping.input_position[i]});
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    program->outputs.push_back({outputs[i], output_types[i], mapping.output_position[i]});
  }
  return std::shared_ptr<const TorchProgram>(std::move(program));
}

class TorchModel final : public core::BackendModel {
 public:
  TorchModel(std::shared_ptr<const TorchProgram> program, torch::jit::Module module)
      : program_(std::move(program)), module_(std::move(module)) {}

  StatusOr<std::unique_ptr<core::ModelInstance>> CreateInstance(
      const core::InstanceOptions& options) override {
    const int threads = program_->options.intra_op_threads > 0
                            ? program_->options.intra_op_threads
                            : std::max(1, options.intra_op_threads);
    // Without weight sharing every instance after the first gets its own
    // deep copy, so a stateful module's instances never see each other.
    torch::jit::Module module = module_;
    if (instances_++ > 0 && !program_->options.weight_sharing) {
      try {
        module = module_.clone();
      } catch (const std::exception& e) {
        return Internal("cannot copy the TorchScript module for instance " + options.name + ": " +
                        SummarizeTorchError(e.what()));
      }
    }
    return std::unique_ptr<core::ModelInstance>(
        std::make_unique<TorchInstance>(program_, std::move(module), threads));
  }

 private:
  std::shared_ptr<const TorchProgram> program_;
  torch::jit::Module module_;
  int instances_ = 0;  // CreateInstance runs during the load, one call at a time
};

class TorchBackend final : public core::Backend {
 public:
  std::string name() const override { return "pytorch"; }
  std::string default_model_filename() const override { return "model.pt"; }

  // TorchScript records no tensor types or shapes, so there is nothing to
  // fill in (as in Triton); a config without inputs or outputs is refused
  // here with the module's signature, to say what it should list.
  Status AutoCompleteConfig(const core::ModelFiles& files,
                            inference::ModelConfig* config) override {
    if (config->input_size() > 0 && config->output_size() > 0) return Status::Ok();
    std::string signature;
    auto module = LoadModule(files.model_path);
    if (module.ok()) {
      auto sig = DescribeForward(*module);
      if (sig.ok()) {
        signature =
            "; this model's is " + pytorch::DescribeForward(*sig) + " -> " + sig->result_type;
      }
    }
    return InvalidArgument(
        "TorchScript files carry no tensor types or shapes, so the pytorch backend cannot "
        "fill the config: list every input (forward()'s argument names, or INPUT__0, "
        "INPUT__1, ...) and output (OUTPUT__0, ...) with data_type and dims, and "
        "max_batch_size" +
        signature);
  }

  StatusOr<std::unique_ptr<core::BackendModel>> Load(const inference::ModelConfig& config,
                                                     const core::ModelFiles& files) override {
    ASSIGN_OR_RETURN(TorchOptions options, ParseTorchOptions(config));
    RETURN_IF_ERROR(CheckTypes("input", config.input()));
    RETURN_IF_ERROR(CheckTypes("output", config.output()));
    RETURN_IF_ERROR(CheckSequenceTypes(config.sequence_batching()));
    ASSIGN_OR_RETURN(torch::jit::Module module, LoadModule(files.model_path));
    ASSIGN_OR_RETURN(TorchSignature sig, DescribeForward(module));
    auto program = MakeProgram(config, sig, options);
    if (!program.ok()) return program.status().WithPrefix(files.model_path);
    SetInterOpThreads(options.inter_op_threads, config.name());
    NLOG(INFO) << "model '" << config.name() << "': TorchScript " << pytorch::DescribeForward(sig)
               << " -> " << sig.result_type << ", inputs bound " << (*program)->binding
               << ", intra-op threads per instance: "
               << (options.intra_op_threads > 0 ? std::to_string(options.intra_op_threads)
                                                : std::string("the server's budget"))
               << (options.inference_mode ? ", inference mode" : "")
               << (options.optimized_execution ? "" : ", optimized execution off");
    return std::unique_ptr<core::BackendModel>(
        std::make_unique<TorchModel>(std::move(program).value(), std::move(module)));
  }
};

}  // namespace
}  // namespace nereid::backends::pytorch

// The plugin's entry points (backend_plugin.h).
extern "C" int NereidBackendPluginAbiVersion() {
  return nereid::backends::kBackendPluginAbiVersion;
}

extern "C" void NereidCreateBackend(nereid::StatusOr<std::shared_ptr<nereid::core::Backend>>* out) {
  *out = std::shared_ptr<nereid::core::Backend>(
      std::make_shared<nereid::backends::pytorch::TorchBackend>());
}
