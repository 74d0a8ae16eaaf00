// Miscellaneous data-movement kernels:
//  * EyeLike (opset 9): a 2-D tensor shaped like the input with ones on the
//    k-th diagonal, in `dtype` (default: the input's type).
//  * Compress (opsets 9, 11): keeps the slices along `axis` (or the elements
//    of the flattened input when there is no axis) whose BOOL `condition`
//    entry is true. A condition shorter than the axis drops the remaining
//    slices (numpy.compress); a longer one may only be false past the end.
//  * ReverseSequence (opset 10): reverses the first sequence_lens[b] items
//    along time_axis of every batch entry b.
// All three move bytes, so they work for every fixed-size element type.
#include <cstring>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/ir/onnx_tensor.h"
#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/misc_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

// ----------------------------------------------------------------- EyeLike

class EyeLikeKernel final : public Kernel {
 public:
  EyeLikeKernel(DataType dtype, int64_t k) : dtype_(dtype), k_(k) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 1));
    const Tensor& x = *inputs[0];
    if (x.shape().size() != 2) {
      return InvalidArgument("EyeLike needs a 2-D input, got shape " + ShapeToString(x.shape()));
    }
    const DataType out = dtype_ == DataType::kInvalid ? x.dtype() : dtype_;
    const int64_t rows = x.shape()[0];
    const int64_t cols = x.shape()[1];
    return DispatchNumericOrBool(out, "EyeLike", [&]<typename T>() -> Status {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(out, x.shape()));
      T* o = outputs[0].mutable_data_as<T>();
      std::memset(static_cast<void*>(o), 0, outputs[0].byte_size());
      T one;
      if constexpr (std::is_same_v<T, Bool8>) {
        one = Bool8{1};
      } else {
        one = Convert<T>(1);
      }
      for (int64_t r = 0; r < rows; ++r) {
        // Column r + k, computed without overflow for extreme k.
        if (k_ >= cols || k_ <= -rows) break;
        const int64_t c = r + k_;
        if (c >= 0 && c < cols) o[r * cols + c] = one;
      }
      return Status::Ok();
    });
  }

 private:
  DataType dtype_;
  int64_t k_;
};

StatusOr<std::unique_ptr<Kernel>> MakeEyeLike(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  ASSIGN_OR_RETURN(int64_t k, context.node.GetInt("k", 0));
  DataType dtype = DataType::kInvalid;
  if (context.node.FindAttribute("dtype") != nullptr) {
    ASSIGN_OR_RETURN(int64_t onnx_type, context.node.GetInt("dtype"));
    dtype = DataTypeFromOnnx(static_cast<int32_t>(onnx_type));
    if (dtype == DataType::kInvalid || dtype == DataType::kBytes) {
      return Unimplemented("EyeLike attribute 'dtype' " + std::to_string(onnx_type) +
                           " is not a supported type");
    }
  }
  return std::unique_ptr<Kernel>(new EyeLikeKernel(dtype, k));
}

// ---------------------------------------------------------------- Compress

class CompressKernel final : public Kernel {
 public:
  explicit CompressKernel(std::optional<int64_t> axis) : axis_(axis) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 2));
    const Tensor& x = *inputs[0];
    const Tensor& cond = *inputs[1];
    RETURN_IF_ERROR(CheckFixedSize(x, "Compress"));
    if (cond.dtype() != DataType::kBool || cond.shape().size() != 1) {
      return InvalidArgument("condition must be a 1-D BOOL tensor");
    }
    // View x as [outer, len, inner] with len the compressed dimension.
    int64_t outer = 1;
    int64_t len = NumElements(x.shape());
    int64_t inner = 1;
    Shape out_shape{0};
    int64_t axis = 0;
    if (axis_.has_value()) {
      ASSIGN_OR_RETURN(axis, NormalizeAxis(*axis_, static_cast<int64_t>(x.shape().size())));
      outer = DimProduct(x.shape(), 0, axis);
      len = x.shape()[axis];
      inner = DimProduct(x.shape(), axis + 1, x.shape().size());
      out_shape = x.shape();
    }
    const auto* c = cond.data_as<Bool8>();
    const int64_t clen = cond.shape()[0];
    std::vector<int64_t> keep;
    for (int64_t i = 0; i < clen; ++i) {
      if (c[i].byte == 0) continue;
      if (i >= len) {
        return InvalidArgument("condition selects index " + std::to_string(i) +
                               " past the end of a dimension of size " + std::to_string(len));
      }
      keep.push_back(i);
    }
    out_shape[axis_.has_value() ? axis : 0] = static_cast<int64_t>(keep.size());
    ASSIGN_OR_RETURN(outputs[0], AllocateOutput(x.dtype(), out_shape));
    const size_t row = static_cast<size_t>(inner) * DataTypeByteSize(x.dtype());
    const char* src = x.data();
    char* dst = outputs[0].mutable_data();
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i : keep) {
        std::memcpy(dst, src + (o * len + i) * row, row);
        dst += row;
      }
    }
    return Status::Ok();
  }

 private:
  std::optional<int64_t> axis_;
};

