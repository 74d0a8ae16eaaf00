// Test-only helpers for the optimized CPU kernel tests: nodes with
// attributes, building the kernel registered at a given priority, random
// tensors (with optional NaN / inf sprinkled in), running a kernel, and
// comparing the optimized kernel against the reference kernel. The kernel
// tests name them unqualified (`using namespace cputest;` in their anonymous
// namespace).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common/tensor.h"
#include "engine/ir/graph.h"
#include "engine/kernels/cpu/cpu_util.h"
#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/kernel_test_util.h"

namespace nereid::engine::cputest {

constexpr int kOptimizedPriority = 10;

inline KernelFactory FactoryAt(const std::string& op, int priority) {
  for (const auto& [p, f] : KernelRegistry::Global().FindAll("", op)) {
    if (p == priority) return f;
  }
  return nullptr;
}

// A node plus what the factories see at build time.
struct OpSpec {
  Node node;
  int64_t opset = 17;
  std::vector<DataType> dtypes;  // per input; kInvalid = unknown
  std::vector<const Tensor*> constants;
  int threads = 2;

  OpSpec(std::string type, size_t num_inputs, size_t num_outputs = 1) {
    node.op_type = std::move(type);
    node.inputs.assign(num_inputs, 0);
    node.outputs.assign(num_outputs, 0);
    dtypes.assign(num_inputs, DataType::kFp32);
    constants.assign(num_inputs, nullptr);
  }
  OpSpec& Opset(int64_t v) {
    opset = v;
    return *this;
  }
  OpSpec& Threads(int t) {
    threads = t;
    return *this;
  }
  OpSpec& Int(const std::string& name, int64_t v) {
    testutil::SetInt(&node, name, v);
    return *this;
  }
  OpSpec& Float(const std::string& name, float v) {
    testutil::SetFloat(&node, name, v);
    return *this;
  }
  OpSpec& Ints(const std::string& name, std::vector<int64_t> v) {
    testutil::SetInts(&node, name, std::move(v));
    return *this;
  }
  OpSpec& String(const std::string& name, std::string v) {
    testutil::SetString(&node, name, std::move(v));
    return *this;
  }
  // Sets the build-time dtype of every input (kInvalid = unknown).
  OpSpec& Dtypes(DataType d) {
    dtypes.assign(dtypes.size(), d);
    return *this;
  }
  // Marks input i as omitted (kNoValue).
  OpSpec& Omit(size_t i) {
    node.inputs[i] = kNoValue;
    dtypes[i] = DataType::kInvalid;
    return *this;
  }
  StatusOr<std::unique_ptr<Kernel>> Build(int priority) const {
    KernelFactory f = FactoryAt(node.op_type, priority);
    if (f == nullptr) return NotFound("no factory for " + node.op_type);
    KernelBuildContext context{node, opset, dtypes, {}, constants};
    context.output_dtypes.assign(node.outputs.size(), DataType::kInvalid);
    context.intra_op_threads = threads;
    return f(context);
  }
  // The optimized kernel (kOptimizedPriority).
  StatusOr<std::unique_ptr<Kernel>> BuildOptimized() const { return Build(kOptimizedPriority); }
};

inline StatusOr<std::vector<Tensor>> RunKernelN(const Kernel& k,
                                                const std::vector<const Tensor*>& inputs,
                                                size_t num_outputs = 1) {
  std::vector<Tensor> out(num_outputs);
  RETURN_IF_ERROR(k.Run(inputs, out));
  return out;
}

inline StatusOr<Tensor> RunKernel(const Kernel& k, const std::vector<const Tensor*>& inputs) {
  ASSIGN_OR_RETURN(std::vector<Tensor> out, RunKernelN(k, inputs, 1));
  return std::move(out[0]);
}

// Uniform values in [lo, hi]; `specials` of the elements (a fraction) are
// replaced by NaN, +-inf, +-0 and huge values.
inline Tensor RandomTensor(const Shape& shape, std::mt19937& rng, float lo = -1.0f,
                           float hi = 1.0f, double specials = 0.0) {
  Tensor t = Tensor::AllocateDense(DataType::kFp32, shape);
  float* p = t.mutable_data_as<float>();
  std::uniform_real_distribution<float> dist(lo, hi);
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  const float kSpecial[] = {std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            0.0f,
                            -0.0f,
                            1e30f,
                            -1e30f,
                            1e-40f};
  const size_t n = t.byte_size() / sizeof(float);
  for (size_t i = 0; i < n; ++i) {
    p[i] = dist(rng);
    if (specials > 0 && coin(rng) < specials) p[i] = kSpecial[rng() % std::size(kSpecial)];
  }
  return t;
}

inline Tensor Scalars(const Shape& shape, std::vector<float> values) {
  Tensor t = Tensor::AllocateDense(DataType::kFp32, shape);
  std::copy(values.begin(), values.end(), t.mutable_data_as<float>());
  return t;
}

inline std::string ShapeStr(const Shape& s) { return ShapeToString(s); }

// Compares FP32 tensors: NaN matches NaN, infinities match exactly, other
// values within rel * |want| or abs. rel = abs = 0 demands identical bits
// (up to NaN payloads). Returns "" when they match.
inline std::string CompareFp32(const Tensor& got, const Tensor& want, double rel, double abs) {
  if (got.dtype() != want.dtype()) return "dtype differs";
  if (got.shape() != want.shape()) {
    return "shape " + ShapeStr(got.shape()) + " vs " + ShapeStr(want.shape());
  }
  if (got.byte_size() != want.byte_size()) return "byte size differs";
  const float* g = got.data_as<float>();
  const float* w = want.data_as<float>();
  const size_t n = want.byte_size() / sizeof(float);
  for (size_t i = 0; i < n; ++i) {
    const bool gn = std::isnan(g[i]);
    const bool wn = std::isnan(w[i]);
    if (gn || wn) {
      if (gn != wn) return "element " + std::to_string(i) + ": " + std::to_string(g[i]) + " vs " +
                           std::to_string(w[i]);
      continue;
    }
    if (rel == 0 && abs == 0) {
      if (std::memcmp(&g[i], &w[i], sizeof(float)) != 0) {
        return "element " + std::to_string(i) + ": " + std::to_string(g[i]) + " vs " +
               std::to_string(w[i]) + " (bits differ)";
      }
      continue;
    }
    if (std::isinf(g[i]) || std::isinf(w[i])) {
      if (g[i] != w[i]) {
        return "element " + std::to_string(i) + ": " + std::to_string(g[i]) + " vs " +
               std::to_string(w[i]);
      }
      continue;
    }
    const double d = std::fabs(static_cast<double>(g[i]) - w[i]);
    if (d > abs && d > rel * std::fabs(static_cast<double>(w[i]))) {
      char buf[160];
      std::snprintf(buf, sizeof(buf), "element %zu: %.9g vs %.9g (diff %.3g)", i, g[i], w[i], d);
      return buf;
    }
  }
  return "";
}

// Builds the optimized and the reference kernel for `spec`, runs both on
// `inputs` (both must succeed) and compares (see CompareFp32). Expects the optimized kernel to
// run its own code unless `allow_fallback`.
inline void ExpectMatchesReference(const OpSpec& spec, const std::vector<const Tensor*>& inputs,
                                   const std::string& what, double rel = 1e-5, double abs = 1e-6,
                                   bool allow_fallback = false) {
  SCOPED_TRACE(what);
  auto fast = spec.Build(kOptimizedPriority);
  auto ref = spec.Build(KernelRegistry::kReferencePriority);
  ASSERT_TRUE(fast.ok()) << fast.status().ToString();
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  const int64_t before = cpu::CpuKernelFallbackCountForTesting();
  auto got = RunKernelN(**fast, inputs, spec.node.outputs.size());
  const int64_t fallbacks = cpu::CpuKernelFallbackCountForTesting() - before;
  auto want = RunKernelN(**ref, inputs, spec.node.outputs.size());
  ASSERT_TRUE(want.ok()) << "reference: " << want.status().ToString();
  ASSERT_TRUE(got.ok()) << "optimized: " << got.status().ToString();
  EXPECT_EQ(CompareFp32((*got)[0], (*want)[0], rel, abs), "");
  if (!allow_fallback) {
    EXPECT_EQ(fallbacks, 0) << "ran the reference kernel";
  }
}

// Runs `body` once with the AVX-512 paths (when the CPU has them) and once
// with the portable paths.
template <typename Body>
void ForBothPaths(Body&& body) {
  for (bool avx512 : {true, false}) {
    SCOPED_TRACE(avx512 ? "AVX-512 path" : "portable path");
    cpu::SetAvx512ForTesting(avx512);
    body();
  }
  cpu::SetAvx512ForTesting(true);
}

}  // namespace nereid::engine::cputest
