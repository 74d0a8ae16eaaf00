// DepthToSpace (DCR and CRD modes) and SpaceToDepth on [N, C, H, W] tensors
// of any fixed-size element type. Both are pure permutations; each output
// element is copied from the input element the ONNX reshape/transpose
// definition maps it to:
//   DepthToSpace DCR: y[n, c, h*b+i, w*b+j] = x[n, (i*b+j)*C' + c, h, w]
//   DepthToSpace CRD: y[n, c, h*b+i, w*b+j] = x[n, c*b*b + i*b + j, h, w]
//   SpaceToDepth:     y[n, (i*b+j)*C + c, h, w] = x[n, c, h*b+i, w*b+j]
#include <cstring>
#include <string>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/conv_pool_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

enum class Mode { kDepthToSpaceDcr, kDepthToSpaceCrd, kSpaceToDepth };

class DepthSpaceKernel final : public Kernel {
 public:
  DepthSpaceKernel(Mode mode, int64_t block) : mode_(mode), block_(block) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    const char* op = mode_ == Mode::kSpaceToDepth ? "SpaceToDepth" : "DepthToSpace";
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 1));
    const Tensor& x = *inputs[0];
    RETURN_IF_ERROR(CheckFixedSize(x, op));
    const Shape& xs = x.shape();
    RETURN_IF_ERROR(CheckShapeBounded(xs, std::string(op) + " input"));
    if (xs.size() != 4) {
      return InvalidArgument(std::string(op) + " input must have rank 4, got " +
                             ShapeToString(xs));
    }
    const int64_t b = block_;
    const int64_t bb = b * b;
    Shape ys;
    if (mode_ == Mode::kSpaceToDepth) {
      if (xs[2] % b != 0 || xs[3] % b != 0) {
        return InvalidArgument("SpaceToDepth input height and width " + ShapeToString(xs) +
                               " must be divisible by blocksize " + std::to_string(b));
      }
      if (xs[1] > (int64_t{1} << 62) / bb) return InvalidArgument("SpaceToDepth output too large");
      ys = {xs[0], xs[1] * bb, xs[2] / b, xs[3] / b};
    } else {
      if (xs[1] % bb != 0) {
        return InvalidArgument("DepthToSpace input channels " + std::to_string(xs[1]) +
                               " must be divisible by blocksize^2 (" + std::to_string(bb) + ")");
      }
      if (xs[2] > (int64_t{1} << 62) / b || xs[3] > (int64_t{1} << 62) / b) {
        return InvalidArgument("DepthToSpace output too large");
      }
      ys = {xs[0], xs[1] / bb, xs[2] * b, xs[3] * b};
    }
    ASSIGN_OR_RETURN(outputs[0], AllocateOutput(x.dtype(), ys));
    if (NumElements(ys) == 0) return Status::Ok();
    const size_t elem = DataTypeByteSize(x.dtype());
    const char* in = x.data();
    char* out = outputs[0].mutable_data();
    // Iterate over the "space" side [N, C_small, H_small, b, W_small, b].
    const bool to_space = mode_ != Mode::kSpaceToDepth;
    const Shape& small = to_space ? xs : ys;  // the depth-side tensor
    const Shape& big = to_space ? ys : xs;    // the space-side tensor
    const int64_t c_small = big[1];
    for (int64_t n = 0; n < big[0]; ++n) {
      for (int64_t c = 0; c < c_small; ++c) {
        for (int64_t h = 0; h < small[2]; ++h) {
          for (int64_t i = 0; i < b; ++i) {
            for (int64_t w = 0; w < small[3]; ++w) {
              for (int64_t j = 0; j < b; ++j) {
                const int64_t depth_c =
                    mode_ == Mode::kDepthToSpaceCrd ? c * bb + i * b + j : (i * b + j) * c_small + c;
                const int64_t depth_idx = ((n * small[1] + depth_c) * small[2] + h) * small[3] + w;
                const int64_t space_idx =
                    ((n * c_small + c) * big[2] + h * b + i) * big[3] + w * b + j;
                const int64_t src = to_space ? depth_idx : space_idx;
                const int64_t dst = to_space ? space_idx : depth_idx;
                std::memcpy(out + dst * elem, in + src * elem, elem);
              }
            }
          }
        }
      }
    }
    return Status::Ok();
  }

 private:
  Mode mode_;
  int64_t block_;
};

StatusOr<int64_t> GetBlockSize(const Node& node, const char* op) {
  ASSIGN_OR_RETURN(int64_t b, node.GetInt("blocksize"));
  if (b < 1 || b > kMaxWindowAttr) {
    return InvalidArgument(std::string(op) + " attribute 'blocksize' must be in [1, 2^30], got " +
                           std::to_string(b));
  }
  return b;
}

StatusOr<std::unique_ptr<Kernel>> MakeDepthToSpace(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  ASSIGN_OR_RETURN(int64_t b, GetBlockSize(context.node, "DepthToSpace"));
  ASSIGN_OR_RETURN(std::string mode, context.node.GetString("mode", std::string("DCR")));
  if (mode != "DCR" && mode != "CRD") {
    return InvalidArgument("DepthToSpace attribute 'mode' must be DCR or CRD, got '" + mode + "'");
  }
  return std::unique_ptr<Kernel>(new DepthSpaceKernel(
      mode == "CRD" ? Mode::kDepthToSpaceCrd : Mode::kDepthToSpaceDcr, b));
}

StatusOr<std::unique_ptr<Kernel>> MakeSpaceToDepth(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  ASSIGN_OR_RETURN(int64_t b, GetBlockSize(context.node, "SpaceToDepth"));
  return std::unique_ptr<Kernel>(new DepthSpaceKernel(Mode::kSpaceToDepth, b));
}

NEREID_REGISTER_KERNEL("", "DepthToSpace", MakeDepthToSpace);
NEREID_REGISTER_KERNEL("", "SpaceToDepth", MakeSpaceToDepth);

}  // namespace
}  // namespace nereid::engine::ref
