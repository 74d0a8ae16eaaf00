// The gRPC front end on gRPC's callback API.
//
// Why the callback API (not completion queues): every handler here either
// answers at once or hands a request to InferenceServer::Infer, whose
// completion callback runs on a model instance thread and finishes the RPC
// from there (Finish / StartWrite are thread-safe). gRPC's own event engine
// threads drive the I/O, so no thread is tied to a call and there is no
// completion-queue polling loop of ours to size, tag or shut down.
//
// ModelInfer and ModelStreamInfer are registered as raw (ByteBuffer) methods
// and parse the message themselves: gRPC 1.51's callback handler answers a
// message that fails to parse with an empty UNIMPLEMENTED, which tells a
// client nothing; we answer INVALID_ARGUMENT "malformed ModelInferRequest"
// (and, on a stream, an error_message, after which the stream goes on). The
// parsed message is heap-owned and kept alive by the request (raw inputs are
// views into it).
//
// Streams (ModelStreamInfer): one read is outstanding at a time, issued after the
// previous request was handed to the server (requests reach the schedulers in
// stream order, which sequences rely on); each request
// gets a slot in a FIFO, and slots are written in that order once their
// response is ready, with one write outstanding. A bad request becomes an
// error_message in its slot and the stream goes on. The reactor is deleted
// when gRPC is done with it (OnDone) AND no inference still holds it.
#include "server/grpc/grpc_server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <atomic>
#include <deque>
#include <fstream>
#include <mutex>
#include <sstream>

#include "common/logging.h"
#include "grpc_service.grpc.pb.h"
#include "health.grpc.pb.h"
#include "server/grpc/infer_codec.h"
#include "server/kserve/kserve.h"
#include "server/kserve/trace_settings.h"
#include "server/kserve/repository.h"

