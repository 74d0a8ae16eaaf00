// Small helpers shared by the recurrent and detection reference kernels
// (rnn_ops.cc, nms_op.cc, grid_sample_op.cc, roi_align_op.cc, ...).
//
// Thread safety: stateless.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "common/status.h"
#include "common/tensor.h"
#include "engine/ir/graph.h"
#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/numeric.h"

namespace nereid::engine::ref {

// Computation type for a floating element type: double for double, float
// for float and the 16-bit types.
template <typename T>
using ComputeType = std::conditional_t<std::is_same_v<T, double>, double, float>;

// Copies a floating tensor's elements into a vector of C (float or double).
// InvalidArgument for non-floating tensors.
template <typename C>
StatusOr<std::vector<C>> ReadAsFloating(const Tensor& t, std::string_view what) {
  std::vector<C> out;
  if (DataTypeByteSize(t.dtype()) == 0) {
    return InvalidArgument(std::string(what) + " must be a floating tensor");
  }
  const size_t n = t.byte_size() / DataTypeByteSize(t.dtype());
  Status st = DispatchFloat(t.dtype(), what, [&]<typename T>() -> Status {
    const T* p = t.data_as<T>();
    out.resize(n);
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<C>(p[i]);
    return Status::Ok();
  });
  if (!st.ok()) {
    return InvalidArgument(std::string(what) + " must be a floating tensor, got " +
                           std::string(DataTypeName(t.dtype())));
  }
  return out;
}

// Reads an integer tensor (int32 or int64) as int64 values.
inline StatusOr<std::vector<int64_t>> ReadAsInt64(const Tensor& t, std::string_view what) {
  std::vector<int64_t> out;
  if (t.dtype() == DataType::kInt64) {
    const int64_t* p = t.data_as<int64_t>();
    out.assign(p, p + t.byte_size() / 8);
  } else if (t.dtype() == DataType::kInt32) {
    const int32_t* p = t.data_as<int32_t>();
    out.assign(p, p + t.byte_size() / 4);
  } else {
    return InvalidArgument(std::string(what) + " must be INT32 or INT64, got " +
                           std::string(DataTypeName(t.dtype())));
  }
  return out;
}

// True when the node's output `i` exists and is named (not omitted).
inline bool HasOutput(const Node& node, size_t i) {
  return i < node.outputs.size() && node.outputs[i] != kNoValue;
}

// Lower-cases ASCII letters (attribute string comparisons).
inline std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace nereid::engine::ref
