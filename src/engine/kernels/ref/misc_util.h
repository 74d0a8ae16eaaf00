// Small helpers shared by the loss, resize, quantization, einsum and misc
// reference kernels.
//
// Thread safety: stateless.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "common/data_type.h"
#include "common/status.h"
#include "common/tensor.h"
#include "engine/kernels/ref/numeric.h"

namespace nereid::engine::ref {

// Arithmetic type for floating T: float for float and the 16-bit types,
// double for double.
template <typename T>
using Compute = std::conditional_t<std::is_same_v<T, double>, double, float>;

// Element value as a double (any numeric T, including Fp16/Bf16).
template <typename T>
double ToDouble(T v) {
  if constexpr (kIsHalf<T>) {
    return static_cast<double>(static_cast<float>(v));
  } else {
    return static_cast<double>(v);
  }
}

// DataType of a C++ element type used by the Dispatch helpers.
template <typename T>
constexpr DataType DataTypeOf() {
  if constexpr (std::is_same_v<T, float>) return DataType::kFp32;
  if constexpr (std::is_same_v<T, double>) return DataType::kFp64;
  if constexpr (std::is_same_v<T, Fp16>) return DataType::kFp16;
  if constexpr (std::is_same_v<T, Bf16>) return DataType::kBf16;
  if constexpr (std::is_same_v<T, Bool8>) return DataType::kBool;
  if constexpr (std::is_same_v<T, int8_t>) return DataType::kInt8;
  if constexpr (std::is_same_v<T, int16_t>) return DataType::kInt16;
  if constexpr (std::is_same_v<T, int32_t>) return DataType::kInt32;
  if constexpr (std::is_same_v<T, int64_t>) return DataType::kInt64;
  if constexpr (std::is_same_v<T, uint8_t>) return DataType::kUint8;
  if constexpr (std::is_same_v<T, uint16_t>) return DataType::kUint16;
  if constexpr (std::is_same_v<T, uint32_t>) return DataType::kUint32;
  if constexpr (std::is_same_v<T, uint64_t>) return DataType::kUint64;
  return DataType::kInvalid;
}

// Reads an integer tensor (INT32 or INT64) of any shape as int64 values;
// InvalidArgument naming `what` for other element types.
inline StatusOr<std::vector<int64_t>> ReadInt64s(const Tensor& t, const std::string& what) {
  const size_t n = t.dtype() == DataType::kInt64   ? t.byte_size() / 8
                   : t.dtype() == DataType::kInt32 ? t.byte_size() / 4
                                                   : 0;
  if (t.dtype() != DataType::kInt64 && t.dtype() != DataType::kInt32) {
    return InvalidArgument(what + " must be INT32 or INT64, got " +
                           std::string(DataTypeName(t.dtype())));
  }
  std::vector<int64_t> out(n);
  for (size_t i = 0; i < n; ++i) {
    out[i] = t.dtype() == DataType::kInt64 ? t.data_as<int64_t>()[i] : t.data_as<int32_t>()[i];
  }
  return out;
}

// Reads a floating tensor (FP32/FP64/FP16/BF16) as doubles; InvalidArgument
// naming `what` for other element types.
inline StatusOr<std::vector<double>> ReadDoubles(const Tensor& t, const std::string& what) {
  const DataType d = t.dtype();
  if (d != DataType::kFp32 && d != DataType::kFp64 && d != DataType::kFp16 &&
      d != DataType::kBf16) {
    return InvalidArgument(what + " must be a floating type, got " +
                           std::string(DataTypeName(d)));
  }
  std::vector<double> out(t.byte_size() / DataTypeByteSize(d));
  for (size_t i = 0; i < out.size(); ++i) {
    switch (t.dtype()) {
      case DataType::kFp32: out[i] = t.data_as<float>()[i]; break;
      case DataType::kFp64: out[i] = t.data_as<double>()[i]; break;
      case DataType::kFp16: out[i] = static_cast<float>(t.data_as<Fp16>()[i]); break;
      case DataType::kBf16: out[i] = static_cast<float>(t.data_as<Bf16>()[i]); break;
      default: break;
    }
  }
  return out;
}

}  // namespace nereid::engine::ref
