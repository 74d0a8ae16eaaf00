#include "core/server.h"

#include <string>
#include <variant>

#include "common/logging.h"
#include "core/request/classification.h"
#include "core/shm/shm_tensors.h"

namespace nereid::core {

InferenceServer::InferenceServer(ServerOptions options, std::unique_ptr<ModelManager> manager,
                                 Clock& clock, std::unique_ptr<TraceManager> trace)
    : options_(std::move(options)),
      manager_(std::move(manager)),
      clock_(clock),
      shm_(std::make_unique<SystemSharedMemoryRegistry>(options_.allow_client_shm)),
      trace_(std::move(trace)) {}

InferenceServer::~InferenceServer() {
  if (manager_) Shutdown(std::chrono::milliseconds(0));
}

namespace {

// Triton's reserved scheduling parameters: "priority" (level, 0 = the
// model's default) and "timeout" (microseconds in the queue, 0 = none).
Status ReadScheduleParameters(InferenceRequest* request) {
  for (const char* name : {"priority", "timeout"}) {
    auto it = request->parameters.find(name);
    if (it == request->parameters.end()) continue;
    uint64_t value = 0;
    if (const auto* u = std::get_if<uint64_t>(&it->second)) {
      value = *u;
    } else if (const auto* i = std::get_if<int64_t>(&it->second); i && *i >= 0) {
      value = static_cast<uint64_t>(*i);
    } else {
      return InvalidArgument(std::string("request parameter '") + name +
                             "' must be a non-negative integer");
    }
    (std::string(name) == "priority" ? request->priority : request->timeout_us) = value;
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::unique_ptr<InferenceServer>> InferenceServer::Create(
    ServerOptions options, std::shared_ptr<const BackendRegistry> backends, Clock& clock) {
  if (options.repositories.empty()) {
    return InvalidArgument("at least one --model-repository is required");
  }
  ASSIGN_OR_RETURN(auto trace, TraceManager::Create(options.trace, clock));
  ModelManager::Options mo;
  mo.repositories = options.repositories;
  mo.auto_complete = options.auto_complete;
  mo.intra_op_threads = options.intra_op_threads;
  mo.control_mode = options.control_mode;
  mo.startup_models = options.startup_models;
  mo.poll_interval = options.poll_interval;
  mo.temp_directory = options.temp_directory;
  if (!options.startup_models.empty() && options.control_mode != ModelControlMode::kExplicit) {
    return InvalidArgument("--load-model needs --model-control-mode=explicit");
  }
  if (options.control_mode == ModelControlMode::kPoll && options.poll_interval.count() <= 0) {
    return InvalidArgument("--repository-poll-secs must be positive in poll mode");
  }
  std::unique_ptr<InferenceServer> server(
      new InferenceServer(std::move(options), nullptr, clock, std::move(trace)));
  // Ensembles send their steps down the same path as client requests. The
  // manager (and with it every ensemble) never outlives the server.
  InferenceServer* raw = server.get();
  mo.ensemble_submit = [raw](std::unique_ptr<InferenceRequest> step) {
    raw->Route(std::move(step), /*ensemble_step=*/true);
  };
  server->manager_ = std::make_unique<ModelManager>(mo, std::move(backends), clock);
  RETURN_IF_ERROR(server->manager_->Start());
  return server;
}

std::string InferenceServer::Version() { return "0.1.0"; }

std::vector<std::string> InferenceServer::Extensions() {
  return {"binary_tensor_data",
          "model_configuration",
          "parameters",
          "statistics",
          "model_repository",
          "model_repository(unload_dependents)",
          "logging",
          "system_shared_memory",
          "classification",
          "trace"};
}

bool InferenceServer::IsReady() const {
  if (shutting_down_.load()) return false;
  return !options_.strict_readiness || manager_->AllReady();
}

StatusOr<std::shared_ptr<Model>> InferenceServer::GetModel(const std::string& name,
                                                           int64_t version) const {
  return manager_->Get(name, version);
}

void InferenceServer::FinishOne() {
  if (in_flight_.fetch_sub(1) == 1) {
    std::lock_guard<std::mutex> lock(drain_mu_);
    drained_.notify_all();
  }
}

void InferenceServer::Infer(std::unique_ptr<InferenceRequest> request) {
  Route(std::move(request), /*ensemble_step=*/false);
}

void InferenceServer::Route(std::unique_ptr<InferenceRequest> request, bool ensemble_step) {
  if (request->trace) request->trace->Record("REQUEST_START");
  // The steps of an ensemble request accepted before shutdown still run: the
  // drain waits for that request.
  if (shutting_down_.load() && !ensemble_step) {
    request->CompleteWithError(Unavailable("the server is shutting down"));
    return;
  }
  auto model = manager_->Get(request->model_name, request->model_version);
  if (!model.ok()) {
    request->CompleteWithError(model.status());
    return;
  }
  request->received_ns = clock_.NowNs();
  Status valid = ReadScheduleParameters(request.get());
  if (valid.ok()) valid = BindShmInputs(*shm_, request.get());
  if (valid.ok()) valid = (*model)->Validate(request.get());
  if (!valid.ok()) {
    // It reached a model version: a failure of that version (Triton's OTHER).
    (*model)->statistics().RecordFailure(request->received_ns, clock_.NowNs(),
                                         FailureReason::kOther);
    request->CompleteWithError(valid);
    return;
  }
  auto shm_outputs = BindShmOutputs(*shm_, *request);
  auto classify = CollectClassifications(*request, **model);
  if (!shm_outputs.ok() || !classify.ok()) {
    (*model)->statistics().RecordFailure(request->received_ns, clock_.NowNs(),
                                         FailureReason::kOther);
    request->CompleteWithError(!shm_outputs.ok() ? shm_outputs.status() : classify.status());
    return;
  }
  const bool batched = (*model)->config().max_batch_size() > 0;
  in_flight_.fetch_add(1);
  // Wrap the callback so the drain counter falls however the request ends.
  // The callback deliberately holds no reference to the Model: it runs on the
  // model's own instance thread, which must never be the one to destroy it.
  ResponseCallback inner = request->TakeCallback();
  request->set_callback([this, inner = std::move(inner), shm = std::move(shm_outputs).value(),
                         classify = std::move(classify).value(),
                         batched, trace = request->trace](
                            std::unique_ptr<InferenceResponse> response) {
    // Post-processing that both front ends share: classification first, so
    // a classified output can also go to shared memory.
    if (response->status.ok() && !(classify.empty() && shm.empty())) {
      Status st = ApplyClassifications(classify, batched, response.get());
      if (st.ok()) st = WriteShmOutputs(shm, response.get());
      if (!st.ok()) {
        response->status = st;
        response->outputs.clear();
      }
    }
    if (trace) trace->Record("REQUEST_END");
    if (inner) inner(std::move(response));
    FinishOne();
  });
  if (request->trace) {
    request->trace->set_model_version(request->resolved_version);
    request->trace->Record("QUEUE_START");
  }
  // A reload or unload may stop the version between Get and enqueueing; the
  // request then goes to the version that replaced it, or fails cleanly.
  for (int attempt = 0; attempt < 8; ++attempt) {
    if ((*model)->TryEnqueue(request)) return;
    model = manager_->Get(request->model_name, request->model_version);
    if (!model.ok()) break;
    valid = (*model)->Validate(request.get());
    if (!valid.ok()) {
      model = valid;
      break;
    }
  }
  request->CompleteWithError(model.ok() ? Unavailable("model '" + request->model_name +
                                                      "' is being unloaded")
                                        : model.status());
}

StatusOr<std::vector<ModelStatsSnapshot>> InferenceServer::Statistics(
    const std::string& name, int64_t version) const {
  std::vector<ModelStatsSnapshot> out;
  for (const auto& e : manager_->Index()) {
    if (e.state != ModelState::kReady) continue;
    if (!name.empty() && e.name != name) continue;
    if (version >= 0 && e.version != version) continue;
    auto model = manager_->Get(e.name, e.version);
    if (!model.ok()) continue;  // unloaded since the index was taken
    out.push_back((*model)->statistics().Snapshot());
  }
  if (out.empty() && !name.empty()) {
    if (version >= 0) {
      return InvalidArgument("requested model version " + std::to_string(version) +
                             " is not available for model '" + name + "'");
    }
    return InvalidArgument("requested model '" + name + "' is not available");
  }
  return out;
}

size_t InferenceServer::Shutdown(std::chrono::milliseconds timeout) {
  if (shutting_down_.exchange(true)) return in_flight_.load();
  {
    std::unique_lock<std::mutex> lock(drain_mu_);
    drained_.wait_for(lock, timeout, [this] { return in_flight_.load() == 0; });
  }
  size_t left = in_flight_.load();
  if (left) NLOG(WARNING) << left << " requests still in flight at shutdown";
  manager_->StopAll();
  if (shm_->enabled()) (void)shm_->UnregisterAll();
  trace_->Flush();
  return left;
}

}  // namespace nereid::core
