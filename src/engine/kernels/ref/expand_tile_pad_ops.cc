// Expand, Tile, Pad (any fixed-size element type, copied by bit pattern).
//
// Expand broadcasts data against the INT64 'shape' input (both ways, like
// numpy). Tile repeats each dim by the INT64 'repeats' input (opset 6+).
// Pad takes 'paddings'/'pads' and 'value' attributes before opset 11 and
// the pads / constant_value (and, from 18, axes) inputs afterwards; modes
// constant, reflect, edge (and wrap). Negative pads crop.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/broadcast.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/index_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

// Copies `in` (of `in_shape`) into `out` walking `shape` with `strides`.
Status StridedCopy(const Tensor& in, const Shape& walk, const std::vector<int64_t>& strides,
                   Tensor* out, std::string_view op) {
  return DispatchBySize(in.dtype(), op, [&]<typename U>() -> Status {
    const U* src = in.data_as<U>();
    U* dst = out->mutable_data_as<U>();
    ForEachStrided(walk, strides, 0, [&](int64_t pos, int64_t off) { dst[pos] = src[off]; });
    return Status::Ok();
  });
}

class ExpandKernel final : public Kernel {
 public:
  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 2));
    const Tensor& x = *inputs[0];
    RETURN_IF_ERROR(CheckFixedSize(x, "Expand"));
    if (inputs[1]->dtype() != DataType::kInt64) {
      return InvalidArgument("Expand: 'shape' must be INT64");
    }
    ASSIGN_OR_RETURN(std::vector<int64_t> shape, ReadIndexList(*inputs[1], "Expand shape"));
    for (int64_t d : shape) {
      if (d < 0) return InvalidArgument("Expand: negative dim in 'shape' " + ShapeToString(shape));
    }
    ASSIGN_OR_RETURN(Shape out_shape, BroadcastShapes(x.shape(), shape));
    ASSIGN_OR_RETURN(outputs[0], AllocateOutput(x.dtype(), out_shape));
    return StridedCopy(x, out_shape, BroadcastStrides(x.shape(), out_shape), &outputs[0],
                       "Expand");
  }
};

class TileKernel final : public Kernel {
 public:
  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 2));
    const Tensor& x = *inputs[0];
    const Shape& s = x.shape();
    RETURN_IF_ERROR(CheckFixedSize(x, "Tile"));
    if (inputs[1]->dtype() != DataType::kInt64) {
      return InvalidArgument("Tile: 'repeats' must be INT64");
    }
    ASSIGN_OR_RETURN(std::vector<int64_t> reps, ReadIndexList(*inputs[1], "Tile repeats"));
    if (reps.size() != s.size()) {
      return InvalidArgument("Tile: 'repeats' has " + std::to_string(reps.size()) +
                             " entries for an input of rank " + std::to_string(s.size()));
    }
    // The output walks [r0, s0, r1, s1, ...] row-major; repeats have stride 0.
    Shape out_shape(s.size());
    Shape walk;
    std::vector<int64_t> strides;
    const std::vector<int64_t> dense = DenseStrides(s);
    for (size_t d = 0; d < s.size(); ++d) {
      if (reps[d] < 0) return InvalidArgument("Tile: negative repeat " + std::to_string(reps[d]));
      if (__builtin_mul_overflow(s[d], reps[d], &out_shape[d])) {
        return InvalidArgument("Tile: output shape is too large");
      }
      walk.insert(walk.end(), {reps[d], s[d]});
      strides.insert(strides.end(), {0, dense[d]});
    }
    ASSIGN_OR_RETURN(outputs[0], AllocateOutput(x.dtype(), out_shape));
    return StridedCopy(x, walk, strides, &outputs[0], "Tile");
  }
};

enum class PadMode { kConstant, kReflect, kEdge, kWrap };