namespace nereid::server::grpc {
namespace {

namespace inf = ::inference;
namespace health = ::grpc::health::v1;
using ::grpc::CallbackServerContext;
using ::grpc::ServerUnaryReactor;

::grpc::Status ToGrpc(const Status& s) {
  if (s.ok()) return ::grpc::Status::OK;
  return ::grpc::Status(static_cast<::grpc::StatusCode>(GrpcCodeFor(s.code())),
                        std::string(s.message()));
}

ServerUnaryReactor* Answer(CallbackServerContext* ctx, const Status& s) {
  ServerUnaryReactor* r = ctx->DefaultReactor();
  r->Finish(ToGrpc(s));
  return r;
}

Status ParseInferMessage(const ::grpc::ByteBuffer& bytes, inf::ModelInferRequest* msg) {
  ::grpc::ByteBuffer copy(bytes);  // shares the slices; the reader needs a mutable buffer
  ::grpc::ProtoBufferReader reader(&copy);
  if (!msg->ParseFromZeroCopyStream(&reader)) {
    return InvalidArgument("malformed ModelInferRequest: the message is not valid protobuf");
  }
  return Status::Ok();
}

template <typename Message>
Status Serialize(const Message& msg, ::grpc::ByteBuffer* out) {
  bool own = false;
  ::grpc::Status s = ::grpc::SerializationTraits<Message>::Serialize(msg, out, &own);
  if (!s.ok()) return Internal("cannot serialize the response: " + s.error_message());
  return Status::Ok();
}

// Keeps the parsed message (which raw inputs view) and decoded typed
// contents alive for the request's life.
struct RequestOwner {
  std::shared_ptr<inf::ModelInferRequest> msg;
  std::shared_ptr<const void> decoded;
};

// Samples a decoded request for tracing (one atomic load when tracing is off).
std::shared_ptr<core::Trace> StartTrace(core::InferenceServer* server,
                                        core::InferenceRequest* request) {
  request->trace = server->trace().Start(request->model_name);
  if (request->trace) request->trace->Record("GRPC_WAITREAD_END");
  return request->trace;
}

// Repository request parameters in the protocol-neutral form (bytes_param
// carries a file's bytes as they are).
Parameters RepositoryParameters(
    const google::protobuf::Map<std::string, inf::ModelRepositoryParameter>& in) {
  Parameters out;
  for (const auto& [name, p] : in) {
    switch (p.parameter_choice_case()) {
      case inf::ModelRepositoryParameter::kBoolParam:
        out.emplace_back(name, p.bool_param());
        break;
      case inf::ModelRepositoryParameter::kInt64Param:
        out.emplace_back(name, p.int64_param());
        break;
      case inf::ModelRepositoryParameter::kStringParam:
        out.emplace_back(name, p.string_param());
        break;
      case inf::ModelRepositoryParameter::kBytesParam:
        out.emplace_back(name, p.bytes_param());
        break;
      default:
        out.emplace_back(name, std::string());
        break;
    }
  }
  return out;
}

// Load/unload name no repository (there is one namespace of models).
Status CheckNoRepositoryName(const std::string& repository_name) {
  if (repository_name.empty()) return Status::Ok();
  return Unimplemented("repository_name is not supported: models are loaded from the server's "
                       "repositories");
}

StatusOr<std::shared_ptr<core::Model>> FindModel(core::InferenceServer* server,
                                                 const std::string& name,
                                                 const std::string& version) {
  ASSIGN_OR_RETURN(int64_t v, ParseModelVersion(version));
  return server->GetModel(name, v);
}

// ---- ModelStreamInfer ----

// ModelInfer's reactor: a cancelled call (the client gave up or its deadline
// passed) marks its request, so a request still queued is dropped, not run.
class InferReactor final : public ServerUnaryReactor {
 public:
  std::shared_ptr<std::atomic<bool>> cancelled = std::make_shared<std::atomic<bool>>(false);
  void OnCancel() override { cancelled->store(true); }
  void OnDone() override { delete this; }
};

class StreamReactor final
    : public ::grpc::ServerBidiReactor<::grpc::ByteBuffer, ::grpc::ByteBuffer> {
 public:
  StreamReactor(core::InferenceServer* server, grpc_compression_level level,
                CallbackServerContext* ctx)
      : server_(server) {
    if (level != GRPC_COMPRESS_LEVEL_NONE) ctx->set_compression_level(level);
    NextRead();
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client half-closed (or the call ended)
      std::lock_guard lock(mu_);
      reads_done_ = true;
      MaybeFinishLocked();
      return;
    }
    auto msg = std::make_shared<inf::ModelInferRequest>();
    Status parsed = ParseInferMessage(reading_, msg.get());
    reading_.Clear();
    auto pr = std::make_shared<PerRequest>();
    {
      std::lock_guard lock(mu_);
      pr->reserved = &slots_.emplace_back();  // deque: references survive push_back/pop_front
      ++in_flight_;
    }
    auto request = std::make_unique<core::InferenceRequest>();
    auto requested = std::make_shared<std::vector<std::string>>();
    Status decoded =
        parsed.ok() ? DecodeInferRequest(*msg, request.get(), requested.get()) : parsed;
    pr->model_name = msg->model_name();
    pr->model_version = msg->model_version();
    pr->id = msg->id();
    if (!decoded.ok()) {
      NextRead();
      return OnResponse(pr, decoded, nullptr, {});
    }
    if (auto it = msg->parameters().find("triton_enable_empty_final_response");
        it != msg->parameters().end()) {
      pr->empty_final = it->second.bool_param();
    }
    request->buffer_owner = std::make_shared<RequestOwner>(
        RequestOwner{std::move(msg), std::move(request->buffer_owner)});
    request->cancelled = cancelled_;
    request->accepts_many_responses = true;
    std::shared_ptr<core::Trace> trace = StartTrace(server_, request.get());
    request->set_callback([this, pr, requested, trace = std::move(trace)](
                              std::unique_ptr<core::InferenceResponse> r) {
      if (trace && r->final) trace->Record("GRPC_SEND_START");
      OnResponse(pr, r->status, r.get(), *requested);
      // `this` may be gone here: only the trace is touched.
      if (trace && r->final) trace->Record("GRPC_SEND_END");
    });
    // Enqueue before reading the next request: the stream's requests reach
    // the schedulers in the order they were sent (sequences depend on it).
    // Infer never blocks, and the reactor cannot go away while a read is due.
    server_->Infer(std::move(request));
    NextRead();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    slots_.pop_front();
    if (!ok) {  // the client is gone
      FinishLocked(::grpc::Status(::grpc::StatusCode::CANCELLED, "stream write failed"));
      return;
    }
    WriteNextLocked();
    MaybeFinishLocked();
  }

  void OnCancel() override {
    cancelled_->store(true);  // requests of this stream still queued are dropped
    std::lock_guard lock(mu_);
    FinishLocked(::grpc::Status(::grpc::StatusCode::CANCELLED, "stream cancelled"));
  }

