// Helpers shared by the reduction, indexing and shape-manipulation kernels:
// reading int32/int64 index tensors, normalizing possibly negative indices,
// axis lists, and an odometer that walks a shape with per-dim strides.
//
// Thread safety: stateless.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/data_type.h"
#include "common/status.h"
#include "common/tensor.h"
#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {

// Reads every element of an INT32 or INT64 tensor as int64.
inline StatusOr<std::vector<int64_t>> ReadIndexTensor(const Tensor& t, std::string_view what) {
  const int64_t n = NumElements(t.shape());
  const size_t elem = DataTypeByteSize(t.dtype());
  if ((t.dtype() != DataType::kInt32 && t.dtype() != DataType::kInt64) ||
      t.byte_size() < static_cast<size_t>(n) * elem) {
    return InvalidArgument(std::string(what) + " must be an INT32 or INT64 tensor, got " +
                           std::string(DataTypeName(t.dtype())));
  }
  std::vector<int64_t> out(static_cast<size_t>(n));
  if (t.dtype() == DataType::kInt32) {
    const int32_t* p = t.data_as<int32_t>();
    for (int64_t i = 0; i < n; ++i) out[i] = p[i];
  } else {
    const int64_t* p = t.data_as<int64_t>();
    for (int64_t i = 0; i < n; ++i) out[i] = p[i];
  }
  return out;
}

// Like ReadIndexTensor but requires rank <= 1 (a list such as axes or pads).
inline StatusOr<std::vector<int64_t>> ReadIndexList(const Tensor& t, std::string_view what) {
  if (t.shape().size() > 1) {
    return InvalidArgument(std::string(what) + " must be a 1-D tensor, got shape " +
                           ShapeToString(t.shape()));
  }
  return ReadIndexTensor(t, what);
}

// Reads a single-element INT32/INT64 tensor (scalar or shape [1]).
inline StatusOr<int64_t> ReadIndexScalar(const Tensor& t, std::string_view what) {
  if (NumElements(t.shape()) != 1 || t.shape().size() > 1) {
    return InvalidArgument(std::string(what) + " must be a scalar, got shape " +
                           ShapeToString(t.shape()));
  }
  ASSIGN_OR_RETURN(std::vector<int64_t> v, ReadIndexTensor(t, what));
  return v[0];
}

// Maps index `i` in [-dim, dim) to [0, dim); InvalidArgument otherwise.
inline StatusOr<int64_t> NormalizeIndex(int64_t i, int64_t dim, std::string_view op) {
  const int64_t j = i < 0 ? i + dim : i;
  if (j < 0 || j >= dim) {
    return InvalidArgument(std::string(op) + ": index " + std::to_string(i) +
                           " is out of range for a dim of size " + std::to_string(dim));
  }
  return j;
}

// Normalizes each axis against `rank` and rejects duplicates.
inline StatusOr<std::vector<int64_t>> NormalizeAxes(const std::vector<int64_t>& axes, int64_t rank,
                                                    std::string_view op) {
  std::vector<int64_t> out;
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t a : axes) {
    auto n = NormalizeAxis(a, rank);
    if (!n.ok()) return InvalidArgument(std::string(op) + ": " + n.status().message());
    if (seen[*n]) {
      return InvalidArgument(std::string(op) + ": axis " + std::to_string(a) + " is repeated");
    }
    seen[*n] = true;
    out.push_back(*n);
  }
  return out;
}

// Row-major strides (in elements) of a dense tensor of `shape`.
inline std::vector<int64_t> DenseStrides(const Shape& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t d = shape.size(); d-- > 1;) strides[d - 1] = strides[d] * shape[d];
  return strides;
}

// Calls fn(position, offset) for every element of `shape` in row-major
// order, where offset = sum(index[d] * strides[d]) + base.
template <typename Fn>
void ForEachStrided(const Shape& shape, std::span<const int64_t> strides, int64_t base, Fn&& fn) {
  const int64_t total = NumElements(shape);
  if (total == 0) return;
  const size_t rank = shape.size();
  std::vector<int64_t> index(rank, 0);
  int64_t off = base;
  for (int64_t pos = 0; pos < total; ++pos) {
    fn(pos, off);
    for (size_t d = rank; d-- > 0;) {  // odometer
      off += strides[d];
      if (++index[d] < shape[d]) break;
      off -= strides[d] * shape[d];
      index[d] = 0;
    }
  }
}

// Calls fn.template operator()<U>() with an unsigned integer type of the
// element size of `dtype`, so data-movement kernels copy any fixed-size type
// (BOOL, halves, ...) by bit pattern. Unimplemented for BYTES.
template <typename Fn>
Status DispatchBySize(DataType dtype, std::string_view op, Fn&& fn) {
  switch (DataTypeByteSize(dtype)) {
    case 1:
      return fn.template operator()<uint8_t>();
    case 2:
      return fn.template operator()<uint16_t>();
    case 4:
      return fn.template operator()<uint32_t>();
    case 8:
      return fn.template operator()<uint64_t>();
    default:
      return Unimplemented(std::string(op) + " does not support element type " +
                           std::string(DataTypeName(dtype)));
  }
}

// Optional input `i` (null when omitted or past the end).
inline const Tensor* OptionalInput(std::span<const Tensor* const> inputs, size_t i) {
  return i < inputs.size() ? inputs[i] : nullptr;
}

}  // namespace nereid::engine::ref