// Source index along a dim of size `n` for padded position `i` (may be
// outside [0, n)); -1 means "use the constant".
int64_t SourceIndex(PadMode mode, int64_t i, int64_t n) {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case PadMode::kEdge:
      return i < 0 ? 0 : n - 1;
    case PadMode::kWrap:
      return ((i % n) + n) % n;
    case PadMode::kReflect: {
      if (n == 1) return 0;
      const int64_t period = 2 * (n - 1);  // numpy 'reflect' repeats reflections
      int64_t j = i < 0 ? -i : i;
      j %= period;
      return j < n ? j : period - j;
    }
    default:
      return -1;
  }
}

class PadKernel final : public Kernel {
 public:
  // `attr_pads` set: opset < 11 attribute form, with `attr_value`.
  PadKernel(PadMode mode, std::optional<std::vector<int64_t>> attr_pads, float attr_value)
      : mode_(mode), attr_pads_(std::move(attr_pads)), attr_value_(attr_value) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, attr_pads_ ? 1 : 2, attr_pads_ ? 1 : 4));
    const Tensor& x = *inputs[0];
    const Shape& s = x.shape();
    RETURN_IF_ERROR(CheckFixedSize(x, "Pad"));
    ASSIGN_OR_RETURN(std::vector<int64_t> pads, Pads(inputs, s.size()));
    ASSIGN_OR_RETURN(std::vector<char> value, PadValue(inputs, x.dtype()));
    const size_t rank = s.size();
    Shape out_shape(rank);
    for (size_t d = 0; d < rank; ++d) {
      if (__builtin_add_overflow(s[d], pads[d], &out_shape[d]) ||
          __builtin_add_overflow(out_shape[d], pads[d + rank], &out_shape[d])) {
        return InvalidArgument("Pad: output shape is too large");
      }
      if (out_shape[d] < 0) return InvalidArgument("Pad: pads crop dim " + std::to_string(d) +
                                                   " below zero");
      if (mode_ != PadMode::kConstant && s[d] == 0 && out_shape[d] > 0) {
        return InvalidArgument("Pad: cannot reflect/edge/wrap-pad an empty dim");
      }
    }
    ASSIGN_OR_RETURN(outputs[0], AllocateOutput(x.dtype(), out_shape));
    if (NumElements(out_shape) == 0) return Status::Ok();
    // Per dim: output position -> source offset contribution, or -1.
    const std::vector<int64_t> strides = DenseStrides(s);
    std::vector<std::vector<int64_t>> maps(rank);
    for (size_t d = 0; d < rank; ++d) {
      maps[d].resize(out_shape[d]);
      for (int64_t o = 0; o < out_shape[d]; ++o) {
        const int64_t src = SourceIndex(mode_, o - pads[d], s[d]);
        maps[d][o] = src < 0 ? -1 : src * strides[d];
      }
    }
    return DispatchBySize(x.dtype(), "Pad", [&]<typename U>() -> Status {
      U fill;
      std::memcpy(&fill, value.data(), sizeof(U));
      const U* src = x.data_as<U>();
      U* dst = outputs[0].mutable_data_as<U>();
      std::vector<int64_t> index(rank, 0);
      const int64_t total = NumElements(out_shape);
      for (int64_t pos = 0; pos < total; ++pos) {
        int64_t off = 0;
        for (size_t d = 0; d < rank && off >= 0; ++d) {
          off = maps[d][index[d]] < 0 ? -1 : off + maps[d][index[d]];
        }
        dst[pos] = off < 0 ? fill : src[off];
        for (size_t d = rank; d-- > 0;) {
          if (++index[d] < out_shape[d]) break;
          index[d] = 0;
        }
      }
      return Status::Ok();
    });
  }

 private:
  // Pads as [begin_0..begin_{r-1}, end_0..end_{r-1}] over all dims.
  StatusOr<std::vector<int64_t>> Pads(std::span<const Tensor* const> inputs, size_t rank) const {
    std::vector<int64_t> pads;
    if (attr_pads_) {
      pads = *attr_pads_;
    } else {
      if (inputs[1]->dtype() != DataType::kInt64) return InvalidArgument("Pad: pads must be INT64");
      ASSIGN_OR_RETURN(pads, ReadIndexList(*inputs[1], "Pad pads"));
    }
    std::vector<int64_t> axes(rank);
    for (size_t d = 0; d < rank; ++d) axes[d] = static_cast<int64_t>(d);
    if (const Tensor* a = OptionalInput(inputs, 3)) {
      ASSIGN_OR_RETURN(std::vector<int64_t> raw, ReadIndexList(*a, "Pad axes"));
      ASSIGN_OR_RETURN(axes, NormalizeAxes(raw, static_cast<int64_t>(rank), "Pad"));
    }
    if (pads.size() != 2 * axes.size()) {
      return InvalidArgument("Pad: expected " + std::to_string(2 * axes.size()) +
                             " pads, got " + std::to_string(pads.size()));
    }
    std::vector<int64_t> full(2 * rank, 0);
    for (size_t i = 0; i < axes.size(); ++i) {
      full[axes[i]] = pads[i];
      full[axes[i] + rank] = pads[i + axes.size()];
    }
    return full;
  }

  // The fill element's bytes (in the data's element type).
  StatusOr<std::vector<char>> PadValue(std::span<const Tensor* const> inputs,
                                       DataType dtype) const {
    const size_t elem = DataTypeByteSize(dtype);
    std::vector<char> bytes(elem, 0);
    if (const Tensor* v = OptionalInput(inputs, 2)) {
      if (v->dtype() != dtype || NumElements(v->shape()) != 1 || v->byte_size() < elem) {
        return InvalidArgument("Pad: constant_value must be one element of the data's type");
      }
      std::memcpy(bytes.data(), v->data(), elem);
    } else if (attr_pads_) {
      RETURN_IF_ERROR(DispatchNumericOrBool(dtype, "Pad", [&]<typename T>() -> Status {
        T t = Convert<T>(attr_value_);
        std::memcpy(bytes.data(), &t, elem);
        return Status::Ok();
      }));
    }
    return bytes;
  }

  PadMode mode_;
  std::optional<std::vector<int64_t>> attr_pads_;
  float attr_value_;
};

