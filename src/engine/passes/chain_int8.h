// INT8 chains: after the precision assignment (assign_precision.h), an INT8
// convolution whose output only feeds other INT8 convolutions writes that
// output quantized (u8/s8, NHWC: the layout oneDNN 2.6's int8 convolutions
// run on) instead of FP32, so the consumers read it without converting it,
// and a residual sum reads it in place. Without the chain every INT8
// convolution quantizes its FP32 input and dequantizes its output: at batch
// 16 those conversions cost ResNet-50 most of what the int8 arithmetic gains.
//
// A value is chained when: an INT8 Conv/FusedConv with 4-D weights produces
// it, it is no graph output, every reader is an INT8 Conv/FusedConv with 4-D
// weights reading it as X (input 0) or as the residual Z (input 3), and the
// producer's own Z, if it has one, is already chained (an FP32 Z cannot be
// added into a u8 Y without losing its sign). The value takes the
// quantization its readers' calibration chose (nereid_input_scale/_unsigned
// for X readers, nereid_sum_scale/_unsigned for Z readers: the same
// statistic of the same value, so they agree; checked anyway). The producer
// gets nereid_output_scale/_unsigned (ir/precision_attrs.h) and the value's
// dtype becomes u8/s8, so kernel factories see it. Nodes are visited in
// topological order, so a producer's Z is decided before the producer.
//
// Thread safety: mutates the graph it is given; no shared state.
#pragma once

#include "common/status.h"
#include "engine/ir/graph.h"

namespace nereid::engine {

// Returns the number of values chained.
StatusOr<int> ChainInt8(Graph* graph);

}  // namespace nereid::engine
