// Integer and quantized products (opset 10):
//   ConvInteger, MatMulInteger:  y(int32) = sum (x - x_zp) * (w - w_zp)
//   QLinearConv, QLinearMatMul:  y = saturate(round_half_even(acc * x_scale * w_scale / y_scale)
//                                             + y_zp), acc = the int32 sum above (+ QLinearConv's
//                                int32 bias, already in units of x_scale * w_scale)
// Inputs are uint8 or int8 (each its own), outputs int32 or the type of
// y_zero_point. Zero points and scales are per tensor (one element) or:
// ConvInteger/QLinearConv weights per output channel (M elements);
// MatMulInteger/QLinearMatMul A per row (M elements, the same for every
// batch) and B per column (N elements). Per-batch zero points ([D, M, 1])
// are rejected as unsupported. Conv geometry is Conv's (conv_pool_util.h);
// padding contributes nothing (it is padding with the zero point). MatMul
// broadcasting is numpy's (matmul_shape.h).
//
// These are the reference kernels: operands are widened to int32 with the
// zero point subtracted, then summed in int64 and stored as int32 (wrapping
// like a 32-bit accumulator on overflow). Requantization is in double.
//
// Thread safety: kernels hold only their attributes.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/conv_pool_util.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/matmul_shape.h"
#include "engine/kernels/ref/misc_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

bool Is8Bit(DataType d) { return d == DataType::kUint8 || d == DataType::kInt8; }

Status Check8Bit(const Tensor& t, const std::string& what) {
  if (!Is8Bit(t.dtype())) {
    return Unimplemented(what + " must be UINT8 or INT8, got " +
                         std::string(DataTypeName(t.dtype())));
  }
  return Status::Ok();
}

int64_t Count(const Tensor& t) { return NumElements(t.shape()); }

int32_t Load8(const Tensor& t, int64_t i) {
  return t.dtype() == DataType::kUint8 ? static_cast<int32_t>(t.data_as<uint8_t>()[i])
                                       : static_cast<int32_t>(t.data_as<int8_t>()[i]);
}

// A zero point of `data`: absent (0), one element, or `per_channel`
// elements (0: per tensor only). Its element type must be the data's.
StatusOr<std::vector<int32_t>> ReadZeroPoint(const Tensor* zp, const Tensor& data,
                                             int64_t per_channel, const std::string& what) {
  if (zp == nullptr) return std::vector<int32_t>{0};
  if (zp->dtype() != data.dtype()) {
    return InvalidArgument(what + " element type " + std::string(DataTypeName(zp->dtype())) +
                           " differs from its input's " + std::string(DataTypeName(data.dtype())));
  }
  const int64_t n = Count(*zp);
  if (n != 1 && (per_channel <= 0 || n != per_channel)) {
    return InvalidArgument(what + " of shape " + ShapeToString(zp->shape()) + " must have 1" +
                           (per_channel > 0 ? " or " + std::to_string(per_channel) : "") +
                           " elements");
  }
  std::vector<int32_t> out(n);
  for (int64_t i = 0; i < n; ++i) out[i] = Load8(*zp, i);
  return out;
}

StatusOr<std::vector<double>> ReadScale(const Tensor& s, int64_t per_channel,
                                        const std::string& what) {
  ASSIGN_OR_RETURN(std::vector<double> v, ReadDoubles(s, what));
  const auto n = static_cast<int64_t>(v.size());
  if (n != 1 && (per_channel <= 0 || n != per_channel)) {
    return InvalidArgument(what + " of shape " + ShapeToString(s.shape()) + " must have 1" +
                           (per_channel > 0 ? " or " + std::to_string(per_channel) : "") +
                           " elements");
  }
  for (double x : v) {
    if (!(x > 0) || !std::isfinite(x)) return InvalidArgument(what + " must be positive");
  }
  return v;
}