StatusOr<std::unique_ptr<Kernel>> MakeCompress(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 2, 2));
  std::optional<int64_t> axis;
  if (context.node.FindAttribute("axis") != nullptr) {
    ASSIGN_OR_RETURN(axis, context.node.GetInt("axis"));
    if (context.opset < 11 && *axis < 0) {
      return InvalidArgument("Compress attribute 'axis' must be non-negative before opset 11");
    }
  }
  return std::unique_ptr<Kernel>(new CompressKernel(axis));
}

// --------------------------------------------------------- ReverseSequence

class ReverseSequenceKernel final : public Kernel {
 public:
  ReverseSequenceKernel(int64_t batch_axis, int64_t time_axis)
      : batch_axis_(batch_axis), time_axis_(time_axis) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 2));
    const Tensor& x = *inputs[0];
    RETURN_IF_ERROR(CheckFixedSize(x, "ReverseSequence"));
    const Shape& shape = x.shape();
    if (shape.size() < 2) {
      return InvalidArgument("ReverseSequence needs rank >= 2, got " + ShapeToString(shape));
    }
    if (inputs[1]->dtype() != DataType::kInt64) {
      return InvalidArgument("sequence_lens must be INT64");
    }
    const int64_t batch = shape[batch_axis_];
    const int64_t time = shape[time_axis_];
    if (inputs[1]->shape() != Shape{batch}) {
      return InvalidArgument("sequence_lens shape " + ShapeToString(inputs[1]->shape()) +
                             " must be [" + std::to_string(batch) + "]");
    }
    const int64_t* lens = inputs[1]->data_as<int64_t>();
    for (int64_t b = 0; b < batch; ++b) {
      if (lens[b] < 0 || lens[b] > time) {
        return InvalidArgument("sequence_lens[" + std::to_string(b) + "] = " +
                               std::to_string(lens[b]) + " is outside [0, " +
                               std::to_string(time) + "]");
      }
    }
    ASSIGN_OR_RETURN(outputs[0], AllocateOutput(x.dtype(), shape));
    // The two leading dims are batch and time in some order; the rest is a
    // contiguous block copied whole.
    const size_t block = static_cast<size_t>(DimProduct(shape, 2, shape.size())) *
                         DataTypeByteSize(x.dtype());
    const int64_t batch_stride = batch_axis_ == 0 ? shape[1] : 1;
    const int64_t time_stride = time_axis_ == 0 ? shape[1] : 1;
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t t = 0; t < time; ++t) {
        const int64_t src_t = t < lens[b] ? lens[b] - 1 - t : t;
        const int64_t dst_off = b * batch_stride + t * time_stride;
        const int64_t src_off = b * batch_stride + src_t * time_stride;
        std::memcpy(outputs[0].mutable_data() + dst_off * block, x.data() + src_off * block,
                    block);
      }
    }
    return Status::Ok();
  }

 private:
  int64_t batch_axis_;
  int64_t time_axis_;
};

StatusOr<std::unique_ptr<Kernel>> MakeReverseSequence(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 2, 2));
  ASSIGN_OR_RETURN(int64_t batch_axis, context.node.GetInt("batch_axis", 1));
  ASSIGN_OR_RETURN(int64_t time_axis, context.node.GetInt("time_axis", 0));
  if ((batch_axis != 0 && batch_axis != 1) || (time_axis != 0 && time_axis != 1) ||
      batch_axis == time_axis) {
    return InvalidArgument(
        "attributes 'batch_axis' and 'time_axis' must be 0 and 1 in some order");
  }
  return std::unique_ptr<Kernel>(new ReverseSequenceKernel(batch_axis, time_axis));
}

NEREID_REGISTER_KERNEL("", "EyeLike", MakeEyeLike);
NEREID_REGISTER_KERNEL("", "Compress", MakeCompress);
NEREID_REGISTER_KERNEL("", "ReverseSequence", MakeReverseSequence);

}  // namespace
}  // namespace nereid::engine::ref
