// Helpers shared by the extended elementwise kernels (unary math,
// parameterized activations, comparisons/logic, Pow/Mod/BitShift, variadic
// Min/Max/Sum/Mean, Where): elementwise maps with broadcasting over inputs
// that may differ in element type, and an N-input broadcast walker.
//
// Thread safety: stateless.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "common/status.h"
#include "common/tensor.h"
#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/broadcast.h"
#include "engine/kernels/ref/numeric.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {

// Type arithmetic on T is done in: float for the 16-bit floats, else T.
template <typename T>
using ComputeType = std::conditional_t<kIsHalf<T>, float, T>;

// out = fn(x) elementwise; `out` gets dtype `out_dtype` and x's shape. Safe
// in place (Kernel::InPlaceInput): reuses a pre-filled `out` that matches.
template <typename In, typename Out, typename Fn>
Status MapUnary(const Tensor& x, DataType out_dtype, Tensor* out, Fn&& fn) {
  RETURN_IF_ERROR(ReuseOrAllocateOutput(out, out_dtype, x.shape()));
  const In* in = x.data_as<In>();
  Out* o = out->mutable_data_as<Out>();
  const int64_t n = NumElements(x.shape());
  for (int64_t i = 0; i < n; ++i) o[i] = fn(in[i]);
  return Status::Ok();
}

// out = fn(a, b) with multidirectional broadcasting; a and b may have
// different element types. InvalidArgument when the shapes do not broadcast.
template <typename A, typename B, typename Out, typename Fn>
Status MapBinary(const Tensor& a, const Tensor& b, DataType out_dtype, Tensor* out, Fn&& fn) {
  ASSIGN_OR_RETURN(Shape shape, BroadcastShapes(a.shape(), b.shape()));
  ASSIGN_OR_RETURN(*out, AllocateOutput(out_dtype, shape));
  const auto sa = BroadcastStrides(a.shape(), out->shape());
  const auto sb = BroadcastStrides(b.shape(), out->shape());
  const A* pa = a.data_as<A>();
  const B* pb = b.data_as<B>();
  Out* po = out->mutable_data_as<Out>();
  ForEachBroadcast(out->shape(), sa, sb,
                   [&](int64_t o, int64_t i, int64_t j) { po[o] = fn(pa[i], pb[j]); });
  return Status::Ok();
}

// Calls fn(out_index, indices) for every element of `out` in row-major
// order, where indices[k] is the element index into input k (strides[k]
// from BroadcastStrides, one entry per dim of `out`).
template <typename Fn>
void ForEachBroadcastN(const Shape& out, const std::vector<std::vector<int64_t>>& strides,
                       Fn&& fn) {
  const int64_t total = NumElements(out);
  if (total == 0) return;
  const size_t n = strides.size();
  std::vector<int64_t> idx(n, 0);
  std::vector<int64_t> pos(out.size(), 0);
  for (int64_t o = 0; o < total; ++o) {
    fn(o, std::span<const int64_t>(idx));
    for (size_t d = out.size(); d-- > 0;) {  // odometer, innermost dim first
      for (size_t k = 0; k < n; ++k) idx[k] += strides[k][d];
      if (++pos[d] < out[d]) break;
      for (size_t k = 0; k < n; ++k) idx[k] -= strides[k][d] * out[d];
      pos[d] = 0;
    }
  }
}

// Rejects the opset 1-6 "axis" attribute of broadcasting binary ops: that
// legacy broadcasting aligned B at an arbitrary axis, which numpy rules do
// not express. (With "broadcast"=1 and no axis, B is a suffix of A, which
// numpy broadcasting handles.)
inline Status CheckNoLegacyAxis(const KernelBuildContext& context) {
  if (context.node.FindAttribute("axis") != nullptr) {
    return Unimplemented(context.node.op_type +
                         ": legacy 'axis' broadcasting (opset < 7) is not supported");
  }
  return Status::Ok();
}

// Reads a bool tensor element (any non-zero byte is true).
inline bool IsTrue(Bool8 b) { return b.byte != 0; }
inline Bool8 MakeBool(bool b) { return Bool8{static_cast<uint8_t>(b ? 1 : 0)}; }

// InvalidArgument unless `t` has dtype BOOL.
inline Status CheckBool(const Tensor& t, std::string_view op, std::string_view what) {
  if (t.dtype() != DataType::kBool) {
    return InvalidArgument(std::string(op) + ": " + std::string(what) + " must be BOOL, got " +
                           std::string(DataTypeName(t.dtype())));
  }
  return Status::Ok();
}

}  // namespace nereid::engine::ref
