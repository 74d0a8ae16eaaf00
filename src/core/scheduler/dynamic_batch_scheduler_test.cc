#include "core/scheduler/dynamic_batch_scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <set>
#include <thread>

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

TEST(DynamicBatchSchedulerTest, EveryRequestCompletesOnce) {
  FakeClock clock;
  std::atomic<int> running{0}, max_running{0};
  std::vector<std::unique_ptr<ModelInstance>> instances;
  for (int i = 0; i < 3; ++i) instances.push_back(std::make_unique<GateInstance>(&running, &max_running));
  DynamicBatchScheduler sched("m", SchedulerOptions{}, std::move(instances), clock);
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

TEST(DynamicBatchSchedulerTest, StopDrainsQueueThenRefuses) {
  FakeClock clock;
  std::atomic<int> running{0}, max_running{0};
  std::vector<std::unique_ptr<ModelInstance>> instances;
  instances.push_back(std::make_unique<GateInstance>(&running, &max_running));
  DynamicBatchScheduler sched("m", SchedulerOptions{}, std::move(instances), clock);
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

TEST(DynamicBatchSchedulerTest, BackendFailuresBecomeErrors) {
  FakeClock clock;
  for (int kind = 0; kind < 2; ++kind) {
    std::vector<std::unique_ptr<ModelInstance>> instances;
    if (kind == 0) {
      instances.push_back(std::make_unique<ThrowingInstance>());
    } else {
      instances.push_back(std::make_unique<ForgetfulInstance>());
    }
    DynamicBatchScheduler sched("m", SchedulerOptions{}, std::move(instances), clock);
    std::promise<Status> got;
    auto r = std::make_unique<InferenceRequest>();
    r->set_callback([&](std::unique_ptr<InferenceResponse> resp) { got.set_value(resp->status); });
    sched.Enqueue(std::move(r));
    Status s = got.get_future().get();
    EXPECT_EQ(s.code(), StatusCode::kInternal) << kind;
    sched.Stop();
  }
}


// Records the size of every batch; optionally blocks each execution until
// the test opens the gate, and fails a batch whose first request has id
// "fail".
class RecordingInstance : public ModelInstance {
 public:
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::vector<std::string>> batches;
    bool gated = false;
    int executing = 0;
    void Open() {
      std::lock_guard<std::mutex> l(mu);
      gated = false;
      cv.notify_all();
    }
    // Waits (no sleep) until `n` executions are in progress.
    void AwaitExecuting(int n) {
      std::unique_lock<std::mutex> l(mu);
      cv.wait(l, [&] { return executing >= n; });
    }
  };
  explicit RecordingInstance(Shared* shared) : s_(shared) {}
  void Execute(std::vector<std::unique_ptr<InferenceRequest>>& requests) override {
    std::vector<std::string> ids;
    for (auto& r : requests) ids.push_back(r->id);
    {
      std::unique_lock<std::mutex> l(s_->mu);
      s_->batches.push_back(ids);
      ++s_->executing;
      s_->cv.notify_all();
      s_->cv.wait(l, [&] { return !s_->gated; });
      --s_->executing;
    }
    const bool fail = !ids.empty() && ids[0] == "fail";
    for (auto& r : requests) {
      if (fail) {
        r->CompleteWithError(Internal("backend failed this batch"));
      } else {
        auto resp = std::make_unique<InferenceResponse>();
        resp->id = r->id;
        r->Complete(std::move(resp));
      }
    }
  }

 private:
  Shared* s_;
};

std::vector<std::unique_ptr<ModelInstance>> Recording(RecordingInstance::Shared* s, int n) {
  std::vector<std::unique_ptr<ModelInstance>> v;
  for (int i = 0; i < n; ++i) v.push_back(std::make_unique<RecordingInstance>(s));
  return v;
}

// Collects responses; Wait blocks (no sleep) until `n` arrived.
struct Responses {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<std::string, Status>> got;  // in delivery order
  ResponseCallback Callback(const std::string& id) {
    return [this, id](std::unique_ptr<InferenceResponse> r) {
      std::lock_guard<std::mutex> l(mu);
      got.emplace_back(id, r->status);
      cv.notify_all();
    };
  }
  void Wait(size_t n) {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return got.size() >= n; });
  }
  Status StatusOf(const std::string& id) {
    std::lock_guard<std::mutex> l(mu);
    for (auto& [i, s] : got) {
      if (i == id) return s;
    }
    return Internal("no response for " + id);
  }
};

