#include "core/server.h"

#include <string>
#include <variant>

#include "common/logging.h"
#include "core/request/classification.h"
#include "core/shm/shm_tensors.h"

namespace nereid::core {

InferenceServer::InferenceServer(ServerOptions options, std::unique_ptr<ModelManager> manager,
                                 Clock& clock, std::unique_ptr<TraceManager> trace,
                                 std::unique_ptr<ResponseCache> cache)
    : options_(std::move(options)),
      manager_(std::move(manager)),
      clock_(clock),
      shm_(std::make_unique<SystemSharedMemoryRegistry>(options_.allow_client_shm)),
      trace_(std::move(trace)),
      cache_(std::move(cache)) {}

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
  if (auto it = request->parameters.find("sequence_id"); it != request->parameters.end()) {
    if (const auto* u = std::get_if<uint64_t>(&it->second)) {
      request->sequence_id = *u;
    } else if (const auto* i = std::get_if<int64_t>(&it->second); i && *i >= 0) {
      request->sequence_id = static_cast<uint64_t>(*i);
    } else if (const auto* str = std::get_if<std::string>(&it->second)) {
      request->sequence_id_string = *str;
    } else {
      return InvalidArgument(
          "request parameter 'sequence_id' must be a non-negative integer or a string");
    }
  }
  for (const char* name : {"sequence_start", "sequence_end"}) {
    auto it = request->parameters.find(name);
    if (it == request->parameters.end()) continue;
    const auto* b = std::get_if<bool>(&it->second);
    if (!b) return InvalidArgument(std::string("request parameter '") + name + "' must be a bool");
    (std::string(name) == "sequence_start" ? request->sequence_start : request->sequence_end) = *b;
  }
  return Status::Ok();
}

// Points the shared-memory inputs of `request` at the copy of their bytes in
// `key` (see Infer) and makes the request keep the key alive: backends may
// hand out views of their inputs (identity) owned by buffer_owner.
void ReadShmInputsFromKey(const std::shared_ptr<const CacheKey>& key, InferenceRequest* request) {
  bool any = false;
  for (size_t i = 0; i < request->inputs.size(); ++i) {
    RequestInput& in = request->inputs[i];
    if (!UsesSharedMemory(in.parameters)) continue;
    in.tensor.data = key->input_data(i);
    any = true;
  }
  if (!any) return;
  struct Owners {
    std::shared_ptr<const void> previous;
    std::shared_ptr<const CacheKey> key;
  };
  auto owners = std::make_shared<Owners>();
  owners->previous = std::move(request->buffer_owner);
  owners->key = key;
  request->buffer_owner = std::move(owners);
}

// What a request that missed the cache needs to insert its response. Shared
// with its completion callback; cleared (no insertion) when the request is
// sent to a version other than the one its key names.
struct PendingInsert {
  std::shared_ptr<const CacheKey> key;
  std::shared_ptr<ModelStatistics> stats;  // not the Model: see Infer
  uint64_t lookup_ns = 0;
};

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
  mo.rate_limiter =
      std::make_shared<RateLimiter>(options.rate_limit, options.rate_limit_resources);
  if (!options.startup_models.empty() && options.control_mode != ModelControlMode::kExplicit) {
    return InvalidArgument("--load-model needs --model-control-mode=explicit");
  }
  if (options.control_mode == ModelControlMode::kPoll && options.poll_interval.count() <= 0) {
    return InvalidArgument("--repository-poll-secs must be positive in poll mode");
  }
  std::unique_ptr<ResponseCache> cache;
  if (options.response_cache) {
    ASSIGN_OR_RETURN(cache, ResponseCache::Create(*options.response_cache, clock));
    mo.response_cache = true;
  }
  std::unique_ptr<InferenceServer> server(new InferenceServer(
      std::move(options), nullptr, clock, std::move(trace), std::move(cache)));
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
  if (valid.ok() && (*model)->config().model_transaction_policy().decoupled() &&
      !request->accepts_many_responses) {
    valid = InvalidArgument("model '" + request->model_name +
                            "' is decoupled (it may send any number of responses per request); "
                            "call it over gRPC ModelStreamInfer, not this endpoint");
  }
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

  // Response cache lookup, before the scheduler.
  std::unique_ptr<InferenceResponse> cached;
  std::shared_ptr<PendingInsert> pending;
  uint64_t lookup_start_ns = 0;
  if (cache_ && (*model)->response_cache_enabled()) {
    lookup_start_ns = clock_.NowNs();
    auto key = CacheKey::FromRequest(*request, (*model)->generation());
    ReadShmInputsFromKey(key, request.get());
    cached = cache_->Lookup(*key);
    if (!cached) {
      pending = std::make_shared<PendingInsert>();
      pending->key = std::move(key);
      pending->stats = (*model)->shared_statistics();
      pending->lookup_ns = clock_.NowNs() - lookup_start_ns;
    }
  }

  in_flight_.fetch_add(1);
  // Wrap the callback so the drain counter falls however the request ends.
  // The callback deliberately holds no reference to the Model: it runs on the
  // model's own instance thread, which must never be the one to destroy it.
  ResponseCallback inner = request->TakeCallback();
  request->set_callback([this, inner = std::move(inner), shm = std::move(shm_outputs).value(),
                         classify = std::move(classify).value(), batched, pending,
                         trace = request->trace](std::unique_ptr<InferenceResponse> response) {
    // Insert the raw outputs, before the per-request post-processing below
    // replaces or redirects them. Errors are never cached.
    if (pending && pending->key && response->status.ok()) {
      const uint64_t insert_start_ns = clock_.NowNs();
      Status inserted = cache_->Insert(pending->key, *response);
      if (!inserted.ok() && inserted.code() != StatusCode::kAlreadyExists) {
        NLOG_VERBOSE(1) << "response of model '" << response->model_name
                        << "' not cached: " << inserted.message();
      }
      pending->stats->RecordCacheMiss(pending->lookup_ns + clock_.NowNs() - insert_start_ns);
    }
    // Post-processing that both front ends share: classification first, so
    // a classified output can also go to shared memory.
    if (response->status.ok() && !response->flags_only && !(classify.empty() && shm.empty())) {
      Status st = ApplyClassifications(classify, batched, response.get());
      if (st.ok()) st = WriteShmOutputs(shm, response.get());
      if (!st.ok()) {
        response->status = st;
        response->outputs.clear();
      }
    }
    const bool final = response->final;  // decoupled models send several
    if (final && trace) trace->Record("REQUEST_END");
    if (inner) inner(std::move(response));
    if (final) FinishOne();
  });
  if (request->trace) request->trace->set_model_version(request->resolved_version);
  if (cached) {
    // A hit counts as a success that waited in no queue and ran nothing.
    const uint64_t now = clock_.NowNs();
    (*model)->statistics().RecordCacheHit(request->received_ns, lookup_start_ns, now, now);
    (*model)->CompleteWithoutExecuting(std::move(request), std::move(cached));
    return;
  }
  if (request->trace) request->trace->Record("QUEUE_START");
  // A reload or unload may stop the version between Get and enqueueing; the
  // request then goes to the version that replaced it, or fails cleanly.
  for (int attempt = 0; attempt < 8; ++attempt) {
    if ((*model)->TryEnqueue(request)) return;
    // The key names the stopped version: the new one's response must not be
    // inserted under it.
    if (pending) pending->key.reset();
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
