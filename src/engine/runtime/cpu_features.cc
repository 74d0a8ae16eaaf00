#include "engine/runtime/cpu_features.h"

#include <algorithm>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace nereid::engine {
namespace {

#if defined(__x86_64__)
struct Regs {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
};

Regs Cpuid(unsigned leaf, unsigned subleaf) {
  Regs r;
  if (!__get_cpuid_count(leaf, subleaf, &r.eax, &r.ebx, &r.ecx, &r.edx)) return Regs{};
  return r;
}

// XCR0: which register states the OS saves on context switches.
uint64_t ReadXcr0() {
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

bool Bit(unsigned reg, int bit) { return (reg >> bit) & 1u; }

std::vector<std::string> Detect() {
  std::vector<std::string> out;
  const unsigned max_leaf = __get_cpuid_max(0, nullptr);
  if (max_leaf < 1) return out;
  const Regs l1 = Cpuid(1, 0);
  const bool osxsave = Bit(l1.ecx, 27);
  const uint64_t xcr0 = osxsave ? ReadXcr0() : 0;
  const bool avx_state = (xcr0 & 0x6) == 0x6;                    // SSE + AVX (YMM) state
  const bool avx512_state = avx_state && (xcr0 & 0xE0) == 0xE0;  // opmask, ZMM_Hi256, Hi16_ZMM
  const bool amx_state = (xcr0 & 0x60000) == 0x60000;            // XTILECFG, XTILEDATA
  if (Bit(l1.ecx, 20)) out.push_back("sse4_2");
  if (avx_state && Bit(l1.ecx, 28)) out.push_back("avx");
  if (avx_state && Bit(l1.ecx, 12)) out.push_back("fma");
  if (avx_state && Bit(l1.ecx, 29)) out.push_back("f16c");
  if (max_leaf >= 7) {
    const Regs l7 = Cpuid(7, 0);
    const Regs l7s1 = Cpuid(7, 1);
    if (avx_state && Bit(l7.ebx, 5)) out.push_back("avx2");
    if (avx_state && Bit(l7s1.eax, 4)) out.push_back("avx_vnni");
    if (avx512_state) {
      if (Bit(l7.ebx, 16)) out.push_back("avx512f");
      if (Bit(l7.ebx, 17)) out.push_back("avx512dq");
      if (Bit(l7.ebx, 28)) out.push_back("avx512cd");
      if (Bit(l7.ebx, 30)) out.push_back("avx512bw");
      if (Bit(l7.ebx, 31)) out.push_back("avx512vl");
      if (Bit(l7.ecx, 11)) out.push_back("avx512_vnni");
      if (Bit(l7s1.eax, 5)) out.push_back("avx512_bf16");
      if (Bit(l7.edx, 23)) out.push_back("avx512_fp16");
    }
    if (amx_state) {
      if (Bit(l7.edx, 24)) out.push_back("amx_tile");
      if (Bit(l7.edx, 22)) out.push_back("amx_bf16");
      if (Bit(l7.edx, 25)) out.push_back("amx_int8");
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}
#else
std::vector<std::string> Detect() { return {}; }
#endif

}  // namespace

const std::vector<std::string>& DetectCpuFeatures() {
  static const std::vector<std::string>* const features = new std::vector<std::string>(Detect());
  return *features;
}

std::vector<std::string> MissingCpuFeatures(const std::vector<std::string>& required,
                                            const std::vector<std::string>& available) {
  std::vector<std::string> missing;
  for (const std::string& f : required) {
    if (std::find(available.begin(), available.end(), f) == available.end()) missing.push_back(f);
  }
  return missing;
}

std::string JoinCpuFeatures(const std::vector<std::string>& features) {
  if (features.empty()) return "none";
  std::string text;
  for (const std::string& f : features) text += (text.empty() ? "" : " ") + f;
  return text;
}

}  // namespace nereid::engine
