#include "core/scheduler/request_queue.h"

#include <gtest/gtest.h>

namespace nereid::core {
namespace {

constexpr uint64_t kUs = 1000;  // ns

// A request with one FP32 input "x" of shape [batch, width].
std::unique_ptr<InferenceRequest> Req(int id, int64_t batch = 1, int64_t width = 2,
                                      uint64_t priority = 0, uint64_t timeout_us = 0) {
  auto r = std::make_unique<InferenceRequest>();
  r->id = std::to_string(id);
  r->model_name = "m";
  r->batch_size = batch;
  r->priority = priority;
  r->timeout_us = timeout_us;
  RequestInput in;
  in.name = "x";
  in.tensor.dtype = DataType::kFp32;
  in.tensor.shape = {batch, width};
  r->inputs.push_back(in);
  r->set_callback([](std::unique_ptr<InferenceResponse>) {});
  return r;
}

SchedulerOptions Batching(int64_t max_batch, uint64_t delay_us = 0,
                          std::vector<int64_t> preferred = {}) {
  SchedulerOptions o;
  o.dynamic_batching = true;
  o.max_batch_size = max_batch;
  o.max_queue_delay_us = delay_us;
  o.preferred_batch_sizes = std::move(preferred);
  return o;
}

void Add(RequestQueue& q, std::unique_ptr<InferenceRequest> r, uint64_t now = 0) {
  ASSERT_TRUE(q.Enqueue(r, now).ok());
}

// Pops the next batch and returns its request ids.
std::vector<std::string> Pop(RequestQueue& q, uint64_t now, bool flush = false) {
  auto d = q.Next(now, flush);
  std::vector<std::unique_ptr<InferenceRequest>> batch, cancelled;
  q.PopFront(d.count, &batch, &cancelled);
  std::vector<std::string> ids;
  for (auto& r : batch) {
    ids.push_back(r->id);
    r->CompleteWithError(Cancelled("test"));
  }
  for (auto& r : cancelled) r->CompleteWithError(Cancelled("test"));
  return ids;
}

using Ids = std::vector<std::string>;

TEST(RequestQueueTest, WithoutDynamicBatchingEachRequestIsAlone) {
  SchedulerOptions o;
  o.max_batch_size = 8;
  RequestQueue q(o);
  for (int i = 0; i < 3; ++i) Add(q, Req(i));
  EXPECT_EQ(Pop(q, 0), Ids{"0"});
  EXPECT_EQ(Pop(q, 0), Ids{"1"});
  EXPECT_EQ(Pop(q, 0), Ids{"2"});
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.Next(0).count, 0u);
  EXPECT_EQ(q.Next(0).wake_ns, UINT64_MAX);
}

TEST(RequestQueueTest, NoDelaySendsWhatIsThereUpToMaxBatchSize) {
  RequestQueue q(Batching(4));
  for (int i = 0; i < 6; ++i) Add(q, Req(i));
  EXPECT_EQ(Pop(q, 0), (Ids{"0", "1", "2", "3"}));
  EXPECT_EQ(Pop(q, 0), (Ids{"4", "5"}));
}

TEST(RequestQueueTest, DelayWaitsForAFullBatchThenSendsWhatIsThere) {
  RequestQueue q(Batching(4, /*delay_us=*/100));
  Add(q, Req(0), 10 * kUs);
  Add(q, Req(1), 20 * kUs);
  auto d = q.Next(50 * kUs);
  EXPECT_EQ(d.count, 0u);
  EXPECT_EQ(d.wake_ns, 110 * kUs);  // the oldest request's delay ends
  EXPECT_EQ(Pop(q, 110 * kUs), (Ids{"0", "1"}));
  // A full batch goes at once, delay or not.
  for (int i = 2; i < 6; ++i) Add(q, Req(i), 200 * kUs);
  EXPECT_EQ(Pop(q, 200 * kUs), (Ids{"2", "3", "4", "5"}));
}

TEST(RequestQueueTest, PreferredBatchSizes) {
  RequestQueue q(Batching(8, /*delay_us=*/100, {2, 4}));
  for (int i = 0; i < 5; ++i) Add(q, Req(i));
  // 4 is the largest preferred size: it goes at once, leaving one.
  EXPECT_EQ(Pop(q, 0), (Ids{"0", "1", "2", "3"}));
  EXPECT_EQ(q.Next(1).count, 0u);
  for (int i = 5; i < 7; ++i) Add(q, Req(i), 5);
  // Three waiting: not preferred; after the delay the largest preferred
  // prefix (2) goes and the third waits for more company.
  EXPECT_EQ(q.Next(50 * kUs).count, 0u);
  EXPECT_EQ(Pop(q, 100 * kUs), (Ids{"4", "5"}));
  EXPECT_EQ(Pop(q, 200 * kUs), (Ids{"6"}));  // no preferred size reachable: all
}

TEST(RequestQueueTest, RequestBatchesCountAsItems) {
  RequestQueue q(Batching(4));
  Add(q, Req(0, /*batch=*/3));
  Add(q, Req(1, /*batch=*/2));
  Add(q, Req(2, /*batch=*/1));
  EXPECT_EQ(Pop(q, 0), (Ids{"0"}));  // 3 + 2 > 4
  EXPECT_EQ(Pop(q, 0), (Ids{"1", "2"}));
}

TEST(RequestQueueTest, DifferentShapesAreNotMixedUnlessRagged) {
  RequestQueue q(Batching(8, /*delay_us=*/1000));
  Add(q, Req(0, 1, /*width=*/2));
  Add(q, Req(1, 1, 2));
  Add(q, Req(2, 1, /*width=*/3));
  Add(q, Req(3, 1, 2));
  // The shape change closes the batch: it goes without waiting.
  EXPECT_EQ(Pop(q, 0), (Ids{"0", "1"}));
  EXPECT_EQ(Pop(q, 0), (Ids{"2"}));
  EXPECT_EQ(q.Next(0).count, 0u);  // "3" waits for the delay

  SchedulerOptions ragged = Batching(8);
  ragged.ragged_inputs = {"x"};
  RequestQueue r(ragged);
  Add(r, Req(0, 1, 2));
  Add(r, Req(1, 1, 3));
  EXPECT_EQ(Pop(r, 0), (Ids{"0", "1"}));

  // A different set of inputs closes a batch too.
  RequestQueue s(Batching(8));
  Add(s, Req(0));
  auto other = Req(1);
  other->inputs[0].name = "y";
  Add(s, std::move(other));
  EXPECT_EQ(Pop(s, 0), (Ids{"0"}));
}

SchedulerOptions Priorities() {
  SchedulerOptions o = Batching(2);
  o.priority_levels = 3;
  o.default_priority_level = 2;
  return o;
}

TEST(RequestQueueTest, HigherPriorityLevelsGoFirst) {
  RequestQueue q(Priorities());
  Add(q, Req(0, 1, 2, /*priority=*/3));
  Add(q, Req(1, 1, 2, /*priority=*/0));  // default level 2
  Add(q, Req(2, 1, 2, /*priority=*/1));
  Add(q, Req(3, 1, 2, /*priority=*/9));  // outside the levels: default, as Triton
  EXPECT_EQ(q.LevelOf(9), 2u);
  EXPECT_EQ(q.LevelOf(0), 2u);
  EXPECT_EQ(Pop(q, 0), (Ids{"2", "1"}));
  EXPECT_EQ(Pop(q, 0), (Ids{"3", "0"}));
}

TEST(RequestQueueTest, FullLevelRefusesAtOnce) {
  SchedulerOptions o = Priorities();
  o.default_policy.max_queue_size = 2;
  o.priority_policies[1].max_queue_size = 1;
  RequestQueue q(o);
  Add(q, Req(0, 1, 2, 1));
  auto r = Req(1, 1, 2, 1);
  Status st = q.Enqueue(r, 0);
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("exceeds maximum queue size"), std::string::npos);
  ASSERT_NE(r, nullptr);  // left with the caller
  r->CompleteWithError(st);
  // Other levels have their own room.
  Add(q, Req(2, 1, 2, 2));
  Add(q, Req(3, 1, 2, 3));
  EXPECT_EQ(q.size(), 3u);
}

