// Numpy-style (ONNX "multidirectional") broadcasting.
//
// Shapes are right-aligned; each dim pair must be equal or contain a 1.
// BroadcastStrides gives, for an input, the element stride per output dim
// (0 along broadcast dims), so kernels walk inputs without materializing them.
//
// Thread safety: stateless.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/data_type.h"
#include "common/status.h"

namespace nereid::engine::ref {

// Result shape of broadcasting `a` with `b`; InvalidArgument when incompatible.
StatusOr<Shape> BroadcastShapes(const Shape& a, const Shape& b);

// True when `from` broadcasts to exactly `to` (ONNX "unidirectional").
bool BroadcastsTo(const Shape& from, const Shape& to);

// Strides (in elements) of a dense tensor of shape `in` when indexed by
// positions of `out` (in.size() <= out.size(), `in` broadcastable to `out`).
std::vector<int64_t> BroadcastStrides(const Shape& in, const Shape& out);

// Calls fn(out_index, a_index, b_index) for every element of `out`, in
// row-major order, where a/b indices follow strides `sa`/`sb`.
template <typename Fn>
void ForEachBroadcast(const Shape& out, std::span<const int64_t> sa, std::span<const int64_t> sb,
                      Fn&& fn) {
  int64_t total = 1;
  for (int64_t d : out) total *= d;
  if (total == 0) return;
  const size_t rank = out.size();
  if (rank == 0) {
    fn(int64_t{0}, int64_t{0}, int64_t{0});
    return;
  }
  const int64_t inner = out[rank - 1];
  const int64_t step_a = sa[rank - 1];
  const int64_t step_b = sb[rank - 1];
  std::vector<int64_t> index(rank, 0);
  int64_t a = 0;
  int64_t b = 0;
  for (int64_t o = 0; o < total; o += inner) {
    for (int64_t j = 0; j < inner; ++j) fn(o + j, a + j * step_a, b + j * step_b);
    for (size_t d = rank - 1; d-- > 0;) {  // odometer over the outer dims
      a += sa[d];
      b += sb[d];
      if (++index[d] < out[d]) break;
      a -= sa[d] * out[d];
      b -= sb[d] * out[d];
      index[d] = 0;
    }
  }
}

}  // namespace nereid::engine::ref
