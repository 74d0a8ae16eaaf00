#include "core/scheduler/sequence_batcher.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

namespace nereid::core {
namespace {

// An accumulator with implicit state: OUT = (START ? 0 : STATE) + IN, and
// the new state is OUT. Records each batch's (CORRID, START, END) triples.
class Accumulator : public ModelInstance {
 public:
  struct Log {
    std::mutex mu;
    std::vector<std::vector<std::string>> batches;
  };
  explicit Accumulator(Log* log) : log_(log) {}
  void Execute(std::vector<std::unique_ptr<InferenceRequest>>& requests) override {
    std::vector<std::string> batch;
    std::vector<std::unique_ptr<InferenceResponse>> responses(requests.size());
    for (size_t i = 0; i < requests.size(); ++i) {
      auto& r = requests[i];
      const RequestInput* in = r->FindInput("IN");
      const RequestInput* start = r->FindInput("START");
      const RequestInput* end = r->FindInput("END");
      const RequestInput* ready = r->FindInput("READY");
      const RequestInput* corr = r->FindInput("CORRID");
      const RequestInput* state = r->FindInput("STATE");
      if (!in || !start || !end || !ready || !corr || !state) {
        r->CompleteWithError(Internal("missing a control or state input"));
        continue;
      }
      EXPECT_EQ(start->tensor.shape, (Shape{1, 1}));
      EXPECT_EQ(state->tensor.shape, (Shape{1, 1}));
      const bool is_start = *reinterpret_cast<const int32_t*>(start->tensor.data) == 1;
      const bool is_end = *reinterpret_cast<const float*>(end->tensor.data) == 1.0f;
      EXPECT_TRUE(*reinterpret_cast<const bool*>(ready->tensor.data));
      const uint64_t id = *reinterpret_cast<const uint64_t*>(corr->tensor.data);
      batch.push_back(std::to_string(id) + (is_start ? "S" : "") + (is_end ? "E" : ""));
      float acc = (is_start ? 0.0f : *reinterpret_cast<const float*>(state->tensor.data)) +
                  *reinterpret_cast<const float*>(in->tensor.data);
      auto resp = std::make_unique<InferenceResponse>();
      Tensor out = Tensor::AllocateDense(DataType::kFp32, {1, 1});
      std::memcpy(out.mutable_data(), &acc, 4);
      Tensor next = Tensor::AllocateDense(DataType::kFp32, {1, 1});
      std::memcpy(next.mutable_data(), &acc, 4);
      resp->outputs.push_back({"OUT", std::move(out)});
      resp->outputs.push_back({"STATE_OUT", std::move(next)});
      responses[i] = std::move(resp);
    }
    {
      std::lock_guard<std::mutex> l(log_->mu);
      log_->batches.push_back(batch);  // before any client sees a response
    }
    for (size_t i = 0; i < requests.size(); ++i) {
      if (responses[i]) requests[i]->Complete(std::move(responses[i]));
    }
  }

 private:
  Log* log_;
};

SequenceOptions Options(int64_t max_batch, uint64_t delay_us = 0, int64_t slots = 4) {
  SequenceOptions o;
  o.max_batch_size = max_batch;
  o.max_queue_delay_us = delay_us;
  o.slots_per_instance = slots;
  o.max_sequence_idle_us = 1000;  // 1 ms of fake time
  SequenceControl start{SequenceControl::Kind::kStart, "START", DataType::kInt32, 0, 1};
  SequenceControl end{SequenceControl::Kind::kEnd, "END", DataType::kFp32, 0, 1};
  SequenceControl ready{SequenceControl::Kind::kReady, "READY", DataType::kBool, 0, 1};
  SequenceControl corr{SequenceControl::Kind::kCorrId, "CORRID", DataType::kUint64, 0, 1};
  o.controls = {start, end, ready, corr};
  SequenceState st;
  st.input = "STATE";
  st.output = "STATE_OUT";
  st.dtype = DataType::kFp32;
  st.initial_shape = {1};
  o.states = {st};
  return o;
}

struct Results {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, std::pair<Status, float>> got;  // request id -> (status, OUT)
  std::map<std::string, size_t> outputs;                // request id -> output count
  ResponseCallback Callback(const std::string& id) {
    return [this, id](std::unique_ptr<InferenceResponse> r) {
      std::lock_guard<std::mutex> l(mu);
      float v = 0;
      if (r->status.ok() && !r->outputs.empty()) {
        std::memcpy(&v, r->outputs[0].tensor.data(), 4);
      }
      got[id] = {r->status, v};
      outputs[id] = r->outputs.size();
      cv.notify_all();
    };
  }
  void Wait(size_t n) {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return got.size() >= n; });
  }
};

