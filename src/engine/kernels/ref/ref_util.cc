#include "engine/kernels/ref/ref_util.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <string>

#include "engine/kernels/ref/numeric.h"

namespace nereid::engine::ref {

StatusOr<Tensor> AllocateOutput(DataType dtype, Shape shape) {
  ASSIGN_OR_RETURN(int64_t count, ElementCount(shape));
  size_t elem = DataTypeByteSize(dtype);
  if (elem == 0) return Internal("AllocateOutput on a variable-size dtype");
  if (static_cast<uint64_t>(count) > (uint64_t{1} << 62) / elem) {
    return InvalidArgument("output shape " + ShapeToString(shape) + " is too large");
  }
  size_t bytes = static_cast<size_t>(count) * elem;
  return Tensor::Allocate(dtype, std::move(shape), bytes);
}

Status ReuseOrAllocateOutput(Tensor* out, DataType dtype, const Shape& shape) {
  if (out->owner() != nullptr && out->dtype() == dtype && out->shape() == shape) {
    ASSIGN_OR_RETURN(int64_t count, ElementCount(shape));
    if (out->byte_size() == static_cast<size_t>(count) * DataTypeByteSize(dtype)) {
      return Status::Ok();
    }
  }
  ASSIGN_OR_RETURN(*out, AllocateOutput(dtype, shape));
  return Status::Ok();
}

int64_t NumElements(const Shape& shape) { return DimProduct(shape, 0, shape.size()); }

int64_t DimProduct(const Shape& shape, size_t begin, size_t end) {
  int64_t n = 1;
  for (size_t i = begin; i < end && i < shape.size(); ++i) n *= shape[i];
  return n;
}

StatusOr<int64_t> NormalizeAxis(int64_t axis, int64_t rank, bool allow_rank) {
  int64_t limit = allow_rank ? rank + 1 : rank;
  int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= limit) {
    return InvalidArgument("axis " + std::to_string(axis) + " is out of range for rank " +
                           std::to_string(rank));
  }
  return a;
}

Tensor MakeView(const Tensor& in, Shape shape) {
  return Tensor::Wrap(in.dtype(), std::move(shape), in.data(), in.byte_size(), in.owner());
}

Status CheckInputs(std::span<const Tensor* const> inputs, size_t min, size_t max) {
  if (inputs.size() < min || inputs.size() > max) {
    return InvalidArgument("expected " + std::to_string(min) +
                           (max != min ? " to " + std::to_string(max) : std::string()) +
                           " inputs, got " + std::to_string(inputs.size()));
  }
  for (size_t i = 0; i < min; ++i) {
    if (inputs[i] == nullptr) {
      return InvalidArgument("required input " + std::to_string(i) + " is missing");
    }
  }
  return Status::Ok();
}

Status CheckArity(const KernelBuildContext& context, size_t min_inputs, size_t max_inputs,
                  size_t outputs) {
  const Node& node = context.node;
  if (node.inputs.size() < min_inputs || node.inputs.size() > max_inputs) {
    return InvalidArgument("has " + std::to_string(node.inputs.size()) + " inputs, " +
                           node.op_type + " takes " + std::to_string(min_inputs) +
                           (max_inputs == min_inputs ? std::string()
                            : max_inputs == SIZE_MAX ? " or more"
                                                     : " to " + std::to_string(max_inputs)));
  }
  if (node.outputs.size() != outputs || node.outputs[0] == kNoValue) {
    return InvalidArgument("has " + std::to_string(node.outputs.size()) + " outputs, " +
                           node.op_type + " produces " + std::to_string(outputs));
  }
  return Status::Ok();
}

Status CheckSameDtype(std::span<const Tensor* const> inputs) {
  for (size_t i = 1; i < inputs.size(); ++i) {
    if (inputs[i] && inputs[i]->dtype() != inputs[0]->dtype()) {
      return InvalidArgument("input " + std::to_string(i) + " has element type " +
                             std::string(DataTypeName(inputs[i]->dtype())) + " but input 0 has " +
                             std::string(DataTypeName(inputs[0]->dtype())));
    }
  }
  return Status::Ok();
}

Status CheckFixedSize(const Tensor& t, std::string_view op) {
  if (DataTypeByteSize(t.dtype()) == 0) {
    return Unimplemented(std::string(op) + " does not support element type " +
                         std::string(DataTypeName(t.dtype())));
  }
  return Status::Ok();
}

// IEEE 754 binary32 -> binary16, round to nearest even.
uint16_t FloatToHalfBits(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t exp = (x >> 23) & 0xFF;
  uint32_t mant = x & 0x7FFFFF;
  if (exp == 0xFF) return static_cast<uint16_t>(sign | 0x7C00 | (mant ? 0x200 : 0));
  int32_t e = static_cast<int32_t>(exp) - 127 + 15;
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7C00);  // overflow -> inf
  if (e <= 0) {
    if (e < -10) return static_cast<uint16_t>(sign);  // underflow -> signed zero
    mant |= 0x800000;                                 // implicit leading one
    uint32_t shift = static_cast<uint32_t>(14 - e);
    uint32_t half_mant = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (half_mant & 1))) ++half_mant;
    return static_cast<uint16_t>(sign | half_mant);
  }
  uint32_t half = sign | (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1FFF;
  // A carry out of the mantissa correctly bumps the exponent (up to inf).
  if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) ++half;
  return static_cast<uint16_t>(half);
}

float HalfBitsToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1F;
  uint32_t mant = h & 0x3FF;
  if (exp == 0) {
    float v = std::ldexp(static_cast<float>(mant), -24);  // zero or subnormal
    return sign ? -v : v;
  }
  uint32_t bits =
      exp == 31 ? sign | 0x7F800000 | (mant << 13) : sign | ((exp - 15 + 127) << 23) | (mant << 13);
  return std::bit_cast<float>(bits);
}

}  // namespace nereid::engine::ref
