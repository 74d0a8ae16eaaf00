// Resize (opsets 10, 11, 13) and the deprecated Upsample (opsets 7, 9).
//
// Semantics follow the ONNX reference (onnx/backend/test/case/node/resize.py):
//  * output size: `sizes` when given, else floor(input_dim * scale); with
//    sizes the scale used by the coordinate transform is out / in.
//  * each output coordinate x maps to an input coordinate x_ori through
//    coordinate_transformation_mode; "output_width" in the align_corners and
//    tf_crop_and_resize formulas is scale * input_width (a real number), not
//    the rounded output size: the reference does this and the ONNX test data
//    depends on it.
//  * nearest picks one input index (nearest_mode), linear two and cubic four
//    neighbours; neighbours outside the input are clamped to the edge, or
//    dropped and the weights renormalized when exclude_outside is set.
//  * tf_crop_and_resize returns extrapolation_value wherever x_ori leaves
//    [0, input_width - 1] along any axis.
// Resize-10 and Upsample use the asymmetric transform; their nearest rounds
// down (floor), which is what Upsample always did.
//
// Nearest is a gather and works for every fixed-size type; linear and cubic
// are separable, so they run as one 1-D pass per axis over a double buffer
// (numeric types; integer results are truncated back like the reference's
// astype).
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/misc_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

enum class Mode { kNearest, kLinear, kCubic };
enum class CoordMode {
  kHalfPixel, kPytorchHalfPixel, kAlignCorners, kAsymmetric, kTfHalfPixelForNn, kTfCropAndResize,
};
enum class NearestMode { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };

struct ResizeAttrs {
  Mode mode = Mode::kNearest;
  CoordMode coord = CoordMode::kHalfPixel;
  NearestMode nearest = NearestMode::kRoundPreferFloor;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  double extrapolation = 0.0;
  // Where the kernel finds scales/roi/sizes (-1: not an input).
  int roi_input = -1;
  int scales_input = -1;
  int sizes_input = -1;
  std::vector<float> scales_attr;  // Upsample-7
};

// Per-axis sampling plan: for each output index, `taps` input indices
// (already clamped into range) and their weights, and whether the point
// lies outside the crop (tf_crop_and_resize).
struct AxisPlan {
  int taps = 1;
  std::vector<int64_t> idx;
  std::vector<double> w;
  std::vector<uint8_t> outside;
  bool identity = false;
};

double OriginalCoord(const ResizeAttrs& a, int64_t x, double scale, int64_t in_len,
                     double roi_start, double roi_end) {
  const double out_width = scale * static_cast<double>(in_len);
  const double xd = static_cast<double>(x);
  const double in_last = static_cast<double>(in_len - 1);
  switch (a.coord) {
    case CoordMode::kAlignCorners:
      return out_width == 1.0 ? 0.0 : xd * in_last / (out_width - 1.0);
    case CoordMode::kAsymmetric:
      return xd / scale;
    case CoordMode::kTfHalfPixelForNn:
      return (xd + 0.5) / scale;
    case CoordMode::kTfCropAndResize: {
      double v = out_width == 1.0 ? (roi_end - roi_start) * in_last / 2.0
                                  : xd * (roi_end - roi_start) * in_last / (out_width - 1.0);
      return v + roi_start * in_last;
    }
    case CoordMode::kPytorchHalfPixel:
      return out_width == 1.0 ? -0.5 : (xd + 0.5) / scale - 0.5;
    case CoordMode::kHalfPixel:
      break;
  }
  return (xd + 0.5) / scale - 0.5;
}

int64_t NearestIndex(NearestMode mode, double x) {
  const double fl = std::floor(x);
  const double frac = x - fl;
  if (frac == 0.0) return static_cast<int64_t>(fl);
  bool up = false;
  switch (mode) {
    case NearestMode::kRoundPreferFloor: up = frac > 0.5; break;
    case NearestMode::kRoundPreferCeil: up = frac >= 0.5; break;
    case NearestMode::kFloor: up = false; break;
    case NearestMode::kCeil: up = true; break;
  }
  return static_cast<int64_t>(fl) + (up ? 1 : 0);
}

