#include "backends/identity/identity_backend.h"

#include <chrono>
#include <thread>

#include "proto/model_config.pb.h"

namespace nereid::backends {
namespace {

class IdentityInstance final : public core::ModelInstance {
 public:
  IdentityInstance(std::vector<std::string> output_names, int delay_ms)
      : output_names_(std::move(output_names)), delay_ms_(delay_ms) {}

  void Execute(std::vector<std::unique_ptr<core::InferenceRequest>>& requests) override {
    // The delay stands in for the model's compute time.
    MarkInferStart();
    if (delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
    MarkInferEnd();
    for (auto& request : requests) {
      auto response = std::make_unique<core::InferenceResponse>();
      // Inputs arrive in request order; output i echoes config input i.
      for (size_t i = 0; i < output_names_.size() && i < input_names_.size(); ++i) {
        const core::RequestInput* in = request->FindInput(input_names_[i]);
        if (!in) continue;
        const TensorView& t = in->tensor;
        response->outputs.push_back(
            {output_names_[i], Tensor::Wrap(t.dtype, t.shape, t.data, t.byte_size,
                                            request->buffer_owner)});
      }
      request->Complete(std::move(response));
    }
  }

  void set_input_names(std::vector<std::string> names) { input_names_ = std::move(names); }

 private:
  std::vector<std::string> output_names_;
  std::vector<std::string> input_names_;
  int delay_ms_;
};

class IdentityModel final : public core::BackendModel {
 public:
  IdentityModel(std::vector<std::string> inputs, std::vector<std::string> outputs, int delay_ms)
      : inputs_(std::move(inputs)), outputs_(std::move(outputs)), delay_ms_(delay_ms) {}

  StatusOr<std::unique_ptr<core::ModelInstance>> CreateInstance(
      const core::InstanceOptions&) override {
    auto inst = std::make_unique<IdentityInstance>(outputs_, delay_ms_);
    inst->set_input_names(inputs_);
    return std::unique_ptr<core::ModelInstance>(std::move(inst));
  }

 private:
  std::vector<std::string> inputs_;
  std::vector<std::string> outputs_;
  int delay_ms_;
};

}  // namespace

StatusOr<std::unique_ptr<core::BackendModel>> IdentityBackend::Load(
    const inference::ModelConfig& config, const core::ModelFiles&) {
  if (config.input_size() != config.output_size()) {
    return InvalidArgument("identity model '" + config.name() + "' needs as many outputs (" +
                           std::to_string(config.output_size()) + ") as inputs (" +
                           std::to_string(config.input_size()) + ")");
  }
  std::vector<std::string> inputs, outputs;
  for (int i = 0; i < config.input_size(); ++i) {
    if (config.input(i).data_type() != config.output(i).data_type()) {
      return InvalidArgument("identity model '" + config.name() + "': output '" +
                             config.output(i).name() + "' must have the data type of input '" +
                             config.input(i).name() + "'");
    }
    inputs.push_back(config.input(i).name());
    outputs.push_back(config.output(i).name());
  }
  int delay_ms = 0;
  auto it = config.parameters().find("execute_delay_ms");
  if (it != config.parameters().end()) {
    try {
      delay_ms = std::stoi(it->second.string_value());
    } catch (...) {
      return InvalidArgument("parameter execute_delay_ms must be an integer, got '" +
                             it->second.string_value() + "'");
    }
    if (delay_ms < 0 || delay_ms > 600000) {
      return InvalidArgument("parameter execute_delay_ms must be within [0, 600000]");
    }
  }
  return std::unique_ptr<core::BackendModel>(
      std::make_unique<IdentityModel>(std::move(inputs), std::move(outputs), delay_ms));
}

}  // namespace nereid::backends
