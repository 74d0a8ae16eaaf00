#include "backends/python/python_instance.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "common/logging.h"

namespace nereid::backends::python {

using Clock = std::chrono::steady_clock;

struct PythonInstance::Connection {
  std::unique_ptr<WorkerProcess> proc;
  std::shared_ptr<const PythonModelInfo> info;
  std::string label;
  std::function<void(std::unique_ptr<core::InferenceRequest>)> submit;

  std::mutex mu;
  std::condition_variable cv;
  // Requests the worker still owes responses, by key.
  std::map<uint64_t, std::unique_ptr<core::InferenceRequest>> pending;  // guarded by mu
  bool have_done = false;     // guarded by mu (decoupled: set by the reader)
  Frame done;                 // guarded by mu
  bool finalized = false;     // guarded by mu
  bool closed = false;        // guarded by mu: the worker is gone
  Status close_reason;        // guarded by mu
};

namespace {

using Connection = PythonInstance::Connection;

std::string Op(const rapidjson::Document& doc) {
  if (doc.IsObject() && doc.HasMember("op") && doc["op"].IsString()) return doc["op"].GetString();
  return "";
}

// Completes every request the worker still owes with `status`.
void FailPending(Connection& c, const Status& status) {
  std::map<uint64_t, std::unique_ptr<core::InferenceRequest>> owed;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    owed.swap(c.pending);
  }
  for (auto& [key, request] : owed) request->CompleteWithError(status);
}

void HandleLog(const Connection& c, const rapidjson::Document& doc) {
  std::string level = doc.HasMember("level") && doc["level"].IsString() ? doc["level"].GetString()
                                                                          : "INFO";
  std::string message =
      doc.HasMember("message") && doc["message"].IsString() ? doc["message"].GetString() : "";
  if (level == "ERROR") {
    NLOG(ERROR) << c.label << ": " << message;
  } else if (level == "WARNING") {
    NLOG(WARNING) << c.label << ": " << message;
  } else if (level == "VERBOSE") {
    NLOG_VERBOSE(1) << c.label << ": " << message;
  } else {
    NLOG(INFO) << c.label << ": " << message;
  }
}

// A response sent through a request's response sender.
void HandleResponse(Connection& c, const rapidjson::Document& doc, const Frame& frame) {
  if (!doc.HasMember("key") || !doc["key"].IsUint64()) return;
  const uint64_t key = doc["key"].GetUint64();
  // A non-decoupled request gets exactly one response, whatever the flags.
  const bool final = !c.info->decoupled ||
                     (doc.HasMember("flags") && doc["flags"].IsUint() && (doc["flags"].GetUint() & 1));
  std::unique_ptr<core::InferenceRequest> request;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.pending.find(key);
    if (it == c.pending.end()) {
      NLOG(WARNING) << c.label << ": a response for a request that already ended was dropped";
      return;
    }
    // Only this thread handles frames, so taking the request out and putting
    // it back cannot race another response; FailPending runs on this thread too.
    request = std::move(it->second);
    c.pending.erase(it);
  }
  const bool has_response = doc.HasMember("response") && doc["response"].IsObject();
  if (has_response) {
    auto response = DecodeResponse(doc["response"], {ByteSpan{}, frame.payload},
                                   &c.info->outputs, request->requested_outputs);
    if (response.ok()) {
      request->Respond(std::move(response).value(), final);
    } else {
      auto error = std::make_unique<core::InferenceResponse>();
      error->status = Internal("model '" + c.info->model_name +
                               "' sent a bad response: " + response.status().message());
      request->Respond(std::move(error), final);
    }
  } else if (final) {
    request->FinishWithoutResponse();
  }
  if (!final && !request->completed()) {
    std::lock_guard<std::mutex> lock(c.mu);
    c.pending.emplace(key, std::move(request));
  }
}

void SendBlsResponse(Connection& c, uint64_t id, const core::InferenceResponse* response,
                     bool final) {
  EncodedFrame f = EncodeBlsResponse(id, response, final);
  std::vector<PayloadPiece> pieces;
  for (const auto& [data, size] : f.pieces) pieces.push_back({data, size});
  // A worker that died meanwhile simply never reads it.
  (void)c.proc->Send(f.json, pieces);
}

