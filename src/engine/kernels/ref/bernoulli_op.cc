// Bernoulli (opset 15): output[i] = 1 with probability input[i], else 0.
// The output element type is the `dtype` attribute (default: the input's).
// With `seed` every run draws the same sequence (the kernel keeps no state,
// so runs cannot continue one generator); without it each run seeds from
// std::random_device. Probabilities outside [0, 1] (or NaN) are rejected.
#include <cmath>
#include <optional>
#include <random>
#include <string>

#include "engine/ir/onnx_tensor.h"
#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

class BernoulliKernel final : public Kernel {
 public:
  BernoulliKernel(DataType out_dtype, std::optional<float> seed)
      : out_dtype_(out_dtype), seed_(seed) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 1));
    const Tensor& x = *inputs[0];
    const DataType out_dtype = out_dtype_ == DataType::kInvalid ? x.dtype() : out_dtype_;
    std::mt19937_64 gen(seed_ ? static_cast<uint64_t>(static_cast<int64_t>(*seed_))
                              : (static_cast<uint64_t>(std::random_device{}()) << 32) ^
                                    std::random_device{}());
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    return DispatchFloat(x.dtype(), "Bernoulli", [&]<typename T>() -> Status {
      const int64_t n = NumElements(x.shape());
      std::vector<uint8_t> draws(static_cast<size_t>(n));
      const T* p = x.data_as<T>();
      for (int64_t i = 0; i < n; ++i) {
        const auto prob = static_cast<double>(p[i]);
        if (!(prob >= 0.0 && prob <= 1.0)) {
          return InvalidArgument("Bernoulli probability " + std::to_string(prob) +
                                 " is outside [0, 1]");
        }
        draws[i] = uniform(gen) < prob ? 1 : 0;
      }
      return DispatchNumericOrBool(out_dtype, "Bernoulli", [&]<typename U>() -> Status {
        ASSIGN_OR_RETURN(outputs[0], AllocateOutput(out_dtype, x.shape()));
        U* out = outputs[0].mutable_data_as<U>();
        for (int64_t i = 0; i < n; ++i) out[i] = Convert<U>(draws[i]);
        return Status::Ok();
      });
    });
  }

 private:
  DataType out_dtype_;  // kInvalid: same as the input
  std::optional<float> seed_;
};

StatusOr<std::unique_ptr<Kernel>> MakeBernoulli(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  const Node& node = context.node;
  DataType out_dtype = DataType::kInvalid;
  if (node.FindAttribute("dtype") != nullptr) {
    ASSIGN_OR_RETURN(int64_t onnx_type, node.GetInt("dtype"));
    if (onnx_type >= 0 && onnx_type <= 64) {
      out_dtype = DataTypeFromOnnx(static_cast<int32_t>(onnx_type));
    }
    if (out_dtype == DataType::kInvalid || out_dtype == DataType::kBytes) {
      return Unimplemented("attribute 'dtype': unsupported output type " +
                           std::to_string(onnx_type));
    }
  }
  std::optional<float> seed;
  if (node.FindAttribute("seed") != nullptr) {
    ASSIGN_OR_RETURN(seed, node.GetFloat("seed"));
    if (!std::isfinite(*seed) || std::fabs(*seed) > 9.0e18f) {
      return InvalidArgument("attribute 'seed' must be a finite float");
    }
  }
  return std::unique_ptr<Kernel>(new BernoulliKernel(out_dtype, seed));
}

NEREID_REGISTER_KERNEL("", "Bernoulli", MakeBernoulli);

}  // namespace
}  // namespace nereid::engine::ref
