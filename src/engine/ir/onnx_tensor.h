// Conversions between ONNX tensors (TensorProto) and nereid Tensors.
//
// Element types map as: FLOAT->kFp32, DOUBLE->kFp64, FLOAT16->kFp16,
// BFLOAT16->kBf16, INT8/16/32/64->kInt*, UINT8/16/32/64->kUint*, BOOL->kBool,
// STRING->kBytes (stored in Triton's serialized BYTES form). COMPLEX64/128,
// FLOAT8 and any unknown type have no mapping (kInvalid).
//
// Thread safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/data_type.h"
#include "common/status.h"
#include "common/tensor.h"

namespace onnx {
class TensorProto;
}  // namespace onnx

namespace nereid::engine {

// ONNX TensorProto::DataType number -> DataType; kInvalid when unmapped.
DataType DataTypeFromOnnx(int32_t onnx_type);
// DataType -> ONNX TensorProto::DataType number; 0 (UNDEFINED) for kInvalid.
int32_t DataTypeToOnnx(DataType dtype);
// Name of an ONNX element type number ("FLOAT", "COMPLEX64", ...) for messages.
std::string_view OnnxTypeName(int32_t onnx_type);

// Converts a TensorProto (raw_data or the typed *_data fields) into an owning
// Tensor. Errors: unmapped element type or external/segmented data ->
// Unimplemented; element count not matching the dims -> InvalidArgument.
StatusOr<Tensor> TensorFromOnnx(const onnx::TensorProto& proto);
// Parses a serialized TensorProto (e.g. an ONNX test case's input_0.pb) and
// converts it. Garbage -> InvalidArgument.
StatusOr<Tensor> TensorFromOnnxBytes(std::string_view bytes);

}  // namespace nereid::engine
