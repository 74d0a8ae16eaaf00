#include "backends/identity/identity_backend.h"

#include <chrono>
#include <string>
#include <thread>
#include <variant>

#include "proto/model_config.pb.h"

namespace nereid::backends {
namespace {

struct IdentityOptions {
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  int delay_ms = 0;
  // Decoupled mode (model_transaction_policy.decoupled): each request gets
  // `response_count` echo responses (the request parameter of that name
  // overrides it), `response_delay_ms` apart, then a flags-only final.
  bool decoupled = false;
  int64_t response_count = 1;
  int response_delay_ms = 0;
};

constexpr int64_t kMaxResponses = 100000;

class IdentityInstance final : public core::ModelInstance {
 public:
  explicit IdentityInstance(const IdentityOptions& o) : o_(o) {}

  void Execute(std::vector<std::unique_ptr<core::InferenceRequest>>& requests) override {
    // The delay stands in for the model's compute time.
    MarkInferStart();
    if (o_.delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(o_.delay_ms));
    MarkInferEnd();
    for (auto& request : requests) {
      if (o_.decoupled) {
        RespondDecoupled(*request);
      } else {
        request->Complete(Echo(*request));
      }
    }
  }

 private:
  std::unique_ptr<core::InferenceResponse> Echo(const core::InferenceRequest& request) const {
    auto response = std::make_unique<core::InferenceResponse>();
    // Inputs arrive in request order; output i echoes config input i.
    for (size_t i = 0; i < o_.outputs.size() && i < o_.inputs.size(); ++i) {
      const core::RequestInput* in = request.FindInput(o_.inputs[i]);
      if (!in) continue;
      const TensorView& t = in->tensor;
      response->outputs.push_back(
          {o_.outputs[i], Tensor::Wrap(t.dtype, t.shape, t.data, t.byte_size,
                                       request.buffer_owner)});
    }
    return response;
  }

  void RespondDecoupled(core::InferenceRequest& request) const {
    int64_t count = o_.response_count;
    if (auto it = request.parameters.find("response_count"); it != request.parameters.end()) {
      const auto* i = std::get_if<int64_t>(&it->second);
      const auto* u = std::get_if<uint64_t>(&it->second);
      count = i ? *i : u && *u <= static_cast<uint64_t>(kMaxResponses) ? static_cast<int64_t>(*u)
                                                                      : -1;
      if (count < 0 || count > kMaxResponses) {
        request.CompleteWithError(InvalidArgument(
            "request parameter 'response_count' must be an integer in [0, " +
            std::to_string(kMaxResponses) + "]"));
        return;
      }
    }
    for (int64_t k = 0; k < count; ++k) {
      if (k > 0 && o_.response_delay_ms > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(o_.response_delay_ms));
      }
      auto response = Echo(request);
      response->parameters["response_index"] = k;
      request.Respond(std::move(response), /*final=*/false);
    }
    request.FinishWithoutResponse();
  }

  const IdentityOptions& o_;
};

class IdentityModel final : public core::BackendModel {
 public:
  explicit IdentityModel(IdentityOptions o) : o_(std::move(o)) {}

  StatusOr<std::unique_ptr<core::ModelInstance>> CreateInstance(
      const core::InstanceOptions&) override {
    return std::unique_ptr<core::ModelInstance>(std::make_unique<IdentityInstance>(o_));
  }

 private:
  IdentityOptions o_;
};

// An integer model parameter within [lo, hi]; `def` when absent.
StatusOr<int64_t> IntParameter(const inference::ModelConfig& config, const std::string& name,
                               int64_t def, int64_t lo, int64_t hi) {
  auto it = config.parameters().find(name);
  if (it == config.parameters().end()) return def;
  const std::string& text = it->second.string_value();
  int64_t value = 0;
  size_t used = 0;
  try {
    value = std::stoll(text, &used);
  } catch (...) {
    used = 0;
  }
  if (used == 0 || used != text.size()) {
    return InvalidArgument("parameter " + name + " must be an integer, got '" + text + "'");
  }
  if (value < lo || value > hi) {
    return InvalidArgument("parameter " + name + " must be within [" + std::to_string(lo) + ", " +
                           std::to_string(hi) + "]");
  }
  return value;
}

}  // namespace

StatusOr<std::unique_ptr<core::BackendModel>> IdentityBackend::Load(
    const inference::ModelConfig& config, const core::ModelFiles&) {
  if (config.input_size() != config.output_size()) {
    return InvalidArgument("identity model '" + config.name() + "' needs as many outputs (" +
                           std::to_string(config.output_size()) + ") as inputs (" +
                           std::to_string(config.input_size()) + ")");
  }
  IdentityOptions o;
  for (int i = 0; i < config.input_size(); ++i) {
    if (config.input(i).data_type() != config.output(i).data_type()) {
      return InvalidArgument("identity model '" + config.name() + "': output '" +
                             config.output(i).name() + "' must have the data type of input '" +
                             config.input(i).name() + "'");
    }
    o.inputs.push_back(config.input(i).name());
    o.outputs.push_back(config.output(i).name());
  }
  ASSIGN_OR_RETURN(int64_t delay, IntParameter(config, "execute_delay_ms", 0, 0, 600000));
  o.delay_ms = static_cast<int>(delay);
  o.decoupled = config.model_transaction_policy().decoupled();
  ASSIGN_OR_RETURN(o.response_count,
                   IntParameter(config, "response_count", 1, 0, kMaxResponses));
  ASSIGN_OR_RETURN(int64_t gap, IntParameter(config, "response_delay_ms", 0, 0, 60000));
  o.response_delay_ms = static_cast<int>(gap);
  return std::unique_ptr<core::BackendModel>(std::make_unique<IdentityModel>(std::move(o)));
}

}  // namespace nereid::backends