std::unique_ptr<InferenceRequest> Req(const std::string& id, Responses* responses,
                                      uint64_t priority = 0) {
  auto r = std::make_unique<InferenceRequest>();
  r->id = id;
  r->model_name = "m";
  r->batch_size = 1;
  r->priority = priority;
  RequestInput in;
  in.name = "x";
  in.tensor.dtype = DataType::kFp32;
  in.tensor.shape = {1, 4};
  r->inputs.push_back(in);
  r->set_callback(responses->Callback(id));
  return r;
}

SchedulerOptions Batching(int64_t max_batch, uint64_t delay_us) {
  SchedulerOptions o;
  o.dynamic_batching = true;
  o.max_batch_size = max_batch;
  o.max_queue_delay_us = delay_us;
  return o;
}

TEST(DynamicBatchSchedulerTest, FullBatchesGoWithoutWaitingForTheDelay) {
  FakeClock clock;
  RecordingInstance::Shared shared;
  Responses responses;
  DynamicBatchScheduler sched("m", Batching(4, /*delay_us=*/1000000), Recording(&shared, 1),
                              clock);
  for (int i = 0; i < 8; ++i) sched.Enqueue(Req(std::to_string(i), &responses));
  responses.Wait(8);  // the fake clock never moved
  std::lock_guard<std::mutex> l(shared.mu);
  ASSERT_EQ(shared.batches.size(), 2u);
  EXPECT_EQ(shared.batches[0], (std::vector<std::string>{"0", "1", "2", "3"}));
  EXPECT_EQ(shared.batches[1], (std::vector<std::string>{"4", "5", "6", "7"}));
}

