// RoiAlign (opsets 10, 16), following the Detectron / ONNX Runtime algorithm.
//
// Each RoI [x1, y1, x2, y2] is scaled by spatial_scale (and shifted by -0.5
// with coordinate_transformation_mode half_pixel, the opset 16 default;
// opset 10 behaves as output_half_pixel, where RoIs are at least 1x1). Each
// output bin samples a grid of sampling_ratio^2 points (adaptive:
// ceil(roi_size / output_size) per axis) by bilinear interpolation; points
// more than one pixel outside the map read 0. avg mode averages the samples;
// max mode takes the largest weighted corner value over the samples (ONNX
// Runtime's definition).
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

struct RoiConfig {
  float spatial_scale = 1.0f;
  int64_t out_h = 1, out_w = 1, sampling_ratio = 0;
  bool max_mode = false;
  bool half_pixel = true;
};

// Four corner offsets and weights of one bilinear sample.
struct Sample {
  int64_t pos[4] = {0, 0, 0, 0};
  double w[4] = {0, 0, 0, 0};
};

Sample MakeSample(double y, double x, int64_t height, int64_t width) {
  Sample s;
  if (y < -1.0 || y > static_cast<double>(height) || x < -1.0 ||
      x > static_cast<double>(width) || !std::isfinite(x) || !std::isfinite(y) || height == 0 ||
      width == 0) {
    return s;  // all weights zero
  }
  y = std::max(y, 0.0);
  x = std::max(x, 0.0);
  auto y_low = static_cast<int64_t>(y), x_low = static_cast<int64_t>(x);
  int64_t y_high, x_high;
  if (y_low >= height - 1) {
    y_high = y_low = height - 1;
    y = static_cast<double>(y_low);
  } else {
    y_high = y_low + 1;
  }
  if (x_low >= width - 1) {
    x_high = x_low = width - 1;
    x = static_cast<double>(x_low);
  } else {
    x_high = x_low + 1;
  }
  const double ly = y - static_cast<double>(y_low), lx = x - static_cast<double>(x_low);
  const double hy = 1.0 - ly, hx = 1.0 - lx;
  s.pos[0] = y_low * width + x_low;
  s.pos[1] = y_low * width + x_high;
  s.pos[2] = y_high * width + x_low;
  s.pos[3] = y_high * width + x_high;
  s.w[0] = hy * hx;
  s.w[1] = hy * lx;
  s.w[2] = ly * hx;
  s.w[3] = ly * lx;
  return s;
}

