// EnsembleScheduler with fake composing models behind its Submit function
// (worker threads, no server, no protobuf; part of scheduler_test, which also
// runs under TSan): dataflow, parallel steps, pruning, failures, statistics
// and Stop.
#include "core/ensemble/ensemble_scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace nereid::core {
namespace {

using ModelFn = std::function<std::unique_ptr<InferenceResponse>(InferenceRequest&)>;

// Composing models run on a few worker threads; every step request is
// completed there (or at once for an unknown model, as the server does).
class FakeModels {
 public:
  explicit FakeModels(int threads = 4) {
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
  }
  ~FakeModels() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  void Add(const std::string& name, ModelFn fn) { models_[name] = std::move(fn); }
  EnsembleScheduler::Submit submit() {
    return [this](std::unique_ptr<InferenceRequest> r) {
      submitted_ += 1;
      {
        std::lock_guard<std::mutex> lock(mu_);
        names_.push_back(r->model_name);
      }
      if (!models_.count(r->model_name)) {
        r->CompleteWithError(NotFound("unknown model: '" + r->model_name + "'"));
        return;
      }
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(r));
      cv_.notify_one();
    };
  }
  int submitted() const { return submitted_.load(); }
  std::multiset<std::string> names() {
    std::lock_guard<std::mutex> lock(mu_);
    return {names_.begin(), names_.end()};
  }

 private:
  void Work() {
    for (;;) {
      std::unique_ptr<InferenceRequest> r;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;
        r = std::move(queue_.front());
        queue_.pop_front();
      }
      auto response = models_.at(r->model_name)(*r);
      // As DynamicBatchScheduler does: the observer first, then the callback.
      if (response->status.ok() && r->compute_observer) r->compute_observer(1, 10, 100);
      r->Complete(std::move(response));
    }
  }

  std::map<std::string, ModelFn> models_;  // filled before the first request
  std::atomic<int> submitted_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<InferenceRequest>> queue_;
  std::vector<std::string> names_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

// y = a * x + b on every FP32 element of the request's input "IN" -> "OUT".
ModelFn Affine(float a, float b) {
  return [a, b](InferenceRequest& r) {
    auto response = std::make_unique<InferenceResponse>();
    const RequestInput* in = r.FindInput("IN");
    if (!in) {
      response->status = InvalidArgument("missing input 'IN'");
      return response;
    }
    Tensor out = Tensor::AllocateDense(DataType::kFp32, in->tensor.shape);
    const float* x = reinterpret_cast<const float*>(in->tensor.data);
    for (size_t i = 0; i < in->tensor.byte_size / sizeof(float); ++i) {
      out.mutable_data_as<float>()[i] = a * x[i] + b;
    }
    response->outputs.push_back({"OUT", std::move(out)});
    return response;
  };
}

// OUT = X + Y (elementwise).
std::unique_ptr<InferenceResponse> Add(InferenceRequest& r) {
  auto response = std::make_unique<InferenceResponse>();
  const RequestInput* x = r.FindInput("X");
  const RequestInput* y = r.FindInput("Y");
  Tensor out = Tensor::AllocateDense(DataType::kFp32, x->tensor.shape);
  for (size_t i = 0; i < x->tensor.byte_size / sizeof(float); ++i) {
    out.mutable_data_as<float>()[i] = reinterpret_cast<const float*>(x->tensor.data)[i] +
                                      reinterpret_cast<const float*>(y->tensor.data)[i];
  }
  response->outputs.push_back({"OUT", std::move(out)});
  return response;
}

EnsembleStep MakeStep(const std::string& model,
                      std::vector<std::pair<std::string, std::string>> inputs,
                      std::vector<std::pair<std::string, std::string>> outputs) {
  EnsembleStep s;
  s.model_name = model;
  s.inputs = std::move(inputs);
  s.outputs = std::move(outputs);
  s.model_batches = true;
  for (const auto& [input, tensor] : s.inputs) s.input_dims[input] = {-1};
  return s;
}