// A BLS call from the model: runs it through the server like any request.
void HandleBls(const std::shared_ptr<Connection>& c, const Frame& frame) {
  uint64_t id = 0;
  auto request = DecodeBlsRequest(frame.json, frame.payload, &id);
  if (!request.ok() || !c->submit) {
    core::InferenceResponse error;
    error.status = request.ok() ? Unavailable("BLS calls need a running server")
                                : InvalidArgument("bad BLS request: " +
                                                  request.status().message());
    SendBlsResponse(*c, id, &error, true);
    return;
  }
  std::weak_ptr<Connection> weak = c;
  (*request)->set_callback([weak, id](std::unique_ptr<core::InferenceResponse> response) {
    if (auto conn = weak.lock()) SendBlsResponse(*conn, id, response.get(), response->final);
  });
  c->submit(std::move(request).value());
}

// Handles a frame that is not an answer to what the caller waits for;
// returns its op so the caller can see "done", "ready", ...
std::string Dispatch(const std::shared_ptr<Connection>& c, const Frame& frame,
                     rapidjson::Document* doc) {
  doc->Parse(frame.json.data(), frame.json.size());
  std::string op = Op(*doc);
  if (op == "response") {
    HandleResponse(*c, *doc, frame);
  } else if (op == "bls") {
    HandleBls(c, frame);
  } else if (op == "log") {
    HandleLog(*c, *doc);
  }
  return op;
}

std::string MessageOf(const rapidjson::Document& doc, const char* fallback) {
  if (doc.HasMember("message") && doc["message"].IsString()) return doc["message"].GetString();
  if (doc.HasMember("error") && doc["error"].IsString()) return doc["error"].GetString();
  return fallback;
}

}  // namespace

PythonInstance::PythonInstance(std::shared_ptr<const PythonModelInfo> info,
                               core::InstanceOptions options)
    : info_(std::move(info)), options_(std::move(options)) {
  label_ = "python model '" + info_->model_name + "' instance " + options_.name;
}

StatusOr<std::unique_ptr<PythonInstance>> PythonInstance::Create(
    std::shared_ptr<const PythonModelInfo> info, const core::InstanceOptions& options) {
  std::unique_ptr<PythonInstance> instance(new PythonInstance(std::move(info), options));
  RETURN_IF_ERROR(instance->StartWorker());
  return instance;
}

PythonInstance::~PythonInstance() {
  if (conn_) {
    std::shared_ptr<Connection> c = conn_;
    if (c->proc->Send(R"({"op":"finalize"})").ok()) {
      const auto deadline = Clock::now() + std::chrono::seconds(10);
      if (info_->decoupled) {
        std::unique_lock<std::mutex> lock(c->mu);
        c->cv.wait_until(lock, deadline, [&] { return c->finalized || c->closed; });
      } else {
        Frame frame;
        rapidjson::Document doc;
        while (c->proc->Receive(&frame, deadline).ok()) {
          if (Dispatch(c, frame, &doc) == "finalized") break;
        }
      }
    }
  }
  StopWorker(Unavailable("model '" + info_->model_name + "' was unloaded"));
}

