// Reduced precision for convolutions and matrix products: decides which ones
// run in BF16 or INT8 for CompileOptions::precision and records it in node
// attributes (ir/precision_attrs.h) that the kernels read and compiled plans
// keep.
//
// Eligible convolutions: Conv and nereid.FusedConv with constant FP32
// weights and at least 4 input channels per group. Eligible matrix products:
// MatMul, Gemm and nereid.FusedMatMul whose B is a constant FP32 2-D matrix
// (transposed or not; FusedMatMul without a_perm / out_perm). The rest stay
// FP32: a network's first convolution (1-3 image channels: no speed to gain,
// the most accuracy to lose), convolutions on computed weights, products of
// two computed tensors (attention's Q.K^T and P.V), and every other op
// (softmax, layer norm, elementwise ops run in FP32 whatever the precision).
//
// INT8 (post-training quantization): weights per output channel (per column
// of B), symmetric s8, by the kernel; activations (X, A) per tensor, from the
// calibration set: each eligible node's input range is measured by running
// the FP32 graph once for all of them (runtime/calibration.h) and the
// calibrator picks the threshold; inputs that are never negative use u8 (a
// full 8 bits for post-ReLU values).
//
// Nodes that already carry a precision (fuse_qdq marks the convolutions and
// matrix products of a QDQ model from its own quantization parameters) keep
// it. `best` times each eligible node in FP32, BF16 and INT8 (see
// precision_timing.h) and keeps the fastest.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "engine/ir/graph.h"
#include "engine/runtime/plan.h"

namespace nereid::engine {

struct PrecisionReport {
  int reduced = 0;   // nodes given options.precision
  int kept_fp32 = 0; // eligible op types left in FP32 (and why, in `lines`)
  std::vector<std::string> lines;  // one per convolution / matrix product: its choice
};

// kBf16 / kInt8; kFp32 changes nothing. kInt8 needs options.calibration.
Status AssignPrecision(Graph* graph, const CompileOptions& options, PrecisionReport* report);

}  // namespace nereid::engine
