#include "backends/onnx/onnx_backend.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <thread>

#include "backends/onnx/batch_io.h"
#include "backends/onnx/plan_source.h"
#include "common/logging.h"
#include "engine/runtime/plan.h"
#include "proto/model_config.pb.h"

namespace nereid::backends {
namespace {

namespace fs = std::filesystem;

inference::DataType ToConfigType(DataType dt) { return static_cast<inference::DataType>(dt); }

int Cores() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

bool FirstDimVariable(const engine::ValueInfo& v) { return !v.shape.empty() && v.shape[0] == -1; }

// The largest batch the plan's shape profile allows (the smallest max[0]
// among its ranges), or -1 when no range bounds the batch dimension.
int64_t ProfileMaxBatch(const engine::Plan& plan) {
  int64_t max_batch = -1;
  for (const engine::InputShapeRange& r : plan.info().shape_profile) {
    if (r.max.empty()) continue;
    max_batch = max_batch < 0 ? r.max[0] : std::min(max_batch, r.max[0]);
  }
  return max_batch;
}

template <typename ConfigTensor>
void FillTensor(const engine::ValueInfo& v, bool batched, ConfigTensor* t) {
  if (t->data_type() == inference::TYPE_INVALID) t->set_data_type(ToConfigType(v.dtype));
  if (t->dims_size() == 0) {
    for (size_t i = batched ? 1 : 0; i < v.shape.size(); ++i) t->add_dims(v.shape[i]);
  }
}

class OnnxInstance final : public core::ModelInstance {
 public:
  OnnxInstance(std::shared_ptr<const engine::Plan> plan, const inference::ModelConfig& config)
      : plan_(std::move(plan)), batched_(config.max_batch_size() > 0) {
    // Only outputs the config declares are returned, in config order, then
    // the sequence batcher's state outputs (it keeps them for the next
    // request of the sequence and removes them from the response).
    std::vector<std::string> names;
    for (const auto& out : config.output()) names.push_back(out.name());
    for (const auto& st : config.sequence_batching().state()) names.push_back(st.output_name());
    for (const auto& name : names) {
      for (size_t i = 0; i < plan_->outputs().size(); ++i) {
        if (plan_->outputs()[i].name == name) emit_.push_back(i);
      }
    }
  }

  void Execute(std::vector<std::unique_ptr<core::InferenceRequest>>& requests) override {
    if (requests.size() == 1) {
      RunOne(*requests[0]);
    } else {
      RunBatch(requests);
    }
  }

 private:
  void RunOne(core::InferenceRequest& request) {
    std::vector<TensorView> inputs;
    for (const auto& info : plan_->inputs()) {
      const core::RequestInput* in = request.FindInput(info.name);
      if (!in) {
        request.CompleteWithError(InvalidArgument("model input '" + info.name + "' is missing"));
        return;
      }
      inputs.push_back(in->tensor);
    }
    std::vector<Tensor> outputs;
    MarkInferStart();
    Status st = plan_->Run(inputs, &outputs);
    MarkInferEnd();
    if (!st.ok()) {
      request.CompleteWithError(st);
      return;
    }
    auto response = std::make_unique<core::InferenceResponse>();
    for (size_t i : emit_) {
      response->outputs.push_back({plan_->outputs()[i].name, std::move(outputs[i])});
    }
    request.Complete(std::move(response));
  }

  // Several requests in one execution: concatenate along the batch
  // dimension, run once, split the outputs.
  void RunBatch(std::vector<std::unique_ptr<core::InferenceRequest>>& requests) {
    auto fail_all = [&](const Status& s) {
      for (auto& r : requests) r->CompleteWithError(s);
    };
    if (!batched_) {
      for (auto& r : requests) RunOne(*r);
      return;
    }
    std::vector<int64_t> sizes;
    for (auto& r : requests) sizes.push_back(r->batch_size);
    std::vector<Tensor> gathered;
    std::vector<TensorView> inputs;
    for (const auto& info : plan_->inputs()) {
      std::vector<TensorView> parts;
      for (auto& r : requests) {
        const core::RequestInput* in = r->FindInput(info.name);
        if (!in) return fail_all(InvalidArgument("model input '" + info.name + "' is missing"));
        parts.push_back(in->tensor);
      }
      auto g = GatherBatch(parts);
      if (!g.ok()) return fail_all(g.status());
      gathered.push_back(std::move(g).value());
      inputs.push_back(gathered.back().view());
    }
    std::vector<Tensor> outputs;
    MarkInferStart();
    Status st = plan_->Run(inputs, &outputs);
    MarkInferEnd();
    if (!st.ok()) return fail_all(st);
    std::vector<std::unique_ptr<core::InferenceResponse>> responses(requests.size());
    for (auto& r : responses) r = std::make_unique<core::InferenceResponse>();
    for (size_t o : emit_) {
      auto pieces = ScatterBatch(outputs[o], sizes);
      if (!pieces.ok()) return fail_all(pieces.status());
      for (size_t i = 0; i < requests.size(); ++i) {
        responses[i]->outputs.push_back({plan_->outputs()[o].name, std::move((*pieces)[i])});
      }
    }
    for (size_t i = 0; i < requests.size(); ++i) requests[i]->Complete(std::move(responses[i]));
  }

