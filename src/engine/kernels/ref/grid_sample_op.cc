// GridSample (opset 16), 4-D input, with torch.nn.functional.grid_sample's
// semantics (the ONNX test data comes from it):
//  - grid (x, y) in [-1, 1] maps to pixel coordinates: align_corners 1 puts
//    -1/1 at the corner pixel centers, 0 at the corner pixel edges;
//  - bilinear / nearest map the source coordinate through padding_mode
//    first (border clamps, reflection folds), then read 0 outside the image;
//    nearest rounds half to even (std::nearbyint, like PyTorch);
//  - bicubic (A = -0.75) maps each of the 16 taps through padding_mode.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/ref_util.h"
#include "engine/kernels/ref/rnn_detect_util.h"

namespace nereid::engine::ref {
namespace {

enum class Mode { kBilinear, kNearest, kBicubic };
enum class Padding { kZeros, kBorder, kReflection };

struct GridConfig {
  Mode mode = Mode::kBilinear;
  Padding padding = Padding::kZeros;
  bool align_corners = false;
};

// Sampling along one axis of `size` pixels, in double.
class Axis {
 public:
  Axis(int64_t size, const GridConfig& cfg) : size_(size), cfg_(cfg) {}

  double Unnormalize(double coord) const {
    const auto n = static_cast<double>(size_);
    return cfg_.align_corners ? (coord + 1.0) / 2.0 * (n - 1.0) : ((coord + 1.0) * n - 1.0) / 2.0;
  }

  // Applies padding_mode to a source coordinate (border / reflection).
  double Pad(double x) const {
    if (cfg_.padding == Padding::kZeros) return x;
    const auto n = static_cast<double>(size_);
    if (cfg_.padding == Padding::kReflection) {
      x = cfg_.align_corners ? Reflect(x, 0.0, 2.0 * (n - 1.0)) : Reflect(x, -1.0, 2.0 * n - 1.0);
    }
    return std::clamp(x, 0.0, std::max(n - 1.0, 0.0));
  }

  bool Inside(double i) const { return i >= 0 && i < static_cast<double>(size_); }

 private:
  static double Reflect(double x, double twice_low, double twice_high) {
    if (twice_low == twice_high) return 0.0;
    const double low = twice_low / 2.0;
    const double span = (twice_high - twice_low) / 2.0;
    x = std::fabs(x - low);
    if (!std::isfinite(x)) return low;
    const double extra = std::fmod(x, span);
    const double flips = std::floor(x / span);
    return std::fmod(flips, 2.0) == 0.0 ? extra + low : span - extra + low;
  }

