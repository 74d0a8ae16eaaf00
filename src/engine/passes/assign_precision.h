// Reduced precision for convolutions: decides which ones run in BF16 or INT8
// for CompileOptions::precision and records it in node attributes
// (ir/precision_attrs.h) that the kernels read and compiled plans keep.
//
// Eligible: Conv and nereid.FusedConv with constant FP32 weights and at
// least 4 input channels per group. The rest stay FP32: a network's first
// layer (1-3 image channels: no speed to gain, the most accuracy to lose),
// convolutions on computed weights, and every other op (softmax, layer norm,
// elementwise ops run in FP32 whatever the precision).
//
// INT8 (post-training quantization): weights per output channel, symmetric,
// by the kernel; activations per tensor, from the calibration set: each
// eligible convolution's input range is measured by running the FP32 graph
// (runtime/calibration.h) and the calibrator picks the threshold; inputs
// that are never negative use u8 (a full 8 bits for post-ReLU values).
//
// Convolutions that already carry a precision (fuse_qdq marks those of a
// QDQ model from its own quantization parameters) keep it.
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
  std::vector<std::string> lines;  // one per convolution: its choice
};

// kBf16 / kInt8; kFp32 changes nothing. kInt8 needs options.calibration.
Status AssignPrecision(Graph* graph, const CompileOptions& options, PrecisionReport* report);

}  // namespace nereid::engine