  std::shared_ptr<const engine::Plan> plan_;
  bool batched_;
  std::vector<size_t> emit_;  // plan output indices, in config order
};

class OnnxModel final : public core::BackendModel {
 public:
  OnnxModel(std::shared_ptr<const engine::Plan> plan, inference::ModelConfig config)
      : plan_(std::move(plan)), config_(std::move(config)) {}

  StatusOr<std::unique_ptr<core::ModelInstance>> CreateInstance(
      const core::InstanceOptions&) override {
    return std::unique_ptr<core::ModelInstance>(std::make_unique<OnnxInstance>(plan_, config_));
  }

 private:
  std::shared_ptr<const engine::Plan> plan_;
  inference::ModelConfig config_;
};

// Checks that the config's tensors exist in the model with the same type.
template <typename ConfigTensors>
Status CheckAgainstModel(const char* what, const ConfigTensors& tensors,
                         const std::vector<engine::ValueInfo>& model, bool batched) {
  for (const auto& t : tensors) {
    const engine::ValueInfo* found = nullptr;
    for (const auto& v : model) {
      if (v.name == t.name()) found = &v;
    }
    if (!found) {
      std::string names;
      for (const auto& v : model) names += (names.empty() ? "" : ", ") + v.name;
      return InvalidArgument(std::string("config ") + what + " '" + t.name() +
                             "' is not in the model (model has: " + names + ")");
    }
    if (found->dtype != static_cast<DataType>(t.data_type())) {
      return InvalidArgument(std::string("config ") + what + " '" + t.name() + "' has type " +
                             ConfigDataTypeName(static_cast<DataType>(t.data_type())) +
                             " but the model's is " + ConfigDataTypeName(found->dtype));
    }
    size_t rank = t.dims_size() + (batched ? 1 : 0);
    if (!found->shape.empty() && found->shape.size() != rank) {
      return InvalidArgument(std::string("config ") + what + " '" + t.name() + "' has rank " +
                             std::to_string(rank) + " (counting the batch dimension: " +
                             (batched ? "yes" : "no") + ") but the model's shape is " +
                             ShapeToString(found->shape));
    }
  }
  return Status::Ok();
}

}  // namespace

StatusOr<int> OnnxIntraOpThreads(const inference::ModelConfig& config, int cores) {
  auto it = config.parameters().find("intra_op_thread_count");
  if (it != config.parameters().end()) {
    const std::string& text = it->second.string_value();
    int value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < 0 || value > 1024) {
      return InvalidArgument("parameter 'intra_op_thread_count' must be an integer in [0, 1024], "
                             "got '" + text + "'");
    }
    if (value > 0) return value;
  }
  int64_t instances = 0;
  for (const auto& group : config.instance_group()) instances += std::max(group.count(), 1);
  return static_cast<int>(std::max<int64_t>(1, cores / std::max<int64_t>(instances, 1)));
}


OnnxBackend::OnnxBackend(std::shared_ptr<const PlanCache> cache) : cache_(std::move(cache)) {}