  void OnDone() override {
    bool last;
    {
      std::lock_guard lock(mu_);
      done_ = true;
      last = in_flight_ == 0;
    }
    if (last) delete this;
  }

 private:
  struct Slot {
    bool ready = false;
    bool skip = false;         // nothing to write (a decoupled request's silent end)
    ::grpc::ByteBuffer bytes;  // the serialized ModelStreamInferResponse
  };
  // One request of the stream. Its first response goes into the slot
  // reserved when it was read, so responses of non-decoupled requests keep
  // request order; further responses (decoupled models) are appended as they
  // come, so they may overtake requests read later.
  struct PerRequest {
    Slot* reserved = nullptr;  // guarded by mu_ once published
    bool reserved_used = false;  // guarded by mu_
    bool empty_final = false;  // triton_enable_empty_final_response
    std::string model_name, model_version, id;
  };

  void NextRead() { StartRead(&reading_); }

  // Called once per response, from any thread. `response` is null for a
  // request that failed before reaching core.
  void OnResponse(const std::shared_ptr<PerRequest>& pr, Status status,
                  const core::InferenceResponse* response,
                  const std::vector<std::string>& requested) {
    const bool final = !response || response->final;
    const bool flags_only = response && response->flags_only;
    const bool skip = flags_only && !pr->empty_final;
    ::grpc::ByteBuffer bytes;
    if (!skip) {
      inf::ModelStreamInferResponse msg;
      auto* out = msg.mutable_infer_response();
      if (status.ok() && !flags_only) {
        status = EncodeInferResponse(*response, requested, out);
      } else {
        out->set_model_name(pr->model_name);
        out->set_model_version(pr->model_version);
        out->set_id(pr->id);
      }
      if (!status.ok()) msg.set_error_message(std::string(status.message()));
      if (pr->empty_final) {
        (*out->mutable_parameters())["triton_final_response"].set_bool_param(final);
      }
      if (Status st = Serialize(msg, &bytes); !st.ok()) {
        msg.Clear();
        msg.set_error_message(std::string(st.message()));
        (void)Serialize(msg, &bytes);
      }
    }
    bool last;
    {
      std::lock_guard lock(mu_);
      Slot* slot = nullptr;
      if (!pr->reserved_used) {
        slot = pr->reserved;
        pr->reserved_used = true;
      } else if (!skip) {
        slot = &slots_.emplace_back();
      }
      if (slot) {
        slot->bytes = std::move(bytes);
        slot->skip = skip;
        slot->ready = true;
      }
      if (final) --in_flight_;
      WriteNextLocked();
      MaybeFinishLocked();
      last = done_ && in_flight_ == 0;
    }
    if (last) delete this;
  }

  void WriteNextLocked() {
    if (writing_ || finished_) return;
    while (!slots_.empty() && slots_.front().ready && slots_.front().skip) slots_.pop_front();
    if (slots_.empty() || !slots_.front().ready) return;
    writing_ = true;
    StartWrite(&slots_.front().bytes);
  }

  void MaybeFinishLocked() {
    if (reads_done_ && slots_.empty() && !writing_ && in_flight_ == 0) {
      FinishLocked(::grpc::Status::OK);
    }
  }

  void FinishLocked(const ::grpc::Status& s) {
    if (finished_) return;
    finished_ = true;
    Finish(s);
  }

  core::InferenceServer* const server_;
  const std::shared_ptr<std::atomic<bool>> cancelled_ = std::make_shared<std::atomic<bool>>(false);
  ::grpc::ByteBuffer reading_;  // touched only by the read chain (one read at a time)
  std::mutex mu_;
  std::deque<Slot> slots_;
  int in_flight_ = 0;  // requests (and decode errors) whose final response has not come
  bool writing_ = false;
  bool reads_done_ = false;
  bool finished_ = false;
  bool done_ = false;
};

// ---- inference.GRPCInferenceService ----

using GIS = inf::GRPCInferenceService;
// Every method on the callback API; ModelInfer and ModelStreamInfer raw (see top).
using ServiceBase = GIS::WithCallbackMethod_ServerLive<GIS::WithCallbackMethod_ServerReady<
    GIS::WithCallbackMethod_ModelReady<GIS::WithCallbackMethod_ServerMetadata<
        GIS::WithCallbackMethod_ModelMetadata<GIS::WithRawCallbackMethod_ModelInfer<
            GIS::WithRawCallbackMethod_ModelStreamInfer<GIS::WithCallbackMethod_ModelConfig<
                GIS::WithCallbackMethod_ModelStatistics<GIS::WithCallbackMethod_RepositoryIndex<
                    GIS::WithCallbackMethod_RepositoryModelLoad<
                        GIS::WithCallbackMethod_RepositoryModelUnload<
                            GIS::WithCallbackMethod_SystemSharedMemoryStatus<
                                GIS::WithCallbackMethod_SystemSharedMemoryRegister<
                                    GIS::WithCallbackMethod_SystemSharedMemoryUnregister<
                                        GIS::WithCallbackMethod_CudaSharedMemoryStatus<
                                            GIS::WithCallbackMethod_CudaSharedMemoryRegister<
                                                GIS::WithCallbackMethod_CudaSharedMemoryUnregister<
                                                    GIS::WithCallbackMethod_TraceSetting<
                                                        GIS::WithCallbackMethod_LogSettings<
                                                            GIS::Service>>>>>>>>>>>>>>>>>>>>;

class InferenceService final : public ServiceBase {
 public:
  InferenceService(core::InferenceServer* server, grpc_compression_level level)
      : server_(server), level_(level) {}

