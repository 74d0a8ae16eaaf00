#include "common/data_type.h"

#include <array>
#include <cstring>

namespace nereid {
namespace {

struct TypeInfo {
  DataType dtype;
  const char* name;
  size_t size;
};

constexpr std::array<TypeInfo, 15> kTypes = {{
    {DataType::kInvalid, "INVALID", 0},
    {DataType::kBool, "BOOL", 1},
    {DataType::kUint8, "UINT8", 1},
    {DataType::kUint16, "UINT16", 2},
    {DataType::kUint32, "UINT32", 4},
    {DataType::kUint64, "UINT64", 8},
    {DataType::kInt8, "INT8", 1},
    {DataType::kInt16, "INT16", 2},
    {DataType::kInt32, "INT32", 4},
    {DataType::kInt64, "INT64", 8},
    {DataType::kFp16, "FP16", 2},
    {DataType::kFp32, "FP32", 4},
    {DataType::kFp64, "FP64", 8},
    {DataType::kBytes, "BYTES", 0},
    {DataType::kBf16, "BF16", 2},
}};

}  // namespace

size_t DataTypeByteSize(DataType dtype) {
  auto i = static_cast<size_t>(dtype);
  return i < kTypes.size() ? kTypes[i].size : 0;
}

std::string_view DataTypeName(DataType dtype) {
  auto i = static_cast<size_t>(dtype);
  return i < kTypes.size() ? kTypes[i].name : "INVALID";
}

DataType DataTypeFromName(std::string_view name) {
  for (const auto& t : kTypes) {
    if (t.dtype != DataType::kInvalid && name == t.name) return t.dtype;
  }
  return DataType::kInvalid;
}

std::string ConfigDataTypeName(DataType dtype) {
  if (dtype == DataType::kBytes) return "TYPE_STRING";
  return "TYPE_" + std::string(DataTypeName(dtype));
}

StatusOr<int64_t> ElementCount(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return InvalidArgument("shape " + ShapeToString(shape) + " has a negative dimension");
    if (d != 0 && n > (int64_t{1} << 62) / d) {
      return InvalidArgument("shape " + ShapeToString(shape) + " has too many elements");
    }
    n *= d;
  }
  return n;
}

std::string ShapeToString(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

StatusOr<int64_t> CountSerializedBytesElements(const char* data, size_t size) {
  int64_t count = 0;
  size_t pos = 0;
  while (pos < size) {
    if (size - pos < 4) return InvalidArgument("BYTES tensor data is truncated in a length prefix");
    uint32_t len;
    std::memcpy(&len, data + pos, 4);  // little-endian host assumed (x86-64, aarch64)
    pos += 4;
    if (len > size - pos) return InvalidArgument("BYTES tensor element is longer than its data");
    pos += len;
    ++count;
  }
  return count;
}

}  // namespace nereid
