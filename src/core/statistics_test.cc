#include "core/statistics.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "core/scheduler/dynamic_batch_scheduler.h"

namespace nereid::core {
namespace {

constexpr uint64_t kInputNs = 100, kInferNs = 1000, kOutputNs = 10;

// Moves the fake clock by fixed amounts around its marks, so every duration
// is known exactly. Requests whose id is "fail" complete with an error,
// "throw" makes Execute throw. An optional gate holds Execute at its start.
class TimedInstance : public ModelInstance {
 public:
  TimedInstance(FakeClock* clock, std::promise<void>* entered = nullptr,
                std::shared_future<void> gate = {})
      : clock_(clock), entered_(entered), gate_(std::move(gate)) {}

  void Execute(std::vector<std::unique_ptr<InferenceRequest>>& requests) override {
    if (entered_) {
      entered_->set_value();
      entered_ = nullptr;
      gate_.wait();
    }
    if (requests[0]->id == "throw") throw std::runtime_error("boom");
    clock_->AdvanceNs(kInputNs);
    MarkInferStart();
    clock_->AdvanceNs(kInferNs);
    MarkInferEnd();
    clock_->AdvanceNs(kOutputNs);
    for (auto& r : requests) {
      if (r->id == "fail") {
        r->CompleteWithError(Internal("backend said no"));
      } else {
        r->Complete(std::make_unique<InferenceResponse>());
      }
    }
  }

 private:
  FakeClock* clock_;
  std::promise<void>* entered_;
  std::shared_future<void> gate_;
};

// Enqueues one request and waits for its response; returns its status.
Status RunOne(DynamicBatchScheduler& sched, const std::string& id, int64_t batch_size = 0) {
  std::promise<Status> done;
  auto r = std::make_unique<InferenceRequest>();
  r->id = id;
  r->batch_size = batch_size;
  r->set_callback([&](std::unique_ptr<InferenceResponse> resp) { done.set_value(resp->status); });
  sched.Enqueue(std::move(r));
  return done.get_future().get();
}

std::vector<std::unique_ptr<ModelInstance>> Instances(FakeClock* clock, int n) {
  std::vector<std::unique_ptr<ModelInstance>> v;
  for (int i = 0; i < n; ++i) v.push_back(std::make_unique<TimedInstance>(clock));
  return v;
}

TEST(ModelStatisticsTest, RecordsDurationsFromTimestamps) {
  FakeClock clock;
  ModelStatistics stats("m", 3, clock);
  RequestTimestamps t{.received_ns = 100,
                      .queue_start_ns = 150,
                      .compute_start_ns = 400,
                      .infer_start_ns = 450,
                      .infer_end_ns = 1450,
                      .end_ns = 1500};
  stats.RecordSuccess(t);
  stats.RecordSuccess(t);
  stats.RecordExecution(4, 400, 450, 1450, 1500);
  stats.RecordFailure(10, 70, FailureReason::kBackend);
  stats.SetLoadDuration(12345);
  ModelStatsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.load_duration_ns, 12345u);
  EXPECT_EQ(s.name, "m");
  EXPECT_EQ(s.version, 3);
  EXPECT_EQ(s.success, (DurationStat{2, 2 * 1400}));
  EXPECT_EQ(s.queue, (DurationStat{2, 2 * 250}));
  EXPECT_EQ(s.compute_input, (DurationStat{2, 2 * 50}));
  EXPECT_EQ(s.compute_infer, (DurationStat{2, 2 * 1000}));
  EXPECT_EQ(s.compute_output, (DurationStat{2, 2 * 50}));
  EXPECT_EQ(s.fail, (DurationStat{1, 60}));
  EXPECT_EQ(s.failures_by_reason[static_cast<int>(FailureReason::kBackend)], 1u);
  EXPECT_EQ(s.inference_count, 4u);
  EXPECT_EQ(s.execution_count, 1u);
  ASSERT_EQ(s.batch_stats.size(), 1u);
  EXPECT_EQ(s.batch_stats[0].batch_size, 4u);
  EXPECT_EQ(s.batch_stats[0].compute_infer, (DurationStat{1, 1000}));
  EXPECT_EQ(s.cache_hit, DurationStat{});
  EXPECT_EQ(s.last_inference_ms, clock.WallMs());
  ASSERT_EQ(s.recent.size(), 2u);
  EXPECT_EQ(s.recent[1].compute_infer_ns, 1000u);
}

TEST(ModelStatisticsTest, OutOfOrderTimestampsClampToZero) {
  FakeClock clock;
  ModelStatistics stats("m", 1, clock);
  RequestTimestamps t{.received_ns = 500,
                      .queue_start_ns = 500,
                      .compute_start_ns = 400,
                      .infer_start_ns = 0,
                      .infer_end_ns = 0,
                      .end_ns = 300};
  stats.RecordSuccess(t);
  ModelStatsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.success, (DurationStat{1, 0}));
  EXPECT_EQ(s.queue.ns, 0u);
  EXPECT_EQ(s.compute_output.ns, 300u);
}