  ServerUnaryReactor* ServerLive(CallbackServerContext* ctx, const inf::ServerLiveRequest*,
                                 inf::ServerLiveResponse* resp) override {
    resp->set_live(server_->IsLive());
    return Answer(ctx, Status::Ok());
  }

  ServerUnaryReactor* ServerReady(CallbackServerContext* ctx, const inf::ServerReadyRequest*,
                                  inf::ServerReadyResponse* resp) override {
    resp->set_ready(server_->IsReady());
    return Answer(ctx, Status::Ok());
  }

  ServerUnaryReactor* ModelReady(CallbackServerContext* ctx, const inf::ModelReadyRequest* req,
                                 inf::ModelReadyResponse* resp) override {
    auto version = ParseModelVersion(req->version());
    if (!version.ok()) return Answer(ctx, version.status());
    resp->set_ready(server_->GetModel(req->name(), *version).ok());
    return Answer(ctx, Status::Ok());
  }

  ServerUnaryReactor* ServerMetadata(CallbackServerContext* ctx, const inf::ServerMetadataRequest*,
                                     inf::ServerMetadataResponse* resp) override {
    resp->set_name(server_->id());
    resp->set_version(core::InferenceServer::Version());
    for (const auto& e : core::InferenceServer::Extensions()) resp->add_extensions(e);
    return Answer(ctx, Status::Ok());
  }

  ServerUnaryReactor* ModelMetadata(CallbackServerContext* ctx,
                                    const inf::ModelMetadataRequest* req,
                                    inf::ModelMetadataResponse* resp) override {
    auto model = FindModel(server_, req->name(), req->version());
    if (!model.ok()) return Answer(ctx, model.status());
    server::ModelMetadata md = BuildModelMetadata(**model, server_->ModelIndex());
    resp->set_name(md.name);
    for (const auto& v : md.versions) resp->add_versions(v);
    resp->set_platform(md.platform);
    auto add = [](const std::vector<TensorMetadata>& from, auto* to) {
      for (const auto& t : from) {
        auto* m = to->Add();
        m->set_name(t.name);
        m->set_datatype(t.datatype);
        for (int64_t d : t.shape) m->add_shape(d);
      }
    };
    add(md.inputs, resp->mutable_inputs());
    add(md.outputs, resp->mutable_outputs());
    return Answer(ctx, Status::Ok());
  }

  ServerUnaryReactor* ModelConfig(CallbackServerContext* ctx, const inf::ModelConfigRequest* req,
                                  inf::ModelConfigResponse* resp) override {
    auto model = FindModel(server_, req->name(), req->version());
    if (!model.ok()) return Answer(ctx, model.status());
    *resp->mutable_config() = (*model)->config();
    return Answer(ctx, Status::Ok());
  }

