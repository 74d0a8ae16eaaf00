#include "engine/kernels/cpu/cpu_util.h"

#include <atomic>
#include <string>

namespace nereid::engine::cpu {
namespace {

std::atomic<bool> g_avx512_allowed{true};
std::atomic<int64_t> g_fallbacks{0};

bool CpuHasAvx512() {
  static const bool supported = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
  }();
  return supported;
}

}  // namespace

bool UseAvx512() { return CpuHasAvx512() && g_avx512_allowed.load(std::memory_order_relaxed); }

void SetAvx512ForTesting(bool enabled) { g_avx512_allowed.store(enabled); }

StatusOr<std::unique_ptr<Kernel>> BuildReferenceKernel(const KernelBuildContext& context) {
  KernelFactory factory = KernelRegistry::Global().FindReference("", context.node.op_type);
  if (factory == nullptr) {
    return Unimplemented("no reference kernel for " + context.node.op_type);
  }
  return factory(context);
}

StatusOr<std::unique_ptr<Kernel>> BuildFp32Reference(const KernelBuildContext& context,
                                                     std::string_view why) {
  ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, BuildReferenceKernel(context));
  if (!AllInputsMayBeFp32(context)) {
    return Unimplemented(context.node.op_type + ": " + std::string(why));
  }
  return reference;
}

bool InputMayBeFp32(const KernelBuildContext& context, size_t i) {
  if (i >= context.input_dtypes.size()) return true;
  const DataType d = context.input_dtypes[i];
  return d == DataType::kInvalid || d == DataType::kFp32;
}

bool AllInputsMayBeFp32(const KernelBuildContext& context) {
  for (size_t i = 0; i < context.input_dtypes.size(); ++i) {
    if (!InputMayBeFp32(context, i)) return false;
  }
  return true;
}

bool IsDenseFp32(const Tensor* t) {
  if (t == nullptr || t->dtype() != DataType::kFp32) return false;
  if (reinterpret_cast<uintptr_t>(t->data()) % alignof(float) != 0) return false;
  uint64_t count = 1;
  for (int64_t d : t->shape()) {
    if (d < 0) return false;
    if (d != 0 && count > (uint64_t{1} << 60) / static_cast<uint64_t>(d)) return false;
    count *= static_cast<uint64_t>(d);
  }
  return t->byte_size() == count * sizeof(float);
}

void CountFallback() { g_fallbacks.fetch_add(1, std::memory_order_relaxed); }

int64_t CpuKernelFallbackCountForTesting() { return g_fallbacks.load(); }

}  // namespace nereid::engine::cpu