std::shared_ptr<const EnsemblePlan> MakePlan(std::vector<std::string> inputs,
                                             std::vector<std::string> outputs,
                                             std::vector<EnsembleStep> steps) {
  auto plan = std::make_shared<EnsemblePlan>();
  plan->name = "e";
  plan->batches = true;
  plan->inputs = std::move(inputs);
  for (const auto& o : outputs) plan->outputs.push_back({o, {-1}});
  plan->steps = std::move(steps);
  for (size_t i = 0; i < plan->steps.size(); ++i) {
    for (const auto& [out, tensor] : plan->steps[i].outputs) plan->producer[tensor] = i;
    for (const auto& [in, tensor] : plan->steps[i].inputs) {
      auto& c = plan->consumers[tensor];
      if (c.empty() || c.back() != i) c.push_back(i);
    }
  }
  return plan;
}

struct Result {
  std::unique_ptr<InferenceResponse> response;
  std::vector<float> Values(const std::string& name) const {
    for (const auto& o : response->outputs) {
      if (o.name != name) continue;
      const float* p = o.tensor.data_as<float>();
      return std::vector<float>(p, p + o.tensor.byte_size() / sizeof(float));
    }
    return {};
  }
};

// Runs one ensemble request with input A = `a` (batch 1) and waits for it.
Result RunOne(EnsembleScheduler& sched, std::vector<float> a,
              std::vector<std::string> requested = {}, bool with_b = false) {
  auto data = std::make_shared<std::vector<float>>(std::move(a));
  auto r = std::make_unique<InferenceRequest>();
  r->model_name = "e";
  r->id = "req-7";
  r->parameters["custom"] = int64_t{5};
  r->batch_size = 1;
  r->buffer_owner = data;
  const Shape shape{1, static_cast<int64_t>(data->size())};
  const size_t bytes = data->size() * sizeof(float);
  r->inputs.push_back(
      {"A", {DataType::kFp32, shape, reinterpret_cast<const char*>(data->data()), bytes}, {}});
  if (with_b) {
    r->inputs.push_back(
        {"B", {DataType::kFp32, shape, reinterpret_cast<const char*>(data->data()), bytes}, {}});
  }
  for (auto& name : requested) r->requested_outputs.push_back({name, {}});
  std::promise<std::unique_ptr<InferenceResponse>> done;
  auto got = done.get_future();
  r->set_callback(
      [&done](std::unique_ptr<InferenceResponse> resp) { done.set_value(std::move(resp)); });
  sched.Enqueue(std::move(r));
  EXPECT_EQ(got.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  return Result{got.get()};
}

TEST(EnsembleSchedulerTest, ChainPassesTensorsAndRecordsStatistics) {
  FakeModels models;
  models.Add("double", Affine(2, 0));
  models.Add("inc", ModelFn([](InferenceRequest& r) {
               // The ensemble request's id and parameters reach every step.
               EXPECT_EQ(r.id, "req-7");
               EXPECT_EQ(std::get<int64_t>(r.parameters.at("custom")), 5);
               return Affine(1, 1)(r);
             }));
  auto plan = MakePlan({"A"}, {"OUT"},
                       {MakeStep("inc", {{"IN", "T"}}, {{"OUT", "OUT"}}),
                        MakeStep("double", {{"IN", "A"}}, {{"OUT", "T"}})});
  SystemClock& clock = SystemClock::Get();
  ModelStatistics stats("e", 1, clock);
  EnsembleScheduler sched(plan, models.submit(), clock, &stats);
  Result r = RunOne(sched, {1, 2, 3});
  ASSERT_TRUE(r.response->status.ok()) << r.response->status.ToString();
  EXPECT_EQ(r.Values("OUT"), (std::vector<float>{3, 5, 7}));
  EXPECT_EQ(r.response->model_name, "e");
  EXPECT_EQ(r.response->id, "req-7");
  ModelStatsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.success.count, 1u);
  EXPECT_EQ(s.inference_count, 1u);
  EXPECT_EQ(s.execution_count, 1u);
  // Sums over the two steps, as each reported (1, 10, 100).
  EXPECT_EQ(s.compute_input.ns, 2u);
  EXPECT_EQ(s.compute_infer.ns, 20u);
  EXPECT_EQ(s.compute_output.ns, 200u);
  ASSERT_EQ(s.batch_stats.size(), 1u);
  EXPECT_EQ(s.batch_stats[0].batch_size, 1u);
  EXPECT_EQ(s.batch_stats[0].compute_infer.ns, 20u);
}

