// Helpers shared by Nereid's own optimized CPU kernels (kernels/cpu/ files
// that are not oneDNN wrappers): the AVX-512 target attribute and its
// run-time check, building the reference kernel a fast kernel falls back
// to, build-time dtype checks, a fallback counter for tests, and the base
// class of kernels that hand what they do not cover to the reference kernel.
//
// Dispatch: the project is compiled for baseline x86-64, so AVX-512 code
// lives in functions marked NEREID_AVX512 and runs only when UseAvx512() is
// true (the CPU reports AVX-512F and AVX-512DQ). Every kernel keeps a
// portable scalar path for other CPUs; tests force it with
// SetAvx512ForTesting(false) so both paths are checked on one machine.
//
// Thread safety: every function is safe to call concurrently.
// SetAvx512ForTesting is meant for single-threaded test setup.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <utility>

#include "common/data_type.h"
#include "common/status.h"
#include "common/tensor.h"
#include "engine/kernels/kernel.h"

// Functions using AVX-512 intrinsics carry this attribute (and are only
// called when UseAvx512() is true). Helpers called from them must carry it
// too so they can be inlined.
#define NEREID_AVX512 __attribute__((target("avx512f,avx512dq,avx2,fma")))

namespace nereid::engine::cpu {

// True when the AVX-512 paths may run: the CPU supports AVX-512F and
// AVX-512DQ, and no test has turned them off.
bool UseAvx512();

// Test hook: false forces the portable paths (true restores the CPU check).
void SetAvx512ForTesting(bool enabled);

// Builds the reference (priority 0) kernel for the same node; its factory
// validates arity and attributes with the reference messages, so a fast
// kernel's factory returns its errors unchanged. Unimplemented when there
// is no reference kernel.
StatusOr<std::unique_ptr<Kernel>> BuildReferenceKernel(const KernelBuildContext& context);

// False when input `i` has a dtype known before run time that is not FP32
// (absent and unknown inputs count as FP32).
bool InputMayBeFp32(const KernelBuildContext& context, size_t i);
// InputMayBeFp32 for every input.
bool AllInputsMayBeFp32(const KernelBuildContext& context);

// True when `t` is present, FP32, 4-byte aligned and its byte size matches
// its shape (what the fast paths assume before reading it densely).
bool IsDenseFp32(const Tensor* t);

// Counts one run handed to a reference kernel (tests check fast paths run).
void CountFallback();
int64_t CpuKernelFallbackCountForTesting();

// The factory prologue of an FP32 optimized kernel: builds the reference
// kernel (BuildReferenceKernel: its errors are returned unchanged), then
// answers Unimplemented("<op_type>: <why>") when a dtype known at build time
// is not FP32 (AllInputsMayBeFp32), so the plan takes the reference kernel.
StatusOr<std::unique_ptr<Kernel>> BuildFp32Reference(
    const KernelBuildContext& context, std::string_view why = "optimized kernel is FP32 only");

// Base of an optimized kernel that runs what it does not cover on the
// reference kernel for the same node, within the plan's thread budget.
class FallbackKernel : public Kernel {
 protected:
  FallbackKernel(std::unique_ptr<Kernel> reference, int threads)
      : reference_(std::move(reference)), threads_(threads) {}

  // Counts one fallback (CountFallback) and runs the reference kernel.
  Status Fallback(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const {
    CountFallback();
    return reference_->Run(inputs, outputs);
  }

  const std::unique_ptr<Kernel> reference_;
  const int threads_;  // the plan's intra_op_threads
};

}  // namespace nereid::engine::cpu
