// NonMaxSuppression (opsets 10, 11).
//
// Per batch and class: boxes whose score is above score_threshold (when
// given) are visited by decreasing score (ties: lower box index first); a
// box is selected unless its IOU with an already selected box of the same
// class exceeds iou_threshold; at most max_output_boxes_per_class are kept.
// Output rows are [batch, class, box] in batch, class, selection order.
// Boxes are corner pairs in any order (center_point_box 0) or
// [x_center, y_center, width, height] (center_point_box 1). Degenerate boxes
// (zero area) never suppress anything, as in ONNX Runtime.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/ref_util.h"
#include "engine/kernels/ref/rnn_detect_util.h"

namespace nereid::engine::ref {
namespace {

struct Box {
  float y1, x1, y2, x2;  // y1 <= y2, x1 <= x2
  float Area() const { return (y2 - y1) * (x2 - x1); }
};

Box MakeBox(const float* b, bool center_point) {
  if (center_point) {
    const float half_w = b[2] / 2.0f, half_h = b[3] / 2.0f;
    return Box{b[1] - half_h, b[0] - half_w, b[1] + half_h, b[0] + half_w};
  }
  return Box{std::min(b[0], b[2]), std::min(b[1], b[3]), std::max(b[0], b[2]),
             std::max(b[1], b[3])};
}

bool SuppressedBy(const Box& a, const Box& b, float iou_threshold) {
  const float ih = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  const float iw = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
  if (!(ih > 0.0f) || !(iw > 0.0f)) return false;
  const float inter = ih * iw;
  const float area_a = a.Area(), area_b = b.Area();
  const float uni = area_a + area_b - inter;
  if (!(area_a > 0.0f) || !(area_b > 0.0f) || !(uni > 0.0f)) return false;
  return inter / uni > iou_threshold;
}

// Reads an optional scalar (shape [] or [1]) input.
template <typename T>
StatusOr<std::optional<T>> OptionalScalar(std::span<const Tensor* const> inputs, size_t i,
                                          DataType dtype, const char* what) {
  if (i >= inputs.size() || inputs[i] == nullptr) return std::optional<T>();
  const Tensor& t = *inputs[i];
  if (t.dtype() != dtype) {
    return InvalidArgument(std::string(what) + " must be " + std::string(DataTypeName(dtype)) +
                           ", got " + std::string(DataTypeName(t.dtype())));
  }
  if (NumElements(t.shape()) != 1 || t.shape().size() > 1) {
    return InvalidArgument(std::string(what) + " must be a scalar, got shape " +
                           ShapeToString(t.shape()));
  }
  return std::optional<T>(t.data_as<T>()[0]);
}

class NmsKernel final : public Kernel {
 public:
  explicit NmsKernel(bool center_point) : center_point_(center_point) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 5));
    const Tensor& boxes = *inputs[0];
    const Tensor& scores = *inputs[1];
    if (boxes.dtype() != DataType::kFp32 || scores.dtype() != DataType::kFp32) {
      return InvalidArgument("boxes and scores must be FP32");
    }
    const Shape& bs = boxes.shape();
    const Shape& ss = scores.shape();
    if (bs.size() != 3 || bs[2] != 4 || ss.size() != 3 || ss[0] != bs[0] || ss[2] != bs[1]) {
      return InvalidArgument("boxes " + ShapeToString(bs) + " and scores " + ShapeToString(ss) +
                             " must be [batches, boxes, 4] and [batches, classes, boxes]");
    }
    ASSIGN_OR_RETURN(auto max_boxes, OptionalScalar<int64_t>(inputs, 2, DataType::kInt64,
                                                             "max_output_boxes_per_class"));
    ASSIGN_OR_RETURN(auto iou, OptionalScalar<float>(inputs, 3, DataType::kFp32, "iou_threshold"));
    ASSIGN_OR_RETURN(auto score_th,
                     OptionalScalar<float>(inputs, 4, DataType::kFp32, "score_threshold"));
    const int64_t limit = std::max<int64_t>(max_boxes.value_or(0), 0);
    const float iou_threshold = iou.value_or(0.0f);
    if (!(iou_threshold >= 0.0f && iou_threshold <= 1.0f)) {
      return InvalidArgument("iou_threshold must be in [0, 1]");
    }
    const int64_t batches = bs[0], classes = ss[1], count = bs[1];
    std::vector<int64_t> selected;  // flattened [batch, class, box] triples
    std::vector<Box> all(static_cast<size_t>(count));
    std::vector<int64_t> order(static_cast<size_t>(count));
    for (int64_t n = 0; n < batches && limit > 0; ++n) {
      for (int64_t i = 0; i < count; ++i) {
        all[i] = MakeBox(boxes.data_as<float>() + (n * count + i) * 4, center_point_);
      }
      for (int64_t c = 0; c < classes; ++c) {
        const float* sc = scores.data_as<float>() + (n * classes + c) * count;
        order.clear();
        for (int64_t i = 0; i < count; ++i) {
          if (!score_th || sc[i] > *score_th) order.push_back(i);
        }
        std::stable_sort(order.begin(), order.end(),
                         [&](int64_t a, int64_t b) { return sc[a] > sc[b]; });
        std::vector<int64_t> kept;
        for (int64_t i : order) {
          if (static_cast<int64_t>(kept.size()) >= limit) break;
          bool suppressed = false;
          for (int64_t k : kept) {
            if (SuppressedBy(all[i], all[k], iou_threshold)) {
              suppressed = true;
              break;
            }
          }
          if (!suppressed) kept.push_back(i);
        }
        for (int64_t k : kept) selected.insert(selected.end(), {n, c, k});
      }
    }
    const auto rows = static_cast<int64_t>(selected.size() / 3);
    ASSIGN_OR_RETURN(outputs[0], AllocateOutput(DataType::kInt64, {rows, 3}));
    std::copy(selected.begin(), selected.end(), outputs[0].mutable_data_as<int64_t>());
    return Status::Ok();
  }

 private:
  bool center_point_;
};

StatusOr<std::unique_ptr<Kernel>> MakeNms(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 2, 5));
  ASSIGN_OR_RETURN(int64_t center, context.node.GetInt("center_point_box", 0));
  if (center != 0 && center != 1) {
    return InvalidArgument("attribute 'center_point_box' must be 0 or 1, got " +
                           std::to_string(center));
  }
  return std::unique_ptr<Kernel>(new NmsKernel(center == 1));
}

NEREID_REGISTER_KERNEL("", "NonMaxSuppression", MakeNms);

}  // namespace
}  // namespace nereid::engine::ref
