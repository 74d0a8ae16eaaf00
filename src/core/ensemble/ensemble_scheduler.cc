#include "core/ensemble/ensemble_scheduler.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "core/trace/trace_manager.h"

namespace nereid::core {

// The state of one ensemble request while its steps run. Owned jointly by
// the step requests in flight (their callbacks hold it); whoever releases the
// last in-flight count finishes it.
struct EnsembleScheduler::Run {
  struct Slot {
    bool settled = false;  // produced, or known to be absent
    bool present = false;
    Tensor tensor;
    int64_t batch = 0;   // batch size; 0 when the producer does not batch
    size_t readers = 0;  // needed steps (and the response) that have yet to read it
  };

  std::unique_ptr<InferenceRequest> request;
  std::vector<bool> needed;           // steps that run
  std::vector<std::string> returned;  // outputs that go into the response
  uint64_t start_ns = 0;

  std::mutex mu;
  std::map<std::string, Slot> tensors;  // guarded by mu
  std::vector<size_t> missing;          // guarded by mu: per step, inputs not settled
  size_t in_flight = 0;                 // guarded by mu: steps running, +1 while scheduling
  Status status;                        // guarded by mu: the first failure
  uint64_t compute_input_ns = 0;        // guarded by mu: sums over the steps
  uint64_t compute_infer_ns = 0;
  uint64_t compute_output_ns = 0;
};

namespace {

uint64_t Span(uint64_t from, uint64_t to) { return to > from ? to - from : 0; }

bool Contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

EnsembleScheduler::EnsembleScheduler(std::shared_ptr<const EnsemblePlan> plan, Submit submit,
                                     Clock& clock, ModelStatistics* stats)
    : plan_(std::move(plan)), submit_(std::move(submit)), clock_(clock), stats_(stats) {}

EnsembleScheduler::~EnsembleScheduler() { Stop(); }

void EnsembleScheduler::Stop() {
  std::unique_lock<std::mutex> lock(mu_);
  stopping_ = true;
  idle_.wait(lock, [this] { return running_ == 0; });
}

void EnsembleScheduler::Enqueue(std::unique_ptr<InferenceRequest> request) {
  const uint64_t now = clock_.NowNs();
  if (request->received_ns == 0) request->received_ns = now;
  request->enqueue_ns = now;
  bool refused;
  {
    std::lock_guard<std::mutex> lock(mu_);
    refused = stopping_;
    if (!refused) ++running_;
  }
  if (refused) {
    if (stats_) stats_->RecordFailure(request->received_ns, now, FailureReason::kOther);
    request->CompleteWithError(Unavailable("model '" + plan_->name + "' is being unloaded"));
    return;
  }
  auto run = std::make_shared<Run>();
  run->start_ns = clock_.NowNs();
  if (request->trace) request->trace->Record("COMPUTE_START");
  std::vector<std::string> requested;
  for (const auto& out : request->requested_outputs) requested.push_back(out.name);
  run->needed = plan_->NeededSteps(requested);
  for (const auto& [name, dims] : plan_->outputs) {
    if (requested.empty() || Contains(requested, name)) run->returned.push_back(name);
  }
  run->missing.assign(plan_->steps.size(), 0);
  for (size_t i = 0; i < plan_->steps.size(); ++i) {
    if (!run->needed[i]) continue;
    std::set<std::string> reads;
    for (const auto& [input, tensor] : plan_->steps[i].inputs) reads.insert(tensor);
    run->missing[i] = reads.size();
    for (const auto& tensor : reads) run->tensors[tensor].readers += 1;
  }
  for (const auto& name : run->returned) run->tensors[name].readers += 1;
  run->request = std::move(request);

  std::vector<std::unique_ptr<InferenceRequest>> first;
  {
    std::lock_guard<std::mutex> lock(run->mu);
    std::vector<size_t> ready;
    for (const auto& name : plan_->inputs) {
      Run::Slot& slot = run->tensors[name];
      if (const RequestInput* in = run->request->FindInput(name)) {
        const TensorView& v = in->tensor;
        slot.present = true;
        slot.tensor =
            Tensor::Wrap(v.dtype, v.shape, v.data, v.byte_size, run->request->buffer_owner);
        slot.batch = plan_->batches ? run->request->batch_size : 0;
      }
      Settle(*run, name, &ready);
    }
    for (size_t s : ready) first.push_back(MakeStepRequest(run, s));
    // One count per step plus one for this call, so that steps completing
    // while the others are still being submitted cannot finish the run.
    run->in_flight = first.size() + 1;
  }
  SubmitAndRelease(run, std::move(first));
}

void EnsembleScheduler::Settle(Run& run, const std::string& tensor, std::vector<size_t>* ready) {
  Run::Slot& slot = run.tensors[tensor];
  if (slot.settled) return;
  slot.settled = true;
  if (slot.readers == 0) slot.tensor = Tensor();  // only pruned steps would read it
  auto it = plan_->consumers.find(tensor);
  if (it == plan_->consumers.end()) return;
  for (size_t step : it->second) {
    if (run.needed[step] && --run.missing[step] == 0) ready->push_back(step);
  }
}

std::unique_ptr<InferenceRequest> EnsembleScheduler::MakeStepRequest(
    const std::shared_ptr<Run>& run, size_t index) {
  const EnsembleStep& step = plan_->steps[index];
  const InferenceRequest& parent = *run->request;
  auto r = std::make_unique<InferenceRequest>();
  r->model_name = step.model_name;
  r->model_version = step.model_version;
  r->id = parent.id;
  r->parameters = parent.parameters;
  r->cancelled = parent.cancelled;
  // The step's input views stay valid as long as their owners do; the step's
  // outputs may be views of its inputs (identity), so the owners go with it.
  auto owners = std::make_shared<std::vector<std::shared_ptr<const void>>>();
  std::set<std::string> read;
  for (const auto& [input, tensor] : step.inputs) {
    read.insert(tensor);
    const Run::Slot& slot = run->tensors[tensor];
    if (!slot.present) continue;  // an absent optional tensor: the input is left out
    TensorView view = slot.tensor.view();
    auto dims = step.input_dims.find(input);
    if (dims != step.input_dims.end()) {
      view.shape = AdaptShape(dims->second, step.model_batches, slot.batch, view.shape);
    }
    r->inputs.push_back({input, std::move(view), {}});
    owners->push_back(slot.tensor.owner());
  }
  for (const auto& tensor : read) {
    Run::Slot& slot = run->tensors[tensor];
    if (--slot.readers == 0) slot.tensor = Tensor();  // this run needs it no longer
  }
  r->buffer_owner = std::move(owners);
  for (const auto& [output, tensor] : step.outputs) r->requested_outputs.push_back({output, {}});
  r->compute_observer = [run](uint64_t input_ns, uint64_t infer_ns, uint64_t output_ns) {
    std::lock_guard<std::mutex> lock(run->mu);
    run->compute_input_ns += input_ns;
    run->compute_infer_ns += infer_ns;
    run->compute_output_ns += output_ns;
  };
  r->set_callback([this, run, index](std::unique_ptr<InferenceResponse> response) {
    StepDone(run, index, std::move(response));
  });
  return r;
}

void EnsembleScheduler::StepDone(const std::shared_ptr<Run>& run, size_t index,
                                 std::unique_ptr<InferenceResponse> response) {
  const EnsembleStep& step = plan_->steps[index];
  std::vector<std::unique_ptr<InferenceRequest>> next;
  {
    std::lock_guard<std::mutex> lock(run->mu);
    if (!response->status.ok()) {
      if (run->status.ok()) {
        run->status = Status(response->status.code(), "in ensemble '" + plan_->name + "', " +
                                                          step.Describe(index) + ": " +
                                                          response->status.message());
      }
    } else if (run->status.ok()) {
      std::vector<size_t> ready;
      for (const auto& [output, tensor] : step.outputs) {
        Run::Slot& slot = run->tensors[tensor];
        for (auto& out : response->outputs) {
          if (out.name != output) continue;
          const Shape& shape = out.tensor.shape();
          slot.present = true;
          slot.batch = step.model_batches && !shape.empty() ? shape[0] : 0;
          slot.tensor = std::move(out.tensor);
          break;
        }
        Settle(*run, tensor, &ready);  // a missing output settles as absent
      }
      for (size_t s : ready) next.push_back(MakeStepRequest(run, s));
      run->in_flight += next.size();
    }
  }
  response.reset();
  SubmitAndRelease(run, std::move(next));
}

void EnsembleScheduler::SubmitAndRelease(const std::shared_ptr<Run>& run,
                                         std::vector<std::unique_ptr<InferenceRequest>> requests) {
  // Never under run->mu: a refused step completes inside submit_.
  for (auto& r : requests) submit_(std::move(r));
  bool last;
  {
    std::lock_guard<std::mutex> lock(run->mu);
    last = --run->in_flight == 0;
  }
  if (last) Finish(*run);
}

void EnsembleScheduler::Finish(Run& run) {
  // No step is in flight any more: nothing else touches `run`.
  Status status = run.status;
  auto response = std::make_unique<InferenceResponse>();
  if (status.ok()) {
    for (const auto& [name, dims] : plan_->outputs) {
      if (!Contains(run.returned, name)) continue;
      Run::Slot& slot = run.tensors[name];
      if (!slot.present) {
        const size_t producer = plan_->producer.at(name);
        status = Internal("in ensemble '" + plan_->name + "', " +
                          plan_->steps[producer].Describe(producer) +
                          " did not return the tensor for ensemble output '" + name + "'");
        break;
      }
      Tensor t = std::move(slot.tensor);
      t.set_shape(AdaptShape(dims, plan_->batches, slot.batch, t.shape()));
      response->outputs.push_back({name, std::move(t)});
    }
  }
  InferenceRequest& request = *run.request;
  const uint64_t end_ns = clock_.NowNs();
  if (request.trace) request.trace->Record("COMPUTE_END");
  if (status.ok()) {
    if (stats_) {
      RequestLatency l;
      l.request_ns = Span(request.received_ns, end_ns);
      l.queue_ns = Span(request.enqueue_ns, run.start_ns);
      l.compute_input_ns = run.compute_input_ns;
      l.compute_infer_ns = run.compute_infer_ns;
      l.compute_output_ns = run.compute_output_ns;
      stats_->RecordSuccess(l);
      stats_->RecordExecutionDurations(request.batch_size > 0 ? request.batch_size : 1,
                                       l.compute_input_ns, l.compute_infer_ns, l.compute_output_ns);
    }
    // An ensemble inside an ensemble reports its sums to the outer one.
    if (request.compute_observer) {
      request.compute_observer(run.compute_input_ns, run.compute_infer_ns, run.compute_output_ns);
    }
    request.Complete(std::move(response));
  } else {
    if (stats_) stats_->RecordFailure(request.received_ns, end_ns, FailureReason::kOther);
    request.CompleteWithError(status);
  }
  run.tensors.clear();
  std::lock_guard<std::mutex> lock(mu_);
  if (--running_ == 0) idle_.notify_all();
}

}  // namespace nereid::core