// `t` (8-bit) widened, minus its zero point; t viewed as [outer, channels,
// inner], zp indexed by channel (or one value for all).
std::vector<int32_t> Widen(const Tensor& t, const std::vector<int32_t>& zp, int64_t inner) {
  const int64_t n = Count(t);
  std::vector<int32_t> out(n);
  const auto channels = static_cast<int64_t>(zp.size());
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = channels == 1 ? 0 : (i / inner) % channels;
    out[i] = Load8(t, i) - zp[c];
  }
  return out;
}

// Quantized output value: round half to even, add the zero point, saturate.
template <typename Q>
Q Requantize(double acc, double multiplier, int32_t zero) {
  const double r = std::nearbyint(acc * multiplier) + zero;
  return static_cast<Q>(std::clamp(r, static_cast<double>(std::numeric_limits<Q>::lowest()),
                                   static_cast<double>(std::numeric_limits<Q>::max())));
}

// ---- Convolution ------------------------------------------------------------

struct IntConvShape {
  int64_t batch = 0, in_channels = 0, out_channels = 0, group_in = 0, group_out = 0;
  int64_t in_size = 0, kernel_size = 0, out_size = 0;
  Window window;
  Shape out;
};

StatusOr<IntConvShape> ResolveIntConv(const WindowAttrs& attrs, int64_t group, const Tensor& x,
                                      const Tensor& w, const std::string& op) {
  const Shape& xs = x.shape();
  const Shape& ws = w.shape();
  RETURN_IF_ERROR(CheckShapeBounded(xs, op + " input"));
  RETURN_IF_ERROR(CheckShapeBounded(ws, op + " weight"));
  if (xs.size() < 3 || ws.size() != xs.size()) {
    return InvalidArgument(op + " input " + ShapeToString(xs) + " and weight " +
                           ShapeToString(ws) + " must have one rank >= 3");
  }
  IntConvShape s;
  s.batch = xs[0];
  s.in_channels = xs[1];
  s.out_channels = ws[0];
  s.group_in = ws[1];
  if (s.in_channels % group != 0 || s.in_channels / group != s.group_in) {
    return InvalidArgument(op + " input channels " + std::to_string(s.in_channels) +
                           " != weight.shape[1] (" + std::to_string(s.group_in) + ") * group (" +
                           std::to_string(group) + ")");
  }
  if (s.out_channels % group != 0) {
    return InvalidArgument(op + " output channels " + std::to_string(s.out_channels) +
                           " are not divisible by group " + std::to_string(group));
  }
  s.group_out = s.out_channels / group;
  ASSIGN_OR_RETURN(s.window, ResolveWindow(attrs, std::span(xs).subspan(2),
                                           std::span(ws).subspan(2), op));
  s.out = {s.batch, s.out_channels};
  s.out.insert(s.out.end(), s.window.out.begin(), s.window.out.end());
  s.in_size = DimProduct(xs, 2, xs.size());
  s.kernel_size = DimProduct(ws, 2, ws.size());
  s.out_size = DimProduct(s.window.out, 0, s.window.out.size());
  return s;
}

// acc[n, m, p] = bias[m] + sum over the group's channels and in-bounds taps.
std::vector<int32_t> IntConv(const std::vector<int32_t>& x, const std::vector<int32_t>& w,
                             const int32_t* bias, const IntConvShape& d, int64_t group) {
  std::vector<int32_t> y(static_cast<size_t>(NumElements(d.out)));
  std::vector<Tap> taps;
  for (int64_t n = 0; n < d.batch; ++n) {
    for (int64_t p = 0; p < d.out_size; ++p) {
      CollectTaps(d.window, p, &taps, nullptr);
      for (int64_t g = 0; g < group; ++g) {
        const int32_t* xg = x.data() + (n * d.in_channels + g * d.group_in) * d.in_size;
        for (int64_t mg = 0; mg < d.group_out; ++mg) {
          const int64_t m = g * d.group_out + mg;
          int64_t acc = bias != nullptr ? bias[m] : 0;
          for (int64_t c = 0; c < d.group_in; ++c) {
            const int32_t* xc = xg + c * d.in_size;
            const int32_t* wc = w.data() + (m * d.group_in + c) * d.kernel_size;
            for (const Tap& t : taps) {
              acc += static_cast<int64_t>(xc[t.input_index]) * wc[t.kernel_index];
            }
          }
          y[(n * d.out_channels + m) * d.out_size + p] =
              static_cast<int32_t>(static_cast<uint32_t>(acc));
        }
      }
    }
  }
  return y;
}

