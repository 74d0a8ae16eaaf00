// Node attributes that carry a convolution's or matrix product's reduced
// precision from the precision assignment (engine/passes/assign_precision.cc)
// to its kernel, and into compiled plans with the rest of the graph.
#pragma once

namespace nereid::engine {

// "fp32" (default), "bf16" or "int8".
inline constexpr char kPrecisionAttr[] = "nereid_precision";
// INT8: the input's scale (real = scale * quantized), from calibration.
inline constexpr char kInputScaleAttr[] = "nereid_input_scale";
// INT8: 1 when the input is never negative (quantized to u8), else 0 (s8).
inline constexpr char kInputUnsignedAttr[] = "nereid_input_unsigned";
// INT8 chains (passes/chain_int8.h): the output is a quantized NHWC tensor
// with this scale (u8 when nereid_output_unsigned is 1, else s8)...
inline constexpr char kOutputScaleAttr[] = "nereid_output_scale";
inline constexpr char kOutputUnsignedAttr[] = "nereid_output_unsigned";
// INT8: the calibrated quantization of FusedConv's residual input Z (set
// whenever there is a Z; used when Z comes quantized from a chain).
inline constexpr char kSumScaleAttr[] = "nereid_sum_scale";
inline constexpr char kSumUnsignedAttr[] = "nereid_sum_unsigned";

}  // namespace nereid::engine
