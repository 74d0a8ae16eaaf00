// ConvTranspose (opsets 1 and 11): the gradient of Conv with respect to its
// input, i.e. every input element scatters `x * W[c, m, k]` to output
// position `i * stride + k * dilation - pad_begin`.
//   X [N, C, D1..Dk], W [C, M/group, K1..Kk], B [M] -> Y [N, M, O1..Ok]
// Output dims: output_shape when given (pads then follow from it), else
//   O = stride * (D - 1) + output_padding + (K - 1) * dilation + 1 - pads,
// and with auto_pad SAME_* the output is D * stride. Total padding derived
// from an output shape is split as the ONNX reference does (floor division,
// the odd unit at the end for SAME_UPPER, at the start otherwise); it may be
// negative when output_shape is larger than the natural size, which leaves
// trailing output positions at the bias value.
#include <algorithm>
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/conv_pool_util.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

int64_t FloorHalf(int64_t v) { return v >= 0 ? v / 2 : -((-v + 1) / 2); }

struct TransposeDims {
  int64_t batch = 0;
  int64_t in_channels = 0;  // C
  int64_t group_in = 0;     // C / group
  int64_t group_out = 0;    // W.shape[1] = M / group
  int64_t out_channels = 0;
  int64_t in_size = 0;
  int64_t kernel_size = 0;
  int64_t out_size = 0;
};

