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

}  // namespace nereid::engine
