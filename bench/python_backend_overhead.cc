// The Python backend's own cost per request, in process: a PythonInstance of
// tests/models/python/py_empty (copies a 16-float input to its output) is
// called directly, batch 1, and the time of each Execute (encode, hand-off
// to the worker process through the socket and shared memory, execute() in
// Python, decode) is recorded. No network, no scheduler.
//
//   python_backend_overhead MODEL_DIR [ITERATIONS]
// prints p50/p90/p99/mean in microseconds and, on the last line, JSON.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <google/protobuf/text_format.h>

#include "backends/python/python_backend.h"
#include "proto/model_config.pb.h"

int main(int argc, char** argv) {
  using namespace nereid;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL_DIR [ITERATIONS]\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const int iterations = argc > 2 ? std::atoi(argv[2]) : 20000;
  std::ifstream in(dir + "/config.pbtxt");
  std::stringstream text;
  text << in.rdbuf();
  inference::ModelConfig config;
  if (!google::protobuf::TextFormat::ParseFromString(text.str(), &config)) {
    std::fprintf(stderr, "cannot parse %s/config.pbtxt\n", dir.c_str());
    return 1;
  }
  backends::PythonBackend backend;
  core::ModelFiles files{dir, dir + "/1", dir + "/1/model.py"};
  auto model = backend.Load(config, files);
  if (!model.ok()) {
    std::fprintf(stderr, "load: %s\n", model.status().message().c_str());
    return 1;
  }
  core::InstanceOptions io;
  io.name = "bench_0";
  auto instance = (*model)->CreateInstance(io);
  if (!instance.ok()) {
    std::fprintf(stderr, "instance: %s\n", instance.status().message().c_str());
    return 1;
  }
  std::vector<float> input(16, 1.5f);
  std::vector<double> us;
  int failures = 0;
  for (int i = 0; i < iterations + 1000; ++i) {
    auto r = std::make_unique<core::InferenceRequest>();
    r->model_name = config.name();
    r->inputs.push_back({"INPUT0",
                         TensorView{DataType::kFp32, {16}, reinterpret_cast<const char*>(input.data()),
                                    input.size() * sizeof(float)},
                         {}});
    bool ok = false;
    r->set_callback([&ok](std::unique_ptr<core::InferenceResponse> resp) {
      ok = resp->status.ok() && resp->outputs.size() == 1;
    });
    std::vector<std::unique_ptr<core::InferenceRequest>> batch;
    batch.push_back(std::move(r));
    const auto t0 = std::chrono::steady_clock::now();
    (*instance)->Execute(batch);
    const auto t1 = std::chrono::steady_clock::now();
    if (!ok) ++failures;
    if (i >= 1000) us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  std::sort(us.begin(), us.end());
  double mean = 0;
  for (double v : us) mean += v / us.size();
  auto pct = [&](double p) { return us[std::min(us.size() - 1, size_t(p / 100 * us.size()))]; };
  std::printf("python backend Execute, batch 1, %d calls: p50 %.1f us, p90 %.1f, p99 %.1f, "
              "mean %.1f (failures %d)\n",
              iterations, pct(50), pct(90), pct(99), mean, failures);
  std::printf("{\"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, \"mean_us\": %.1f, "
              "\"calls\": %d, \"failures\": %d}\n",
              pct(50), pct(90), pct(99), mean, iterations, failures);
  return failures ? 1 : 0;
}
