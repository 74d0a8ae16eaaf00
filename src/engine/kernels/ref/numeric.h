// Element types and conversions shared by the reference kernels.
//
// Fp16 / Bf16 hold IEEE half / bfloat16 bits and compute through float.
// Bool8 is ONNX BOOL storage (one byte; any non-zero byte reads as true).
// Convert<To>(from) is the one conversion every kernel uses: float -> int
// truncates toward zero like static_cast but maps NaN to 0 and saturates out
// of range values (static_cast would be undefined behaviour there);
// float -> half/bfloat16 rounds to nearest even.
//
// Thread safety: stateless.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

namespace nereid::engine::ref {

uint16_t FloatToHalfBits(float f);
float HalfBitsToFloat(uint16_t h);

inline uint16_t FloatToBf16Bits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if (std::isnan(f)) return static_cast<uint16_t>((bits >> 16) | 0x40);  // keep NaN quiet
  uint32_t rounding = 0x7FFF + ((bits >> 16) & 1);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

inline float Bf16BitsToFloat(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

struct Fp16 {
  uint16_t bits = 0;
  Fp16() = default;
  explicit Fp16(float f) : bits(FloatToHalfBits(f)) {}
  operator float() const { return HalfBitsToFloat(bits); }  // NOLINT: numeric promotion
};

struct Bf16 {
  uint16_t bits = 0;
  Bf16() = default;
  explicit Bf16(float f) : bits(FloatToBf16Bits(f)) {}
  operator float() const { return Bf16BitsToFloat(bits); }  // NOLINT: numeric promotion
};

struct Bool8 {
  uint8_t byte = 0;
};

static_assert(sizeof(Fp16) == 2 && sizeof(Bf16) == 2 && sizeof(Bool8) == 1);

template <typename T>
inline constexpr bool kIsHalf = std::is_same_v<T, Fp16> || std::is_same_v<T, Bf16>;
template <typename T>
inline constexpr bool kIsFloating = std::is_floating_point_v<T> || kIsHalf<T>;

// Type used to accumulate sums/products of T: float for 16-bit floats,
// T for float/double, and 64-bit unsigned for integers (wraps, never UB).
template <typename T>
using AccType = std::conditional_t<kIsHalf<T>, float,
                                   std::conditional_t<std::is_floating_point_v<T>, T, uint64_t>>;

template <typename To, typename From>
To Convert(From from) {
  if constexpr (std::is_same_v<To, From>) {
    return from;
  } else if constexpr (std::is_same_v<From, Bool8>) {
    return Convert<To>(static_cast<uint8_t>(from.byte != 0));
  } else if constexpr (std::is_same_v<To, Bool8>) {
    if constexpr (kIsHalf<From>) {
      return Bool8{static_cast<uint8_t>(static_cast<float>(from) != 0.0f)};
    } else {
      return Bool8{static_cast<uint8_t>(from != From{0})};
    }
  } else if constexpr (kIsHalf<From>) {
    return Convert<To>(static_cast<float>(from));
  } else if constexpr (kIsHalf<To>) {
    return To(static_cast<float>(from));
  } else if constexpr (std::is_integral_v<To> && std::is_floating_point_v<From>) {
    if (std::isnan(from)) return To{0};
    // Compare in long double so the limits are exact for 64-bit types.
    long double v = std::trunc(static_cast<long double>(from));
    if (v <= static_cast<long double>(std::numeric_limits<To>::lowest())) {
      return std::numeric_limits<To>::lowest();
    }
    if (v >= static_cast<long double>(std::numeric_limits<To>::max())) {
      return std::numeric_limits<To>::max();
    }
    return static_cast<To>(v);
  } else {
    return static_cast<To>(from);  // int->int wraps (C++20), int->float, float->float
  }
}

}  // namespace nereid::engine::ref
