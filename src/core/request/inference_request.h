// InferenceRequest / InferenceResponse: what flows from a front end through
// the scheduler to a backend instance and back.
//
// Ownership: a request travels as unique_ptr. Whoever holds it last must
// complete it exactly once, also on failure, by calling Complete() with a
// response. Input tensors are views; `buffer_owner` keeps the bytes they point
// into (typically the received HTTP body) alive for the request's life.
//
// Thread safety: a request is used by one thread at a time (handed over,
// never shared).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "common/status.h"
#include "common/tensor.h"

namespace nereid::core {

// A request/tensor parameter (KServe InferParameter plus Triton's double and
// uint64 forms).
using Parameter = std::variant<bool, int64_t, std::string, double, uint64_t>;
using ParameterMap = std::map<std::string, Parameter>;

struct RequestInput {
  std::string name;
  TensorView tensor;
  ParameterMap parameters;
};

struct RequestedOutput {
  std::string name;
  ParameterMap parameters;  // e.g. binary_data; interpreted by the front end
};

struct ResponseOutput {
  std::string name;
  Tensor tensor;
  // Set by core for outputs written into client shared memory: front ends
  // send name, datatype, shape and `parameters`, but not the data.
  bool in_shared_memory = false;
  ParameterMap parameters = {};
};

struct InferenceResponse {
  std::string model_name;
  int64_t model_version = 0;
  std::string id;
  Status status;
  ParameterMap parameters;
  std::vector<ResponseOutput> outputs;
  // A request gets exactly one response, unless its model is decoupled: then
  // zero or more, the last with `final` set. A `flags_only` response carries
  // no outputs, only the end of the request (Triton's empty final response).
  bool final = true;
  bool flags_only = false;
};

class InferenceRequest;
class Trace;
using ResponseCallback = std::function<void(std::unique_ptr<InferenceResponse>)>;

class InferenceRequest {
 public:
  InferenceRequest() = default;
  InferenceRequest(const InferenceRequest&) = delete;
  InferenceRequest& operator=(const InferenceRequest&) = delete;
  // A request destroyed without Complete() answers with an Internal error so
  // that no client ever waits forever.
  ~InferenceRequest();

  std::string model_name;
  int64_t model_version = -1;  // -1: the latest ready version
  std::string id;
  ParameterMap parameters;
  std::vector<RequestInput> inputs;
  // Empty: every output of the model.
  std::vector<RequestedOutput> requested_outputs;
  std::shared_ptr<const void> buffer_owner;
  // Set when the request was sampled for tracing (core/trace).
  std::shared_ptr<Trace> trace;

  // Filled by core when the request is accepted.
  int64_t batch_size = 0;  // 0 when the model does not batch
  int64_t resolved_version = 0;
  uint64_t received_ns = 0;  // Clock::NowNs when core accepted it (statistics)
  uint64_t enqueue_ns = 0;

  // Scheduling, from Triton's reserved request parameters "priority" and
  // "timeout" (microseconds), read by core: 0 means the model's default
  // priority level / queue policy timeout.
  uint64_t priority = 0;
  uint64_t timeout_us = 0;
  // Sequence batching, from the reserved parameters "sequence_id" (uint64
  // or string; 0 / empty = none), "sequence_start" and "sequence_end".
  uint64_t sequence_id = 0;
  std::string sequence_id_string;
  bool sequence_start = false;
  bool sequence_end = false;
  // Set by the front end when the client has gone (a cancelled gRPC call,
  // a closed HTTP connection): a request still queued is then completed as
  // CANCELLED instead of executing. Null when the front end cannot tell.
  std::shared_ptr<std::atomic<bool>> cancelled;
  // Set by front ends that can deliver several responses to one request
  // (gRPC ModelStreamInfer); decoupled models accept only such requests.
  bool accepts_many_responses = false;
  bool is_cancelled() const { return cancelled && cancelled->load(std::memory_order_relaxed); }

  // Told the compute durations (ns) the model recorded for this request when
  // it succeeds, just before the callback runs. The ensemble scheduler sets
  // it on the requests of its steps: an ensemble reports the sums of its
  // steps' compute_input / compute_infer / compute_output, as Triton does.
  using ComputeObserver =
      std::function<void(uint64_t compute_input_ns, uint64_t compute_infer_ns,
                         uint64_t compute_output_ns)>;
  ComputeObserver compute_observer;

  void set_callback(ResponseCallback cb) { callback_ = std::move(cb); }
  ResponseCallback TakeCallback() { return std::exchange(callback_, nullptr); }
  bool completed() const { return !callback_; }

  // Delivers `response` (filling model name, version and id) to the
  // callback as the request's last response. Later calls are ignored.
  void Complete(std::unique_ptr<InferenceResponse> response) { Respond(std::move(response), true); }
  // Decoupled models: delivers one of several responses; `final` ends the
  // request (the callback is then released).
  void Respond(std::unique_ptr<InferenceResponse> response, bool final);
  // Decoupled models: ends the request without another response.
  void FinishWithoutResponse();
  // Convenience: completes with an error.
  void CompleteWithError(Status status);

  const RequestInput* FindInput(const std::string& name) const;

 private:
  ResponseCallback callback_;
};

}  // namespace nereid::core
