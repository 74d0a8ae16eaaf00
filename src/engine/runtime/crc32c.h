// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum of
// every section of a plan file (runtime/plan_file.h).
//
// Why CRC-32C and not zlib's CRC-32: x86 has an instruction for it (SSE4.2
// crc32), which checks ResNet-50's 100 MB of weights in about 15 ms where
// zlib's table-driven CRC-32 takes about 100 ms on the same machine; CPUs
// without SSE4.2 use a portable table (same results, slower).
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

namespace nereid::engine {

// Extends `crc` (the CRC of the bytes before `data`; 0 for none) over
// `size` bytes. Crc32c("123456789", 9) == 0xE3069283.
uint32_t Crc32c(const void* data, size_t size, uint32_t crc = 0);

// The portable path alone (tests compare it with the SSE4.2 one).
uint32_t Crc32cPortable(const void* data, size_t size, uint32_t crc = 0);

}  // namespace nereid::engine