TEST(DynamicBatchSchedulerTest, PartialBatchWaitsForTheQueueDelay) {
  FakeClock clock;
  RecordingInstance::Shared shared;
  Responses responses;
  DynamicBatchScheduler sched("m", Batching(8, /*delay_us=*/100), Recording(&shared, 2), clock);
  for (int i = 0; i < 3; ++i) sched.Enqueue(Req(std::to_string(i), &responses));
  clock.AdvanceNs(99'000);
  {
    std::lock_guard<std::mutex> l(responses.mu);
    EXPECT_TRUE(responses.got.empty());
  }
  clock.AdvanceNs(1'000);
  responses.Wait(3);
  std::lock_guard<std::mutex> l(shared.mu);
  ASSERT_EQ(shared.batches.size(), 1u);  // one batch of 3, not three of 1
  EXPECT_EQ(shared.batches[0].size(), 3u);
}

TEST(DynamicBatchSchedulerTest, QueueTimeoutRejectsWhileTheInstanceIsBusy) {
  FakeClock clock;
  RecordingInstance::Shared shared;
  shared.gated = true;
  Responses responses;
  SchedulerOptions o = Batching(1, 0);
  o.default_policy.default_timeout_us = 50;
  DynamicBatchScheduler sched("m", o, Recording(&shared, 1), clock);
  sched.Enqueue(Req("running", &responses));
  shared.AwaitExecuting(1);
  sched.Enqueue(Req("waiting", &responses));
  clock.AdvanceNs(60'000);
  sched.Enqueue(Req("late", &responses));  // touching the queue applies timeouts
  responses.Wait(1);
  Status st = responses.StatusOf("waiting");
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("timeout"), std::string::npos) << st.ToString();
  shared.Open();
  responses.Wait(3);
  EXPECT_TRUE(responses.StatusOf("running").ok());
  EXPECT_TRUE(responses.StatusOf("late").ok());
}

TEST(DynamicBatchSchedulerTest, FullQueueIsRefusedAtOnce) {
  FakeClock clock;
  RecordingInstance::Shared shared;
  shared.gated = true;
  Responses responses;
  SchedulerOptions o = Batching(1, 0);
  o.default_policy.max_queue_size = 2;
  ModelStatistics stats("m", 1, clock);
  DynamicBatchScheduler sched("m", o, Recording(&shared, 1), clock, &stats);
  sched.Enqueue(Req("running", &responses));
  shared.AwaitExecuting(1);
  sched.Enqueue(Req("q1", &responses));
  sched.Enqueue(Req("q2", &responses));
  sched.Enqueue(Req("shed", &responses));
  responses.Wait(1);
  Status st = responses.StatusOf("shed");
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("exceeds maximum queue size"), std::string::npos);
  shared.Open();
  responses.Wait(4);
  sched.Stop();
  auto snap = stats.Snapshot();
  EXPECT_EQ(snap.success.count, 3u);
  EXPECT_EQ(snap.failures_by_reason[static_cast<int>(FailureReason::kRejected)], 1u);
}

TEST(DynamicBatchSchedulerTest, AFailingBatchFailsOnlyItsRequests) {
  FakeClock clock;
  RecordingInstance::Shared shared;
  shared.gated = true;
  Responses responses;
  DynamicBatchScheduler sched("m", Batching(2, 0), Recording(&shared, 1), clock);
  sched.Enqueue(Req("first", &responses));
  shared.AwaitExecuting(1);
  sched.Enqueue(Req("fail", &responses));
  sched.Enqueue(Req("with_fail", &responses));
  shared.Open();
  responses.Wait(3);
  sched.Enqueue(Req("after", &responses));
  responses.Wait(4);
  EXPECT_TRUE(responses.StatusOf("first").ok());
  EXPECT_EQ(responses.StatusOf("fail").code(), StatusCode::kInternal);
  EXPECT_EQ(responses.StatusOf("with_fail").code(), StatusCode::kInternal);
  EXPECT_TRUE(responses.StatusOf("after").ok());
}

TEST(DynamicBatchSchedulerTest, PreserveOrderingAcrossInstances) {
  FakeClock clock;
  RecordingInstance::Shared shared;
  shared.gated = true;
  Responses responses;
  SchedulerOptions o = Batching(1, 0);
  o.preserve_ordering = true;
  DynamicBatchScheduler sched("m", o, Recording(&shared, 2), clock);
  sched.Enqueue(Req("a", &responses));
  sched.Enqueue(Req("b", &responses));
  shared.AwaitExecuting(2);
  // Both run; let them finish in any order, then more requests.
  shared.Open();
  for (int i = 0; i < 50; ++i) sched.Enqueue(Req(std::to_string(i), &responses));
  responses.Wait(52);
  std::lock_guard<std::mutex> l(responses.mu);
  ASSERT_EQ(responses.got.size(), 52u);
  EXPECT_EQ(responses.got[0].first, "a");
  EXPECT_EQ(responses.got[1].first, "b");
  for (int i = 0; i < 50; ++i) EXPECT_EQ(responses.got[i + 2].first, std::to_string(i));
}

// A response made without executing (a response cache hit) waits behind the
// requests accepted before it under preserve_ordering, and is delivered at
// once otherwise.
TEST(DynamicBatchSchedulerTest, CompleteWithoutExecutingKeepsTheOrder) {
  FakeClock clock;
  RecordingInstance::Shared shared;
  shared.gated = true;
  Responses responses;
  SchedulerOptions o = Batching(1, 0);
  o.preserve_ordering = true;
  DynamicBatchScheduler sched("m", o, Recording(&shared, 1), clock);
  sched.Enqueue(Req("running", &responses));
  shared.AwaitExecuting(1);
  sched.CompleteWithoutExecuting(Req("cached", &responses),
                                 std::make_unique<InferenceResponse>());
  {
    std::lock_guard<std::mutex> l(responses.mu);
    EXPECT_TRUE(responses.got.empty());  // held behind "running"
  }
  shared.Open();
  responses.Wait(2);
  {
    std::lock_guard<std::mutex> l(responses.mu);
    EXPECT_EQ(responses.got[0].first, "running");
    EXPECT_EQ(responses.got[1].first, "cached");
  }
  std::lock_guard<std::mutex> l(shared.mu);
  EXPECT_EQ(shared.batches.size(), 1u);  // the cached one never ran

  RecordingInstance::Shared unordered_shared;
  unordered_shared.gated = true;
  Responses unordered;
  DynamicBatchScheduler plain("m", Batching(1, 0), Recording(&unordered_shared, 1), clock);
  plain.Enqueue(Req("running", &unordered));
  unordered_shared.AwaitExecuting(1);
  plain.CompleteWithoutExecuting(Req("cached", &unordered), std::make_unique<InferenceResponse>());
  unordered.Wait(1);
  EXPECT_TRUE(unordered.StatusOf("cached").ok());
  unordered_shared.Open();
  unordered.Wait(2);
}

TEST(DynamicBatchSchedulerTest, CancelledQueuedRequestNeverRuns) {
  FakeClock clock;
  RecordingInstance::Shared shared;
  shared.gated = true;
  Responses responses;
  ModelStatistics stats("m", 1, clock);
  DynamicBatchScheduler sched("m", Batching(1, 0), Recording(&shared, 1), clock, &stats);
  sched.Enqueue(Req("running", &responses));
  shared.AwaitExecuting(1);
  auto r = Req("gone", &responses);
  r->cancelled = std::make_shared<std::atomic<bool>>(false);
  auto flag = r->cancelled;
  sched.Enqueue(std::move(r));
  flag->store(true);
  shared.Open();
  responses.Wait(2);
  EXPECT_EQ(responses.StatusOf("gone").code(), StatusCode::kCancelled);
  sched.Stop();
  std::lock_guard<std::mutex> l(shared.mu);
  for (auto& b : shared.batches) EXPECT_EQ(std::count(b.begin(), b.end(), "gone"), 0);
  EXPECT_EQ(stats.Snapshot().failures_by_reason[static_cast<int>(FailureReason::kCanceled)], 1u);
}

TEST(DynamicBatchSchedulerTest, TenThousandQueuedThenStopDrainsEveryOne) {
  FakeClock clock;
  RecordingInstance::Shared shared;
  Responses responses;
  ModelStatistics stats("m", 1, clock);
  // A long queue delay: Stop must flush instead of waiting for it.
  DynamicBatchScheduler sched("m", Batching(8, /*delay_us=*/60'000'000), Recording(&shared, 2),
                              clock, &stats);
  std::vector<std::thread> producers;
  for (int t = 0; t < 4; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < 2500; ++i) {
        sched.Enqueue(Req(std::to_string(t) + "_" + std::to_string(i), &responses,
                          /*priority=*/0));
      }
    });
  }
  for (auto& p : producers) p.join();
  sched.Stop();
  std::lock_guard<std::mutex> l(responses.mu);
  ASSERT_EQ(responses.got.size(), 10000u);
  std::set<std::string> ids;
  for (auto& [id, st] : responses.got) {
    EXPECT_TRUE(st.ok()) << st.ToString();
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 10000u);
  auto snap = stats.Snapshot();
  EXPECT_EQ(snap.success.count, 10000u);
  EXPECT_EQ(snap.pending_requests, 0u);
  std::lock_guard<std::mutex> l2(shared.mu);
  for (auto& b : shared.batches) EXPECT_LE(b.size(), 8u);
}

