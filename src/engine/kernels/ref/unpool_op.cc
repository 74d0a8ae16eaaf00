// MaxUnpool (opsets 9, 11): scatters X into a zero tensor at the flat
// indices I (MaxPool's Indices output: row-major offsets into the whole
// unpooled tensor, batch and channel included). The unpooled shape is, per
// spatial axis, (in - 1) * stride + kernel - pad_begin - pad_end. When
// output_shape is given (each dim at least the unpooled one), the unpooled
// values keep their coordinates at its origin and the rest is zero: this is
// what ONNX's reference implementation and node test expect, and it differs
// from ONNX Runtime, which reads I as offsets into output_shape directly.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/ref_util.h"
#include "engine/kernels/ref/rnn_detect_util.h"

namespace nereid::engine::ref {
namespace {

class MaxUnpoolKernel final : public Kernel {
 public:
  MaxUnpoolKernel(std::vector<int64_t> kernel, std::vector<int64_t> strides,
                  std::vector<int64_t> pads)
      : kernel_(std::move(kernel)), strides_(std::move(strides)), pads_(std::move(pads)) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 3));
    const Tensor& x = *inputs[0];
    const Tensor& idx = *inputs[1];
    if (idx.dtype() != DataType::kInt64) {
      return InvalidArgument("I must be INT64, got " + std::string(DataTypeName(idx.dtype())));
    }
    if (idx.shape() != x.shape()) {
      return InvalidArgument("I has shape " + ShapeToString(idx.shape()) + ", X has " +
                             ShapeToString(x.shape()));
    }
    const size_t spatial = kernel_.size();
    if (x.shape().size() != spatial + 2) {
      return InvalidArgument("X has rank " + std::to_string(x.shape().size()) +
                             ", kernel_shape implies " + std::to_string(spatial + 2));
    }
    ASSIGN_OR_RETURN(Shape inferred, InferredShape(x.shape()));
    ASSIGN_OR_RETURN(Shape out_shape, OutputShape(inputs, inferred));
    return DispatchFloat(x.dtype(), "MaxUnpool", [&]<typename T>() -> Status {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(x.dtype(), out_shape));
      T* out = outputs[0].mutable_data_as<T>();
      std::fill_n(out, NumElements(out_shape), Convert<T>(0.0f));
      const int64_t total = NumElements(inferred);
      const T* in = x.data_as<T>();
      const int64_t* at = idx.data_as<int64_t>();
      const int64_t n = NumElements(x.shape());
      for (int64_t i = 0; i < n; ++i) {
        if (at[i] < 0 || at[i] >= total) {
          return InvalidArgument("index " + std::to_string(at[i]) + " is outside the unpooled " +
                                 "shape " + ShapeToString(inferred));
        }
        out[Relocate(at[i], inferred, out_shape)] = in[i];
      }
      return Status::Ok();
    });
  }

 private:
  // Maps a flat offset in `from` to the same coordinates in `to` (each dim
  // of `to` at least that of `from`).
  static int64_t Relocate(int64_t offset, const Shape& from, const Shape& to) {
    if (from == to) return offset;
    int64_t result = 0, scale = 1;
    for (size_t j = from.size(); j-- > 0;) {
      result += (offset % from[j]) * scale;
      offset /= from[j];
      scale *= to[j];
    }
    return result;
  }

  // output_shape when given (it must contain the inferred shape; the
  // unpooled values sit at its origin, like ONNX's reference), else inferred.
  StatusOr<Shape> OutputShape(std::span<const Tensor* const> inputs, const Shape& inferred) const {
    const Shape& xs = inputs[0]->shape();
    if (inputs.size() > 2 && inputs[2] != nullptr) {
      const Tensor& s = *inputs[2];
      if (s.dtype() != DataType::kInt64 || s.shape().size() != 1 ||
          s.shape()[0] != static_cast<int64_t>(xs.size())) {
        return InvalidArgument("output_shape must be an INT64 vector of length " +
                               std::to_string(xs.size()));
      }
      Shape out(s.data_as<int64_t>(), s.data_as<int64_t>() + xs.size());
      if (out[0] != xs[0] || out[1] != xs[1]) {
        return InvalidArgument("output_shape " + ShapeToString(out) +
                               " must keep X's batch and channel dims");
      }
      for (size_t j = 0; j < out.size(); ++j) {
        if (out[j] < inferred[j]) {
          return InvalidArgument("output_shape " + ShapeToString(out) +
                                 " is smaller than the unpooled shape " + ShapeToString(inferred));
        }
      }
      RETURN_IF_ERROR(ElementCount(out).status());
      return out;
    }
    return inferred;
  }

  // The unpooled shape implied by kernel, strides and pads.
  StatusOr<Shape> InferredShape(const Shape& xs) const {
    Shape out = {xs[0], xs[1]};
    const size_t spatial = kernel_.size();
    for (size_t i = 0; i < spatial; ++i) {
      // 128-bit so a huge input dim cannot overflow before the check.
      const __int128 d128 = static_cast<__int128>(xs[i + 2] - 1) * strides_[i] + kernel_[i] -
                            pads_[i] - pads_[i + spatial];
      if (xs[i + 2] == 0 || d128 < 0 || d128 > (static_cast<__int128>(1) << 62)) {
        return InvalidArgument("MaxUnpool output dim " + std::to_string(i) +
                               " is not positive for input " + ShapeToString(xs));
      }
      out.push_back(static_cast<int64_t>(d128));
    }
    RETURN_IF_ERROR(ElementCount(out).status());
    return out;
  }

  std::vector<int64_t> kernel_, strides_, pads_;
};

StatusOr<std::unique_ptr<Kernel>> MakeMaxUnpool(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 2, 3));
  const Node& node = context.node;
  ASSIGN_OR_RETURN(std::vector<int64_t> kernel, node.GetInts("kernel_shape"));
  const size_t n = kernel.size();
  if (n == 0) return InvalidArgument("attribute 'kernel_shape' must not be empty");
  ASSIGN_OR_RETURN(std::vector<int64_t> strides,
                   node.GetInts("strides", std::vector<int64_t>(n, 1)));
  ASSIGN_OR_RETURN(std::vector<int64_t> pads, node.GetInts("pads", std::vector<int64_t>(2 * n, 0)));
  constexpr int64_t kLimit = int64_t{1} << 30;  // keeps the shape arithmetic far from overflow
  for (int64_t k : kernel) {
    if (k <= 0 || k > kLimit) return InvalidArgument("attribute 'kernel_shape' must be positive");
  }
  if (strides.size() != n) return InvalidArgument("attribute 'strides' must have one per axis");
  for (int64_t s : strides) {
    if (s <= 0 || s > kLimit) return InvalidArgument("attribute 'strides' must be positive");
  }
  if (pads.size() != 2 * n) return InvalidArgument("attribute 'pads' must have two per axis");
  for (int64_t p : pads) {
    if (p < 0 || p > kLimit) return InvalidArgument("attribute 'pads' must be non-negative");
  }
  return std::unique_ptr<Kernel>(new MaxUnpoolKernel(std::move(kernel), std::move(strides),
                                                     std::move(pads)));
}

NEREID_REGISTER_KERNEL("", "MaxUnpool", MakeMaxUnpool);

}  // namespace
}  // namespace nereid::engine::ref