// Request `id` of sequence `seq` adding `value`.
std::unique_ptr<InferenceRequest> Step(const std::string& id, uint64_t seq, float value,
                                       bool start, bool end, Results* results,
                                       std::shared_ptr<std::vector<float>> keep) {
  auto r = std::make_unique<InferenceRequest>();
  r->id = id;
  r->model_name = "acc";
  r->batch_size = 1;
  r->sequence_id = seq;
  r->sequence_start = start;
  r->sequence_end = end;
  keep->push_back(value);
  RequestInput in;
  in.name = "IN";
  in.tensor = TensorView{DataType::kFp32, {1, 1}, reinterpret_cast<const char*>(&keep->back()), 4};
  r->inputs.push_back(in);
  r->set_callback(results->Callback(id));
  return r;
}

std::vector<std::unique_ptr<ModelInstance>> Instances(Accumulator::Log* log, int n) {
  std::vector<std::unique_ptr<ModelInstance>> v;
  for (int i = 0; i < n; ++i) v.push_back(std::make_unique<Accumulator>(log));
  return v;
}

TEST(SequenceBatcherTest, StateFollowsEachSequenceInOrder) {
  FakeClock clock;
  Accumulator::Log log;
  Results res;
  auto keep = std::make_shared<std::vector<float>>();
  keep->reserve(64);
  SequenceBatchScheduler sched("acc", Options(4), Instances(&log, 2), clock);
  sched.Enqueue(Step("a1", 7, 1, true, false, &res, keep));
  sched.Enqueue(Step("b1", 9, 10, true, false, &res, keep));
  sched.Enqueue(Step("a2", 7, 2, false, false, &res, keep));
  sched.Enqueue(Step("b2", 9, 20, false, false, &res, keep));
  sched.Enqueue(Step("a3", 7, 3, false, true, &res, keep));
  sched.Enqueue(Step("b3", 9, 30, false, true, &res, keep));
  res.Wait(6);
  std::lock_guard<std::mutex> l(res.mu);
  EXPECT_FLOAT_EQ(res.got["a1"].second, 1);
  EXPECT_FLOAT_EQ(res.got["a2"].second, 3);
  EXPECT_FLOAT_EQ(res.got["a3"].second, 6);
  EXPECT_FLOAT_EQ(res.got["b3"].second, 60);
  EXPECT_EQ(res.outputs["a3"], 1u);  // the state output is not the client's
}