TEST(EnsembleSchedulerTest, IndependentStepsRunAtTheSameTime) {
  // Both branches wait until both have started: they only finish when the
  // scheduler submitted them together.
  std::mutex mu;
  std::condition_variable cv;
  int arrived = 0;
  auto gate = [&](float a) {
    return ModelFn([&, a](InferenceRequest& r) {
      std::unique_lock<std::mutex> lock(mu);
      ++arrived;
      cv.notify_all();
      bool both = cv.wait_for(lock, std::chrono::seconds(10), [&] { return arrived >= 2; });
      EXPECT_TRUE(both) << "the two branches did not overlap";
      lock.unlock();
      return Affine(a, 0)(r);
    });
  };
  FakeModels models;
  models.Add("src", Affine(1, 1));
  models.Add("left", gate(2));
  models.Add("right", gate(3));
  models.Add("add", Add);
  auto plan = MakePlan({"A"}, {"OUT"},
                       {MakeStep("src", {{"IN", "A"}}, {{"OUT", "S"}}),
                        MakeStep("left", {{"IN", "S"}}, {{"OUT", "L"}}),
                        MakeStep("right", {{"IN", "S"}}, {{"OUT", "R"}}),
                        MakeStep("add", {{"X", "L"}, {"Y", "R"}}, {{"OUT", "OUT"}})});
  EnsembleScheduler sched(plan, models.submit(), SystemClock::Get());
  Result r = RunOne(sched, {1, 2});
  ASSERT_TRUE(r.response->status.ok()) << r.response->status.ToString();
  EXPECT_EQ(r.Values("OUT"), (std::vector<float>{10, 15}));  // (a+1)*2 + (a+1)*3
  EXPECT_EQ(models.submitted(), 4);
}

TEST(EnsembleSchedulerTest, OnlyStepsForRequestedOutputsRun) {
  FakeModels models;
  models.Add("x", Affine(2, 0));
  models.Add("y", Affine(3, 0));
  auto plan = MakePlan(
      {"A"}, {"X", "Y"},
      {MakeStep("x", {{"IN", "A"}}, {{"OUT", "X"}}), MakeStep("y", {{"IN", "A"}}, {{"OUT", "Y"}})});
  EnsembleScheduler sched(plan, models.submit(), SystemClock::Get());
  Result r = RunOne(sched, {1}, {"Y"});
  ASSERT_TRUE(r.response->status.ok());
  ASSERT_EQ(r.response->outputs.size(), 1u);
  EXPECT_EQ(r.Values("Y"), (std::vector<float>{3}));
  EXPECT_EQ(models.names(), (std::multiset<std::string>{"y"}));
  Result all = RunOne(sched, {1});
  EXPECT_EQ(all.response->outputs.size(), 2u);
}

TEST(EnsembleSchedulerTest, FailingStepFailsTheRequestWithItsMessage) {
  FakeModels models;
  models.Add("ok", Affine(1, 0));
  models.Add("bad", ModelFn([](InferenceRequest&) {
               auto resp = std::make_unique<InferenceResponse>();
               resp->status = InvalidArgument("boom");
               return resp;
             }));
  models.Add("after", Affine(1, 0));
  auto plan = MakePlan({"A"}, {"OUT"},
                       {MakeStep("ok", {{"IN", "A"}}, {{"OUT", "T"}}),
                        MakeStep("bad", {{"IN", "T"}}, {{"OUT", "U"}}),
                        MakeStep("after", {{"IN", "U"}}, {{"OUT", "OUT"}})});
  SystemClock& clock = SystemClock::Get();
  ModelStatistics stats("e", 1, clock);
  EnsembleScheduler sched(plan, models.submit(), clock, &stats);
  Result r = RunOne(sched, {1});
  EXPECT_EQ(r.response->status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.response->status.message(), "in ensemble 'e', step 1 (model 'bad'): boom");
  EXPECT_EQ(models.names(), (std::multiset<std::string>{"ok", "bad"}));
  ModelStatsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.fail.count, 1u);
  EXPECT_EQ(s.success.count, 0u);
  EXPECT_EQ(s.failures_by_reason[static_cast<int>(FailureReason::kOther)], 1u);
}