StatusOr<std::unique_ptr<Kernel>> MakeExpand(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 2, 2));
  return std::unique_ptr<Kernel>(new ExpandKernel());
}

StatusOr<std::unique_ptr<Kernel>> MakeTile(const KernelBuildContext& context) {
  if (context.opset < 6) return Unimplemented("Tile before opset 6 (tiles/axis inputs)");
  RETURN_IF_ERROR(CheckArity(context, 2, 2));
  return std::unique_ptr<Kernel>(new TileKernel());
}

StatusOr<std::unique_ptr<Kernel>> MakePad(const KernelBuildContext& context) {
  const Node& node = context.node;
  ASSIGN_OR_RETURN(std::string mode_name, node.GetString("mode", "constant"));
  PadMode mode;
  if (mode_name == "constant") {
    mode = PadMode::kConstant;
  } else if (mode_name == "reflect") {
    mode = PadMode::kReflect;
  } else if (mode_name == "edge") {
    mode = PadMode::kEdge;
  } else if (mode_name == "wrap") {
    mode = PadMode::kWrap;
  } else {
    return InvalidArgument("Pad: attribute 'mode' must be constant, reflect or edge, got '" +
                           mode_name + "'");
  }
  if (context.opset >= 11) {
    RETURN_IF_ERROR(CheckArity(context, 2, context.opset >= 18 ? 4 : 3));
    return std::unique_ptr<Kernel>(new PadKernel(mode, std::nullopt, 0.0f));
  }
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  ASSIGN_OR_RETURN(std::vector<int64_t> pads,
                   node.GetInts(context.opset < 2 ? "paddings" : "pads"));
  ASSIGN_OR_RETURN(float value, node.GetFloat("value", 0.0f));
  return std::unique_ptr<Kernel>(new PadKernel(mode, std::move(pads), value));
}

NEREID_REGISTER_KERNEL("", "Expand", MakeExpand);
NEREID_REGISTER_KERNEL("", "Tile", MakeTile);
NEREID_REGISTER_KERNEL("", "Pad", MakePad);

}  // namespace
}  // namespace nereid::engine::ref
