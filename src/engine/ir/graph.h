// Graph IR: the engine's in-memory form of an ONNX model.
//
// A Graph is a list of Nodes over Values. Values are referred to by index
// ("value id") into Graph::values; kNoValue (-1) marks an omitted optional
// node input or output. Every value has exactly one producer: a graph input,
// an initializer (constant data in Graph::initializers), or one node output.
// Passes mutate a Graph in place; nothing in it is shared with other graphs
// except initializer bytes (Tensor co-ownership).
//
// Thread safety: plain data; concurrent const access is safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/data_type.h"
#include "common/status.h"
#include "common/tensor.h"

namespace nereid::engine {

inline constexpr int kNoValue = -1;

// One node attribute. Only the field matching `kind` is meaningful.
struct Attribute {
  enum class Kind { kFloat, kInt, kString, kTensor, kFloats, kInts, kStrings, kUnsupported };
  Kind kind = Kind::kUnsupported;
  float f = 0.0f;
  int64_t i = 0;
  std::string s;  // kString; for kUnsupported the ONNX kind's name ("GRAPH", ...)
  Tensor t;       // kTensor (dense; STRING tensors in Triton's BYTES form)
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
};

struct Value {
  std::string name;
  DataType dtype = DataType::kInvalid;  // kInvalid: not known before run time
  // nullopt: rank unknown. Otherwise one entry per dim, -1 where unknown/symbolic.
  std::optional<Shape> shape;
};

struct Node {
  std::string name;  // may be empty
  std::string op_type;
  std::string domain;        // "" is the default ONNX domain (also written "ai.onnx")
  std::vector<int> inputs;   // value ids, kNoValue for omitted optional inputs
  std::vector<int> outputs;  // value ids, kNoValue for omitted optional outputs
  std::map<std::string, Attribute, std::less<>> attributes;

  const Attribute* FindAttribute(std::string_view name) const;
  // Typed getters. A missing attribute yields `default_value`, or
  // InvalidArgument when there is none; a wrong kind is InvalidArgument.
  StatusOr<int64_t> GetInt(std::string_view name,
                           std::optional<int64_t> default_value = std::nullopt) const;
  StatusOr<float> GetFloat(std::string_view name,
                           std::optional<float> default_value = std::nullopt) const;
  StatusOr<std::string> GetString(std::string_view name,
                                  std::optional<std::string> default_value = std::nullopt) const;
  StatusOr<std::vector<int64_t>> GetInts(
      std::string_view name,
      std::optional<std::vector<int64_t>> default_value = std::nullopt) const;
};

// "node 'name' (op Add)", or "node #3 (op Add)" when the node has no name;
// a non-default domain is shown as "(op com.example.Foo)".
std::string DescribeNode(const Node& node, size_t index);

struct Graph {
  std::string name;
  std::vector<Value> values;
  std::vector<Node> nodes;  // topologically sorted once SortTopologically() succeeded
  std::vector<int> inputs;  // graph inputs fed by the caller, in model order (no initializers)
  std::vector<int> outputs;
  std::unordered_map<int, Tensor> initializers;        // value id -> constant data
  std::map<std::string, int64_t, std::less<>> opsets;  // domain ("" for ai.onnx) -> version

  // Value id for `name`, or kNoValue.
  int FindValue(std::string_view name) const;
  // Returns the id of the value named `name`, creating it when new.
  int GetOrAddValue(const std::string& name);
  // Opset version imported for `domain`, or 0 when the model imports none.
  int64_t OpsetFor(std::string_view domain) const;

 private:
  std::unordered_map<std::string, int> value_index_;
};

// Normalizes "ai.onnx" to "".
std::string NormalizeDomain(std::string_view domain);

// Reorders graph->nodes so every node comes after the producers of its
// inputs (stable: an already sorted graph keeps its order). InvalidArgument
// on a cycle, a value produced twice, or an input nothing produces.
Status SortTopologically(Graph* graph);

}  // namespace nereid::engine
