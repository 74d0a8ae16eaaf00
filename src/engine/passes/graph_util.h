// Helpers shared by the graph passes: who consumes a value, constant lookup,
// rewiring uses, removing nodes, and the attributes of nodes a pass builds.
//
// Thread safety: plain functions over a Graph the caller owns.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/ir/graph.h"

namespace nereid::engine::passes {

// One use of a value: node `node` reads it as its input number `slot`.
struct Use {
  int node;
  int slot;
};

// uses[v] lists the node inputs that read value v (graph outputs are not uses).
std::vector<std::vector<Use>> ComputeUses(const Graph& graph);

// producer[v]: index of the node producing v, or -1 (graph input, initializer, none).
std::vector<int> ComputeProducers(const Graph& graph);

bool IsGraphOutput(const Graph& graph, int value);

// Conv or nereid.FusedConv.
bool IsConvOp(const Node& node);

// The initializer behind `value`, or null when it is not a constant.
const Tensor* FindConstant(const Graph& graph, int value);

// Makes every node input that reads `from` read `to` instead. Graph outputs
// are not touched.
void ReplaceUses(Graph* graph, int from, int to);

// Removes the nodes whose `dead` flag is set (keeps the order of the rest).
void RemoveNodes(Graph* graph, const std::vector<bool>& dead);

// A new value named after `base` that no other value uses, with the given
// dtype and shape.
int AddValue(Graph* graph, const std::string& base, DataType dtype,
             std::optional<Shape> shape = std::nullopt);

// True when the value has exactly one reader and is not a graph output.
bool HasSingleUse(const Graph& graph, const std::vector<std::vector<Use>>& uses, int value);

// Scalar (one-element) fp32 constant value of `value`, if it is one.
std::optional<float> ScalarConstant(const Graph& graph, int value);

// Attributes of the given kind holding `v` (for nodes a pass builds).
Attribute IntAttr(int64_t v);
Attribute FloatAttr(float v);
Attribute StringAttr(std::string v);
Attribute IntsAttr(std::vector<int64_t> v);

// Domain of the fused operators passes introduce; RegisterNereidDomain adds
// it to the graph's opsets.
inline constexpr const char* kNereidDomain = "nereid";
void RegisterNereidDomain(Graph* graph);

}  // namespace nereid::engine::passes