  ServerUnaryReactor* ModelInfer(CallbackServerContext* ctx, const ::grpc::ByteBuffer* req,
                                 ::grpc::ByteBuffer* resp) override {
    if (level_ != GRPC_COMPRESS_LEVEL_NONE) ctx->set_compression_level(level_);
    auto* reactor = new InferReactor();
    auto msg = std::make_shared<inf::ModelInferRequest>();
    auto request = std::make_unique<core::InferenceRequest>();
    auto requested = std::make_shared<std::vector<std::string>>();
    Status decoded = ParseInferMessage(*req, msg.get());
    if (decoded.ok()) decoded = DecodeInferRequest(*msg, request.get(), requested.get());
    if (!decoded.ok()) {
      reactor->Finish(ToGrpc(decoded));
      return reactor;
    }
    request->buffer_owner = std::make_shared<RequestOwner>(
        RequestOwner{std::move(msg), std::move(request->buffer_owner)});
    request->cancelled = reactor->cancelled;
    // `resp` lives until Finish.
    std::shared_ptr<core::Trace> trace = StartTrace(server_, request.get());
    request->set_callback([reactor, resp, requested, trace = std::move(trace)](
                              std::unique_ptr<core::InferenceResponse> r) {
      if (trace) trace->Record("GRPC_SEND_START");
      Status s = r->status;
      inf::ModelInferResponse out;
      if (s.ok()) s = EncodeInferResponse(*r, *requested, &out);
      if (s.ok()) s = Serialize(out, resp);
      reactor->Finish(ToGrpc(s));
      if (trace) trace->Record("GRPC_SEND_END");
    });
    server_->Infer(std::move(request));
    return reactor;
  }

  ::grpc::ServerBidiReactor<::grpc::ByteBuffer, ::grpc::ByteBuffer>* ModelStreamInfer(
      CallbackServerContext* ctx) override {
    return new StreamReactor(server_, level_, ctx);
  }

  ServerUnaryReactor* RepositoryIndex(CallbackServerContext* ctx,
                                      const inf::RepositoryIndexRequest* req,
                                      inf::RepositoryIndexResponse* resp) override {
    if (!req->repository_name().empty()) {
      return Answer(ctx, Unimplemented("repository_name is not supported: the index covers "
                                       "every repository"));
    }
    for (const auto& e : server_->ModelIndex()) {
      if (req->ready() && e.state != core::ModelState::kReady) continue;
      auto* m = resp->add_models();
      m->set_name(e.name);
      if (e.version >= 0) m->set_version(std::to_string(e.version));
      m->set_state(std::string(core::ModelStateName(e.state)));
      m->set_reason(e.reason);
    }
    return Answer(ctx, Status::Ok());
  }

  ServerUnaryReactor* CudaSharedMemoryStatus(CallbackServerContext* ctx,
                                             const inf::CudaSharedMemoryStatusRequest* req,
                                             inf::CudaSharedMemoryStatusResponse*) override {
    if (!req->name().empty()) {
      return Answer(
          ctx, NotFound("no CUDA shared memory region named '" + req->name() + "' is registered"));
    }
    return Answer(ctx, Status::Ok());  // none registered
  }

  ServerUnaryReactor* CudaSharedMemoryRegister(CallbackServerContext* ctx,
                                               const inf::CudaSharedMemoryRegisterRequest*,
                                               inf::CudaSharedMemoryRegisterResponse*) override {
    return Answer(ctx, Unimplemented("CUDA shared memory is not supported on this "
                                     "build/machine"));
  }

  ServerUnaryReactor* CudaSharedMemoryUnregister(
      CallbackServerContext* ctx, const inf::CudaSharedMemoryUnregisterRequest*,
      inf::CudaSharedMemoryUnregisterResponse*) override {
    return Answer(ctx, Status::Ok());  // nothing is ever registered
  }

  // The same snapshots and rules as GET /v2/models[/m[/versions/v]]/stats.
  ServerUnaryReactor* ModelStatistics(CallbackServerContext* ctx,
                                      const inf::ModelStatisticsRequest* req,
                                      inf::ModelStatisticsResponse* resp) override {
    auto version = ParseModelVersion(req->version());
    if (!version.ok()) return Answer(ctx, version.status());
    auto stats = server_->Statistics(req->name(), *version);
    if (!stats.ok()) return Answer(ctx, stats.status());
    auto duration = [](const core::DurationStat& d, inf::StatisticDuration* out) {
      out->set_count(d.count);
      out->set_ns(d.ns);
    };
    for (const core::ModelStatsSnapshot& s : *stats) {
      inf::ModelStatistics* m = resp->add_model_stats();
      m->set_name(s.name);
      m->set_version(std::to_string(s.version));
      m->set_last_inference(s.last_inference_ms);
      m->set_inference_count(s.inference_count);
      m->set_execution_count(s.execution_count);
      inf::InferStatistics* st = m->mutable_inference_stats();
      duration(s.success, st->mutable_success());
      duration(s.fail, st->mutable_fail());
      duration(s.queue, st->mutable_queue());
      duration(s.compute_input, st->mutable_compute_input());
      duration(s.compute_infer, st->mutable_compute_infer());
      duration(s.compute_output, st->mutable_compute_output());
      duration(s.cache_hit, st->mutable_cache_hit());
      duration(s.cache_miss, st->mutable_cache_miss());
      for (const core::BatchStat& b : s.batch_stats) {
        inf::InferBatchStatistics* bs = m->add_batch_stats();
        bs->set_batch_size(b.batch_size);
        duration(b.compute_input, bs->mutable_compute_input());
        duration(b.compute_infer, bs->mutable_compute_infer());
        duration(b.compute_output, bs->mutable_compute_output());
      }
    }
    return Answer(ctx, Status::Ok());
  }

