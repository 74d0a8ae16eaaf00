// Helpers shared by Nereid's own optimized CPU kernels (kernels/cpu/ files
// that are not oneDNN wrappers): the AVX-512 target attribute and its
// run-time check, building the reference kernel a fast kernel falls back
// to, build-time dtype checks, and a fallback counter for tests.
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
#include <string_view>

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

}  // namespace nereid::engine::cpu
