// Transpose: permutes dims (default: reverse them). Works on any fixed-size
// element type by moving 1/2/4/8-byte words.
#include <cstring>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

template <typename Word>
void Permute(const Word* in, Word* out, const Shape& out_shape,
             const std::vector<int64_t>& in_strides) {
  const int64_t total = NumElements(out_shape);
  const size_t rank = out_shape.size();
  std::vector<int64_t> index(rank, 0);
  int64_t src = 0;
  for (int64_t o = 0; o < total; ++o) {
    out[o] = in[src];
    for (size_t d = rank; d-- > 0;) {  // odometer over output dims
      src += in_strides[d];
      if (++index[d] < out_shape[d]) break;
      src -= in_strides[d] * out_shape[d];
      index[d] = 0;
    }
  }
}

class TransposeKernel final : public Kernel {
 public:
  explicit TransposeKernel(std::optional<std::vector<int64_t>> perm) : perm_(std::move(perm)) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 1));
    const Tensor& x = *inputs[0];
    RETURN_IF_ERROR(CheckFixedSize(x, "Transpose"));
    const Shape& in_shape = x.shape();
    const size_t rank = in_shape.size();
    std::vector<int64_t> perm(rank);
    if (perm_) {
      perm = *perm_;
      RETURN_IF_ERROR(CheckPermutation(perm, rank));
    } else {
      for (size_t i = 0; i < rank; ++i) perm[i] = static_cast<int64_t>(rank - 1 - i);
    }
    std::vector<int64_t> in_strides(rank);  // dense strides of the input
    int64_t stride = 1;
    for (size_t d = rank; d-- > 0;) {
      in_strides[d] = stride;
      stride *= in_shape[d];
    }
    Shape out_shape(rank);
    std::vector<int64_t> strides(rank);  // input stride per output dim
    for (size_t d = 0; d < rank; ++d) {
      out_shape[d] = in_shape[perm[d]];
      strides[d] = in_strides[perm[d]];
    }
    ASSIGN_OR_RETURN(outputs[0], AllocateOutput(x.dtype(), out_shape));
    char* dst = outputs[0].mutable_data();
    switch (DataTypeByteSize(x.dtype())) {
      case 1:
        Permute(x.data_as<uint8_t>(), reinterpret_cast<uint8_t*>(dst), out_shape, strides);
        break;
      case 2:
        Permute(x.data_as<uint16_t>(), reinterpret_cast<uint16_t*>(dst), out_shape, strides);
        break;
      case 4:
        Permute(x.data_as<uint32_t>(), reinterpret_cast<uint32_t*>(dst), out_shape, strides);
        break;
      case 8:
        Permute(x.data_as<uint64_t>(), reinterpret_cast<uint64_t*>(dst), out_shape, strides);
        break;
      default:
        return Internal("Transpose: unexpected element size");
    }
    return Status::Ok();
  }

 private:
  static Status CheckPermutation(const std::vector<int64_t>& perm, size_t rank) {
    std::vector<bool> seen(rank, false);
    bool ok = perm.size() == rank;
    for (int64_t p : perm) {
      if (!ok || p < 0 || p >= static_cast<int64_t>(rank) || seen[p]) {
        ok = false;
        break;
      }
      seen[p] = true;
    }
    if (!ok) {
      return InvalidArgument("Transpose: perm " + ShapeToString(perm) +
                             " is not a permutation of rank " + std::to_string(rank));
    }
    return Status::Ok();
  }

  std::optional<std::vector<int64_t>> perm_;
};

StatusOr<std::unique_ptr<Kernel>> MakeTranspose(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  std::optional<std::vector<int64_t>> perm;
  if (context.node.FindAttribute("perm") != nullptr) {
    ASSIGN_OR_RETURN(perm, context.node.GetInts("perm"));
  }
  return std::unique_ptr<Kernel>(new TransposeKernel(std::move(perm)));
}

NEREID_REGISTER_KERNEL("", "Transpose", MakeTranspose);

}  // namespace
}  // namespace nereid::engine::ref
