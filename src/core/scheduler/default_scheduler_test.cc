#include "core/scheduler/default_scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>

namespace nereid::core {
namespace {

// Records concurrency per instance; blocks until released so the test
// controls overlap without sleeping.
class GateInstance : public ModelInstance {
 public:
  GateInstance(std::atomic<int>* running, std::atomic<int>* max_running)
      : running_(running), max_running_(max_running) {}
  void Execute(std::vector<std::unique_ptr<InferenceRequest>>& requests) override {
    EXPECT_EQ(busy_.fetch_add(1), 0) << "one instance executed twice at once";
    int now = running_->fetch_add(1) + 1;
    int prev = max_running_->load();
    while (now > prev && !max_running_->compare_exchange_weak(prev, now)) {
    }
    for (auto& r : requests) r->Complete(std::make_unique<InferenceResponse>());
    running_->fetch_sub(1);
    busy_.fetch_sub(1);
  }

 private:
  std::atomic<int> busy_{0};
  std::atomic<int>* running_;
  std::atomic<int>* max_running_;
};

TEST(DefaultSchedulerTest, EveryRequestCompletesOnce) {
  FakeClock clock;
  std::atomic<int> running{0}, max_running{0};
  std::vector<std::unique_ptr<ModelInstance>> instances;
  for (int i = 0; i < 3; ++i) instances.push_back(std::make_unique<GateInstance>(&running, &max_running));
  DefaultScheduler sched("m", std::move(instances), clock);
  constexpr int kRequests = 500;
  std::atomic<int> done{0};
  std::promise<void> all;
  for (int i = 0; i < kRequests; ++i) {
    auto r = std::make_unique<InferenceRequest>();
    r->set_callback([&](std::unique_ptr<InferenceResponse> resp) {
      EXPECT_TRUE(resp->status.ok());
      if (done.fetch_add(1) + 1 == kRequests) all.set_value();
    });
    sched.Enqueue(std::move(r));
  }
  all.get_future().wait();
  sched.Stop();
  EXPECT_EQ(done.load(), kRequests);
  EXPECT_LE(max_running.load(), 3);
}

TEST(DefaultSchedulerTest, StopDrainsQueueThenRefuses) {
  FakeClock clock;
  std::atomic<int> running{0}, max_running{0};
  std::vector<std::unique_ptr<ModelInstance>> instances;
  instances.push_back(std::make_unique<GateInstance>(&running, &max_running));
  DefaultScheduler sched("m", std::move(instances), clock);
  std::atomic<int> ok{0};
  for (int i = 0; i < 50; ++i) {
    auto r = std::make_unique<InferenceRequest>();
    r->set_callback([&](std::unique_ptr<InferenceResponse> resp) { ok += resp->status.ok(); });
    sched.Enqueue(std::move(r));
  }
  sched.Stop();
  EXPECT_EQ(ok.load(), 50);
  Status late;
  auto r = std::make_unique<InferenceRequest>();
  r->set_callback([&](std::unique_ptr<InferenceResponse> resp) { late = resp->status; });
  sched.Enqueue(std::move(r));
  EXPECT_EQ(late.code(), StatusCode::kUnavailable);
}

class ThrowingInstance : public ModelInstance {
 public:
  void Execute(std::vector<std::unique_ptr<InferenceRequest>>&) override {
    throw std::runtime_error("boom");
  }
};

class ForgetfulInstance : public ModelInstance {
 public:
  void Execute(std::vector<std::unique_ptr<InferenceRequest>>&) override {}
};

TEST(DefaultSchedulerTest, BackendFailuresBecomeErrors) {
  FakeClock clock;
  for (int kind = 0; kind < 2; ++kind) {
    std::vector<std::unique_ptr<ModelInstance>> instances;
    if (kind == 0) {
      instances.push_back(std::make_unique<ThrowingInstance>());
    } else {
      instances.push_back(std::make_unique<ForgetfulInstance>());
    }
    DefaultScheduler sched("m", std::move(instances), clock);
    std::promise<Status> got;
    auto r = std::make_unique<InferenceRequest>();
    r->set_callback([&](std::unique_ptr<InferenceResponse> resp) { got.set_value(resp->status); });
    sched.Enqueue(std::move(r));
    Status s = got.get_future().get();
    EXPECT_EQ(s.code(), StatusCode::kInternal) << kind;
    sched.Stop();
  }
}

}  // namespace
}  // namespace nereid::core
