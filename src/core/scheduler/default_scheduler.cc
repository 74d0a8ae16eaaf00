#include "core/scheduler/default_scheduler.h"

#include <exception>

#include "common/logging.h"
#include "core/trace/trace_manager.h"

namespace nereid::core {

DefaultScheduler::DefaultScheduler(std::string model_name,
                                   std::vector<std::unique_ptr<ModelInstance>> instances,
                                   Clock& clock)
    : model_name_(std::move(model_name)), clock_(clock), instances_(std::move(instances)) {
  for (auto& inst : instances_) {
    threads_.emplace_back([this, p = inst.get()] { RunInstance(p); });
  }
}

DefaultScheduler::~DefaultScheduler() { Stop(); }

void DefaultScheduler::Enqueue(std::unique_ptr<InferenceRequest> request) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      request->enqueue_ns = clock_.NowNs();
      queue_.push_back(std::move(request));
      cv_.notify_one();
      return;
    }
  }
  request->CompleteWithError(Unavailable("model '" + model_name_ + "' is being unloaded"));
}

void DefaultScheduler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void DefaultScheduler::RunInstance(ModelInstance* instance) {
  std::vector<std::unique_ptr<InferenceRequest>> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    for (auto& r : batch) {
      if (r->trace) r->trace->Record("COMPUTE_START");
    }
    try {
      instance->Execute(batch);
    } catch (const std::exception& e) {
      NLOG(ERROR) << "model '" << model_name_ << "' instance threw: " << e.what();
      for (auto& r : batch) {
        if (r) r->CompleteWithError(Internal(std::string("backend failure: ") + e.what()));
      }
    }
    for (auto& r : batch) {
      if (r && r->trace) r->trace->Record("COMPUTE_END");
    }
    batch.clear();  // a request left incomplete answers with an error in its destructor
  }
}

}  // namespace nereid::core