TEST(DynamicBatchSchedulerTest, PriorityLevelsServeHigherFirst) {
  FakeClock clock;
  RecordingInstance::Shared shared;
  shared.gated = true;
  Responses responses;
  SchedulerOptions o = Batching(1, 0);
  o.priority_levels = 2;
  o.default_priority_level = 2;
  DynamicBatchScheduler sched("m", o, Recording(&shared, 1), clock);
  sched.Enqueue(Req("running", &responses));
  shared.AwaitExecuting(1);
  sched.Enqueue(Req("low", &responses, 2));
  sched.Enqueue(Req("default", &responses, 0));
  sched.Enqueue(Req("high", &responses, 1));
  shared.Open();
  responses.Wait(4);
  std::lock_guard<std::mutex> l(shared.mu);
  ASSERT_EQ(shared.batches.size(), 4u);
  EXPECT_EQ(shared.batches[1][0], "high");
  EXPECT_EQ(shared.batches[2][0], "low");
  EXPECT_EQ(shared.batches[3][0], "default");
}

// Sends three responses per request, the last flags-only.
class StreamingInstance : public ModelInstance {
 public:
  void Execute(std::vector<std::unique_ptr<InferenceRequest>>& requests) override {
    for (auto& r : requests) {
      for (int i = 0; i < 2; ++i) r->Respond(std::make_unique<InferenceResponse>(), false);
      r->FinishWithoutResponse();
    }
  }
};

TEST(DynamicBatchSchedulerTest, DecoupledResponsesStreamAndCountOnce) {
  FakeClock clock;
  ModelStatistics stats("m", 1, clock);
  std::vector<std::unique_ptr<ModelInstance>> instances;
  instances.push_back(std::make_unique<StreamingInstance>());
  SchedulerOptions o = Batching(4, 0);
  o.decoupled = true;
  o.preserve_ordering = true;  // ignored for decoupled models
  DynamicBatchScheduler sched("m", o, std::move(instances), clock, &stats);
  std::mutex mu;
  std::condition_variable cv;
  int responses = 0, finals = 0, flags_only = 0;
  for (int i = 0; i < 5; ++i) {
    auto r = std::make_unique<InferenceRequest>();
    r->batch_size = 1;
    r->set_callback([&](std::unique_ptr<InferenceResponse> resp) {
      std::lock_guard<std::mutex> l(mu);
      ++responses;
      finals += resp->final;
      flags_only += resp->flags_only;
      cv.notify_all();
    });
    sched.Enqueue(std::move(r));
  }
  {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return finals == 5; });
    EXPECT_EQ(responses, 15);
    EXPECT_EQ(flags_only, 5);
  }
  sched.Stop();
  auto snap = stats.Snapshot();
  EXPECT_EQ(snap.success.count, 5u);
  EXPECT_EQ(snap.inference_count, 5u);
}

}  // namespace
}  // namespace nereid::core