Status PythonInstance::StartWorker() {
  WorkerProcess::Options wo;
  wo.interpreter = info_->interpreter;
  wo.script = info_->worker_script;
  wo.label = label_;
  wo.region_bytes = info_->region_bytes;
  ASSIGN_OR_RETURN(auto proc, WorkerProcess::Spawn(wo));
  auto c = std::make_shared<Connection>();
  c->proc = std::move(proc);
  c->info = info_;
  c->label = label_;
  c->submit = options_.submit;

  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  auto kv = [&w](const char* k, const std::string& v) {
    w.Key(k);
    w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
  };
  w.StartObject();
  kv("op", "init");
  kv("model_file", info_->model_file);
  w.Key("decoupled");
  w.Bool(info_->decoupled);
  w.Key("shm_size");
  w.Uint64(c->proc->region_size());
  w.Key("args");
  w.StartObject();
  kv("model_config", info_->config_json);
  kv("model_instance_kind", "CPU");
  kv("model_instance_name", options_.name);
  kv("model_instance_device_id", "0");
  kv("model_repository", info_->model_dir);
  kv("model_version", std::to_string(info_->version));
  kv("model_name", info_->model_name);
  w.EndObject();
  w.EndObject();
  Status sent = c->proc->Send(std::string_view(sb.GetString(), sb.GetSize()));

  const auto deadline = Clock::now() + info_->initialize_timeout;
  Frame frame;
  rapidjson::Document doc;
  while (sent.ok()) {
    Status got = c->proc->Receive(&frame, deadline);
    if (!got.ok()) {
      c->proc->Kill();
      if (got.code() == StatusCode::kDeadlineExceeded) {
        return Status(StatusCode::kDeadlineExceeded, "initialize() of python model '" + info_->model_name +
                                "' did not finish within " +
                                std::to_string(info_->initialize_timeout.count() / 1000) +
                                " s; its worker was killed");
      }
      return FailedPrecondition("the Python worker of model '" + info_->model_name + "' " +
                                c->proc->ExitDescription() +
                                " before initialize() finished (see the server log for its "
                                "output)");
    }
    const std::string op = Dispatch(c, frame, &doc);
    if (op == "ready") break;
    if (op == "error") {
      return InvalidArgument("python model '" + info_->model_name +
                             "': " + MessageOf(doc, "initialize() failed"));
    }
  }
  if (!sent.ok()) return sent;
  conn_ = c;
  if (info_->decoupled) reader_ = std::thread([this, c] { ReaderLoop(c); });
  return Status::Ok();
}

void PythonInstance::ReaderLoop(std::shared_ptr<Connection> c) {
  Frame frame;
  rapidjson::Document doc;
  Status status;
  while ((status = c->proc->Receive(&frame)).ok()) {
    const std::string op = Dispatch(c, frame, &doc);
    if (op == "done" || op == "finalized") {
      std::lock_guard<std::mutex> lock(c->mu);
      if (op == "done") {
        c->have_done = true;
        c->done = frame;
      } else {
        c->finalized = true;
      }
      c->cv.notify_all();
    }
  }
  Status reason;
  {
    std::lock_guard<std::mutex> lock(c->mu);
    reason = c->close_reason;
  }
  if (reason.ok()) {
    reason = Unavailable(label_ + ": the worker process " + c->proc->ExitDescription() +
                         "; it is restarted for the next request");
  }
  FailPending(*c, reason);
  std::lock_guard<std::mutex> lock(c->mu);
  c->closed = true;
  c->cv.notify_all();
}

void PythonInstance::StopWorker(const Status& reason) {
  if (!conn_) return;
  {
    std::lock_guard<std::mutex> lock(conn_->mu);
    if (conn_->close_reason.ok()) conn_->close_reason = reason;
  }
  conn_->proc->Kill();
  if (reader_.joinable()) reader_.join();
  FailPending(*conn_, reason);
  conn_.reset();
}

