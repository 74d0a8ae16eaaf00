// Runs each optimized CPU kernel from 4 threads at once (each kernel object
// shared by all of them, each call itself parallel over 2 threads) and
// checks every result is bit-identical to a single-threaded run of the
// same kernel: Run must keep no mutable state but its guarded caches.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/kernels/cpu/cpu_kernel_test_util.h"

namespace nereid::engine {
namespace {

using namespace cputest;  // NOLINT: test helpers

struct Case {
  std::string name;
  OpSpec spec;
  std::vector<Tensor> inputs;
};

std::vector<Case> MakeCases() {
  std::mt19937 rng(41);
  std::vector<Case> cases;
  auto add = [&](std::string name, OpSpec spec, std::vector<Shape> shapes) {
    Case c{std::move(name), std::move(spec), {}};
    for (const Shape& s : shapes) c.inputs.push_back(RandomTensor(s, rng, -3.0f, 3.0f));
    cases.push_back(std::move(c));
  };
  add("Erf", OpSpec("Erf", 1), {{1, 128, 3072}});
  add("Sigmoid", OpSpec("Sigmoid", 1), {{3, 1000, 7}});
  add("Add broadcast", OpSpec("Add", 2), {{1, 12, 128, 128}, {1, 1, 1, 128}});
  add("Div scalar", OpSpec("Div", 2), {{4, 5000}, {}});
  add("Softmax", OpSpec("Softmax", 1).Opset(13), {{1, 12, 128, 128}});
  add("LogSoftmax axis 1", OpSpec("LogSoftmax", 1).Opset(13).Int("axis", 1), {{4, 50, 300}});
  add("LayerNormalization", OpSpec("LayerNormalization", 3), {{1, 128, 768}, {768}, {768}});
  add("Transpose runs", OpSpec("Transpose", 1).Ints("perm", {0, 2, 1, 3}), {{1, 128, 12, 64}});
  add("Transpose tiles", OpSpec("Transpose", 1).Ints("perm", {0, 2, 3, 1}), {{1, 128, 12, 64}});
  add("MaxPool", OpSpec("MaxPool", 1).Ints("kernel_shape", {3, 3}).Ints("strides", {2, 2})
                     .Ints("pads", {1, 1, 1, 1}),
      {{1, 16, 56, 56}});
  add("GlobalAveragePool", OpSpec("GlobalAveragePool", 1), {{2, 256, 7, 7}});
  return cases;
}

TEST(CpuKernelsConcurrencyTest, FourThreadsGiveBitIdenticalResults) {
  for (Case& c : MakeCases()) {
    SCOPED_TRACE(c.name);
    std::vector<const Tensor*> in;
    for (const Tensor& t : c.inputs) in.push_back(&t);
    // The expected result from a kernel of its own, run alone.
    auto solo = c.spec.BuildOptimized();
    ASSERT_TRUE(solo.ok()) << solo.status().ToString();
    auto want = RunKernel(**solo, in);
    ASSERT_TRUE(want.ok()) << want.status().ToString();
    // A fresh kernel (empty caches) shared by 4 threads.
    auto shared = c.spec.BuildOptimized();
    ASSERT_TRUE(shared.ok());
    std::vector<int> mismatches(4, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 10; ++i) {
          auto y = RunKernel(**shared, in);
          if (!y.ok() || y->shape() != want->shape() || y->byte_size() != want->byte_size() ||
              std::memcmp(y->data(), want->data(), want->byte_size()) != 0) {
            ++mismatches[t];
          }
        }
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(mismatches, std::vector<int>(4, 0));
  }
}

}  // namespace
}  // namespace nereid::engine
