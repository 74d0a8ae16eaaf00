// Conv (opsets 1 and 11): N-d grouped, strided, dilated, padded convolution
// with an optional bias.
//   X [N, C, D1..Dk], W [M, C/group, K1..Kk], B [M] -> Y [N, M, O1..Ok]
// The window geometry (auto_pad, pads, strides, dilations) comes from
// conv_pool_util.h. Reference loops: for each output position the in-bounds
// taps are gathered once and reused for every (output, input) channel pair of
// the group, so padding costs nothing in the inner loop.
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/conv_pool_util.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

// Validated dims of one Conv call.
struct ConvDims {
  int64_t batch = 0;
  int64_t in_channels = 0;   // C
  int64_t out_channels = 0;  // M
  int64_t group_in = 0;      // C / group
  int64_t group_out = 0;     // M / group
  int64_t in_size = 0;       // product of input spatial dims
  int64_t kernel_size = 0;   // product of kernel spatial dims
  int64_t out_size = 0;      // product of output spatial dims
};

class ConvKernel final : public Kernel {
 public:
  ConvKernel(WindowAttrs attrs, int64_t group) : attrs_(std::move(attrs)), group_(group) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 3));
    RETURN_IF_ERROR(CheckSameDtype(inputs));
    const Tensor& x = *inputs[0];
    const Tensor& w = *inputs[1];
    const Tensor* b = inputs.size() > 2 ? inputs[2] : nullptr;
    ConvDims dims;
    RETURN_IF_ERROR(CheckShapes(x, w, b, &dims));
    const Shape& xs = x.shape();
    const Shape& ws = w.shape();
    ASSIGN_OR_RETURN(Window window,
                     ResolveWindow(attrs_, std::span(xs).subspan(2), std::span(ws).subspan(2),
                                   "Conv"));
    Shape out_shape = {dims.batch, dims.out_channels};
    out_shape.insert(out_shape.end(), window.out.begin(), window.out.end());
    return DispatchFloat(x.dtype(), "Conv", [&]<typename T>() -> Status {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(x.dtype(), out_shape));
      if (NumElements(out_shape) == 0) return Status::Ok();
      dims.in_size = DimProduct(xs, 2, xs.size());
      dims.kernel_size = DimProduct(ws, 2, ws.size());
      dims.out_size = DimProduct(window.out, 0, window.out.size());
      Compute<T>(x.data_as<T>(), w.data_as<T>(), b ? b->data_as<T>() : nullptr, window, dims,
                 outputs[0].mutable_data_as<T>());
      return Status::Ok();
    });
  }

 private:
  Status CheckShapes(const Tensor& x, const Tensor& w, const Tensor* b, ConvDims* dims) const {
    const Shape& xs = x.shape();
    const Shape& ws = w.shape();
    RETURN_IF_ERROR(CheckShapeBounded(xs, "Conv input X"));
    RETURN_IF_ERROR(CheckShapeBounded(ws, "Conv weight W"));
    if (xs.size() < 3) {
      return InvalidArgument("Conv input X must have rank >= 3 (N, C, spatial...), got " +
                             ShapeToString(xs));
    }
    if (ws.size() != xs.size()) {
      return InvalidArgument("Conv weight W of shape " + ShapeToString(ws) +
                             " must have the rank of X " + ShapeToString(xs));
    }
    dims->batch = xs[0];
    dims->in_channels = xs[1];
    dims->out_channels = ws[0];
    dims->group_in = ws[1];
    if (dims->in_channels % group_ != 0 || dims->in_channels / group_ != dims->group_in) {
      return InvalidArgument("Conv input channels " + std::to_string(dims->in_channels) +
                             " != W.shape[1] (" + std::to_string(dims->group_in) + ") * group (" +
                             std::to_string(group_) + ")");
    }
    if (dims->out_channels % group_ != 0) {
      return InvalidArgument("Conv output channels " + std::to_string(dims->out_channels) +
                             " are not divisible by group " + std::to_string(group_));
    }
    dims->group_out = dims->out_channels / group_;
    if (b && (b->shape().size() != 1 || b->shape()[0] != dims->out_channels)) {
      return InvalidArgument("Conv bias B of shape " + ShapeToString(b->shape()) +
                             " must be 1-D with " + std::to_string(dims->out_channels) +
                             " elements");
    }
    return Status::Ok();
  }

  template <typename T>
  void Compute(const T* x, const T* w, const T* b, const Window& window, const ConvDims& d,
               T* y) const {
    using Acc = AccType<T>;
    std::vector<Tap> taps;
    for (int64_t n = 0; n < d.batch; ++n) {
      for (int64_t p = 0; p < d.out_size; ++p) {
        CollectTaps(window, p, &taps, nullptr);
        for (int64_t g = 0; g < group_; ++g) {
          const T* x_group = x + (n * d.in_channels + g * d.group_in) * d.in_size;
          for (int64_t mg = 0; mg < d.group_out; ++mg) {
            const int64_t m = g * d.group_out + mg;
            Acc acc = b ? static_cast<Acc>(b[m]) : Acc{0};
            for (int64_t c = 0; c < d.group_in; ++c) {
              const T* x_ch = x_group + c * d.in_size;
              const T* w_ch = w + (m * d.group_in + c) * d.kernel_size;
              for (const Tap& t : taps) {
                acc += static_cast<Acc>(x_ch[t.input_index]) * static_cast<Acc>(w_ch[t.kernel_index]);
              }
            }
            y[(n * d.out_channels + m) * d.out_size + p] = static_cast<T>(acc);
          }
        }
      }
    }
  }

  WindowAttrs attrs_;
  int64_t group_;
};

StatusOr<std::unique_ptr<Kernel>> MakeConv(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 2, 3));
  ASSIGN_OR_RETURN(WindowAttrs attrs, ParseWindowAttrs(context.node, "Conv", true, false));
  ASSIGN_OR_RETURN(int64_t group, context.node.GetInt("group", 1));
  if (group < 1 || group > kMaxWindowAttr) {
    return InvalidArgument("Conv attribute 'group' must be in [1, 2^30], got " +
                           std::to_string(group));
  }
  return std::unique_ptr<Kernel>(new ConvKernel(std::move(attrs), group));
}

NEREID_REGISTER_KERNEL("", "Conv", MakeConv);

}  // namespace
}  // namespace nereid::engine::ref
