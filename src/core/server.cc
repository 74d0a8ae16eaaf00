#include "core/server.h"

#include "common/logging.h"
#include "core/request/classification.h"
#include "core/shm/shm_tensors.h"

namespace nereid::core {

InferenceServer::InferenceServer(ServerOptions options, std::unique_ptr<ModelManager> manager,
                                 std::unique_ptr<TraceManager> trace)
    : options_(std::move(options)),
      manager_(std::move(manager)),
      shm_(std::make_unique<SystemSharedMemoryRegistry>(options_.allow_client_shm)),
      trace_(std::move(trace)) {}

InferenceServer::~InferenceServer() { Shutdown(std::chrono::milliseconds(0)); }

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
  auto manager = std::make_unique<ModelManager>(mo, std::move(backends), clock);
  RETURN_IF_ERROR(manager->LoadAll());
  return std::unique_ptr<InferenceServer>(
      new InferenceServer(std::move(options), std::move(manager), std::move(trace)));
}

std::string InferenceServer::Version() { return "0.1.0"; }

std::vector<std::string> InferenceServer::Extensions() {
  return {"binary_tensor_data", "model_configuration", "parameters",
          "system_shared_memory", "classification",      "trace"};
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
  if (request->trace) request->trace->Record("REQUEST_START");
  if (shutting_down_.load()) {
    request->CompleteWithError(Unavailable("the server is shutting down"));
    return;
  }
  auto model = manager_->Get(request->model_name, request->model_version);
  if (!model.ok()) {
    request->CompleteWithError(model.status());
    return;
  }
  Status valid = BindShmInputs(*shm_, request.get());
  if (valid.ok()) valid = (*model)->Validate(request.get());
  if (!valid.ok()) {
    request->CompleteWithError(valid);
    return;
  }
  auto shm_outputs = BindShmOutputs(*shm_, *request);
  if (!shm_outputs.ok()) {
    request->CompleteWithError(shm_outputs.status());
    return;
  }
  auto classify = CollectClassifications(*request, **model);
  if (!classify.ok()) {
    request->CompleteWithError(classify.status());
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
  (*model)->Enqueue(std::move(request));
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
