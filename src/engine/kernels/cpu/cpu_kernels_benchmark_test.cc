// Timing, not a test: reference vs optimized kernel per op on BERT-base and
// ResNet-50 shapes, 2 threads. Run with
//   engine_kernels_test --gtest_also_run_disabled_tests
//       --gtest_filter='CpuKernelsBenchmark.*'
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "engine/kernels/cpu/cpu_kernel_test_util.h"

namespace nereid::engine {
namespace {

using namespace cputest;  // NOLINT: test helpers

// Best-of-5 mean time per run (ms) over batches of `iters` runs.
double TimeMs(const Kernel& k, const std::vector<const Tensor*>& in, int iters) {
  double best = 1e30;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) {
      auto y = RunKernel(k, in);
      if (!y.ok()) ADD_FAILURE() << y.status().ToString();
    }
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() /
        iters;
    best = std::min(best, ms);
  }
  return best;
}

TEST(CpuKernelsBenchmark, DISABLED_Benchmark) {
  std::mt19937 rng(1);
  struct Case {
    std::string name;
    OpSpec spec;
    std::vector<Shape> shapes;
  };
  std::vector<Case> cases = {
      {"Add [1,128,768]+[768]", OpSpec("Add", 2), {{1, 128, 768}, {768}}},
      {"Add [1,12,128,128]+[1,1,1,128]", OpSpec("Add", 2), {{1, 12, 128, 128}, {1, 1, 1, 128}}},
      {"Erf [1,128,3072]", OpSpec("Erf", 1), {{1, 128, 3072}}},
      {"Softmax [1,12,128,128] axis -1", OpSpec("Softmax", 1).Opset(13), {{1, 12, 128, 128}}},
      {"LayerNorm [1,128,768] axis -1", OpSpec("LayerNormalization", 3),
       {{1, 128, 768}, {768}, {768}}},
      {"Transpose [1,128,12,64] [0,2,1,3]", OpSpec("Transpose", 1).Ints("perm", {0, 2, 1, 3}),
       {{1, 128, 12, 64}}},
      {"Transpose [1,128,12,64] [0,2,3,1]", OpSpec("Transpose", 1).Ints("perm", {0, 2, 3, 1}),
       {{1, 128, 12, 64}}},
      {"Relu [1,64,112,112]", OpSpec("Relu", 1), {{1, 64, 112, 112}}},
      {"MaxPool [1,64,112,112] k3 s2 p1",
       OpSpec("MaxPool", 1).Ints("kernel_shape", {3, 3}).Ints("strides", {2, 2})
           .Ints("pads", {1, 1, 1, 1}),
       {{1, 64, 112, 112}}},
  };
  std::printf("%-36s %12s %12s %9s\n", "op (2 threads)", "reference ms", "optimized ms",
              "speed-up");
  for (Case& c : cases) {
    c.spec.Threads(2);
    std::vector<Tensor> tensors;
    for (const Shape& s : c.shapes) tensors.push_back(RandomTensor(s, rng, -3.0f, 3.0f));
    std::vector<const Tensor*> in;
    for (const Tensor& t : tensors) in.push_back(&t);
    auto fast = c.spec.BuildOptimized();
    auto ref = c.spec.Build(KernelRegistry::kReferencePriority);
    ASSERT_TRUE(fast.ok() && ref.ok());
    ASSERT_TRUE(RunKernel(**fast, in).ok());  // warm-up (primitive creation, pages)
    ASSERT_TRUE(RunKernel(**ref, in).ok());
    const double ref_ms = TimeMs(**ref, in, 5);
    const double fast_ms = TimeMs(**fast, in, 50);
    std::printf("%-36s %12.3f %12.3f %8.1fx\n", c.name.c_str(), ref_ms, fast_ms, ref_ms / fast_ms);
  }
}

}  // namespace
}  // namespace nereid::engine