Status OnnxBackend::AutoCompleteConfig(const core::ModelFiles& files,
                                       inference::ModelConfig* config) {
  // Built with the threads Load() will use, and handed to it.
  ASSIGN_OR_RETURN(int threads, OnnxIntraOpThreads(*config, Cores()));
  ASSIGN_OR_RETURN(std::unique_ptr<engine::Plan> plan,
                   ObtainPlan(*config, files, threads, cache_.get()));
  bool can_batch = true;
  for (const auto& v : plan->inputs()) can_batch &= FirstDimVariable(v);
  for (const auto& v : plan->outputs()) can_batch &= FirstDimVariable(v);
  if (config->input_size() == 0 && config->output_size() == 0 &&
      config->max_batch_size() == 0 && can_batch) {
    // Triton's default-max-batch-size, or what the plan's profile allows.
    const int64_t profile_max = ProfileMaxBatch(*plan);
    config->set_max_batch_size(static_cast<int32_t>(profile_max > 0 ? profile_max : 4));
  }
  bool batched = config->max_batch_size() > 0;
  // Control and state tensors of the sequence batcher are not client tensors.
  std::set<std::string> hidden;
  for (const auto& ci : config->sequence_batching().control_input()) hidden.insert(ci.name());
  for (const auto& st : config->sequence_batching().state()) {
    hidden.insert(st.input_name());
    hidden.insert(st.output_name());
  }
  auto fill = [&](const std::vector<engine::ValueInfo>& model, auto* tensors) {
    for (const auto& v : model) {
      if (hidden.count(v.name)) continue;
      bool present = false;
      for (auto& t : *tensors) {
        if (t.name() == v.name) {
          FillTensor(v, batched, &t);
          present = true;
        }
      }
      if (!present) FillTensor(v, batched, tensors->Add());
      if (!present) tensors->Mutable(tensors->size() - 1)->set_name(v.name);
    }
  };
  fill(plan->inputs(), config->mutable_input());
  fill(plan->outputs(), config->mutable_output());
  handoff_.Put(PlanHandoff::Key(*config, files, threads), std::move(plan));
  return Status::Ok();
}

StatusOr<std::unique_ptr<core::BackendModel>> OnnxBackend::Load(
    const inference::ModelConfig& config, const core::ModelFiles& files) {
  ASSIGN_OR_RETURN(int threads, OnnxIntraOpThreads(config, Cores()));
  std::unique_ptr<engine::Plan> plan = handoff_.Take(PlanHandoff::Key(config, files, threads));
  if (plan == nullptr) {
    ASSIGN_OR_RETURN(plan, ObtainPlan(config, files, threads, cache_.get()));
  }
  NLOG(INFO) << "model '" << config.name() << "': " << threads
             << " intra-op thread(s) per instance";
  bool batched = config.max_batch_size() > 0;
  const int64_t profile_max = ProfileMaxBatch(*plan);
  if (batched && profile_max > 0 && config.max_batch_size() > profile_max) {
    return InvalidArgument("max_batch_size is " + std::to_string(config.max_batch_size()) +
                           " but the plan's shape profile allows batches of at most " +
                           std::to_string(profile_max));
  }
  RETURN_IF_ERROR(CheckAgainstModel("input", config.input(), plan->inputs(), batched));
  RETURN_IF_ERROR(CheckAgainstModel("output", config.output(), plan->outputs(), batched));
  if (batched) {
    for (const auto& v : plan->inputs()) {
      if (!v.shape.empty() && v.shape[0] != -1) {
        return InvalidArgument("max_batch_size is " + std::to_string(config.max_batch_size()) +
                               " but model input '" + v.name + "' has a fixed first dimension " +
                               ShapeToString(v.shape) + "; set max_batch_size: 0");
      }
    }
  }
  // The sequence batcher's control and state tensors must exist in the model.
  auto has = [](const std::vector<engine::ValueInfo>& values, const std::string& name) {
    return std::any_of(values.begin(), values.end(),
                       [&](const engine::ValueInfo& v) { return v.name == name; });
  };
  for (const auto& ci : config.sequence_batching().control_input()) {
    if (!has(plan->inputs(), ci.name())) {
      return InvalidArgument("sequence_batching control input '" + ci.name() +
                             "' is not an input of the model");
    }
  }
  for (const auto& st : config.sequence_batching().state()) {
    if (!has(plan->inputs(), st.input_name())) {
      return InvalidArgument("sequence_batching state input '" + st.input_name() +
                             "' is not an input of the model");
    }
    if (!has(plan->outputs(), st.output_name())) {
      return InvalidArgument("sequence_batching state output '" + st.output_name() +
                             "' is not an output of the model");
    }
  }
  std::shared_ptr<const engine::Plan> shared(std::move(plan));
  return std::unique_ptr<core::BackendModel>(std::make_unique<OnnxModel>(shared, config));
}

}  // namespace nereid::backends