  int64_t size_;
  const GridConfig& cfg_;
};

double Cubic1(double x, double a) { return ((a + 2) * x - (a + 3)) * x * x + 1; }
double Cubic2(double x, double a) { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a; }

class GridSampleKernel final : public Kernel {
 public:
  explicit GridSampleKernel(GridConfig cfg) : cfg_(cfg) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 2));
    const Tensor& x = *inputs[0];
    const Tensor& grid = *inputs[1];
    const Shape& xs = x.shape();
    const Shape& gs = grid.shape();
    if (xs.size() != 4 || gs.size() != 4 || gs[0] != xs[0] || gs[3] != 2) {
      return InvalidArgument("X " + ShapeToString(xs) + " and grid " + ShapeToString(gs) +
                             " must be [N, C, H, W] and [N, H_out, W_out, 2]");
    }
    ASSIGN_OR_RETURN(std::vector<double> g, ReadAsFloating<double>(grid, "grid"));
    return DispatchFloat(x.dtype(), "GridSample", [&]<typename T>() -> Status {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(x.dtype(), {xs[0], xs[1], gs[1], gs[2]}));
      const T* in = x.data_as<T>();
      T* out = outputs[0].mutable_data_as<T>();
      const int64_t h = xs[2], w = xs[3], plane = h * w, out_plane = gs[1] * gs[2];
      const Axis ax(w, cfg_), ay(h, cfg_);
      for (int64_t n = 0; n < xs[0]; ++n) {
        for (int64_t c = 0; c < xs[1]; ++c) {
          const T* img = in + (n * xs[1] + c) * plane;
          T* dst = out + (n * xs[1] + c) * out_plane;
          for (int64_t p = 0; p < out_plane; ++p) {
            const double gx = g[(n * out_plane + p) * 2], gy = g[(n * out_plane + p) * 2 + 1];
            dst[p] = Convert<T>(Sample(img, h, w, ax, ay, gx, gy));
          }
        }
      }
      return Status::Ok();
    });
  }

 private:
  template <typename T>
  static double At(const T* img, int64_t w, const Axis& ax, const Axis& ay, double x, double y) {
    if (!ax.Inside(x) || !ay.Inside(y)) return 0.0;
    return static_cast<double>(img[static_cast<int64_t>(y) * w + static_cast<int64_t>(x)]);
  }

  template <typename T>
  double Sample(const T* img, int64_t h, int64_t w, const Axis& ax, const Axis& ay, double gx,
                double gy) const {
    if (h == 0 || w == 0) return 0.0;
    double x = ax.Unnormalize(gx), y = ay.Unnormalize(gy);
    if (!std::isfinite(x) || !std::isfinite(y)) {
      if (cfg_.padding == Padding::kZeros || std::isnan(x) || std::isnan(y)) return 0.0;
    }
    if (cfg_.mode == Mode::kBicubic) return Bicubic(img, w, ax, ay, x, y);
    x = ax.Pad(x);
    y = ay.Pad(y);
    if (cfg_.mode == Mode::kNearest) {
      return At(img, w, ax, ay, std::nearbyint(x), std::nearbyint(y));
    }
    const double x0 = std::floor(x), y0 = std::floor(y);
    const double fx = x - x0, fy = y - y0;
    return At(img, w, ax, ay, x0, y0) * (1 - fx) * (1 - fy) +
           At(img, w, ax, ay, x0 + 1, y0) * fx * (1 - fy) +
           At(img, w, ax, ay, x0, y0 + 1) * (1 - fx) * fy +
           At(img, w, ax, ay, x0 + 1, y0 + 1) * fx * fy;
  }

  template <typename T>
  double Bicubic(const T* img, int64_t w, const Axis& ax, const Axis& ay, double x,
                 double y) const {
    constexpr double kA = -0.75;
    const double x0 = std::floor(x), y0 = std::floor(y);
    const double tx = x - x0, ty = y - y0;
    const double wx[4] = {Cubic2(tx + 1, kA), Cubic1(tx, kA), Cubic1(1 - tx, kA),
                          Cubic2(2 - tx, kA)};
    const double wy[4] = {Cubic2(ty + 1, kA), Cubic1(ty, kA), Cubic1(1 - ty, kA),
                          Cubic2(2 - ty, kA)};
    double sum = 0.0;
    for (int j = 0; j < 4; ++j) {
      // Padding maps each tap; the result is truncated like PyTorch's index cast.
      const double yy = std::trunc(ay.Pad(y0 - 1 + j));
      double row = 0.0;
      for (int i = 0; i < 4; ++i) {
        const double xx = std::trunc(ax.Pad(x0 - 1 + i));
        row += At(img, w, ax, ay, xx, yy) * wx[i];
      }
      sum += row * wy[j];
    }
    return sum;
  }

  GridConfig cfg_;
};

StatusOr<std::unique_ptr<Kernel>> MakeGridSample(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 2, 2));
  const Node& node = context.node;
  GridConfig cfg;
  ASSIGN_OR_RETURN(std::string mode, node.GetString("mode", "bilinear"));
  if (mode == "bilinear") {
    cfg.mode = Mode::kBilinear;
  } else if (mode == "nearest") {
    cfg.mode = Mode::kNearest;
  } else if (mode == "bicubic") {
    cfg.mode = Mode::kBicubic;
  } else {
    return InvalidArgument("attribute 'mode' must be bilinear, nearest or bicubic, got '" + mode +
                           "'");
  }
  ASSIGN_OR_RETURN(std::string padding, node.GetString("padding_mode", "zeros"));
  if (padding == "zeros") {
    cfg.padding = Padding::kZeros;
  } else if (padding == "border") {
    cfg.padding = Padding::kBorder;
  } else if (padding == "reflection") {
    cfg.padding = Padding::kReflection;
  } else {
    return InvalidArgument("attribute 'padding_mode' must be zeros, border or reflection, got '" +
                           padding + "'");
  }
  ASSIGN_OR_RETURN(int64_t align, node.GetInt("align_corners", 0));
  if (align != 0 && align != 1) {
    return InvalidArgument("attribute 'align_corners' must be 0 or 1");
  }
  cfg.align_corners = align == 1;
  return std::unique_ptr<Kernel>(new GridSampleKernel(cfg));
}

NEREID_REGISTER_KERNEL("", "GridSample", MakeGridSample);

}  // namespace
}  // namespace nereid::engine::ref
