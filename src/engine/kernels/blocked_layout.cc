#include "engine/kernels/blocked_layout.h"

#include <cstring>
#include <string>

#include "engine/kernels/parallel.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine {

Shape BlockedShape(const Shape& plain, int64_t block) {
  return {plain[0], (plain[1] + block - 1) / block, plain[2], plain[3], block};
}

StatusOr<Tensor> ToBlockedLayout(const Tensor& x, int64_t block, int threads) {
  if (block != 8 && block != 16) return InvalidArgument("block must be 8 or 16");
  if (x.dtype() != DataType::kFp32 || x.shape().size() != 4) {
    return InvalidArgument("ToBlocked expects a 4-D fp32 tensor, got " +
                           std::string(DataTypeName(x.dtype())) + " " +
                           ShapeToString(x.shape()));
  }
  const Shape& s = x.shape();
  const int64_t n = s[0], c = s[1], hw = s[2] * s[3];
  const int64_t cb = (c + block - 1) / block;
  Tensor y = Tensor::AllocateDense(DataType::kFp32, BlockedShape(s, block));
  const float* src = x.data_as<float>();
  float* dst = y.mutable_data_as<float>();
  ParallelFor(n * cb, threads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / cb, k = i % cb;
      float* out = dst + i * hw * block;
      const int64_t lanes = std::min<int64_t>(block, c - k * block);
      if (lanes < block) std::memset(out, 0, hw * block * sizeof(float));
      for (int64_t l = 0; l < lanes; ++l) {
        const float* in = src + (b * c + k * block + l) * hw;
        for (int64_t p = 0; p < hw; ++p) out[p * block + l] = in[p];
      }
    }
  });
  return y;
}

StatusOr<Tensor> FromBlockedLayout(const Tensor& x, int64_t block, int64_t channels,
                                   int threads) {
  if (block != 8 && block != 16) return InvalidArgument("block must be 8 or 16");
  const Shape& s = x.shape();
  if (x.dtype() != DataType::kFp32 || s.size() != 5 || s[4] != block || channels < 0 ||
      s[1] != (channels + block - 1) / block) {
    return InvalidArgument("FromBlocked expects an fp32 [N, " +
                           std::to_string((channels + block - 1) / block) + ", H, W, " +
                           std::to_string(block) + "] tensor, got " +
                           std::string(DataTypeName(x.dtype())) + " " + ShapeToString(s));
  }
  const int64_t n = s[0], cb = s[1], hw = s[2] * s[3];
  Tensor y = Tensor::AllocateDense(DataType::kFp32, {n, channels, s[2], s[3]});
  const float* src = x.data_as<float>();
  float* dst = y.mutable_data_as<float>();
  ParallelFor(n * cb, threads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / cb, k = i % cb;
      const float* in = src + i * hw * block;
      const int64_t lanes = std::min<int64_t>(block, channels - k * block);
      for (int64_t l = 0; l < lanes; ++l) {
        float* out = dst + (b * channels + k * block + l) * hw;
        for (int64_t p = 0; p < hw; ++p) out[p] = in[p * block + l];
      }
    }
  });
  return y;
}

namespace {

class BlockedLayoutKernel final : public Kernel {
 public:
  BlockedLayoutKernel(bool to_blocked, int64_t block, int64_t channels, int threads)
      : to_blocked_(to_blocked), block_(block), channels_(channels), threads_(threads) {}
  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(ref::CheckInputs(inputs, 1, 1));
    if (to_blocked_) {
      ASSIGN_OR_RETURN(outputs[0], ToBlockedLayout(*inputs[0], block_, threads_));
    } else {
      ASSIGN_OR_RETURN(outputs[0], FromBlockedLayout(*inputs[0], block_, channels_, threads_));
    }
    return Status::Ok();
  }

 private:
  const bool to_blocked_;
  const int64_t block_, channels_;
  const int threads_;
};

}  // namespace

std::unique_ptr<Kernel> NewBlockedLayoutKernel(bool to_blocked, int64_t block, int64_t channels,
                                               int threads) {
  return std::make_unique<BlockedLayoutKernel>(to_blocked, block, channels, threads);
}

}  // namespace nereid::engine