void CubicCoeffs(double r, double a, double c[4]) {
  const double s = 1.0 - r;
  c[0] = ((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a;
  c[1] = ((a + 2) * r - (a + 3)) * r * r + 1;
  c[2] = ((a + 2) * s - (a + 3)) * s * s + 1;
  c[3] = ((a * (s + 1) - 5 * a) * (s + 1) + 8 * a) * (s + 1) - 4 * a;
}

AxisPlan PlanAxis(const ResizeAttrs& a, int64_t in_len, int64_t out_len, double scale,
                  double roi_start, double roi_end) {
  AxisPlan p;
  p.taps = a.mode == Mode::kNearest ? 1 : a.mode == Mode::kLinear ? 2 : 4;
  p.idx.resize(static_cast<size_t>(out_len * p.taps));
  p.w.resize(p.idx.size());
  p.outside.assign(static_cast<size_t>(out_len), 0);
  p.identity = in_len == out_len;
  // Keeps far-away coordinates (huge roi, tiny scale) from overflowing the
  // int64 conversion; anything past the edge clamps the same way.
  const double limit = static_cast<double>(in_len) + 8.0;
  for (int64_t x = 0; x < out_len; ++x) {
    double xo = OriginalCoord(a, x, scale, in_len, roi_start, roi_end);
    if (a.coord == CoordMode::kTfCropAndResize &&
        (xo < 0.0 || xo > static_cast<double>(in_len - 1))) {
      p.outside[x] = 1;
    }
    if (std::isnan(xo)) xo = 0.0;
    xo = std::clamp(xo, -limit, limit);
    int64_t* idx = &p.idx[x * p.taps];
    double* w = &p.w[x * p.taps];
    if (a.mode == Mode::kNearest) {
      idx[0] = NearestIndex(a.nearest, xo);
      w[0] = 1.0;
    } else {
      const double fl = std::floor(xo);
      const double r = xo - fl;
      const int64_t base = static_cast<int64_t>(fl) - (p.taps == 4 ? 1 : 0);
      if (p.taps == 2) {
        w[0] = 1.0 - r;
        w[1] = r;
      } else {
        CubicCoeffs(r, a.cubic_a, w);
      }
      for (int k = 0; k < p.taps; ++k) idx[k] = base + k;
    }
    if (a.exclude_outside && p.taps > 1) {
      double sum = 0.0;
      for (int k = 0; k < p.taps; ++k) {
        if (idx[k] < 0 || idx[k] >= in_len) w[k] = 0.0;
        sum += w[k];
      }
      if (sum != 0.0) {
        for (int k = 0; k < p.taps; ++k) w[k] /= sum;
      }
    }
    for (int k = 0; k < p.taps; ++k) {
      idx[k] = std::clamp<int64_t>(idx[k], 0, in_len - 1);
      const double expect = idx[k] == x && k == (p.taps == 4 ? 1 : 0) ? 1.0 : 0.0;
      if (w[k] != expect || p.outside[x]) p.identity = false;
    }
  }
  return p;
}

// True when output index `flat` (row-major in `out_shape`) lies outside the
// crop along some axis.
bool IsOutside(const std::vector<AxisPlan>& plans, const Shape& out_shape, int64_t flat) {
  for (size_t d = out_shape.size(); d-- > 0;) {
    const int64_t i = flat % out_shape[d];
    flat /= out_shape[d];
    if (plans[d].outside[i]) return true;
  }
  return false;
}

// `out` is already allocated with out_shape (also for RunInterpolate).
template <typename T>
Status RunNearest(const Tensor& x, const std::vector<AxisPlan>& plans, const Shape& out_shape,
                  const ResizeAttrs& a, Tensor* out) {
  const size_t rank = out_shape.size();
  const Shape& in_shape = x.shape();
  std::vector<int64_t> in_strides(rank, 1);
  for (size_t d = rank; d-- > 1;) in_strides[d - 1] = in_strides[d] * in_shape[d];
  const T* in = x.data_as<T>();
  T* o = out->mutable_data_as<T>();
  const int64_t total = NumElements(out_shape);
  std::vector<int64_t> pos(rank, 0);
  T extrapolated{};
  if constexpr (!std::is_same_v<T, Bool8>) extrapolated = Convert<T>(a.extrapolation);
  for (int64_t i = 0; i < total; ++i) {
    int64_t off = 0;
    bool outside = false;
    for (size_t d = 0; d < rank; ++d) {
      off += plans[d].idx[pos[d]] * in_strides[d];
      outside = outside || plans[d].outside[pos[d]];
    }
    o[i] = outside ? extrapolated : in[off];
    for (size_t d = rank; d-- > 0;) {  // odometer
      if (++pos[d] < out_shape[d]) break;
      pos[d] = 0;
    }
  }
  return Status::Ok();
}

// One 1-D interpolation pass along `axis` of `buf` (shape `shape`, updated).
void InterpolateAxis(std::vector<double>* buf, Shape* shape, size_t axis, const AxisPlan& p,
                     int64_t out_len) {
  const int64_t outer = DimProduct(*shape, 0, axis);
  const int64_t in_len = (*shape)[axis];
  const int64_t inner = DimProduct(*shape, axis + 1, shape->size());
  std::vector<double> next(static_cast<size_t>(outer * out_len * inner));
  for (int64_t o = 0; o < outer; ++o) {
    const double* src = buf->data() + o * in_len * inner;
    double* dst = next.data() + o * out_len * inner;
    for (int64_t x = 0; x < out_len; ++x) {
      for (int64_t j = 0; j < inner; ++j) {
        double acc = 0.0;
        for (int k = 0; k < p.taps; ++k) {
          acc += p.w[x * p.taps + k] * src[p.idx[x * p.taps + k] * inner + j];
        }
        dst[x * inner + j] = acc;
      }
    }
  }
  buf->swap(next);
  (*shape)[axis] = out_len;
}

template <typename T>
Status RunInterpolate(const Tensor& x, const std::vector<AxisPlan>& plans, const Shape& out_shape,
                      const ResizeAttrs& a, Tensor* out) {
  const int64_t n_in = NumElements(x.shape());
  std::vector<double> buf(static_cast<size_t>(n_in));
  const T* in = x.data_as<T>();
  for (int64_t i = 0; i < n_in; ++i) buf[i] = ToDouble(in[i]);
  Shape shape = x.shape();
  for (size_t d = 0; d < shape.size(); ++d) {
    if (!plans[d].identity) InterpolateAxis(&buf, &shape, d, plans[d], out_shape[d]);
  }
  T* o = out->mutable_data_as<T>();
  const bool crop = a.coord == CoordMode::kTfCropAndResize;
  for (size_t i = 0; i < buf.size(); ++i) {
    const double v =
        crop && IsOutside(plans, out_shape, static_cast<int64_t>(i)) ? a.extrapolation : buf[i];
    o[i] = Convert<T>(v);
  }
  return Status::Ok();
}

class ResizeKernel final : public Kernel {
 public:
  explicit ResizeKernel(ResizeAttrs attrs) : a_(std::move(attrs)) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 4));
    const Tensor& x = *inputs[0];
    RETURN_IF_ERROR(CheckFixedSize(x, "Resize"));
    const Shape& in_shape = x.shape();
    const size_t rank = in_shape.size();
    std::vector<double> scales(rank, 1.0);
    Shape out_shape(rank);
    RETURN_IF_ERROR(OutputGeometry(inputs, in_shape, &scales, &out_shape));
    std::vector<double> roi;
    if (a_.coord == CoordMode::kTfCropAndResize) {
      const Tensor* r = Input(inputs, a_.roi_input);
      if (r != nullptr) {
        ASSIGN_OR_RETURN(roi, ReadDoubles(*r, "roi"));
      }
      if (roi.size() != 2 * rank) {
        return InvalidArgument("tf_crop_and_resize needs an roi of 2 * rank = " +
                               std::to_string(2 * rank) + " values, got " +
                               std::to_string(roi.size()));
      }
    }
    // Allocating first bounds everything below by the output's size: the
    // per-axis plans hold at most 4 entries per output index.
    ASSIGN_OR_RETURN(outputs[0], AllocateOutput(x.dtype(), out_shape));
    if (NumElements(out_shape) == 0) return Status::Ok();
    std::vector<AxisPlan> plans;
    for (size_t d = 0; d < rank; ++d) {
      if (in_shape[d] == 0 && out_shape[d] != 0) {
        return InvalidArgument("cannot resize an empty dimension " + std::to_string(d) +
                               " to a non-empty one");
      }
      plans.push_back(PlanAxis(a_, in_shape[d], out_shape[d], scales[d],
                               roi.empty() ? 0.0 : roi[d], roi.empty() ? 1.0 : roi[rank + d]));
    }
    if (a_.mode == Mode::kNearest) {
      return DispatchNumericOrBool(x.dtype(), "Resize", [&]<typename T>() -> Status {
        return RunNearest<T>(x, plans, out_shape, a_, &outputs[0]);
      });
    }
    return DispatchNumeric(x.dtype(), "Resize", [&]<typename T>() -> Status {
      return RunInterpolate<T>(x, plans, out_shape, a_, &outputs[0]);
    });
  }

 private:
  static const Tensor* Input(std::span<const Tensor* const> inputs, int i) {
    return i >= 0 && static_cast<size_t>(i) < inputs.size() ? inputs[i] : nullptr;
  }

  // Fills the per-axis scale and output size from sizes or scales.
  Status OutputGeometry(std::span<const Tensor* const> inputs, const Shape& in_shape,
                        std::vector<double>* scales, Shape* out_shape) const {
    const size_t rank = in_shape.size();
    const Tensor* sizes_t = Input(inputs, a_.sizes_input);
    const Tensor* scales_t = Input(inputs, a_.scales_input);
    const bool have_sizes = sizes_t != nullptr && NumElements(sizes_t->shape()) > 0;
    const bool have_scales = scales_t != nullptr && NumElements(scales_t->shape()) > 0;
    if (have_sizes && have_scales) {
      return InvalidArgument("only one of 'scales' and 'sizes' may be given");
    }
    if (have_sizes) {
      if (sizes_t->dtype() != DataType::kInt64) {
        return InvalidArgument("sizes must be INT64");
      }
      ASSIGN_OR_RETURN(std::vector<int64_t> sizes, ReadInt64s(*sizes_t, "sizes"));
      if (sizes.size() != rank) {
        return InvalidArgument("sizes has " + std::to_string(sizes.size()) +
                               " values for an input of rank " + std::to_string(rank));
      }
      for (size_t d = 0; d < rank; ++d) {
        if (sizes[d] < 0) return InvalidArgument("sizes must not be negative");
        (*out_shape)[d] = sizes[d];
        (*scales)[d] = in_shape[d] == 0 ? 1.0
                                        : static_cast<double>(sizes[d]) /
                                              static_cast<double>(in_shape[d]);
      }
      return Status::Ok();
    }
    std::vector<double> s;
    if (have_scales) {
      if (scales_t->dtype() != DataType::kFp32) return InvalidArgument("scales must be FP32");
      ASSIGN_OR_RETURN(s, ReadDoubles(*scales_t, "scales"));
    } else if (!a_.scales_attr.empty()) {
      s.assign(a_.scales_attr.begin(), a_.scales_attr.end());
    } else {
      return InvalidArgument("one of 'scales' and 'sizes' must be given and non-empty");
    }
    if (s.size() != rank) {
      return InvalidArgument("scales has " + std::to_string(s.size()) +
                             " values for an input of rank " + std::to_string(rank));
    }
    for (size_t d = 0; d < rank; ++d) {
      if (!(s[d] > 0.0) || !std::isfinite(s[d])) {
        return InvalidArgument("scales must be positive and finite");
      }
      const double size = std::floor(s[d] * static_cast<double>(in_shape[d]));
      if (size > static_cast<double>(int64_t{1} << 40)) {
        return InvalidArgument("scales make the output too large");
      }
      (*scales)[d] = s[d];
      (*out_shape)[d] = static_cast<int64_t>(size);
    }
    return Status::Ok();
  }

  ResizeAttrs a_;
};

