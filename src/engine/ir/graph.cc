#include "engine/ir/graph.h"

#include <queue>

namespace nereid::engine {
namespace {

std::string_view KindName(Attribute::Kind kind) {
  switch (kind) {
    case Attribute::Kind::kFloat:
      return "FLOAT";
    case Attribute::Kind::kInt:
      return "INT";
    case Attribute::Kind::kString:
      return "STRING";
    case Attribute::Kind::kTensor:
      return "TENSOR";
    case Attribute::Kind::kFloats:
      return "FLOATS";
    case Attribute::Kind::kInts:
      return "INTS";
    case Attribute::Kind::kStrings:
      return "STRINGS";
    case Attribute::Kind::kUnsupported:
      return "unsupported";
  }
  return "unknown";
}

// Finds `name` with kind `kind`. Returns null (and OK) when absent.
StatusOr<const Attribute*> Lookup(const Node& node, std::string_view name, Attribute::Kind kind) {
  const Attribute* attr = node.FindAttribute(name);
  if (attr == nullptr) return static_cast<const Attribute*>(nullptr);
  if (attr->kind != kind) {
    return InvalidArgument(
        "attribute '" + std::string(name) + "' must be " + std::string(KindName(kind)) + ", got " +
        (attr->kind == Attribute::Kind::kUnsupported ? attr->s
                                                     : std::string(KindName(attr->kind))));
  }
  return attr;
}

Status Missing(std::string_view name) {
  return InvalidArgument("missing required attribute '" + std::string(name) + "'");
}

}  // namespace

const Attribute* Node::FindAttribute(std::string_view name) const {
  auto it = attributes.find(name);
  return it == attributes.end() ? nullptr : &it->second;
}

StatusOr<int64_t> Node::GetInt(std::string_view name, std::optional<int64_t> default_value) const {
  ASSIGN_OR_RETURN(const Attribute* attr, Lookup(*this, name, Attribute::Kind::kInt));
  if (attr) return attr->i;
  if (default_value) return *default_value;
  return Missing(name);
}

StatusOr<float> Node::GetFloat(std::string_view name, std::optional<float> default_value) const {
  ASSIGN_OR_RETURN(const Attribute* attr, Lookup(*this, name, Attribute::Kind::kFloat));
  if (attr) return attr->f;
  if (default_value) return *default_value;
  return Missing(name);
}

StatusOr<std::string> Node::GetString(std::string_view name,
                                      std::optional<std::string> default_value) const {
  ASSIGN_OR_RETURN(const Attribute* attr, Lookup(*this, name, Attribute::Kind::kString));
  if (attr) return attr->s;
  if (default_value) return *default_value;
  return Missing(name);
}

StatusOr<std::vector<int64_t>> Node::GetInts(
    std::string_view name, std::optional<std::vector<int64_t>> default_value) const {
  ASSIGN_OR_RETURN(const Attribute* attr, Lookup(*this, name, Attribute::Kind::kInts));
  if (attr) return attr->ints;
  if (default_value) return *default_value;
  return Missing(name);
}

std::string DescribeNode(const Node& node, size_t index) {
  std::string op = node.domain.empty() ? node.op_type : node.domain + "." + node.op_type;
  std::string who =
      node.name.empty() ? "node #" + std::to_string(index) : "node '" + node.name + "'";
  return who + " (op " + op + ")";
}

int Graph::FindValue(std::string_view name) const {
  auto it = value_index_.find(std::string(name));
  return it == value_index_.end() ? kNoValue : it->second;
}

int Graph::GetOrAddValue(const std::string& name) {
  auto [it, inserted] = value_index_.emplace(name, static_cast<int>(values.size()));
  if (inserted) values.push_back(Value{name, DataType::kInvalid, std::nullopt});
  return it->second;
}

int64_t Graph::OpsetFor(std::string_view domain) const {
  auto it = opsets.find(NormalizeDomain(domain));
  return it == opsets.end() ? 0 : it->second;
}

std::string NormalizeDomain(std::string_view domain) {
  if (domain == "ai.onnx") return "";
  return std::string(domain);
}

Status SortTopologically(Graph* graph) {
  const size_t num_values = graph->values.size();
  const size_t num_nodes = graph->nodes.size();
  // producer[v]: -2 = graph input/initializer, -1 = none yet, >= 0 = node index.
  std::vector<int> producer(num_values, -1);
  for (int v : graph->inputs) producer[v] = -2;
  for (const auto& [v, tensor] : graph->initializers) producer[v] = -2;
  for (size_t n = 0; n < num_nodes; ++n) {
    for (int v : graph->nodes[n].outputs) {
      if (v == kNoValue) continue;
      if (producer[v] != -1) {
        return InvalidArgument("value '" + graph->values[v].name +
                               "' is produced more than once (" + DescribeNode(graph->nodes[n], n) +
                               ")");
      }
      producer[v] = static_cast<int>(n);
    }
  }
  // Kahn's algorithm with a min-heap on the original index keeps sorted input stable.
  std::vector<int> pending(num_nodes, 0);
  std::vector<std::vector<int>> consumers(num_nodes);
  for (size_t n = 0; n < num_nodes; ++n) {
    for (int v : graph->nodes[n].inputs) {
      if (v == kNoValue) continue;
      if (producer[v] == -1) {
        return InvalidArgument(DescribeNode(graph->nodes[n], n) + " reads '" +
                               graph->values[v].name + "', which nothing produces");
      }
      if (producer[v] >= 0) {
        ++pending[n];
        consumers[producer[v]].push_back(static_cast<int>(n));
      }
    }
  }
  std::priority_queue<int, std::vector<int>, std::greater<>> ready;
  for (size_t n = 0; n < num_nodes; ++n) {
    if (pending[n] == 0) ready.push(static_cast<int>(n));
  }
  std::vector<int> order;
  order.reserve(num_nodes);
  while (!ready.empty()) {
    int n = ready.top();
    ready.pop();
    order.push_back(n);
    for (int c : consumers[n]) {
      if (--pending[c] == 0) ready.push(c);
    }
  }
  if (order.size() != num_nodes) return InvalidArgument("graph has a cycle");
  for (int v : graph->outputs) {
    if (producer[v] == -1) {
      return InvalidArgument("graph output '" + graph->values[v].name + "' is never produced");
    }
  }
  std::vector<Node> sorted;
  sorted.reserve(num_nodes);
  for (int n : order) sorted.push_back(std::move(graph->nodes[n]));
  graph->nodes = std::move(sorted);
  return Status::Ok();
}

}  // namespace nereid::engine
