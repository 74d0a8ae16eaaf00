// Graph <-> bytes: the GRPH and WGHT sections of a plan file (the layout is
// in docs/plan_format.md).
//
// Everything in a Graph round-trips, generically: values (name, dtype,
// shape or unknown rank), nodes (name, domain, op type, inputs and outputs
// with omitted ones, every attribute kind, tensor attributes of any dtype),
// opsets, graph inputs and outputs, and initializers of any dtype (FP32,
// INT8, FP16, BF16, BYTES, ...) with their shapes. So whatever a pass
// leaves (fused nereid.* nodes, layout attributes, a precision pass's
// per-node attributes and quantized constants) is stored as it is.
//
// Initializer bytes go to the weights section, each 64-byte aligned; a
// decoded graph's initializers are views into those bytes (no copy), kept
// alive by the owner the caller passes.
//
// Thread safety: pure functions.
#pragma once

#include <memory>
#include <string_view>

#include "common/status.h"
#include "engine/ir/graph.h"
#include "engine/runtime/byte_codec.h"

namespace nereid::engine {

// Appends the graph's structure to `structure` and its initializer bytes to
// `weights` (whose offsets the structure records). Initializers are written
// in value-id order, so equal graphs give equal bytes.
void EncodeGraph(const Graph& graph, ByteWriter* structure, ByteWriter* weights);

// Rebuilds a graph. `weights` must be 64-byte aligned and stay valid while
// `owner` lives; initializers wrap it. InvalidArgument (naming the section
// and offset) when the bytes are malformed: ids out of range, a dtype that
// does not exist, an initializer whose size does not match its shape or
// runs past the weights, a value name used twice.
StatusOr<Graph> DecodeGraph(ByteReader* structure, std::string_view weights,
                            const std::shared_ptr<const void>& owner);

}  // namespace nereid::engine