  // Load/unload: the same checks (kserve/repository) and the same manager
  // control thread as HTTP; the call finishes when the manager does.
  ServerUnaryReactor* RepositoryModelLoad(CallbackServerContext* ctx,
                                          const inf::RepositoryModelLoadRequest* req,
                                          inf::RepositoryModelLoadResponse*) override {
    Status named = CheckNoRepositoryName(req->repository_name());
    if (!named.ok()) return Answer(ctx, named);
    auto params = BuildLoadParameters(RepositoryParameters(req->parameters()));
    if (!params.ok()) return Answer(ctx, params.status());
    ServerUnaryReactor* reactor = ctx->DefaultReactor();
    server_->LoadModelAsync(req->model_name(), std::move(params).value(),
                            [reactor](Status s) { reactor->Finish(ToGrpc(s)); });
    return reactor;
  }
  ServerUnaryReactor* RepositoryModelUnload(CallbackServerContext* ctx,
                                            const inf::RepositoryModelUnloadRequest* req,
                                            inf::RepositoryModelUnloadResponse*) override {
    Status named = CheckNoRepositoryName(req->repository_name());
    if (!named.ok()) return Answer(ctx, named);
    auto dependents = ParseUnloadDependents(RepositoryParameters(req->parameters()));
    if (!dependents.ok()) return Answer(ctx, dependents.status());
    ServerUnaryReactor* reactor = ctx->DefaultReactor();
    server_->UnloadModelAsync(req->model_name(), *dependents,
                              [reactor](Status s) { reactor->Finish(ToGrpc(s)); });
    return reactor;
  }
  // System shared memory and trace settings: the core registry / trace
  // manager the HTTP endpoints use, so both front ends see the same state.
  ServerUnaryReactor* SystemSharedMemoryStatus(CallbackServerContext* ctx,
                                               const inf::SystemSharedMemoryStatusRequest* req,
                                               inf::SystemSharedMemoryStatusResponse* resp) override {
    auto regions = server_->system_shared_memory().Regions(req->name());
    if (!regions.ok()) return Answer(ctx, regions.status());
    for (const auto& r : *regions) {
      auto& out = (*resp->mutable_regions())[r.name];
      out.set_name(r.name);
      out.set_key(r.key);
      out.set_offset(r.offset);
      out.set_byte_size(r.byte_size);
    }
    return Answer(ctx, Status::Ok());
  }
  ServerUnaryReactor* SystemSharedMemoryRegister(
      CallbackServerContext* ctx, const inf::SystemSharedMemoryRegisterRequest* req,
      inf::SystemSharedMemoryRegisterResponse*) override {
    return Answer(ctx, server_->system_shared_memory().Register(req->name(), req->key(),
                                                                 req->offset(), req->byte_size()));
  }
  ServerUnaryReactor* SystemSharedMemoryUnregister(
      CallbackServerContext* ctx, const inf::SystemSharedMemoryUnregisterRequest* req,
      inf::SystemSharedMemoryUnregisterResponse*) override {
    auto& shm = server_->system_shared_memory();
    return Answer(ctx, req->name().empty() ? shm.UnregisterAll() : shm.Unregister(req->name()));
  }
  ServerUnaryReactor* TraceSetting(CallbackServerContext* ctx, const inf::TraceSettingRequest* req,
                                   inf::TraceSettingResponse* resp) override {
    const std::string& model = req->model_name();
    if (!model.empty()) {
      auto m = server_->GetModel(model, -1);
      if (!m.ok() && m.status().code() == nereid::StatusCode::kNotFound) return Answer(ctx, m.status());
    }
    if (!req->settings().empty()) {
      std::vector<std::pair<std::string, TraceSettingValue>> settings;
      for (const auto& [key, value] : req->settings()) {
        TraceSettingValue v;  // an empty value list resets, as JSON null does
        if (value.value_size() > 0) v.emplace(value.value().begin(), value.value().end());
        settings.emplace_back(key, std::move(v));
      }
      auto update = ParseTraceSettingsUpdate(settings);
      if (!update.ok()) return Answer(ctx, update.status());
      Status st = server_->trace().Update(model, *update);
      if (!st.ok()) return Answer(ctx, st);
    }
    for (const auto& [key, values] : TraceSettingsToStrings(server_->trace().Settings(model))) {
      auto& out = (*resp->mutable_settings())[key];
      for (const auto& v : values) out.add_value(v);
    }
    return Answer(ctx, Status::Ok());
  }
  // Settings in the request are applied (all or nothing); the response has
  // the settings in force, as Triton answers.
  ServerUnaryReactor* LogSettings(CallbackServerContext* ctx, const inf::LogSettingsRequest* req,
                                  inf::LogSettingsResponse* resp) override {
    LogSettingsUpdate update;
    for (const auto& [name, value] : req->settings()) {
      using V = inf::LogSettingsRequest::SettingValue;
      auto want = [&](V::ParameterChoiceCase c, const char* type) -> Status {
        if (value.parameter_choice_case() == c) return Status::Ok();
        return InvalidArgument("log setting '" + name + "' must be a " + type);
      };
      Status st;
      if (name == "log_file") {
        st = want(V::kStringParam, "string");
        if (st.ok()) update.log_file = value.string_param();
      } else if (name == "log_info" || name == "log_warning" || name == "log_error") {
        st = want(V::kBoolParam, "bool");
        if (st.ok()) {
          (name == "log_info" ? update.log_info
           : name == "log_warning" ? update.log_warning
                                   : update.log_error) = value.bool_param();
        }
      } else if (name == "log_verbose_level") {
        st = want(V::kUint32Param, "uint32");
        if (st.ok()) update.log_verbose_level = value.uint32_param();
      } else if (name == "log_format") {
        st = want(V::kStringParam, "string");
        if (st.ok()) update.log_format = value.string_param();
      } else {
        st = InvalidArgument("unknown log setting '" + name + "'");
      }
      if (!st.ok()) return Answer(ctx, st);
    }
    Status applied = ApplyLogSettings(update);
    if (!applied.ok()) return Answer(ctx, applied);
    const server::LogSettings now = CurrentLogSettings();
    auto& out = *resp->mutable_settings();
    out["log_file"].set_string_param(now.log_file);
    out["log_info"].set_bool_param(now.log_info);
    out["log_warning"].set_bool_param(now.log_warning);
    out["log_error"].set_bool_param(now.log_error);
    out["log_verbose_level"].set_uint32_param(static_cast<uint32_t>(now.log_verbose_level));
    out["log_format"].set_string_param(now.log_format);
    return Answer(ctx, Status::Ok());
  }

