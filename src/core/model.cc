#include "core/model.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <thread>

#include "core/request/classification.h"

#include "core/scheduler/dynamic_batch_scheduler.h"
#include "core/scheduler/sequence_batcher.h"
#include "core/warmup.h"

namespace nereid::core {
namespace {

DataType ToDataType(inference::DataType dt) { return static_cast<DataType>(dt); }

bool DimsMatch(const google::protobuf::RepeatedField<int64_t>& expected, const Shape& got,
               size_t offset) {
  if (static_cast<size_t>(expected.size()) + offset != got.size()) return false;
  for (int i = 0; i < expected.size(); ++i) {
    if (expected[i] != -1 && expected[i] != got[i + offset]) return false;
  }
  return true;
}

std::string ExpectedShape(const google::protobuf::RepeatedField<int64_t>& dims, bool batched) {
  Shape s;
  if (batched) s.push_back(-1);
  s.insert(s.end(), dims.begin(), dims.end());
  return ShapeToString(s);
}

QueuePolicy ToQueuePolicy(const inference::ModelQueuePolicy& p) {
  QueuePolicy q;
  q.delay_on_timeout = p.timeout_action() == inference::ModelQueuePolicy::DELAY;
  q.default_timeout_us = p.default_timeout_microseconds();
  q.allow_timeout_override = p.allow_timeout_override();
  q.max_queue_size = p.max_queue_size();
  return q;
}

}  // namespace

static StatusOr<SequenceOptions> SequenceOptionsFromConfig(const inference::ModelConfig& config,
                                                    const std::string& model_dir,
                                                    int instance_count) {
  const auto& sb = config.sequence_batching();
  SequenceOptions o;
  o.max_batch_size = config.max_batch_size();
  o.max_sequence_idle_us =
      sb.max_sequence_idle_microseconds() > 0 ? sb.max_sequence_idle_microseconds() : 1000000;
  const int64_t slots = std::max<int64_t>(config.max_batch_size(), 1);
  o.slots_per_instance = slots;
  if (sb.has_oldest()) {
    o.max_queue_delay_us = sb.oldest().max_queue_delay_microseconds();
    const int64_t candidates = sb.oldest().max_candidate_sequences();
    if (candidates > 0 && instance_count > 0) {
      o.slots_per_instance = std::max<int64_t>((candidates + instance_count - 1) / instance_count, 1);
    }
  } else {
    o.max_queue_delay_us = sb.direct().max_queue_delay_microseconds();
  }
  using Kind = inference::ModelSequenceBatching::Control;
  for (const auto& ci : sb.control_input()) {
    const auto& c = ci.control(0);
    SequenceControl sc;
    sc.input = ci.name();
    switch (c.kind()) {
      case Kind::CONTROL_SEQUENCE_START: sc.kind = SequenceControl::Kind::kStart; break;
      case Kind::CONTROL_SEQUENCE_END: sc.kind = SequenceControl::Kind::kEnd; break;
      case Kind::CONTROL_SEQUENCE_READY: sc.kind = SequenceControl::Kind::kReady; break;
      default: sc.kind = SequenceControl::Kind::kCorrId; break;
    }
    if (sc.kind == SequenceControl::Kind::kCorrId) {
      sc.dtype = ToDataType(c.data_type());
    } else if (c.int32_false_true_size() == 2) {
      sc.dtype = DataType::kInt32;
      sc.false_value = c.int32_false_true(0);
      sc.true_value = c.int32_false_true(1);
    } else if (c.fp32_false_true_size() == 2) {
      sc.dtype = DataType::kFp32;
      sc.false_value = c.fp32_false_true(0);
      sc.true_value = c.fp32_false_true(1);
    } else {
      sc.dtype = DataType::kBool;
      sc.false_value = c.bool_false_true(0);
      sc.true_value = c.bool_false_true(1);
    }
    o.controls.push_back(sc);
  }
  for (const auto& st : sb.state()) {
    SequenceState ss;
    ss.input = st.input_name();
    ss.output = st.output_name();
    ss.dtype = ToDataType(st.data_type());
    const bool has_initial = st.initial_state_size() > 0;
    const auto& dims =
        has_initial && st.initial_state(0).dims_size() > 0 ? st.initial_state(0).dims() : st.dims();
    ss.initial_shape.assign(dims.begin(), dims.end());
    if (has_initial && st.initial_state(0).has_data_file()) {
      std::filesystem::path rel(st.initial_state(0).data_file());
      if (rel.is_absolute() || rel.empty() || *rel.lexically_normal().begin() == "..") {
        return InvalidArgument("state '" + ss.input + "': initial_state data_file '" +
                               rel.string() + "' must name a file in initial_state/");
      }
      const auto path = std::filesystem::path(model_dir) / "initial_state" / rel;
      std::ifstream f(path, std::ios::binary);
      if (!f) {
        return NotFound("state '" + ss.input + "': initial_state data_file " + path.string() +
                        " cannot be read");
      }
      ss.initial_data.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
      ASSIGN_OR_RETURN(int64_t elements, ElementCount(ss.initial_shape));
      const uint64_t want = static_cast<uint64_t>(elements) * DataTypeByteSize(ss.dtype);
      if (ss.initial_data.size() != want) {
        return InvalidArgument("state '" + ss.input + "': initial_state data_file holds " +
                               std::to_string(ss.initial_data.size()) + " bytes but dims " +
                               ShapeToString(ss.initial_shape) + " need " + std::to_string(want));
      }
    }
    o.states.push_back(std::move(ss));
  }
  return o;
}

SchedulerOptions SchedulerOptionsFromConfig(const inference::ModelConfig& config) {
  SchedulerOptions o;
  o.max_batch_size = config.max_batch_size();
  o.decoupled = config.model_transaction_policy().decoupled();
  for (const auto& in : config.input()) {
    if (in.allow_ragged_batch()) o.ragged_inputs.insert(in.name());
  }
  if (!config.has_dynamic_batching()) return o;
  const auto& db = config.dynamic_batching();
  o.dynamic_batching = true;
  o.preferred_batch_sizes.assign(db.preferred_batch_size().begin(),
                                 db.preferred_batch_size().end());
  o.max_queue_delay_us = db.max_queue_delay_microseconds();
  o.preserve_ordering = db.preserve_ordering();
  o.priority_levels = db.priority_levels();
  o.default_priority_level = db.default_priority_level();
  o.default_policy = ToQueuePolicy(db.default_queue_policy());
  for (const auto& [level, policy] : db.priority_queue_policy()) {
    o.priority_policies[level] = ToQueuePolicy(policy);
  }
  return o;
}

namespace {
std::atomic<uint64_t> next_generation{1};
}  // namespace

Model::Model(inference::ModelConfig config, int64_t version)
    : config_(std::move(config)), version_(version), generation_(next_generation++) {}

Model::~Model() { Stop(); }

StatusOr<std::shared_ptr<Model>> Model::Create(inference::ModelConfig config, int64_t version,
                                               std::unique_ptr<BackendModel> backend_model,
                                               const Options& options, Clock& clock) {
  std::shared_ptr<Model> model(new Model(std::move(config), version));
  RETURN_IF_ERROR(model->LoadLabels(options));
  // Malformed samples fail the load before any instance is made.
  ASSIGN_OR_RETURN(std::vector<WarmupSample> warmup,
                   BuildWarmupSamples(model->config_, options.model_dir));
  std::vector<std::unique_ptr<ModelInstance>> instances;
  std::vector<std::string> instance_names;
  std::vector<std::unique_ptr<RateLimiter::Client>> limits;
  const bool limited = options.rate_limiter && options.rate_limiter->enabled();
  if (limited) model->rate_limiter_ = options.rate_limiter;
  for (const auto& group : model->config_.instance_group()) {
    std::vector<ResourceNeed> needs;
    for (const auto& r : group.rate_limiter().resources()) {
      needs.push_back({r.name(), r.global(), r.count()});
    }
    for (int i = 0; i < group.count(); ++i) {
      InstanceOptions io;
      io.name = group.name() + "_" + std::to_string(i);
      io.intra_op_threads = options.intra_op_threads;
      io.submit = options.submit;
      if (limited) {
        auto client = options.rate_limiter->Register(model->name() + "/" + io.name, needs,
                                                     group.rate_limiter().priority());
        if (!client.ok()) return client.status();
        limits.push_back(std::move(client).value());
      }
      auto inst = backend_model->CreateInstance(io);
      if (!inst.ok()) return inst.status().WithPrefix("creating instance " + io.name);
      instances.push_back(std::move(inst).value());
      instance_names.push_back(io.name);
    }
  }
  if (!warmup.empty()) {
    // Before the scheduler exists: nothing else can reach the instances.
    // Each runs on a thread of its own, as it will when serving, so state a
    // backend keeps per thread is not left on the loading thread.
    auto validate = [&](InferenceRequest* request) { return model->Validate(request); };
    for (size_t i = 0; i < instances.size(); ++i) {
      Status warmed;
      std::thread runner([&] {
        warmed = RunWarmup(model->config_, warmup, instances[i].get(), instance_names[i],
                           validate, clock);
      });
      runner.join();
      RETURN_IF_ERROR(warmed);
    }
  }
  model->backend_model_ = std::move(backend_model);
  model->response_cache_ = options.response_cache;
  model->stats_ = std::make_shared<ModelStatistics>(model->name(), version, clock);
  model->stats_->SetCacheEnabled(options.response_cache);
  if (model->config_.has_sequence_batching()) {
    ASSIGN_OR_RETURN(SequenceOptions so,
                     SequenceOptionsFromConfig(model->config_, options.model_dir,
                                               static_cast<int>(instances.size())));
    model->scheduler_ = std::make_unique<SequenceBatchScheduler>(
        model->name(), std::move(so), std::move(instances), clock, model->stats_.get(),
        std::move(limits));
  } else {
    model->scheduler_ = std::make_unique<DynamicBatchScheduler>(
        model->name(), SchedulerOptionsFromConfig(model->config_), std::move(instances), clock,
        model->stats_.get(), std::move(limits));
  }
  return model;
}

StatusOr<std::shared_ptr<Model>> Model::CreateEnsemble(inference::ModelConfig config,
                                                       int64_t version,
                                                       std::shared_ptr<const EnsemblePlan> plan,
                                                       EnsembleScheduler::Submit submit,
                                                       const Options& options, Clock& clock) {
  std::shared_ptr<Model> model(new Model(std::move(config), version));
  RETURN_IF_ERROR(model->LoadLabels(options));
  model->plan_ = std::move(plan);
  model->stats_ = std::make_unique<ModelStatistics>(model->name(), version, clock);
  model->scheduler_ = std::make_unique<EnsembleScheduler>(model->plan_, std::move(submit), clock,
                                                          model->stats_.get());
  return model;
}

Status Model::LoadLabels(const Options& options) {
  for (const auto& out : config_.output()) {
    if (out.label_filename().empty() || options.model_dir.empty()) continue;
    std::filesystem::path rel(out.label_filename());
    if (rel.is_absolute() || rel.empty() || *rel.lexically_normal().begin() == "..") {
      return InvalidArgument("output '" + out.name() + "': label_filename '" +
                             out.label_filename() + "' must name a file in the model directory");
    }
    auto labels = ReadLabelFile((std::filesystem::path(options.model_dir) / rel).string());
    if (!labels.ok()) return labels.status().WithPrefix("output '" + out.name() + "'");
    labels_[out.name()] =
        std::make_shared<const std::vector<std::string>>(std::move(labels).value());
  }
  return Status::Ok();
}

void Model::Stop() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stopped_ = true;
  }
  if (scheduler_) scheduler_->Stop();
}