// ConvInteger (quantized = false): x, w, [x_zero_point], [w_zero_point].
// QLinearConv (quantized = true): x, x_scale, x_zp, w, w_scale, w_zp,
// y_scale, y_zp, [B].
class IntConvKernel final : public Kernel {
 public:
  IntConvKernel(WindowAttrs attrs, int64_t group, bool quantized)
      : attrs_(std::move(attrs)), group_(group), quantized_(quantized) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    const std::string op = quantized_ ? "QLinearConv" : "ConvInteger";
    RETURN_IF_ERROR(quantized_ ? CheckInputs(inputs, 8, 9) : CheckInputs(inputs, 2, 4));
    const Tensor& x = *inputs[0];
    const Tensor& w = *inputs[quantized_ ? 3 : 1];
    RETURN_IF_ERROR(Check8Bit(x, op + " input x"));
    RETURN_IF_ERROR(Check8Bit(w, op + " input w"));
    ASSIGN_OR_RETURN(IntConvShape d, ResolveIntConv(attrs_, group_, x, w, op));
    auto opt = [&](size_t i) { return inputs.size() > i ? inputs[i] : nullptr; };
    ASSIGN_OR_RETURN(std::vector<int32_t> x_zp,
                     ReadZeroPoint(opt(2), x, 0, op + " x_zero_point"));
    ASSIGN_OR_RETURN(std::vector<int32_t> w_zp, ReadZeroPoint(opt(quantized_ ? 5 : 3), w,
                                                              d.out_channels,
                                                              op + " w_zero_point"));
    const std::vector<int32_t> xi = Widen(x, x_zp, 1);
    const std::vector<int32_t> wi = Widen(w, w_zp, d.in_channels / group_ * d.kernel_size);
    if (!quantized_) {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(DataType::kInt32, d.out));
      const std::vector<int32_t> y = IntConv(xi, wi, nullptr, d, group_);
      std::copy(y.begin(), y.end(), outputs[0].mutable_data_as<int32_t>());
      return Status::Ok();
    }
    ASSIGN_OR_RETURN(std::vector<double> x_scale, ReadScale(*inputs[1], 0, op + " x_scale"));
    ASSIGN_OR_RETURN(std::vector<double> w_scale,
                     ReadScale(*inputs[4], d.out_channels, op + " w_scale"));
    ASSIGN_OR_RETURN(std::vector<double> y_scale, ReadScale(*inputs[6], 0, op + " y_scale"));
    const Tensor& y_zp_t = *inputs[7];
    RETURN_IF_ERROR(Check8Bit(y_zp_t, op + " y_zero_point"));
    if (Count(y_zp_t) != 1) return InvalidArgument(op + " y_zero_point must have 1 element");
    const int32_t y_zp = Load8(y_zp_t, 0);
    const Tensor* bias = opt(8);
    if (bias != nullptr) {
      if (bias->dtype() != DataType::kInt32 || bias->shape().size() != 1 ||
          bias->shape()[0] != d.out_channels) {
        return InvalidArgument(op + " bias B must be INT32 of shape [" +
                               std::to_string(d.out_channels) + "], got " +
                               std::string(DataTypeName(bias->dtype())) + " " +
                               ShapeToString(bias->shape()));
      }
    }
    const std::vector<int32_t> acc =
        IntConv(xi, wi, bias != nullptr ? bias->data_as<int32_t>() : nullptr, d, group_);
    ASSIGN_OR_RETURN(outputs[0], AllocateOutput(y_zp_t.dtype(), d.out));
    auto store = [&]<typename Q>() {
      Q* y = outputs[0].mutable_data_as<Q>();
      for (size_t i = 0; i < acc.size(); ++i) {
        const int64_t m = (static_cast<int64_t>(i) / d.out_size) % d.out_channels;
        const double mult = x_scale[0] * w_scale[w_scale.size() == 1 ? 0 : m] / y_scale[0];
        y[i] = Requantize<Q>(acc[i], mult, y_zp);
      }
    };
    if (y_zp_t.dtype() == DataType::kUint8) {
      store.template operator()<uint8_t>();
    } else {
      store.template operator()<int8_t>();
    }
    return Status::Ok();
  }

 private:
  WindowAttrs attrs_;
  int64_t group_;
  bool quantized_;
};

