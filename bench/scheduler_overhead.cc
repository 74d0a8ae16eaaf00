// Scheduler overhead per request, in process: one closed-loop client sends
// batch-1 requests to an instance that answers at once (the identity
// backend's work without the copy), either by calling the instance directly
// on the client's thread or through DynamicBatchScheduler (enqueue -> the
// instance's thread -> completion callback -> client wakes). Prints a table
// and, on the last line, JSON for bench/serving_bench.py.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>
#include <string>
#include <vector>

#include "core/scheduler/dynamic_batch_scheduler.h"

namespace {

using nereid::core::InferenceRequest;
using nereid::core::InferenceResponse;

class EchoInstance final : public nereid::core::ModelInstance {
 public:
  void Execute(std::vector<std::unique_ptr<InferenceRequest>>& requests) override {
    for (auto& r : requests) r->Complete(std::make_unique<InferenceResponse>());
  }
};

std::unique_ptr<InferenceRequest> MakeRequest(std::promise<void>* done) {
  auto r = std::make_unique<InferenceRequest>();
  r->model_name = "echo";
  r->batch_size = 1;
  r->set_callback([done](std::unique_ptr<InferenceResponse>) { done->set_value(); });
  return r;
}

struct Row {
  std::string name;
  double mean_us, p50_us, p99_us;
};

template <typename Send>
Row Measure(const std::string& name, int n, Send send) {
  std::vector<double> us;
  us.reserve(n);
  for (int i = 0; i < n + 1000; ++i) {
    std::promise<void> done;
    auto start = std::chrono::steady_clock::now();
    send(MakeRequest(&done));
    done.get_future().wait();
    auto end = std::chrono::steady_clock::now();
    if (i >= 1000) us.push_back(std::chrono::duration<double, std::micro>(end - start).count());
  }
  double sum = 0;
  for (double v : us) sum += v;
  std::sort(us.begin(), us.end());
  return {name, sum / us.size(), us[us.size() / 2], us[us.size() * 99 / 100]};
}

}  // namespace

int main() {
  constexpr int kRequests = 20000;
  std::vector<Row> rows;
  EchoInstance direct;
  rows.push_back(Measure("direct call of the instance", kRequests, [&](auto r) {
    std::vector<std::unique_ptr<InferenceRequest>> batch;
    batch.push_back(std::move(r));
    direct.Execute(batch);
  }));
  for (bool batching : {false, true}) {
    nereid::core::SchedulerOptions o;
    o.max_batch_size = 8;
    o.dynamic_batching = batching;
    std::vector<std::unique_ptr<nereid::core::ModelInstance>> instances;
    instances.push_back(std::make_unique<EchoInstance>());
    nereid::core::DynamicBatchScheduler sched("echo", o, std::move(instances),
                                              nereid::SystemClock::Get());
    rows.push_back(Measure(batching ? "scheduler, dynamic batching (delay 0)"
                                    : "scheduler, default (no batching)",
                           kRequests, [&](auto r) { sched.Enqueue(std::move(r)); }));
    sched.Stop();
  }
  std::printf("%-40s %10s %10s %10s\n", "path", "mean us", "p50 us", "p99 us");
  for (const Row& r : rows) {
    std::printf("%-40s %10.2f %10.2f %10.2f\n", r.name.c_str(), r.mean_us, r.p50_us, r.p99_us);
  }
  std::printf("{\"rows\": [");
  for (size_t i = 0; i < rows.size(); ++i) {
    std::printf("%s{\"name\": \"%s\", \"mean_us\": %.3f, \"p50_us\": %.3f, \"p99_us\": %.3f}",
                i ? ", " : "", rows[i].name.c_str(), rows[i].mean_us, rows[i].p50_us,
                rows[i].p99_us);
  }
  std::printf("]}\n");
  return 0;
}
