// Where(condition, X, Y): picks X where condition is true, else Y, with all
// three inputs broadcast numpy-style. Any fixed-size element type: the
// kernel only moves elements, so it dispatches on element size. BYTES
// (string) tensors are not supported.
#include <cstring>
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/broadcast.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/elementwise_ext_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

// `E` is an unsigned integer of the element's size (bits are copied as is).
template <typename E>
void Select(const Tensor& cond, const Tensor& x, const Tensor& y, Tensor* out) {
  const Shape& shape = out->shape();
  const std::vector<std::vector<int64_t>> strides = {BroadcastStrides(cond.shape(), shape),
                                                     BroadcastStrides(x.shape(), shape),
                                                     BroadcastStrides(y.shape(), shape)};
  const Bool8* pc = cond.data_as<Bool8>();
  const E* px = x.data_as<E>();
  const E* py = y.data_as<E>();
  E* po = out->mutable_data_as<E>();
  ForEachBroadcastN(shape, strides, [&](int64_t o, std::span<const int64_t> idx) {
    po[o] = IsTrue(pc[idx[0]]) ? px[idx[1]] : py[idx[2]];
  });
}

class WhereKernel final : public Kernel {
 public:
  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 3, 3));
    const Tensor& cond = *inputs[0];
    const Tensor& x = *inputs[1];
    const Tensor& y = *inputs[2];
    RETURN_IF_ERROR(CheckBool(cond, "Where", "condition"));
    if (x.dtype() != y.dtype()) {
      return InvalidArgument("Where: X has element type " + std::string(DataTypeName(x.dtype())) +
                             " but Y has " + std::string(DataTypeName(y.dtype())));
    }
    RETURN_IF_ERROR(CheckFixedSize(x, "Where"));
    ASSIGN_OR_RETURN(Shape shape, BroadcastShapes(cond.shape(), x.shape()));
    ASSIGN_OR_RETURN(shape, BroadcastShapes(shape, y.shape()));
    ASSIGN_OR_RETURN(outputs[0], AllocateOutput(x.dtype(), shape));
    switch (DataTypeByteSize(x.dtype())) {
      case 1:
        Select<uint8_t>(cond, x, y, &outputs[0]);
        return Status::Ok();
      case 2:
        Select<uint16_t>(cond, x, y, &outputs[0]);
        return Status::Ok();
      case 4:
        Select<uint32_t>(cond, x, y, &outputs[0]);
        return Status::Ok();
      case 8:
        Select<uint64_t>(cond, x, y, &outputs[0]);
        return Status::Ok();
      default:
        return UnsupportedDtype("Where", x.dtype());
    }
  }
};

StatusOr<std::unique_ptr<Kernel>> MakeWhere(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 3, 3));
  return std::unique_ptr<Kernel>(new WhereKernel());
}

NEREID_REGISTER_KERNEL("", "Where", MakeWhere);

}  // namespace
}  // namespace nereid::engine::ref