std::shared_ptr<const std::vector<std::string>> Model::Labels(const std::string& output) const {
  auto it = labels_.find(output);
  return it == labels_.end() ? nullptr : it->second;
}

bool Model::TryEnqueue(std::unique_ptr<InferenceRequest>& request) const {
  // Holding stop_mu_ while enqueueing means no request can slip into the
  // scheduler's queue after Stop() decided the queue is final.
  std::lock_guard<std::mutex> lock(stop_mu_);
  if (stopped_) return false;
  scheduler_->Enqueue(std::move(request));
  return true;
}

void Model::Enqueue(std::unique_ptr<InferenceRequest> request) const {
  scheduler_->Enqueue(std::move(request));
}

void Model::CompleteWithoutExecuting(std::unique_ptr<InferenceRequest> request,
                                     std::unique_ptr<InferenceResponse> response) const {
  scheduler_->CompleteWithoutExecuting(std::move(request), std::move(response));
}

Status Model::Validate(InferenceRequest* request) const {
  const std::string& model = config_.name();
  const bool batched = config_.max_batch_size() > 0;
  std::set<std::string> seen;
  int64_t batch = -1;
  for (const auto& in : request->inputs) {
    if (!seen.insert(in.name).second) {
      return InvalidArgument("input '" + in.name + "' appears more than once in the request");
    }
    const inference::ModelInput* cfg = nullptr;
    for (const auto& c : config_.input()) {
      if (c.name() == in.name) cfg = &c;
    }
    if (!cfg) {
      return InvalidArgument("unexpected inference input '" + in.name + "' for model '" + model +
                             "'");
    }
    const TensorView& t = in.tensor;
    if (t.dtype != ToDataType(cfg->data_type())) {
      return InvalidArgument("inference input '" + in.name + "' data-type is '" +
                             std::string(DataTypeName(t.dtype)) + "', but model '" + model +
                             "' expects '" +
                             std::string(DataTypeName(ToDataType(cfg->data_type()))) + "'");
    }
    if (batched) {
      if (t.shape.empty()) {
        return InvalidArgument("inference input '" + in.name +
                               "' has no batch dimension; model '" + model + "' expects shape " +
                               ExpectedShape(cfg->dims(), true));
      }
      if (batch == -1) batch = t.shape[0];
      if (t.shape[0] != batch) {
        return InvalidArgument("inference input '" + in.name + "' has batch size " +
                               std::to_string(t.shape[0]) + " but other inputs have " +
                               std::to_string(batch));
      }
    }
    if (!DimsMatch(cfg->dims(), t.shape, batched ? 1 : 0)) {
      return InvalidArgument("unexpected shape for input '" + in.name + "' for model '" + model +
                             "'. Expected " + ExpectedShape(cfg->dims(), batched) + ", got " +
                             ShapeToString(t.shape));
    }
    ASSIGN_OR_RETURN(int64_t elements, ElementCount(t.shape));
    if (t.dtype == DataType::kBytes) {
      auto count = CountSerializedBytesElements(t.data, t.byte_size);
      if (!count.ok()) return count.status().WithPrefix("input '" + in.name + "'");
      if (*count != elements) {
        return InvalidArgument("input '" + in.name + "' has " + std::to_string(*count) +
                               " BYTES elements but shape " + ShapeToString(t.shape) +
                               " needs " + std::to_string(elements));
      }
    } else {
      uint64_t expected = static_cast<uint64_t>(elements) * DataTypeByteSize(t.dtype);
      if (expected != t.byte_size) {
        return InvalidArgument("input '" + in.name + "' holds " + std::to_string(t.byte_size) +
                               " bytes but shape " + ShapeToString(t.shape) + " of " +
                               std::string(DataTypeName(t.dtype)) + " needs " +
                               std::to_string(expected));
      }
    }
  }
  for (const auto& c : config_.input()) {
    if (!c.optional() && !seen.count(c.name())) {
      return InvalidArgument("expected " + std::to_string(config_.input_size()) +
                             " inputs but got " + std::to_string(request->inputs.size()) +
                             " inputs for model '" + model + "'; missing input '" + c.name() +
                             "'");
    }
  }
  if (batched) {
    if (batch < 1) {
      return InvalidArgument("batch size must be at least 1 for model '" + model + "', got " +
                             std::to_string(batch));
    }
    if (batch > config_.max_batch_size()) {
      return InvalidArgument("inference request batch-size must be <= " +
                             std::to_string(config_.max_batch_size()) + " for '" + model +
                             "', got " + std::to_string(batch));
    }
    request->batch_size = batch;
  }
  std::set<std::string> outputs_seen;
  for (const auto& out : request->requested_outputs) {
    bool found = false;
    for (const auto& c : config_.output()) found |= c.name() == out.name;
    if (!found) {
      return InvalidArgument("unexpected inference output '" + out.name + "' for model '" +
                             model + "'");
    }
    if (!outputs_seen.insert(out.name).second) {
      return InvalidArgument("output '" + out.name + "' is requested more than once");
    }
  }
  request->resolved_version = version_;
  return Status::Ok();
}

}  // namespace nereid::core