TEST(RequestQueueTest, RejectTimeouts) {
  SchedulerOptions o = Batching(4, /*delay_us=*/1000);
  o.default_policy.default_timeout_us = 100;
  RequestQueue q(o);
  Add(q, Req(0), 0);
  Add(q, Req(1), 50 * kUs);
  EXPECT_EQ(q.Next(10 * kUs).wake_ns, 100 * kUs);  // the first timeout comes before the delay
  std::vector<std::unique_ptr<InferenceRequest>> rejected;
  q.ExpireTimeouts(99 * kUs, &rejected);
  EXPECT_TRUE(rejected.empty());
  q.ExpireTimeouts(100 * kUs, &rejected);
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_EQ(rejected[0]->id, "0");
  rejected[0]->CompleteWithError(Unavailable("timeout"));
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(Pop(q, 150 * kUs, /*flush=*/true), Ids{"1"});
}

TEST(RequestQueueTest, DelayTimeoutsMoveBehindTheLevel) {
  SchedulerOptions o = Batching(1);
  o.default_policy.default_timeout_us = 100;
  o.default_policy.delay_on_timeout = true;
  RequestQueue q(o);
  Add(q, Req(0), 0);
  Add(q, Req(1, 1, 2, 0, 0), 200 * kUs);
  std::vector<std::unique_ptr<InferenceRequest>> rejected;
  q.ExpireTimeouts(150 * kUs, &rejected);
  EXPECT_TRUE(rejected.empty());
  EXPECT_EQ(Pop(q, 210 * kUs), Ids{"1"});  // "0" timed out: it goes last
  EXPECT_EQ(Pop(q, 210 * kUs), Ids{"0"});
}