template <bool kQuantized>
StatusOr<std::unique_ptr<Kernel>> MakeIntConv(const KernelBuildContext& context) {
  const std::string op = kQuantized ? "QLinearConv" : "ConvInteger";
  RETURN_IF_ERROR(kQuantized ? CheckArity(context, 8, 9) : CheckArity(context, 2, 4));
  ASSIGN_OR_RETURN(WindowAttrs attrs, ParseWindowAttrs(context.node, op, true, false));
  ASSIGN_OR_RETURN(int64_t group, context.node.GetInt("group", 1));
  if (group < 1 || group > kMaxWindowAttr) {
    return InvalidArgument(op + " attribute 'group' must be in [1, 2^30], got " +
                           std::to_string(group));
  }
  return std::unique_ptr<Kernel>(new IntConvKernel(std::move(attrs), group, kQuantized));
}

// ---- Matrix product ---------------------------------------------------------

// acc[batch, m, n] over numpy-broadcast batches of a [.., M, K], b [.., K, N].
std::vector<int32_t> IntMatMul(const std::vector<int32_t>& a, const std::vector<int32_t>& b,
                               const MatMulGeometry& g) {
  const int64_t batches = DimProduct(g.batch, 0, g.batch.size());
  std::vector<int32_t> y(static_cast<size_t>(batches * g.m * g.n));
  const size_t rank = g.batch.size();
  for (int64_t bi = 0; bi < batches; ++bi) {
    // Offsets of this batch in a and b (broadcast dims of size 1 stay at 0).
    int64_t rem = bi, a_off = 0, b_off = 0, a_stride = 1, b_stride = 1;
    for (size_t r = rank; r-- > 0;) {
      const int64_t idx = rem % g.batch[r];
      rem /= g.batch[r];
      if (g.batch_a[r] != 1) a_off += idx * a_stride;
      if (g.batch_b[r] != 1) b_off += idx * b_stride;
      a_stride *= g.batch_a[r];
      b_stride *= g.batch_b[r];
    }
    const int32_t* ab = a.data() + a_off * g.m * g.k;
    const int32_t* bb = b.data() + b_off * g.k * g.n;
    int32_t* yb = y.data() + bi * g.m * g.n;
    for (int64_t i = 0; i < g.m; ++i) {
      for (int64_t j = 0; j < g.n; ++j) {
        int64_t acc = 0;
        for (int64_t k = 0; k < g.k; ++k) {
          acc += static_cast<int64_t>(ab[i * g.k + k]) * bb[k * g.n + j];
        }
        yb[i * g.n + j] = static_cast<int32_t>(static_cast<uint32_t>(acc));
      }
    }
  }
  return y;
}

