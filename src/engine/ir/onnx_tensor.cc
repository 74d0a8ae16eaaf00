#include "engine/ir/onnx_tensor.h"

#include <onnx/onnx_pb.h>

#include <cstring>
#include <string>
#include <type_traits>

namespace nereid::engine {
namespace {

using onnx::TensorProto;

struct TypePair {
  int32_t onnx;
  DataType dtype;
  const char* name;
};

constexpr TypePair kTypePairs[] = {
    {TensorProto::FLOAT, DataType::kFp32, "FLOAT"},
    {TensorProto::UINT8, DataType::kUint8, "UINT8"},
    {TensorProto::INT8, DataType::kInt8, "INT8"},
    {TensorProto::UINT16, DataType::kUint16, "UINT16"},
    {TensorProto::INT16, DataType::kInt16, "INT16"},
    {TensorProto::INT32, DataType::kInt32, "INT32"},
    {TensorProto::INT64, DataType::kInt64, "INT64"},
    {TensorProto::STRING, DataType::kBytes, "STRING"},
    {TensorProto::BOOL, DataType::kBool, "BOOL"},
    {TensorProto::FLOAT16, DataType::kFp16, "FLOAT16"},
    {TensorProto::DOUBLE, DataType::kFp64, "DOUBLE"},
    {TensorProto::UINT32, DataType::kUint32, "UINT32"},
    {TensorProto::UINT64, DataType::kUint64, "UINT64"},
    {TensorProto::COMPLEX64, DataType::kInvalid, "COMPLEX64"},
    {TensorProto::COMPLEX128, DataType::kInvalid, "COMPLEX128"},
    {TensorProto::BFLOAT16, DataType::kBf16, "BFLOAT16"},
};

std::string Describe(const TensorProto& proto) { return "tensor '" + proto.name() + "'"; }

// Copies a repeated proto field into `out` (already sized), narrowing each
// element to T (int32_data carries 8/16-bit ints, bool and 16-bit floats as bits).
template <typename T, typename Field>
void CopyField(const Field& field, Tensor* out) {
  T* dst = out->mutable_data_as<T>();
  for (int i = 0; i < field.size(); ++i) dst[i] = static_cast<T>(field.Get(i));
}

template <typename Field>
Status CheckCount(const TensorProto& proto, const Field& field, int64_t count) {
  if (field.size() != count) {
    return InvalidArgument(Describe(proto) + " holds " + std::to_string(field.size()) +
                           " values but its dims need " + std::to_string(count));
  }
  return Status::Ok();
}

// Serializes string_data into Triton's BYTES form (4-byte LE length + bytes).
StatusOr<Tensor> StringTensor(const TensorProto& proto, Shape shape, int64_t count) {
  RETURN_IF_ERROR(CheckCount(proto, proto.string_data(), count));
  size_t total = 0;
  for (const std::string& s : proto.string_data()) total += 4 + s.size();
  Tensor out = Tensor::Allocate(DataType::kBytes, std::move(shape), total);
  char* dst = out.mutable_data();
  for (const std::string& s : proto.string_data()) {
    uint32_t len = static_cast<uint32_t>(s.size());
    std::memcpy(dst, &len, 4);
    std::memcpy(dst + 4, s.data(), s.size());
    dst += 4 + s.size();
  }
  return out;
}

// Number of values in the typed field that carries `dtype`.
int TypedFieldSize(const TensorProto& proto, DataType dtype) {
  switch (dtype) {
    case DataType::kFp32:
      return proto.float_data_size();
    case DataType::kFp64:
      return proto.double_data_size();
    case DataType::kInt64:
      return proto.int64_data_size();
    case DataType::kUint32:
    case DataType::kUint64:
      return proto.uint64_data_size();
    default:
      return proto.int32_data_size();  // 8/16/32-bit ints, bool, fp16/bf16 bits
  }
}

// Copies the typed field into `out`, whose element count was already checked.
void FillTyped(const TensorProto& proto, Tensor* out) {
  switch (out->dtype()) {
    case DataType::kFp32:
      CopyField<float>(proto.float_data(), out);
      break;
    case DataType::kFp64:
      CopyField<double>(proto.double_data(), out);
      break;
    case DataType::kInt64:
      CopyField<int64_t>(proto.int64_data(), out);
      break;
    case DataType::kUint32:
      CopyField<uint32_t>(proto.uint64_data(), out);
      break;
    case DataType::kUint64:
      CopyField<uint64_t>(proto.uint64_data(), out);
      break;
    case DataType::kInt32:
      CopyField<int32_t>(proto.int32_data(), out);
      break;
    case DataType::kInt16:
      CopyField<int16_t>(proto.int32_data(), out);
      break;
    case DataType::kInt8:
      CopyField<int8_t>(proto.int32_data(), out);
      break;
    case DataType::kUint16:
    case DataType::kFp16:
    case DataType::kBf16:
      CopyField<uint16_t>(proto.int32_data(), out);
      break;
    case DataType::kUint8:
      CopyField<uint8_t>(proto.int32_data(), out);
      break;
    case DataType::kBool: {
      uint8_t* dst = out->mutable_data_as<uint8_t>();
      for (int i = 0; i < proto.int32_data_size(); ++i) dst[i] = proto.int32_data(i) != 0;
      break;
    }
    default:
      break;  // kBytes and kInvalid never get here
  }
}

}  // namespace

DataType DataTypeFromOnnx(int32_t onnx_type) {
  for (const auto& p : kTypePairs) {
    if (p.onnx == onnx_type) return p.dtype;
  }
  return DataType::kInvalid;
}

int32_t DataTypeToOnnx(DataType dtype) {
  if (dtype == DataType::kInvalid) return 0;
  for (const auto& p : kTypePairs) {
    if (p.dtype == dtype) return p.onnx;
  }
  return 0;
}

std::string_view OnnxTypeName(int32_t onnx_type) {
  for (const auto& p : kTypePairs) {
    if (p.onnx == onnx_type) return p.name;
  }
  if (onnx_type == 0) return "UNDEFINED";
  return "unknown ONNX type";
}

StatusOr<Tensor> TensorFromOnnx(const TensorProto& proto) {
  DataType dtype = DataTypeFromOnnx(proto.data_type());
  if (dtype == DataType::kInvalid) {
    return Unimplemented(Describe(proto) + " has unsupported element type " +
                         std::string(OnnxTypeName(proto.data_type())) + " (" +
                         std::to_string(proto.data_type()) + ")");
  }
  if (proto.data_location() == TensorProto::EXTERNAL) {
    return Unimplemented(Describe(proto) + " uses external data, which is not supported");
  }
  if (proto.has_segment()) {
    return Unimplemented(Describe(proto) + " is segmented, which is not supported");
  }
  Shape shape(proto.dims().begin(), proto.dims().end());
  ASSIGN_OR_RETURN(int64_t count, ElementCount(shape));
  if (dtype == DataType::kBytes) return StringTensor(proto, std::move(shape), count);

  const size_t elem = DataTypeByteSize(dtype);
  if (static_cast<uint64_t>(count) > (uint64_t{1} << 62) / elem) {
    return InvalidArgument(Describe(proto) + " is too large");
  }
  const size_t bytes = static_cast<size_t>(count) * elem;
  if (proto.has_raw_data()) {
    if (proto.raw_data().size() != bytes) {
      return InvalidArgument(Describe(proto) + " has " + std::to_string(proto.raw_data().size()) +
                             " bytes of raw_data but its dims need " + std::to_string(bytes));
    }
    Tensor out = Tensor::Allocate(dtype, std::move(shape), bytes);
    // raw_data is little-endian, like every host we build for.
    if (bytes) std::memcpy(out.mutable_data(), proto.raw_data().data(), bytes);
    if (dtype == DataType::kBool) {
      uint8_t* p = out.mutable_data_as<uint8_t>();
      for (size_t i = 0; i < bytes; ++i) p[i] = p[i] != 0;
    }
    return out;
  }
  // Check the count before allocating: dims may claim far more than the data holds.
  if (TypedFieldSize(proto, dtype) != count) {
    return InvalidArgument(Describe(proto) + " holds " +
                           std::to_string(TypedFieldSize(proto, dtype)) +
                           " values but its dims need " + std::to_string(count));
  }
  Tensor out = Tensor::Allocate(dtype, std::move(shape), bytes);
  FillTyped(proto, &out);
  return out;
}

StatusOr<Tensor> TensorFromOnnxBytes(std::string_view bytes) {
  TensorProto proto;
  if (bytes.size() > static_cast<size_t>(INT32_MAX) ||
      !proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return InvalidArgument("bytes are not a serialized ONNX TensorProto");
  }
  return TensorFromOnnx(proto);
}

}  // namespace nereid::engine