class ConvTransposeKernel final : public Kernel {
 public:
  ConvTransposeKernel(WindowAttrs attrs, int64_t group, std::vector<int64_t> output_padding,
                      std::vector<int64_t> output_shape)
      : attrs_(std::move(attrs)),
        group_(group),
        output_padding_(std::move(output_padding)),
        output_shape_(std::move(output_shape)) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 3));
    RETURN_IF_ERROR(CheckSameDtype(inputs));
    const Tensor& x = *inputs[0];
    const Tensor& w = *inputs[1];
    const Tensor* b = inputs.size() > 2 ? inputs[2] : nullptr;
    TransposeDims dims;
    RETURN_IF_ERROR(CheckShapes(x, w, b, &dims));
    // The scatter reuses the forward window machinery with the roles swapped:
    // the window walks input positions and lands in the output.
    ASSIGN_OR_RETURN(Window window, Resolve(x.shape(), w.shape()));
    Shape out_shape = {dims.batch, dims.out_channels};
    out_shape.insert(out_shape.end(), window.in.begin(), window.in.end());
    return DispatchFloat(x.dtype(), "ConvTranspose", [&]<typename T>() -> Status {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(x.dtype(), out_shape));
      if (NumElements(out_shape) == 0) return Status::Ok();
      dims.in_size = DimProduct(x.shape(), 2, x.shape().size());
      dims.kernel_size = DimProduct(w.shape(), 2, w.shape().size());
      dims.out_size = DimProduct(window.in, 0, window.in.size());
      Compute<T>(x.data_as<T>(), w.data_as<T>(), b ? b->data_as<T>() : nullptr, window, dims,
                 outputs[0].mutable_data_as<T>());
      return Status::Ok();
    });
  }

 private:
  Status CheckShapes(const Tensor& x, const Tensor& w, const Tensor* b,
                     TransposeDims* dims) const {
    const Shape& xs = x.shape();
    const Shape& ws = w.shape();
    RETURN_IF_ERROR(CheckShapeBounded(xs, "ConvTranspose input X"));
    RETURN_IF_ERROR(CheckShapeBounded(ws, "ConvTranspose weight W"));
    if (xs.size() < 3 || ws.size() != xs.size()) {
      return InvalidArgument("ConvTranspose needs X of rank >= 3 and W of the same rank, got X " +
                             ShapeToString(xs) + " and W " + ShapeToString(ws));
    }
    dims->batch = xs[0];
    dims->in_channels = xs[1];
    if (ws[0] != xs[1] || xs[1] % group_ != 0) {
      return InvalidArgument("ConvTranspose W.shape[0] (" + std::to_string(ws[0]) +
                             ") must equal the input channels (" + std::to_string(xs[1]) +
                             ") and be divisible by group " + std::to_string(group_));
    }
    dims->group_in = xs[1] / group_;
    dims->group_out = ws[1];
    if (ws[1] > (int64_t{1} << 62) / group_) {
      return InvalidArgument("ConvTranspose output channel count overflows");
    }
    dims->out_channels = ws[1] * group_;
    if (b && (b->shape().size() != 1 || b->shape()[0] != dims->out_channels)) {
      return InvalidArgument("ConvTranspose bias B of shape " + ShapeToString(b->shape()) +
                             " must be 1-D with " + std::to_string(dims->out_channels) +
                             " elements");
    }
    return Status::Ok();
  }

  // Window with in = output spatial dims and out = input spatial dims.
  StatusOr<Window> Resolve(const Shape& xs, const Shape& ws) const {
    const size_t rank = xs.size() - 2;
    Window win;
    win.out.assign(xs.begin() + 2, xs.end());
    win.kernel.assign(ws.begin() + 2, ws.end());
    if (!attrs_.kernel_shape.empty() && attrs_.kernel_shape != win.kernel) {
      return InvalidArgument("ConvTranspose attribute 'kernel_shape' " +
                             ShapeToString(attrs_.kernel_shape) +
                             " does not match the weight's spatial dims " +
                             ShapeToString(win.kernel));
    }
    for (int64_t k : win.kernel) {
      if (k < 1 || k > kMaxWindowAttr) {
        return InvalidArgument("ConvTranspose kernel spatial dim " + std::to_string(k) +
                               " is out of range");
      }
    }
    auto get = [&](const std::vector<int64_t>& v, size_t want, const char* name,
                   int64_t fill) -> StatusOr<std::vector<int64_t>> {
      if (v.empty()) return std::vector<int64_t>(want, fill);
      if (v.size() != want) {
        return InvalidArgument("ConvTranspose attribute '" + std::string(name) + "' has " +
                               std::to_string(v.size()) + " values, expected " +
                               std::to_string(want));
      }
      return v;
    };
    ASSIGN_OR_RETURN(win.stride, get(attrs_.strides, rank, "strides", 1));
    ASSIGN_OR_RETURN(win.dilation, get(attrs_.dilations, rank, "dilations", 1));
    ASSIGN_OR_RETURN(std::vector<int64_t> out_pad,
                     get(output_padding_, rank, "output_padding", 0));
    const bool auto_same =
        attrs_.auto_pad == AutoPad::kSameUpper || attrs_.auto_pad == AutoPad::kSameLower;
    std::vector<int64_t> pads = attrs_.auto_pad == AutoPad::kNotSet ? attrs_.pads
                                                                    : std::vector<int64_t>{};
    ASSIGN_OR_RETURN(pads, get(pads, 2 * rank, "pads", 0));
    // output_shape may list only the spatial dims or the full output shape.
    std::vector<int64_t> target = output_shape_;
    if (target.size() == rank + 2) target.erase(target.begin(), target.begin() + 2);
    if (!target.empty() && target.size() != rank) {
      return InvalidArgument("ConvTranspose attribute 'output_shape' has " +
                             std::to_string(output_shape_.size()) + " values, expected " +
                             std::to_string(rank));
    }
    win.in.resize(rank);
    win.pad_begin.resize(rank);
    win.pad_end.resize(rank);
    for (size_t i = 0; i < rank; ++i) {
      if (win.out[i] > (int64_t{1} << 61) / win.stride[i]) {
        return InvalidArgument("ConvTranspose input spatial dim " + std::to_string(win.out[i]) +
                               " times the stride overflows");
      }
      const int64_t natural = win.stride[i] * (win.out[i] - 1) + out_pad[i] +
                              (win.kernel[i] - 1) * win.dilation[i] + 1;
      if (!target.empty() || auto_same) {
        win.in[i] = !target.empty() ? target[i] : win.out[i] * win.stride[i];
        const int64_t total = natural - win.in[i];
        const bool upper = attrs_.auto_pad == AutoPad::kSameUpper;
        win.pad_begin[i] = upper ? FloorHalf(total) : total - FloorHalf(total);
        win.pad_end[i] = total - win.pad_begin[i];
      } else {
        win.pad_begin[i] = pads[i];
        win.pad_end[i] = pads[i + rank];
        win.in[i] = natural - pads[i] - pads[i + rank];
      }
      if (win.in[i] < 0) {
        return InvalidArgument("ConvTranspose output spatial dim " + std::to_string(i) +
                               " would be negative (" + std::to_string(win.in[i]) + ")");
      }
    }
    return win;
  }

  template <typename T>
  void Compute(const T* x, const T* w, const T* b, const Window& window, const TransposeDims& d,
               T* y) const {
    using Acc = AccType<T>;
    const int64_t per_batch = d.out_channels * d.out_size;
    std::vector<Acc> acc(static_cast<size_t>(per_batch));
    std::vector<Tap> taps;  // kernel index -> output spatial index
    for (int64_t n = 0; n < d.batch; ++n) {
      for (int64_t m = 0; m < d.out_channels; ++m) {
        const Acc bias = b ? static_cast<Acc>(b[m]) : Acc{0};
        std::fill(acc.begin() + m * d.out_size, acc.begin() + (m + 1) * d.out_size, bias);
      }
      for (int64_t p = 0; p < d.in_size; ++p) {
        CollectTaps(window, p, &taps, nullptr);
        if (taps.empty()) continue;
        for (int64_t c = 0; c < d.in_channels; ++c) {
          const Acc xv = static_cast<Acc>(x[(n * d.in_channels + c) * d.in_size + p]);
          const int64_t g = c / d.group_in;
          for (int64_t mg = 0; mg < d.group_out; ++mg) {
            const T* w_ch = w + (c * d.group_out + mg) * d.kernel_size;
            Acc* out = acc.data() + (g * d.group_out + mg) * d.out_size;
            for (const Tap& t : taps) {
              out[t.input_index] += xv * static_cast<Acc>(w_ch[t.kernel_index]);
            }
          }
        }
      }
      T* y_batch = y + n * per_batch;
      for (int64_t i = 0; i < per_batch; ++i) y_batch[i] = static_cast<T>(acc[i]);
    }
  }

  WindowAttrs attrs_;
  int64_t group_;
  std::vector<int64_t> output_padding_;
  std::vector<int64_t> output_shape_;
};