TEST(SequenceBatcherTest, ControlsAndOneRequestPerSequencePerBatch) {
  FakeClock clock;
  Accumulator::Log log;
  Results res;
  auto keep = std::make_shared<std::vector<float>>();
  keep->reserve(64);
  // One instance, batches of up to 4, a long queue delay: batches form only
  // when full or when the fake clock passes the delay.
  SequenceBatchScheduler sched("acc", Options(4, /*delay_us=*/100), Instances(&log, 1), clock);
  sched.Enqueue(Step("x1", 1, 1, true, false, &res, keep));
  sched.Enqueue(Step("x2", 1, 1, false, true, &res, keep));
  sched.Enqueue(Step("y1", 2, 1, true, true, &res, keep));
  clock.AdvanceNs(100'000);
  res.Wait(3);
  std::lock_guard<std::mutex> l(log.mu);
  ASSERT_GE(log.batches.size(), 2u);
  EXPECT_EQ(log.batches[0], (std::vector<std::string>{"1S", "2SE"}));
  EXPECT_EQ(log.batches[1], (std::vector<std::string>{"1E"}));
}

TEST(SequenceBatcherTest, BadSequenceRequestsGetClearErrors) {
  FakeClock clock;
  Accumulator::Log log;
  Results res;
  auto keep = std::make_shared<std::vector<float>>();
  keep->reserve(64);
  SequenceBatchScheduler sched("acc", Options(4), Instances(&log, 1), clock);
  sched.Enqueue(Step("no_id", 0, 1, true, false, &res, keep));
  sched.Enqueue(Step("no_start", 5, 1, false, false, &res, keep));
  sched.Enqueue(Step("start", 6, 1, true, false, &res, keep));
  sched.Enqueue(Step("again", 6, 1, true, false, &res, keep));
  res.Wait(4);
  std::lock_guard<std::mutex> l(res.mu);
  EXPECT_NE(res.got["no_id"].first.message().find("correlation ID"), std::string::npos);
  EXPECT_NE(res.got["no_start"].first.message().find("START"), std::string::npos);
  EXPECT_TRUE(res.got["start"].first.ok());
  EXPECT_NE(res.got["again"].first.message().find("already active"), std::string::npos);
}

TEST(SequenceBatcherTest, BacklogWaitsForAFreeSlot) {
  FakeClock clock;
  Accumulator::Log log;
  Results res;
  auto keep = std::make_shared<std::vector<float>>();
  keep->reserve(64);
  SequenceBatchScheduler sched("acc", Options(1, 0, /*slots=*/1), Instances(&log, 1), clock);
  sched.Enqueue(Step("p1", 1, 1, true, false, &res, keep));
  res.Wait(1);
  sched.Enqueue(Step("q1", 2, 5, true, false, &res, keep));  // no slot: backlog
  sched.Enqueue(Step("p2", 1, 1, false, true, &res, keep));  // ends p, frees the slot
  res.Wait(3);
  std::lock_guard<std::mutex> l(res.mu);
  EXPECT_FLOAT_EQ(res.got["p2"].second, 2);
  EXPECT_FLOAT_EQ(res.got["q1"].second, 5);
}

TEST(SequenceBatcherTest, IdleSequencesAreReleased) {
  FakeClock clock;
  Accumulator::Log log;
  Results res;
  auto keep = std::make_shared<std::vector<float>>();
  keep->reserve(64);
  SequenceBatchScheduler sched("acc", Options(4), Instances(&log, 1), clock);
  sched.Enqueue(Step("s1", 3, 1, true, false, &res, keep));
  res.Wait(1);
  EXPECT_EQ(sched.active_sequences(), 1u);
  // Time passes until the sequence, idle for max_sequence_idle (1 ms of fake
  // time) after its last request finished, is released.
  for (int i = 0; i < 100000 && sched.active_sequences() != 0; ++i) {
    clock.AdvanceNs(500'000);
    std::this_thread::yield();
  }
  ASSERT_EQ(sched.active_sequences(), 0u);
  sched.Enqueue(Step("s2", 3, 1, false, false, &res, keep));
  res.Wait(2);
  std::lock_guard<std::mutex> l(res.mu);
  EXPECT_EQ(res.got["s2"].first.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(res.got["s2"].first.message().find("idle"), std::string::npos);
}

TEST(SequenceBatcherTest, StopRunsEveryQueuedRequest) {
  FakeClock clock;
  Accumulator::Log log;
  Results res;
  auto keep = std::make_shared<std::vector<float>>();
  keep->reserve(2000);
  ModelStatistics stats("acc", 1, clock);
  {
    SequenceBatchScheduler sched("acc", Options(4, /*delay_us=*/60'000'000, 2),
                                 Instances(&log, 2), clock, &stats);
    for (int s = 1; s <= 10; ++s) {
      for (int k = 0; k < 50; ++k) {
        sched.Enqueue(Step(std::to_string(s) + "_" + std::to_string(k), s, 1, k == 0, k == 49,
                           &res, keep));
      }
    }
    sched.Stop();
  }
  std::lock_guard<std::mutex> l(res.mu);
  ASSERT_EQ(res.got.size(), 500u);
  for (int s = 1; s <= 10; ++s) {
    EXPECT_FLOAT_EQ(res.got[std::to_string(s) + "_49"].second, 50) << s;
  }
  EXPECT_EQ(stats.Snapshot().success.count, 500u);
  EXPECT_EQ(stats.Snapshot().pending_requests, 0u);
}

}  // namespace
}  // namespace nereid::core