StatusOr<Mode> ParseMode(const Node& node, bool allow_cubic) {
  ASSIGN_OR_RETURN(std::string mode, node.GetString("mode", "nearest"));
  if (mode == "nearest") return Mode::kNearest;
  if (mode == "linear" || mode == "bilinear") return Mode::kLinear;
  if (mode == "cubic" && allow_cubic) return Mode::kCubic;
  return InvalidArgument("attribute 'mode' has unsupported value '" + mode + "'");
}

Status ParseResize11Attrs(const Node& node, ResizeAttrs* a) {
  ASSIGN_OR_RETURN(std::string coord,
                   node.GetString("coordinate_transformation_mode", "half_pixel"));
  if (coord == "half_pixel") {
    a->coord = CoordMode::kHalfPixel;
  } else if (coord == "pytorch_half_pixel") {
    a->coord = CoordMode::kPytorchHalfPixel;
  } else if (coord == "align_corners") {
    a->coord = CoordMode::kAlignCorners;
  } else if (coord == "asymmetric") {
    a->coord = CoordMode::kAsymmetric;
  } else if (coord == "tf_half_pixel_for_nn") {
    a->coord = CoordMode::kTfHalfPixelForNn;
  } else if (coord == "tf_crop_and_resize") {
    a->coord = CoordMode::kTfCropAndResize;
  } else {
    return InvalidArgument("attribute 'coordinate_transformation_mode' has unsupported value '" +
                           coord + "'");
  }
  ASSIGN_OR_RETURN(std::string nearest, node.GetString("nearest_mode", "round_prefer_floor"));
  if (nearest == "round_prefer_floor") {
    a->nearest = NearestMode::kRoundPreferFloor;
  } else if (nearest == "round_prefer_ceil") {
    a->nearest = NearestMode::kRoundPreferCeil;
  } else if (nearest == "floor") {
    a->nearest = NearestMode::kFloor;
  } else if (nearest == "ceil") {
    a->nearest = NearestMode::kCeil;
  } else {
    return InvalidArgument("attribute 'nearest_mode' has unsupported value '" + nearest + "'");
  }
  ASSIGN_OR_RETURN(float cubic_a, node.GetFloat("cubic_coeff_a", -0.75f));
  ASSIGN_OR_RETURN(int64_t exclude, node.GetInt("exclude_outside", 0));
  ASSIGN_OR_RETURN(float extrapolation, node.GetFloat("extrapolation_value", 0.0f));
  if (exclude != 0 && exclude != 1) {
    return InvalidArgument("attribute 'exclude_outside' must be 0 or 1");
  }
  if (!std::isfinite(cubic_a)) return InvalidArgument("attribute 'cubic_coeff_a' must be finite");
  a->cubic_a = cubic_a;
  a->exclude_outside = exclude != 0;
  a->extrapolation = extrapolation;
  return Status::Ok();
}