StatusOr<std::vector<int64_t>> GetNonNegativeInts(const Node& node, const char* name) {
  ASSIGN_OR_RETURN(std::vector<int64_t> values, node.GetInts(name, std::vector<int64_t>{}));
  for (int64_t v : values) {
    if (v < 0 || v > kMaxWindowAttr) {
      return InvalidArgument(std::string("ConvTranspose attribute '") + name + "' has value " +
                             std::to_string(v) + ", expected a value in [0, 2^30]");
    }
  }
  return values;
}

StatusOr<std::unique_ptr<Kernel>> MakeConvTranspose(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 2, 3));
  ASSIGN_OR_RETURN(WindowAttrs attrs,
                   ParseWindowAttrs(context.node, "ConvTranspose", true, false));
  ASSIGN_OR_RETURN(int64_t group, context.node.GetInt("group", 1));
  if (group < 1 || group > kMaxWindowAttr) {
    return InvalidArgument("ConvTranspose attribute 'group' must be in [1, 2^30], got " +
                           std::to_string(group));
  }
  ASSIGN_OR_RETURN(auto output_padding, GetNonNegativeInts(context.node, "output_padding"));
  ASSIGN_OR_RETURN(auto output_shape, GetNonNegativeInts(context.node, "output_shape"));
  return std::unique_ptr<Kernel>(new ConvTransposeKernel(
      std::move(attrs), group, std::move(output_padding), std::move(output_shape)));
}

NEREID_REGISTER_KERNEL("", "ConvTranspose", MakeConvTranspose);

}  // namespace
}  // namespace nereid::engine::ref