TEST(ModelStatisticsTest, RecentLatenciesKeepTheNewestInOrder) {
  FakeClock clock;
  ModelStatistics stats("m", 1, clock);
  const size_t n = ModelStatistics::kRecentLatencies + 5;
  for (size_t i = 0; i < n; ++i) stats.RecordSuccess({.received_ns = 0, .end_ns = i + 1});
  ModelStatsSnapshot s = stats.Snapshot();
  ASSERT_EQ(s.recent.size(), ModelStatistics::kRecentLatencies);
  EXPECT_EQ(s.recent.front().request_ns, 6u);
  EXPECT_EQ(s.recent.back().request_ns, n);
  EXPECT_EQ(s.success.count, n);
}

// As Triton's statistics extension: a hit is a success and a queue entry
// but no compute, inference or execution; a miss adds lookup + insertion to
// cache_miss and to the success time.
TEST(ModelStatisticsTest, CacheHitsAndMisses) {
  FakeClock clock;
  ModelStatistics stats("m", 1, clock);
  EXPECT_FALSE(stats.Snapshot().cache_enabled);
  stats.SetCacheEnabled(true);
  stats.RecordCacheHit(/*received=*/100, /*lookup_start=*/120, /*lookup_end=*/150, /*end=*/160);
  stats.RecordCacheHit(0, 10, 5, 20);  // out of order: clamped to 0
  RequestTimestamps t{.received_ns = 0, .queue_start_ns = 0, .compute_start_ns = 0,
                      .infer_start_ns = 0, .infer_end_ns = 0, .end_ns = 1000};
  stats.RecordSuccess(t);
  stats.RecordExecution(1, 0, 0, 0, 1000);
  stats.RecordCacheMiss(40);
  ModelStatsSnapshot s = stats.Snapshot();
  EXPECT_TRUE(s.cache_enabled);
  EXPECT_EQ(s.cache_hit, (DurationStat{2, 30}));
  EXPECT_EQ(s.cache_miss, (DurationStat{1, 40}));
  EXPECT_EQ(s.success, (DurationStat{3, 60 + 20 + 1000 + 40}));
  EXPECT_EQ(s.queue, (DurationStat{3, 0}));
  EXPECT_EQ(s.compute_infer.count, 1u);
  EXPECT_EQ(s.inference_count, 1u);
  EXPECT_EQ(s.execution_count, 1u);
  EXPECT_EQ(s.recent.size(), 1u);  // executed requests only
  EXPECT_EQ(s.recent_cache_hit_ns, (std::vector<uint64_t>{30, 0}));
  EXPECT_EQ(s.recent_cache_miss_ns, (std::vector<uint64_t>{40}));
  EXPECT_EQ(s.last_inference_ms, clock.WallMs());
}