 private:
  core::InferenceServer* const server_;
  const grpc_compression_level level_;
};

// ---- grpc.health.v1.Health ----

class HealthService final : public health::Health::CallbackService {
 public:
  explicit HealthService(core::InferenceServer* server) : server_(server) {}

  ServerUnaryReactor* Check(CallbackServerContext* ctx, const health::HealthCheckRequest* req,
                            health::HealthCheckResponse* resp) override {
    if (!Known(req->service())) {
      return Answer(ctx, NotFound("unknown service '" + req->service() + "'"));
    }
    resp->set_status(Current());
    return Answer(ctx, Status::Ok());
  }

  // Sends the current status once and ends the stream.
  ::grpc::ServerWriteReactor<health::HealthCheckResponse>* Watch(
      CallbackServerContext*, const health::HealthCheckRequest* req) override {
    class Once final : public ::grpc::ServerWriteReactor<health::HealthCheckResponse> {
     public:
      explicit Once(health::HealthCheckResponse::ServingStatus s) {
        resp_.set_status(s);
        StartWriteAndFinish(&resp_, ::grpc::WriteOptions(), ::grpc::Status::OK);
      }
      void OnDone() override { delete this; }

     private:
      health::HealthCheckResponse resp_;
    };
    return new Once(Known(req->service()) ? Current()
                                          : health::HealthCheckResponse::SERVICE_UNKNOWN);
  }

