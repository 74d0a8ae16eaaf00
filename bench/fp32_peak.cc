// Measures this CPU's FP32 peak: independent fused multiply-add chains in
// registers (AVX-512 when the CPU has it, else AVX2+FMA), one per thread.
// Prints one JSON line: {"threads": N, "isa": "...", "gflops": X}.
//   fp32_peak [threads=2] [seconds=1]
#include <immintrin.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace {

// 12 independent accumulators, written out so they stay in registers, hide
// the FMA latency (4 cycles) on up to 3 FMA ports.
#define NEREID_PEAK_LOOP(VEC, SET1, FMA, LANES)                                      \
  /* distinct starting values, or the compiler merges identical chains */          \
  VEC a0 = SET1(1.00f), a1 = SET1(1.01f), a2 = SET1(1.02f), a3 = SET1(1.03f),         \
      a4 = SET1(1.04f), a5 = SET1(1.05f), a6 = SET1(1.06f), a7 = SET1(1.07f),         \
      a8 = SET1(1.08f), a9 = SET1(1.09f), a10 = SET1(1.10f), a11 = SET1(1.11f);       \
  const VEC m = SET1(0.999999f), b = SET1(1e-6f);                                    \
  long iters = 0;                                                                     \
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds); \
  while (std::chrono::steady_clock::now() < end) {                                    \
    for (int k = 0; k < 100000; ++k) {                                                \
      a0 = FMA(a0, m, b); a1 = FMA(a1, m, b); a2 = FMA(a2, m, b); a3 = FMA(a3, m, b);  \
      a4 = FMA(a4, m, b); a5 = FMA(a5, m, b); a6 = FMA(a6, m, b); a7 = FMA(a7, m, b);  \
      a8 = FMA(a8, m, b); a9 = FMA(a9, m, b); a10 = FMA(a10, m, b);                    \
      a11 = FMA(a11, m, b);                                                           \
    }                                                                                 \
    iters += 100000;                                                                  \
  }                                                                                   \
  VEC sum = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;             \
  float out[LANES];                                                                   \
  std::memcpy(out, &sum, sizeof(out));                                                \
  if (out[0] == 12345.0f) std::puts("");                                              \
  return iters * 12.0 * LANES * 2;

__attribute__((target("avx512f"))) double Avx512Loop(double seconds) {
  NEREID_PEAK_LOOP(__m512, _mm512_set1_ps, _mm512_fmadd_ps, 16)
}

__attribute__((target("avx2,fma"))) double Avx2Loop(double seconds) {
  NEREID_PEAK_LOOP(__m256, _mm256_set1_ps, _mm256_fmadd_ps, 8)
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const double seconds = argc > 2 ? std::atof(argv[2]) : 1.0;
  const bool avx512 = __builtin_cpu_supports("avx512f");
  std::vector<double> flops(threads);
  std::vector<std::thread> pool;
  auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] { flops[t] = avx512 ? Avx512Loop(seconds) : Avx2Loop(seconds); });
  }
  for (auto& th : pool) th.join();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double total = 0;
  for (double f : flops) total += f;
  std::printf("{\"threads\": %d, \"isa\": \"%s\", \"gflops\": %.1f}\n", threads,
              avx512 ? "avx512" : "avx2", total / elapsed / 1e9);
  return 0;
}