StatusOr<std::unique_ptr<Kernel>> MakeResize(const KernelBuildContext& context) {
  const Node& node = context.node;
  ResizeAttrs a;
  if (context.opset < 11) {
    RETURN_IF_ERROR(CheckArity(context, 2, 2));
    ASSIGN_OR_RETURN(a.mode, ParseMode(node, /*allow_cubic=*/false));
    a.coord = CoordMode::kAsymmetric;
    a.nearest = NearestMode::kFloor;
    a.scales_input = 1;
    return std::unique_ptr<Kernel>(new ResizeKernel(std::move(a)));
  }
  // Opset 11 requires roi and scales (possibly empty); 13 makes them optional.
  RETURN_IF_ERROR(CheckArity(context, context.opset < 13 ? 3 : 1, 4));
  ASSIGN_OR_RETURN(a.mode, ParseMode(node, /*allow_cubic=*/true));
  RETURN_IF_ERROR(ParseResize11Attrs(node, &a));
  a.roi_input = 1;
  a.scales_input = 2;
  a.sizes_input = 3;
  return std::unique_ptr<Kernel>(new ResizeKernel(std::move(a)));
}

StatusOr<std::unique_ptr<Kernel>> MakeUpsample(const KernelBuildContext& context) {
  const Node& node = context.node;
  if (context.opset < 7) {
    return Unimplemented("Upsample before opset 7 (experimental) is not supported");
  }
  ResizeAttrs a;
  ASSIGN_OR_RETURN(a.mode, ParseMode(node, /*allow_cubic=*/false));
  a.coord = CoordMode::kAsymmetric;
  a.nearest = NearestMode::kFloor;
  if (context.opset < 9) {
    RETURN_IF_ERROR(CheckArity(context, 1, 1));
    const Attribute* s = node.FindAttribute("scales");
    if (s == nullptr || s->kind != Attribute::Kind::kFloats || s->floats.empty()) {
      return InvalidArgument("Upsample-7 needs the floats attribute 'scales'");
    }
    for (float v : s->floats) {
      if (!(v > 0.0f) || !std::isfinite(v)) {
        return InvalidArgument("attribute 'scales' must be positive and finite");
      }
    }
    a.scales_attr = s->floats;
  } else {
    RETURN_IF_ERROR(CheckArity(context, 2, 2));
    a.scales_input = 1;
  }
  return std::unique_ptr<Kernel>(new ResizeKernel(std::move(a)));
}

NEREID_REGISTER_KERNEL("", "Resize", MakeResize);
NEREID_REGISTER_KERNEL("", "Upsample", MakeUpsample);

}  // namespace
}  // namespace nereid::engine::ref
