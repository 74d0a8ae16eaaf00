// DataType: every KServe v2 tensor element type.
//
// The enum values equal Triton's config `DataType` numbers without the TYPE_
// prefix (TYPE_STRING is our kBytes), so a config enum converts by cast.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace nereid {

enum class DataType : uint8_t {
  kInvalid = 0,
  kBool = 1,
  kUint8 = 2,
  kUint16 = 3,
  kUint32 = 4,
  kUint64 = 5,
  kInt8 = 6,
  kInt16 = 7,
  kInt32 = 8,
  kInt64 = 9,
  kFp16 = 10,
  kFp32 = 11,
  kFp64 = 12,
  kBytes = 13,
  kBf16 = 14,
};

// Size of one element in bytes; 0 for kBytes (variable) and kInvalid.
size_t DataTypeByteSize(DataType dtype);
// Protocol name: "FP32", "BYTES", ...; "INVALID" for kInvalid.
std::string_view DataTypeName(DataType dtype);
// Parses a protocol name ("FP32"); kInvalid when unknown.
DataType DataTypeFromName(std::string_view name);
// Config name: "TYPE_FP32", "TYPE_STRING", ...
std::string ConfigDataTypeName(DataType dtype);

using Shape = std::vector<int64_t>;

// Product of dims. Fails on a negative dim or on overflow past 2^62.
StatusOr<int64_t> ElementCount(const Shape& shape);
// "[1,3,224,224]".
std::string ShapeToString(const Shape& shape);

// BYTES tensors travel in Triton's serialized form: each element is a 4-byte
// little-endian length followed by that many bytes. Returns the number of
// elements in `data`, or an error when the framing is truncated.
StatusOr<int64_t> CountSerializedBytesElements(const char* data, size_t size);

}  // namespace nereid