TEST(SchedulerStatisticsTest, SplitsQueueAndComputeExactly) {
  FakeClock clock;
  ModelStatistics stats("m", 1, clock);
  DynamicBatchScheduler sched("m", SchedulerOptions{}, Instances(&clock, 1), clock, &stats);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(RunOne(sched, "ok").ok());
  sched.Stop();
  ModelStatsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.success, (DurationStat{5, 5 * (kInputNs + kInferNs + kOutputNs)}));
  EXPECT_EQ(s.queue, (DurationStat{5, 0}));
  EXPECT_EQ(s.compute_input, (DurationStat{5, 5 * kInputNs}));
  EXPECT_EQ(s.compute_infer, (DurationStat{5, 5 * kInferNs}));
  EXPECT_EQ(s.compute_output, (DurationStat{5, 5 * kOutputNs}));
  EXPECT_EQ(s.inference_count, 5u);
  EXPECT_EQ(s.execution_count, 5u);
  ASSERT_EQ(s.batch_stats.size(), 1u);
  EXPECT_EQ(s.batch_stats[0].batch_size, 1u);
  EXPECT_EQ(s.batch_stats[0].compute_output, (DurationStat{5, 5 * kOutputNs}));
  EXPECT_EQ(s.fail.count, 0u);
  EXPECT_EQ(s.pending_requests, 0u);
}

TEST(SchedulerStatisticsTest, QueueTimeIsTimeWaitingForABusyInstance) {
  FakeClock clock;
  ModelStatistics stats("m", 1, clock);
  std::promise<void> entered, release;
  std::vector<std::unique_ptr<ModelInstance>> inst;
  inst.push_back(std::make_unique<TimedInstance>(&clock, &entered, release.get_future().share()));
  DynamicBatchScheduler sched("m", SchedulerOptions{}, std::move(inst), clock, &stats);
  std::atomic<int> done{0};
  std::promise<void> all;
  for (int i = 0; i < 2; ++i) {
    auto r = std::make_unique<InferenceRequest>();
    r->set_callback([&](std::unique_ptr<InferenceResponse> resp) {
      EXPECT_TRUE(resp->status.ok());
      if (++done == 2) all.set_value();
    });
    sched.Enqueue(std::move(r));
    if (i == 0) entered.get_future().wait();  // the first is executing
  }
  EXPECT_EQ(stats.Snapshot().pending_requests, 1u);
  clock.AdvanceNs(5000);
  release.set_value();
  all.get_future().wait();
  sched.Stop();
  ModelStatsSnapshot s = stats.Snapshot();
  const uint64_t exec = kInputNs + kInferNs + kOutputNs;
  // First: no queue, 5000 held at the gate counts as compute input.
  // Second: queued through the hold and the first execution.
  EXPECT_EQ(s.queue, (DurationStat{2, 5000 + exec}));
  EXPECT_EQ(s.compute_input, (DurationStat{2, 5000 + 2 * kInputNs}));
  EXPECT_EQ(s.success, (DurationStat{2, (5000 + exec) + (5000 + 2 * exec)}));
  EXPECT_EQ(s.pending_requests, 0u);
}

TEST(SchedulerStatisticsTest, FailuresCountAsFailNotAsExecutions) {
  FakeClock clock;
  ModelStatistics stats("m", 1, clock);
  DynamicBatchScheduler sched("m", SchedulerOptions{}, Instances(&clock, 1), clock, &stats);
  EXPECT_TRUE(RunOne(sched, "ok").ok());
  EXPECT_EQ(RunOne(sched, "fail").code(), StatusCode::kInternal);
  EXPECT_EQ(RunOne(sched, "throw").code(), StatusCode::kInternal);
  sched.Stop();
  EXPECT_EQ(RunOne(sched, "ok").code(), StatusCode::kUnavailable);  // after Stop
  ModelStatsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.success.count, 1u);
  EXPECT_EQ(s.fail.count, 3u);
  EXPECT_EQ(s.fail.ns, kInputNs + kInferNs + kOutputNs);  // "throw" and the refusal took no time
  EXPECT_EQ(s.failures_by_reason[static_cast<int>(FailureReason::kBackend)], 2u);
  EXPECT_EQ(s.failures_by_reason[static_cast<int>(FailureReason::kOther)], 1u);
  EXPECT_EQ(s.execution_count, 1u);
  EXPECT_EQ(s.inference_count, 1u);
  EXPECT_EQ(s.compute_infer.count, 1u);
}

