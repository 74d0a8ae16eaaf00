// Dtype dispatch for reference kernels: calls `fn.template operator()<T>()`
// with the C++ element type of a DataType, or returns Unimplemented naming
// the op and dtype when the family does not cover it.
//
//   return DispatchNumeric(dtype, "Add", [&]<typename T>() -> Status { ... });
#pragma once

#include <string>
#include <string_view>

#include "common/data_type.h"
#include "common/status.h"
#include "engine/kernels/ref/numeric.h"

namespace nereid::engine::ref {

inline Status UnsupportedDtype(std::string_view op, DataType dtype) {
  return Unimplemented(std::string(op) + " does not support element type " +
                       std::string(DataTypeName(dtype)));
}

// FP32, FP64, FP16, BF16.
template <typename Fn>
Status DispatchFloat(DataType dtype, std::string_view op, Fn&& fn) {
  switch (dtype) {
    case DataType::kFp32:
      return fn.template operator()<float>();
    case DataType::kFp64:
      return fn.template operator()<double>();
    case DataType::kFp16:
      return fn.template operator()<Fp16>();
    case DataType::kBf16:
      return fn.template operator()<Bf16>();
    default:
      return UnsupportedDtype(op, dtype);
  }
}

// Every integer type.
template <typename Fn>
Status DispatchInteger(DataType dtype, std::string_view op, Fn&& fn) {
  switch (dtype) {
    case DataType::kInt8:
      return fn.template operator()<int8_t>();
    case DataType::kInt16:
      return fn.template operator()<int16_t>();
    case DataType::kInt32:
      return fn.template operator()<int32_t>();
    case DataType::kInt64:
      return fn.template operator()<int64_t>();
    case DataType::kUint8:
      return fn.template operator()<uint8_t>();
    case DataType::kUint16:
      return fn.template operator()<uint16_t>();
    case DataType::kUint32:
      return fn.template operator()<uint32_t>();
    case DataType::kUint64:
      return fn.template operator()<uint64_t>();
    default:
      return UnsupportedDtype(op, dtype);
  }
}

// Floating and integer types (not BOOL, not BYTES).
template <typename Fn>
Status DispatchNumeric(DataType dtype, std::string_view op, Fn&& fn) {
  switch (dtype) {
    case DataType::kFp32:
    case DataType::kFp64:
    case DataType::kFp16:
    case DataType::kBf16:
      return DispatchFloat(dtype, op, fn);
    default:
      return DispatchInteger(dtype, op, fn);
  }
}

// Numeric types plus BOOL.
template <typename Fn>
Status DispatchNumericOrBool(DataType dtype, std::string_view op, Fn&& fn) {
  if (dtype == DataType::kBool) return fn.template operator()<Bool8>();
  return DispatchNumeric(dtype, op, fn);
}

}  // namespace nereid::engine::ref