TEST(RequestQueueTest, TimeoutOverride) {
  SchedulerOptions o = Batching(4, 10000);
  o.default_policy.default_timeout_us = 1000;
  RequestQueue no_override(o);
  Add(no_override, Req(0, 1, 2, 0, /*timeout_us=*/10), 0);
  std::vector<std::unique_ptr<InferenceRequest>> rejected;
  no_override.ExpireTimeouts(500 * kUs, &rejected);
  EXPECT_TRUE(rejected.empty());  // the request's own timeout is ignored

  o.default_policy.allow_timeout_override = true;
  RequestQueue q(o);
  Add(q, Req(0, 1, 2, 0, /*timeout_us=*/10), 0);
  Add(q, Req(1, 1, 2, 0, /*timeout_us=*/0), 0);  // 0: the default applies
  q.ExpireTimeouts(10 * kUs, &rejected);
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_EQ(rejected[0]->id, "0");
  q.ExpireTimeouts(1000 * kUs, &rejected);
  EXPECT_EQ(rejected.size(), 2u);
  for (auto& r : rejected) r->CompleteWithError(Unavailable("timeout"));
}

TEST(RequestQueueTest, NoTimeoutMeansForever) {
  RequestQueue q(Batching(4, 100));
  Add(q, Req(0, 1, 2, 0, /*timeout_us=*/0), 0);
  std::vector<std::unique_ptr<InferenceRequest>> rejected;
  q.ExpireTimeouts(UINT64_MAX - 1, &rejected);
  EXPECT_TRUE(rejected.empty());
  EXPECT_EQ(Pop(q, UINT64_MAX - 1), Ids{"0"});
}

TEST(RequestQueueTest, CancelledRequestsArePoppedApartAndTakeNoRoom) {
  RequestQueue q(Batching(2));
  auto flag = std::make_shared<std::atomic<bool>>(false);
  auto c = Req(0);
  c->cancelled = flag;
  Add(q, std::move(c));
  Add(q, Req(1));
  Add(q, Req(2));
  flag->store(true);
  auto d = q.Next(0);
  EXPECT_EQ(d.count, 3u);  // the cancelled one plus a full batch
  std::vector<std::unique_ptr<InferenceRequest>> batch, cancelled;
  q.PopFront(d.count, &batch, &cancelled);
  ASSERT_EQ(batch.size(), 2u);
  ASSERT_EQ(cancelled.size(), 1u);
  EXPECT_EQ(cancelled[0]->id, "0");
  for (auto* v : {&batch, &cancelled}) {
    for (auto& r : *v) r->CompleteWithError(Cancelled("test"));
  }
}

TEST(RequestQueueTest, FlushIgnoresTheDelay) {
  RequestQueue q(Batching(8, 1000000, {4}));
  Add(q, Req(0));
  Add(q, Req(1));
  EXPECT_EQ(q.Next(0).count, 0u);
  EXPECT_EQ(Pop(q, 0, /*flush=*/true), (Ids{"0", "1"}));
}

}  // namespace
}  // namespace nereid::core