TEST(SchedulerStatisticsTest, BatchSizesCountItemsAndKeyBatchStats) {
  FakeClock clock;
  ModelStatistics stats("m", 1, clock);
  DynamicBatchScheduler sched("m", SchedulerOptions{}, Instances(&clock, 2), clock, &stats);
  ASSERT_TRUE(RunOne(sched, "ok", 4).ok());
  ASSERT_TRUE(RunOne(sched, "ok", 4).ok());
  ASSERT_TRUE(RunOne(sched, "ok", 2).ok());
  ASSERT_TRUE(RunOne(sched, "fail", 8).ok() == false);
  sched.Stop();
  ModelStatsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.inference_count, 10u);
  EXPECT_EQ(s.execution_count, 3u);
  EXPECT_EQ(s.success.count, 3u);
  ASSERT_EQ(s.batch_stats.size(), 2u);
  EXPECT_EQ(s.batch_stats[0].batch_size, 2u);
  EXPECT_EQ(s.batch_stats[0].compute_infer, (DurationStat{1, kInferNs}));
  EXPECT_EQ(s.batch_stats[1].batch_size, 4u);
  EXPECT_EQ(s.batch_stats[1].compute_input, (DurationStat{2, 2 * kInputNs}));
}

TEST(SchedulerStatisticsTest, ConcurrentRequestsTotalsAreExact) {
  FakeClock clock;
  ModelStatistics stats("m", 1, clock);
  DynamicBatchScheduler sched("m", SchedulerOptions{}, Instances(&clock, 3), clock, &stats);
  constexpr int kThreads = 8, kPerThread = 200;
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        bool fail = (i % 10) == 0;
        Status st = RunOne(sched, fail ? "fail" : "ok", 1 + (t + i) % 3);
        (st.ok() ? ok : failed)++;
      }
    });
  }
  for (auto& th : threads) th.join();
  sched.Stop();
  ModelStatsSnapshot s = stats.Snapshot();
  uint64_t items = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      if (i % 10) items += 1 + (t + i) % 3;
    }
  }
  EXPECT_EQ(ok.load(), kThreads * kPerThread * 9 / 10);
  EXPECT_EQ(s.success.count, static_cast<uint64_t>(ok.load()));
  EXPECT_EQ(s.fail.count, static_cast<uint64_t>(failed.load()));
  EXPECT_EQ(s.execution_count, static_cast<uint64_t>(ok.load()));
  EXPECT_EQ(s.inference_count, items);
  EXPECT_EQ(s.queue.count, s.success.count);
  EXPECT_EQ(s.compute_infer.count, s.success.count);
  uint64_t batch_execs = 0;
  for (const auto& b : s.batch_stats) batch_execs += b.compute_infer.count;
  EXPECT_EQ(batch_execs, s.execution_count);
  EXPECT_EQ(s.pending_requests, 0u);
}

TEST(ModelStatisticsTest, ConcurrentRecordingLosesNothing) {
  FakeClock clock;
  ModelStatistics stats("m", 1, clock);
  constexpr int kThreads = 8, kEach = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        stats.RecordSuccess({.received_ns = 1,
                             .queue_start_ns = 1,
                             .compute_start_ns = 3,
                             .infer_start_ns = 4,
                             .infer_end_ns = 8,
                             .end_ns = 9});
        stats.RecordExecution(2, 3, 4, 8, 9);
        stats.RecordFailure(0, 7, FailureReason::kOther);
      }
    });
  }
  for (auto& th : threads) th.join();
  ModelStatsSnapshot s = stats.Snapshot();
  const uint64_t n = kThreads * kEach;
  EXPECT_EQ(s.success, (DurationStat{n, 8 * n}));
  EXPECT_EQ(s.compute_infer, (DurationStat{n, 4 * n}));
  EXPECT_EQ(s.fail, (DurationStat{n, 7 * n}));
  EXPECT_EQ(s.inference_count, 2 * n);
  EXPECT_EQ(s.batch_stats.at(0).compute_output, (DurationStat{n, n}));
}

}  // namespace
}  // namespace nereid::core
