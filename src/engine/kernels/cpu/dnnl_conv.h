// The oneDNN convolution kernel (dnnl_conv.cc) as its factories
// (dnnl_conv_factory.cc) build it: what a node adds to a plain convolution.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "engine/kernels/cpu/dnnl_common.h"
#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/conv_pool_util.h"

namespace nereid::engine::cpu {

// What a FusedConv adds to the convolution (nothing for a plain Conv).
struct ConvFusion {
  bool sum = false;            // input 3 (Z) is added before the activation
  dnnl::algorithm act = dnnl::algorithm::undef;
  float alpha = 0, beta = 0;
  int64_t src_block = 0;       // 0: plain NCHW; 8/16: nChw<b>c
  int64_t dst_block = 0;
};

// Reduced precision, from the node attributes the precision assignment sets
// (engine/passes/assign_precision.cc). FP32 X is converted (INT8: quantized
// with `input_scale`) by the reorder into the primitive's layout; Y is FP32
// in the node's layout (INT8: the primitive's output scales are input_scale
// x the weights' per-output-channel scales).
// INT8 chains (passes/chain_int8.cc): X and the residual Z may instead come
// quantized, as u8/s8 tensors of shape [N, H, W, C] (NHWC, the layout
// oneDNN 2.6's int8 convolutions run on; real = scale x quantized, X with
// `input_scale`, Z with `sum_scale`), and with `quantized_output` Y is
// produced that way too (u8 when `output_unsigned`, scale `output_scale`).
// The tensor's dtype says which form an input has; the node's src_block /
// dst_block do not apply to quantized tensors.
struct ConvPrecision {
  enum Kind { kFp32, kBf16, kInt8 } kind = kFp32;
  float input_scale = 1;        // INT8: real value = input_scale * quantized
  bool input_unsigned = false;  // INT8: X >= 0 (after a ReLU): u8, else s8
  bool quantized_output = false;
  float output_scale = 1;
  bool output_unsigned = false;
  float sum_scale = 1;  // of a quantized Z
};

// Auto-tuning choices (engine/kernels/tuning.h), FP32 only. An empty field
// keeps the kernel's own heuristic; a choice oneDNN cannot honour for some
// input shape falls back to the heuristic for that shape.
struct ConvTuning {
  std::string alg;     // "direct" or "winograd" (3x3, stride 1, ungrouped)
  std::string layout;  // "plain" (the primitive on X/Y as they are) or
                       // "blocked" (oneDNN's layout, reorders in and out);
                       // only for convolutions whose X and Y are plain
  std::string impl;    // a oneDNN implementation name ("jit:avx512_core")
};
// Parameters "alg=...;impl=...;layout=..." <-> ConvTuning (InvalidArgument
// naming what is wrong).
StatusOr<ConvTuning> ParseConvTuning(std::string_view params);
std::string ConvTuningToString(const ConvTuning& tuning);

// Conv / nereid.FusedConv on oneDNN; `reference` runs what it does not cover.
std::unique_ptr<Kernel> NewDnnlConvKernel(ref::WindowAttrs attrs, int64_t group, bool constant_w,
                                          bool constant_b, int threads,
                                          std::unique_ptr<Kernel> reference,
                                          ConvFusion fusion, ConvPrecision precision,
                                          ConvTuning tuning = {});

}  // namespace nereid::engine::cpu
