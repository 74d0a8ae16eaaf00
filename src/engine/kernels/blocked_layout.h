// Conversions between plain NCHW tensors and the blocked nChw<b>c layout of
// the "nereid" domain (see engine/ir/fused_ops.h): [N, C, H, W] <->
// [N, ceil(C/b), H, W, b] with zero channels past C. Used by the reference
// kernels of the blocked ops and by optimized kernels' fallbacks; the
// ToBlocked / FromBlocked kernel itself is shared by both.
//
// Thread safety: pure functions and a kernel whose Run is const. `threads`
// bounds the parallelism.
#pragma once

#include <cstdint>
#include <memory>

#include "common/status.h"
#include "common/tensor.h"
#include "engine/kernels/kernel.h"

namespace nereid::engine {

// The blocked shape of a plain [N, C, H, W] shape.
Shape BlockedShape(const Shape& plain, int64_t block);

// fp32 [N, C, H, W] -> [N, ceil(C/b), H, W, b]. InvalidArgument unless X is a
// 4-D fp32 tensor and b is 8 or 16.
StatusOr<Tensor> ToBlockedLayout(const Tensor& x, int64_t block, int threads = 1);

// fp32 [N, Cb, H, W, b] -> [N, C, H, W]. InvalidArgument unless the shape
// holds `channels` (Cb == ceil(C/b)).
StatusOr<Tensor> FromBlockedLayout(const Tensor& x, int64_t block, int64_t channels,
                                   int threads = 1);

// The kernel of nereid.ToBlocked (`to_blocked`; `channels` unused) or
// nereid.FromBlocked: one input, converted with `threads` threads. The
// factories validate the attributes.
std::unique_ptr<Kernel> NewBlockedLayoutKernel(bool to_blocked, int64_t block, int64_t channels,
                                               int threads);

}  // namespace nereid::engine