// MatMulInteger: a, b, [a_zero_point], [b_zero_point].
// QLinearMatMul: a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp.
class IntMatMulKernel final : public Kernel {
 public:
  explicit IntMatMulKernel(bool quantized) : quantized_(quantized) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    const std::string op = quantized_ ? "QLinearMatMul" : "MatMulInteger";
    RETURN_IF_ERROR(quantized_ ? CheckInputs(inputs, 8, 8) : CheckInputs(inputs, 2, 4));
    const Tensor& a = *inputs[0];
    const Tensor& b = *inputs[quantized_ ? 3 : 1];
    RETURN_IF_ERROR(Check8Bit(a, op + " input A"));
    RETURN_IF_ERROR(Check8Bit(b, op + " input B"));
    ASSIGN_OR_RETURN(MatMulGeometry g, MatMulShapes(a.shape(), b.shape()));
    auto opt = [&](size_t i) { return inputs.size() > i ? inputs[i] : nullptr; };
    ASSIGN_OR_RETURN(std::vector<int32_t> a_zp,
                     ReadZeroPoint(opt(2), a, g.m, op + " a_zero_point"));
    ASSIGN_OR_RETURN(std::vector<int32_t> b_zp,
                     ReadZeroPoint(opt(quantized_ ? 5 : 3), b, g.n, op + " b_zero_point"));
    // A per row: channels of [.., M, K] are rows (inner K); B per column:
    // channels of [.., K, N] are columns (inner 1).
    const std::vector<int32_t> acc = IntMatMul(Widen(a, a_zp, g.k), Widen(b, b_zp, 1), g);
    if (!quantized_) {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(DataType::kInt32, g.out));
      std::copy(acc.begin(), acc.end(), outputs[0].mutable_data_as<int32_t>());
      return Status::Ok();
    }
    ASSIGN_OR_RETURN(std::vector<double> a_scale, ReadScale(*inputs[1], g.m, op + " a_scale"));
    ASSIGN_OR_RETURN(std::vector<double> b_scale, ReadScale(*inputs[4], g.n, op + " b_scale"));
    ASSIGN_OR_RETURN(std::vector<double> y_scale, ReadScale(*inputs[6], 0, op + " y_scale"));
    const Tensor& y_zp_t = *inputs[7];
    RETURN_IF_ERROR(Check8Bit(y_zp_t, op + " y_zero_point"));
    if (Count(y_zp_t) != 1) return InvalidArgument(op + " y_zero_point must have 1 element");
    const int32_t y_zp = Load8(y_zp_t, 0);
    ASSIGN_OR_RETURN(outputs[0], AllocateOutput(y_zp_t.dtype(), g.out));
    auto store = [&]<typename Q>() {
      Q* y = outputs[0].mutable_data_as<Q>();
      for (size_t i = 0; i < acc.size(); ++i) {
        const int64_t col = static_cast<int64_t>(i) % g.n;
        const int64_t row = (static_cast<int64_t>(i) / g.n) % g.m;
        const double mult = a_scale[a_scale.size() == 1 ? 0 : row] *
                            b_scale[b_scale.size() == 1 ? 0 : col] / y_scale[0];
        y[i] = Requantize<Q>(acc[i], mult, y_zp);
      }
    };
    if (y_zp_t.dtype() == DataType::kUint8) {
      store.template operator()<uint8_t>();
    } else {
      store.template operator()<int8_t>();
    }
    return Status::Ok();
  }

 private:
  bool quantized_;
};

template <bool kQuantized>
StatusOr<std::unique_ptr<Kernel>> MakeIntMatMul(const KernelBuildContext& context) {
  RETURN_IF_ERROR(kQuantized ? CheckArity(context, 8, 8) : CheckArity(context, 2, 4));
  return std::unique_ptr<Kernel>(new IntMatMulKernel(kQuantized));
}

NEREID_REGISTER_KERNEL("", "ConvInteger", MakeIntConv<false>);
NEREID_REGISTER_KERNEL("", "QLinearConv", MakeIntConv<true>);
NEREID_REGISTER_KERNEL("", "MatMulInteger", MakeIntMatMul<false>);
NEREID_REGISTER_KERNEL("", "QLinearMatMul", MakeIntMatMul<true>);

}  // namespace
}  // namespace nereid::engine::ref
