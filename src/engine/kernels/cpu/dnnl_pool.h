// oneDNN pooling shared by the plain ONNX pools (MaxPool, AveragePool,
// GlobalMaxPool, GlobalAveragePool in dnnl_pool.cc) and the blocked
// nereid.BlockedPool (dnnl_blocked_ops.cc): one kernel that resolves the
// window per input shape, builds and caches the pooling primitive for the
// memory format it was made for, and hands what oneDNN cannot express
// exactly to the reference kernel. The geometry rules are in dnnl_pool.cc.
//
// Thread safety: the kernel's Run is const and may run concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/conv_pool_util.h"

namespace nereid::engine::cpu {

struct DnnlPoolSpec {
  bool max = true;                 // false: average
  bool global = false;             // Global*Pool: one window over all spatial dims
  ref::WindowAttrs attrs;          // the window (ignored when global)
  bool count_include_pad = false;  // average only
  std::string name;                // the ONNX op, for messages
  // Memory format of input and output: 0 = plain N, C, spatial... (1-D to
  // 3-D); 8 or 16 = nChw<block>c ([N, ceil(C/b), H, W, b], 2-D) holding
  // `channels` logical channels.
  int64_t block = 0;
  int64_t channels = 0;
};

// The pooling kernel for `spec`; `reference` runs what oneDNN does not
// (counted by CountFallback), `threads` is the plan's intra_op_threads.
std::unique_ptr<Kernel> NewDnnlPoolKernel(DnnlPoolSpec spec, std::unique_ptr<Kernel> reference,
                                          int threads);

}  // namespace nereid::engine::cpu
