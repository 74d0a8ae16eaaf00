// torch_bench: libtorch alone, the baseline of the pytorch backend's
// overhead (bench/torch_bench.py serves the same file with nereid and
// compares). Runs forward() on one fixed random input the way the backend
// does (torch::jit::load on the CPU, eval(), c10::InferenceMode, NoGradGuard,
// at::set_num_threads on the calling thread) and prints one JSON line:
//
//   torch_bench MODEL.pt [--shape 1,3,224,224] [--threads 1] [--warmup 10] [--iterations 100]
//   {"model": ..., "threads": 1, "iterations": 100, "p50_ms": ..., "p90_ms": ..., "mean_ms": ...}
//
// A standalone tool, not part of the server: libtorch's exceptions end it
// with a message and exit status 1.
#include <ATen/Parallel.h>
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Options {
  std::string model;
  std::vector<int64_t> shape = {1, 3, 224, 224};
  int threads = 1;
  int warmup = 10;
  int iterations = 100;
};

bool Parse(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (a != name || i + 1 >= argc) return nullptr;
      return argv[++i];
    };
    if (const char* v = value("--shape")) {
      o->shape.clear();
      std::stringstream ss(v);
      std::string d;
      while (std::getline(ss, d, ',')) o->shape.push_back(std::stoll(d));
    } else if (const char* v = value("--threads")) {
      o->threads = std::atoi(v);
    } else if (const char* v = value("--warmup")) {
      o->warmup = std::atoi(v);
    } else if (const char* v = value("--iterations")) {
      o->iterations = std::atoi(v);
    } else if (!a.empty() && a[0] != '-' && o->model.empty()) {
      o->model = a;
    } else {
      return false;
    }
  }
  return !o->model.empty() && o->threads > 0 && o->iterations > 0 && o->warmup >= 0;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * v.size()))];
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!Parse(argc, argv, &o)) {
    std::fprintf(stderr,
                 "usage: torch_bench MODEL.pt [--shape 1,3,224,224] [--threads N] [--warmup W] "
                 "[--iterations K]\n");
    return 2;
  }
  try {
    at::internal::lazy_init_num_threads();
    at::set_num_threads(o.threads);
    torch::jit::Module module = torch::jit::load(o.model, c10::Device(c10::kCPU));
    module.eval();
    torch::manual_seed(0);
    const at::Tensor input = torch::rand(o.shape);
    std::vector<double> ms;
    for (int i = 0; i < o.warmup + o.iterations; ++i) {
      const auto start = std::chrono::steady_clock::now();
      {
        c10::InferenceMode inference_mode;
        torch::NoGradGuard no_grad;
        std::vector<c10::IValue> args{input};
        c10::IValue out = module.forward(std::move(args));
      }
      const std::chrono::duration<double, std::milli> took =
          std::chrono::steady_clock::now() - start;
      if (i >= o.warmup) ms.push_back(took.count());
    }
    const double mean = std::accumulate(ms.begin(), ms.end(), 0.0) / ms.size();
    std::printf(
        "{\"model\": \"%s\", \"threads\": %d, \"iterations\": %d, \"p50_ms\": %.3f, "
        "\"p90_ms\": %.3f, \"mean_ms\": %.3f}\n",
        o.model.c_str(), o.threads, o.iterations, Percentile(ms, 50), Percentile(ms, 90), mean);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "torch_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