class RoiAlignKernel final : public Kernel {
 public:
  explicit RoiAlignKernel(RoiConfig cfg) : cfg_(cfg) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 3, 3));
    const Tensor& x = *inputs[0];
    const Tensor& rois = *inputs[1];
    const Tensor& batch = *inputs[2];
    const Shape& xs = x.shape();
    if (xs.size() != 4 || rois.shape().size() != 2 || rois.shape()[1] != 4 ||
        batch.shape() != Shape{rois.shape()[0]}) {
      return InvalidArgument("X " + ShapeToString(xs) + ", rois " + ShapeToString(rois.shape()) +
                             ", batch_indices " + ShapeToString(batch.shape()) +
                             " must be [N, C, H, W], [R, 4], [R]");
    }
    if (rois.dtype() != x.dtype()) return InvalidArgument("rois must have X's element type");
    ASSIGN_OR_RETURN(std::vector<int64_t> bi, ReadAsInt64(batch, "batch_indices"));
    for (int64_t b : bi) {
      if (b < 0 || b >= xs[0]) {
        return InvalidArgument("batch index " + std::to_string(b) + " is outside [0, " +
                               std::to_string(xs[0]) + ")");
      }
    }
    ASSIGN_OR_RETURN(std::vector<double> r, ReadAsFloating<double>(rois, "rois"));
    return DispatchFloat(x.dtype(), "RoiAlign", [&]<typename T>() -> Status {
      const int64_t num = rois.shape()[0], channels = xs[1], plane = xs[2] * xs[3];
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(x.dtype(), {num, channels, cfg_.out_h,
                                                              cfg_.out_w}));
      T* out = outputs[0].mutable_data_as<T>();
      const int64_t out_plane = cfg_.out_h * cfg_.out_w;
      std::vector<Sample> samples;
      for (int64_t n = 0; n < num && channels > 0; ++n) {
        const RoiGeometry geo = Geometry(r.data() + n * 4);
        for (int64_t bin = 0; bin < out_plane; ++bin) {
          BinSamples(geo, bin / cfg_.out_w, bin % cfg_.out_w, xs[2], xs[3], &samples);
          for (int64_t c = 0; c < channels; ++c) {
            const T* img = x.data_as<T>() + (bi[n] * channels + c) * plane;
            out[(n * channels + c) * out_plane + bin] = Convert<T>(Pool(img, samples));
          }
        }
      }
      return Status::Ok();
    });
  }

 private:
  struct RoiGeometry {
    double start_h, start_w, bin_h, bin_w;
    int64_t grid_h, grid_w;
  };

  RoiGeometry Geometry(const double* roi) const {
    const double offset = cfg_.half_pixel ? 0.5 : 0.0;
    const double scale = cfg_.spatial_scale;
    RoiGeometry g;
    g.start_w = roi[0] * scale - offset;
    g.start_h = roi[1] * scale - offset;
    double roi_w = roi[2] * scale - offset - g.start_w, roi_h = roi[3] * scale - offset - g.start_h;
    if (!cfg_.half_pixel) {
      roi_w = std::max(roi_w, 1.0);
      roi_h = std::max(roi_h, 1.0);
    }
    g.bin_h = roi_h / static_cast<double>(cfg_.out_h);
    g.bin_w = roi_w / static_cast<double>(cfg_.out_w);
    // Adaptive grids are bounded so a huge RoI cannot make the loops unbounded.
    constexpr double kMaxGrid = 1024.0;
    auto adaptive = [&](double bin) {
      const double v = std::ceil(bin);
      return static_cast<int64_t>(std::isfinite(v) ? std::clamp(v, 0.0, kMaxGrid) : 0.0);
    };
    g.grid_h = cfg_.sampling_ratio > 0 ? cfg_.sampling_ratio : adaptive(g.bin_h);
    g.grid_w = cfg_.sampling_ratio > 0 ? cfg_.sampling_ratio : adaptive(g.bin_w);
    return g;
  }

  // The grid_h * grid_w bilinear samples of output bin (ph, pw).
  static void BinSamples(const RoiGeometry& g, int64_t ph, int64_t pw, int64_t height,
                         int64_t width, std::vector<Sample>* samples) {
    samples->clear();
    for (int64_t iy = 0; iy < g.grid_h; ++iy) {
      const double y = g.start_h + static_cast<double>(ph) * g.bin_h +
                       (static_cast<double>(iy) + 0.5) * g.bin_h / static_cast<double>(g.grid_h);
      for (int64_t ix = 0; ix < g.grid_w; ++ix) {
        const double x = g.start_w + static_cast<double>(pw) * g.bin_w +
                         (static_cast<double>(ix) + 0.5) * g.bin_w / static_cast<double>(g.grid_w);
        samples->push_back(MakeSample(y, x, height, width));
      }
    }
  }

  template <typename T>
  double Pool(const T* img, const std::vector<Sample>& samples) const {
    const double count = static_cast<double>(std::max<size_t>(samples.size(), 1));
    double acc = 0.0;
    for (size_t k = 0; k < samples.size(); ++k) {
      const Sample& s = samples[k];
      double v[4];
      for (int q = 0; q < 4; ++q) v[q] = s.w[q] * static_cast<double>(img[s.pos[q]]);
      if (cfg_.max_mode) {
        const double m = std::max(std::max(v[0], v[1]), std::max(v[2], v[3]));
        acc = k == 0 ? m : std::max(acc, m);
      } else {
        acc += v[0] + v[1] + v[2] + v[3];
      }
    }
    return cfg_.max_mode ? acc : acc / count;
  }

  RoiConfig cfg_;
};

StatusOr<std::unique_ptr<Kernel>> MakeRoiAlign(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 3, 3));
  const Node& node = context.node;
  RoiConfig cfg;
  ASSIGN_OR_RETURN(cfg.spatial_scale, node.GetFloat("spatial_scale", 1.0f));
  ASSIGN_OR_RETURN(cfg.out_h, node.GetInt("output_height", 1));
  ASSIGN_OR_RETURN(cfg.out_w, node.GetInt("output_width", 1));
  ASSIGN_OR_RETURN(cfg.sampling_ratio, node.GetInt("sampling_ratio", 0));
  if (cfg.out_h <= 0 || cfg.out_w <= 0 || cfg.out_h > (int64_t{1} << 20) ||
      cfg.out_w > (int64_t{1} << 20)) {
    return InvalidArgument("attributes 'output_height' and 'output_width' must be in [1, 2^20]");
  }
  if (cfg.sampling_ratio < 0 || cfg.sampling_ratio > 1024) {
    return InvalidArgument("attribute 'sampling_ratio' must be in [0, 1024]");
  }
  if (!std::isfinite(cfg.spatial_scale)) {
    return InvalidArgument("attribute 'spatial_scale' must be finite");
  }
  ASSIGN_OR_RETURN(std::string mode, node.GetString("mode", "avg"));
  if (mode != "avg" && mode != "max") {
    return InvalidArgument("attribute 'mode' must be avg or max, got '" + mode + "'");
  }
  cfg.max_mode = mode == "max";
  if (context.opset >= 16) {
    ASSIGN_OR_RETURN(std::string ctm,
                     node.GetString("coordinate_transformation_mode", "half_pixel"));
    if (ctm != "half_pixel" && ctm != "output_half_pixel") {
      return InvalidArgument(
          "attribute 'coordinate_transformation_mode' must be half_pixel or output_half_pixel, "
          "got '" + ctm + "'");
    }
    cfg.half_pixel = ctm == "half_pixel";
  } else {
    cfg.half_pixel = false;
  }
  return std::unique_ptr<Kernel>(new RoiAlignKernel(cfg));
}

NEREID_REGISTER_KERNEL("", "RoiAlign", MakeRoiAlign);

}  // namespace
}  // namespace nereid::engine::ref
