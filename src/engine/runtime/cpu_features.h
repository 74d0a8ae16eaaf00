// CPU features: what the CPU running this process can do, by the names
// Linux prints in /proc/cpuinfo's "flags" line (avx2, avx512f,
// avx512_vnni, avx512_bf16, amx_int8, ...).
//
// A compiled plan records the features its compile-time decisions assumed
// (runtime/plan_file.h) and the features of the CPU it was compiled on;
// loading it checks the first list against this CPU's. Detection reads
// cpuid and, for the register state AVX/AVX-512/AMX need, XCR0 (xgetbv):
// a feature the OS has not enabled counts as absent. On CPUs other than
// x86-64 the list is empty.
//
// Thread safety: pure functions; DetectCpuFeatures caches its answer.
#pragma once

#include <string>
#include <vector>

namespace nereid::engine {

// The features of this CPU that the engine knows about, sorted.
const std::vector<std::string>& DetectCpuFeatures();

// The entries of `required` missing from `available` (both any order),
// in `required`'s order.
std::vector<std::string> MissingCpuFeatures(const std::vector<std::string>& required,
                                            const std::vector<std::string>& available);

// "a b c" (empty list: "none").
std::string JoinCpuFeatures(const std::vector<std::string>& features);

}  // namespace nereid::engine
