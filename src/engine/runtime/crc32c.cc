#include "engine/runtime/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace nereid::engine {
namespace {

constexpr uint32_t kPolynomial = 0x82F63B78u;  // reflected Castagnoli

constexpr std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPolynomial : c >> 1;
    table[i] = c;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kTable = MakeTable();

// `state` is the running register (already inverted by the caller).
uint32_t UpdatePortable(uint32_t state, const unsigned char* p, size_t size) {
  for (size_t i = 0; i < size; ++i) state = kTable[(state ^ p[i]) & 0xFF] ^ (state >> 8);
  return state;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t UpdateSse42(uint32_t state, const unsigned char* p,
                                                       size_t size) {
  uint64_t s = state;
  while (size >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);  // unaligned-safe
    s = _mm_crc32_u64(s, word);
    p += 8;
    size -= 8;
  }
  uint32_t s32 = static_cast<uint32_t>(s);
  while (size > 0) {
    s32 = _mm_crc32_u8(s32, *p++);
    --size;
  }
  return s32;
}

bool HasSse42() {
  static const bool has = __builtin_cpu_supports("sse4.2");
  return has;
}
#endif

}  // namespace

uint32_t Crc32cPortable(const void* data, size_t size, uint32_t crc) {
  return ~UpdatePortable(~crc, static_cast<const unsigned char*>(data), size);
}

uint32_t Crc32c(const void* data, size_t size, uint32_t crc) {
#if defined(__x86_64__)
  if (HasSse42()) return ~UpdateSse42(~crc, static_cast<const unsigned char*>(data), size);
#endif
  return Crc32cPortable(data, size, crc);
}

}  // namespace nereid::engine