 private:
  static bool Known(const std::string& service) {
    return service.empty() || service == "inference.GRPCInferenceService";
  }
  health::HealthCheckResponse::ServingStatus Current() const {
    return server_->IsLive() && server_->IsReady() ? health::HealthCheckResponse::SERVING
                                                   : health::HealthCheckResponse::NOT_SERVING;
  }
  core::InferenceServer* const server_;
};

StatusOr<grpc_compression_level> CompressionLevel(const std::string& name) {
  if (name == "none") return GRPC_COMPRESS_LEVEL_NONE;
  if (name == "low") return GRPC_COMPRESS_LEVEL_LOW;
  if (name == "medium") return GRPC_COMPRESS_LEVEL_MED;
  if (name == "high") return GRPC_COMPRESS_LEVEL_HIGH;
  return InvalidArgument(
      "--grpc-infer-response-compression-level must be none, low, medium or "
      "high, got '" +
      name + "'");
}

StatusOr<std::string> ReadFile(const std::string& path, const char* flag) {
  if (path.empty()) return InvalidArgument(std::string(flag) + " is required with SSL");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (!in) return InvalidArgument(std::string("cannot read ") + flag + " file '" + path + "'");
  return ss.str();
}

StatusOr<std::shared_ptr<::grpc::ServerCredentials>> Credentials(const GrpcServerOptions& o) {
  if (!o.use_ssl && !o.use_ssl_mutual) return ::grpc::InsecureServerCredentials();
  ::grpc::SslServerCredentialsOptions ssl;
  ::grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  ASSIGN_OR_RETURN(pair.private_key, ReadFile(o.server_key, "--grpc-server-key"));
  ASSIGN_OR_RETURN(pair.cert_chain, ReadFile(o.server_cert, "--grpc-server-cert"));
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  if (o.use_ssl_mutual || !o.root_cert.empty()) {
    ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadFile(o.root_cert, "--grpc-root-cert"));
  }
  ssl.client_certificate_request = o.use_ssl_mutual
                                       ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                       : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  return ::grpc::SslServerCredentials(ssl);
}

}  // namespace

struct GrpcServer::Impl {
  Impl(core::InferenceServer* server, grpc_compression_level level)
      : inference(server, level), health(server) {}
  InferenceService inference;
  HealthService health;
  std::unique_ptr<::grpc::Server> server;
  int port = 0;
  bool stopped = false;
};

StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(const GrpcServerOptions& o,
                                                        core::InferenceServer* server) {
  ASSIGN_OR_RETURN(grpc_compression_level level,
                   CompressionLevel(o.infer_response_compression_level));
  ASSIGN_OR_RETURN(auto creds, Credentials(o));
  auto impl = std::make_unique<Impl>(server, level);
  std::string address = o.address.find(':') != std::string::npos && o.address[0] != '['
                            ? "[" + o.address + "]"
                            : o.address;
  address += ":" + std::to_string(o.port);
  ::grpc::ServerBuilder b;
  b.AddListeningPort(address, creds, &impl->port);
  b.RegisterService(&impl->inference);
  b.RegisterService(&impl->health);
  // Triton's limit, not gRPC's default 4 MiB (which refuses a batch of images).
  if (o.max_message_bytes <= 0) {
    return InvalidArgument("--grpc-max-message-size must be positive, got " +
                           std::to_string(o.max_message_bytes));
  }
  b.SetMaxReceiveMessageSize(o.max_message_bytes);
  b.SetMaxSendMessageSize(o.max_message_bytes);
  b.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, o.keepalive_time_ms);
  b.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, o.keepalive_timeout_ms);
  b.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS,
                       o.keepalive_permit_without_calls ? 1 : 0);
  b.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, o.http2_max_pings_without_data);
  b.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                       o.http2_min_recv_ping_interval_without_data_ms);
  b.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, o.http2_max_ping_strikes);
  impl->server = b.BuildAndStart();
  if (!impl->server || impl->port == 0) {
    return Unavailable("cannot start the gRPC server on " + address +
                       " (address in use or not available?)");
  }
  return std::unique_ptr<GrpcServer>(new GrpcServer(std::move(impl)));
}

GrpcServer::GrpcServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

GrpcServer::~GrpcServer() { Stop(std::chrono::milliseconds(0)); }

int GrpcServer::port() const { return impl_->port; }

void GrpcServer::Stop(std::chrono::milliseconds drain) {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->server->Shutdown(std::chrono::system_clock::now() + drain);
  impl_->server->Wait();
}

}  // namespace nereid::server::grpc