void PythonInstance::Execute(std::vector<std::unique_ptr<core::InferenceRequest>>& requests) {
  auto fail_all = [&](const Status& s) {
    for (auto& r : requests) {
      if (r) r->CompleteWithError(s);
    }
  };
  bool closed = false;  // the reader saw the worker go (decoupled models)
  if (conn_) {
    std::lock_guard<std::mutex> lock(conn_->mu);
    closed = conn_->closed;
  }
  if (closed) StopWorker(Unavailable(label_ + ": worker replaced"));
  if (!conn_) {
    Status started = StartWorker();
    if (!started.ok()) {
      fail_all(Unavailable(label_ + ": could not restart the worker process: " +
                           started.message()));
      return;
    }
  }
  std::shared_ptr<Connection> c = conn_;
  std::vector<uint64_t> keys;
  for (size_t i = 0; i < requests.size(); ++i) keys.push_back(next_key_++);
  size_t needed = 0;
  std::string json =
      EncodeExecute(requests, keys, c->proc->region(), c->proc->region_size(), &needed);
  if (json.empty()) {
    Status grown = c->proc->EnsureRegion(needed);
    if (!grown.ok()) {
      fail_all(grown);
      return;
    }
    json = EncodeExecute(requests, keys, c->proc->region(), c->proc->region_size(), &needed);
  }
  {
    std::lock_guard<std::mutex> lock(c->mu);
    c->have_done = false;
    for (size_t i = 0; i < requests.size(); ++i) c->pending.emplace(keys[i], std::move(requests[i]));
  }
  MarkInferStart();
  Status status = c->proc->Send(json);
  const auto deadline = Clock::now() + info_->execute_timeout;
  Frame done;
  // The "done" frame, parsed: by Dispatch on this thread, or below when the
  // reader thread received it (decoupled models).
  rapidjson::Document doc;
  if (status.ok() && !info_->decoupled) {
    while ((status = c->proc->Receive(&done, deadline)).ok()) {
      if (Dispatch(c, done, &doc) == "done") break;
    }
  } else if (status.ok()) {
    std::unique_lock<std::mutex> lock(c->mu);
    if (!c->cv.wait_until(lock, deadline, [&] { return c->have_done || c->closed; })) {
      status = Status(StatusCode::kDeadlineExceeded, "timed out");
    } else if (c->have_done) {
      done = std::move(c->done);
      doc.Parse(done.json.data(), done.json.size());
    } else {
      status = Unavailable("closed");
    }
  }
  MarkInferEnd();
  if (!status.ok()) {
    Status reason =
        status.code() == StatusCode::kDeadlineExceeded
            ? Unavailable(label_ + ": execute() did not return within " +
                          std::to_string(info_->execute_timeout.count() / 1000.0).substr(0, 5) +
                          " s; the worker process was killed and is restarted for the next "
                          "request")
            : Unavailable(label_ + ": the worker process " + c->proc->ExitDescription() +
                          " during execute(); it is restarted for the next request");
    StopWorker(reason);
    return;
  }

  auto take = [&](uint64_t key) {
    std::lock_guard<std::mutex> lock(c->mu);
    auto it = c->pending.find(key);
    std::unique_ptr<core::InferenceRequest> r;
    if (it != c->pending.end()) {
      r = std::move(it->second);
      c->pending.erase(it);
    }
    return r;
  };
  if (doc.HasMember("error") && doc["error"].IsString()) {
    const Status error = Internal("python model '" + info_->model_name +
                                  "': " + doc["error"].GetString());
    for (uint64_t key : keys) {
      if (auto r = take(key)) r->CompleteWithError(error);
    }
    return;
  }
  if (info_->decoupled) return;  // responses come through the senders
  if (doc.HasMember("shm_size") && doc["shm_size"].IsUint64()) {
    Status mapped = c->proc->RemapTo(doc["shm_size"].GetUint64());
    if (!mapped.ok()) {
      StopWorker(Internal(label_ + ": " + mapped.message()));
      return;
    }
  }
  const bool listed = doc.HasMember("responses") && doc["responses"].IsArray() &&
                      doc["responses"].Size() == keys.size();
  for (size_t i = 0; i < keys.size(); ++i) {
    auto r = take(keys[i]);
    if (!r) continue;  // answered through its response sender
    if (!listed) {
      r->CompleteWithError(Internal("python model '" + info_->model_name +
                                    "': execute() returned None but sent no response for "
                                    "this request"));
      continue;
    }
    auto response = DecodeResponse(doc["responses"][static_cast<rapidjson::SizeType>(i)],
                                   {ByteSpan{c->proc->region(), c->proc->region_size()}, nullptr},
                                   &info_->outputs, r->requested_outputs);
    if (!response.ok()) {
      r->CompleteWithError(Internal("python model '" + info_->model_name +
                                    "': execute() returned a bad response: " +
                                    response.status().message()));
    } else {
      r->Complete(std::move(response).value());
    }
  }
}

}  // namespace nereid::backends::python