TEST(EnsembleSchedulerTest, StepRefusedAtOnceCompletesTheRequest) {
  FakeModels models;  // "gone" is unknown: the submit completes inside the call
  models.Add("ok", Affine(1, 0));
  auto plan = MakePlan({"A"}, {"OUT", "P"},
                       {MakeStep("gone", {{"IN", "A"}}, {{"OUT", "OUT"}}),
                        MakeStep("ok", {{"IN", "A"}}, {{"OUT", "P"}})});
  EnsembleScheduler sched(plan, models.submit(), SystemClock::Get());
  Result r = RunOne(sched, {1});
  EXPECT_EQ(r.response->status.code(), StatusCode::kNotFound);
  EXPECT_EQ(r.response->status.message(),
            "in ensemble 'e', step 0 (model 'gone'): unknown model: 'gone'");
}

TEST(EnsembleSchedulerTest, AbsentOptionalInputIsLeftOut) {
  FakeModels models;
  models.Add("m", ModelFn([](InferenceRequest& r) {
               EXPECT_EQ(r.FindInput("OPT"), nullptr);
               return Affine(1, 0)(r);
             }));
  auto plan =
      MakePlan({"A", "B"}, {"OUT"}, {MakeStep("m", {{"IN", "A"}, {"OPT", "B"}}, {{"OUT", "OUT"}})});
  EnsembleScheduler sched(plan, models.submit(), SystemClock::Get());
  Result r = RunOne(sched, {4});
  ASSERT_TRUE(r.response->status.ok()) << r.response->status.ToString();
  EXPECT_EQ(r.Values("OUT"), (std::vector<float>{4}));
}

TEST(EnsembleSchedulerTest, StopWaitsForRunningRequestsThenRefuses) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> started;
  FakeModels models;
  models.Add("slow", ModelFn([&](InferenceRequest& r) {
               started.set_value();
               released.wait();
               return Affine(1, 0)(r);
             }));
  auto plan = MakePlan({"A"}, {"OUT"}, {MakeStep("slow", {{"IN", "A"}}, {{"OUT", "OUT"}})});
  EnsembleScheduler sched(plan, models.submit(), SystemClock::Get());
  auto first = std::async(std::launch::async, [&] { return RunOne(sched, {1}); });
  started.get_future().wait();
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    sched.Stop();
    stopped = true;
  });
  // Stop cannot return while the request runs.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(stopped.load());
  release.set_value();
  stopper.join();
  EXPECT_TRUE(first.get().response->status.ok());
  Result refused = RunOne(sched, {1});
  EXPECT_EQ(refused.response->status.code(), StatusCode::kUnavailable);
  EXPECT_NE(refused.response->status.message().find("being unloaded"), std::string::npos);
}

TEST(EnsembleSchedulerTest, ManyConcurrentRequestsAllComplete) {
  FakeModels models(3);
  models.Add("a", Affine(2, 0));
  models.Add("b", Affine(1, 1));
  models.Add("add", Add);
  auto plan = MakePlan(
      {"A"}, {"OUT"},
      {MakeStep("a", {{"IN", "A"}}, {{"OUT", "L"}}), MakeStep("b", {{"IN", "A"}}, {{"OUT", "R"}}),
       MakeStep("add", {{"X", "L"}, {"Y", "R"}}, {{"OUT", "OUT"}})});
  SystemClock& clock = SystemClock::Get();
  ModelStatistics stats("e", 1, clock);
  EnsembleScheduler sched(plan, models.submit(), clock, &stats);
  std::vector<std::future<Result>> results;
  for (int i = 0; i < 40; ++i) {
    results.push_back(std::async(std::launch::async,
                                 [&sched, i] { return RunOne(sched, {static_cast<float>(i)}); }));
  }
  for (int i = 0; i < 40; ++i) {
    Result r = results[i].get();
    ASSERT_TRUE(r.response->status.ok());
    EXPECT_EQ(r.Values("OUT"), (std::vector<float>{3.0f * i + 1}));
  }
  EXPECT_EQ(stats.Snapshot().success.count, 40u);
}

}  // namespace
}  // namespace nereid::core
