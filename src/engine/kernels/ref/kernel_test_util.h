// Test-only helpers shared by the kernel unit tests: small tensors from
// values, reading values back, and nodes with attributes.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "common/tensor.h"
#include "engine/ir/graph.h"
#include "engine/kernels/kernel.h"

namespace nereid::engine::testutil {

template <typename T>
Tensor Make(DataType dtype, Shape shape, std::vector<T> values) {
  Tensor t = Tensor::AllocateDense(dtype, std::move(shape));
  std::copy(values.begin(), values.end(), t.mutable_data_as<T>());
  return t;
}
inline Tensor F32(Shape shape, std::vector<float> v) {
  return Make<float>(DataType::kFp32, std::move(shape), std::move(v));
}
inline Tensor I64(Shape shape, std::vector<int64_t> v) {
  return Make<int64_t>(DataType::kInt64, std::move(shape), std::move(v));
}
inline Tensor I32(Shape shape, std::vector<int32_t> v) {
  return Make<int32_t>(DataType::kInt32, std::move(shape), std::move(v));
}
inline Tensor Bools(Shape shape, std::vector<uint8_t> v) {
  return Make<uint8_t>(DataType::kBool, std::move(shape), std::move(v));
}

template <typename T>
std::vector<T> Values(const Tensor& t) {
  const T* p = t.data_as<T>();
  return std::vector<T>(p, p + t.byte_size() / sizeof(T));
}

inline Node Op(std::string op_type) {
  Node n;
  n.op_type = std::move(op_type);
  return n;
}

template <typename Setter>
void SetAttr(Node* n, const std::string& name, Attribute::Kind kind, Setter set) {
  Attribute a;
  a.kind = kind;
  set(a);
  n->attributes[name] = std::move(a);
}
inline void SetInt(Node* n, const std::string& name, int64_t v) {
  SetAttr(n, name, Attribute::Kind::kInt, [&](Attribute& a) { a.i = v; });
}
inline void SetFloat(Node* n, const std::string& name, float v) {
  SetAttr(n, name, Attribute::Kind::kFloat, [&](Attribute& a) { a.f = v; });
}
inline void SetString(Node* n, const std::string& name, std::string v) {
  SetAttr(n, name, Attribute::Kind::kString, [&](Attribute& a) { a.s = std::move(v); });
}
inline void SetInts(Node* n, const std::string& name, std::vector<int64_t> v) {
  SetAttr(n, name, Attribute::Kind::kInts, [&](Attribute& a) { a.ints = std::move(v); });
}
inline void SetStrings(Node* n, const std::string& name, std::vector<std::string> v) {
  SetAttr(n, name, Attribute::Kind::kStrings, [&](Attribute& a) { a.strings = std::move(v); });
}

// Builds the reference kernel for `node` (inputs typed from `inputs`, null =
// omitted optional input) and runs it, returning `n_outputs` outputs.
inline StatusOr<std::vector<Tensor>> RunOpN(Node node, std::vector<const Tensor*> inputs,
                                            size_t n_outputs, int64_t opset = 17) {
  KernelFactory factory = KernelRegistry::Global().FindReference("", node.op_type);
  if (factory == nullptr) return NotFound("no kernel for " + node.op_type);
  node.inputs.clear();
  for (const Tensor* t : inputs) node.inputs.push_back(t ? 0 : kNoValue);
  node.outputs.assign(n_outputs, 0);
  KernelBuildContext context{node, opset, {}, {}, {}};
  for (const Tensor* t : inputs) {
    context.input_dtypes.push_back(t ? t->dtype() : DataType::kInvalid);
  }
  ASSIGN_OR_RETURN(auto kernel, factory(context));
  std::vector<Tensor> outputs(n_outputs);
  RETURN_IF_ERROR(kernel->Run(inputs, outputs));
  return outputs;
}

inline StatusOr<Tensor> RunOp(Node node, std::vector<const Tensor*> inputs, int64_t opset = 17) {
  ASSIGN_OR_RETURN(std::vector<Tensor> out, RunOpN(std::move(node), std::move(inputs), 1, opset));
  return std::move(out[0]);
}

}  // namespace nereid::engine::testutil
