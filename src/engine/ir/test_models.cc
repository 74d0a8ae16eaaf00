#include "engine/ir/test_models.h"

namespace nereid::engine::testing {
namespace {

void FillValueInfo(onnx::ValueInfoProto* info, const std::string& name, int32_t elem_type,
                   const std::vector<int64_t>& dims, bool no_shape) {
  info->set_name(name);
  auto* tt = info->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem_type);
  if (no_shape) return;
  auto* shape = tt->mutable_shape();
  for (int64_t d : dims) {
    auto* dim = shape->add_dim();
    if (d < 0) {
      dim->set_dim_param("N");
    } else {
      dim->set_dim_value(d);
    }
  }
}

}  // namespace

ModelBuilder::ModelBuilder(int64_t opset) {
  model_.set_ir_version(8);
  auto* op = model_.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  model_.mutable_graph()->set_name("test");
}

ModelBuilder& ModelBuilder::Input(const std::string& name, int32_t elem_type,
                                  std::vector<int64_t> dims, bool no_shape) {
  FillValueInfo(model_.mutable_graph()->add_input(), name, elem_type, dims, no_shape);
  return *this;
}

ModelBuilder& ModelBuilder::Output(const std::string& name, int32_t elem_type,
                                   std::vector<int64_t> dims) {
  FillValueInfo(model_.mutable_graph()->add_output(), name, elem_type, dims, false);
  return *this;
}

ModelBuilder& ModelBuilder::FloatInitializer(const std::string& name, std::vector<int64_t> dims,
                                             std::vector<float> values) {
  auto* t = model_.mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t->add_dims(d);
  for (float v : values) t->add_float_data(v);
  return *this;
}

ModelBuilder& ModelBuilder::Int64Initializer(const std::string& name, std::vector<int64_t> dims,
                                             std::vector<int64_t> values) {
  auto* t = model_.mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  for (int64_t d : dims) t->add_dims(d);
  for (int64_t v : values) t->add_int64_data(v);
  return *this;
}

onnx::NodeProto* ModelBuilder::AddNode(const std::string& op_type, std::vector<std::string> inputs,
                                       std::vector<std::string> outputs, const std::string& name) {
  auto* node = model_.mutable_graph()->add_node();
  node->set_op_type(op_type);
  node->set_name(name);
  for (auto& in : inputs) node->add_input(in);
  for (auto& out : outputs) node->add_output(out);
  return node;
}

std::string ModelBuilder::Serialize() const { return model_.SerializeAsString(); }

void SetIntAttr(onnx::NodeProto* node, const std::string& name, int64_t value) {
  auto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}

void SetFloatAttr(onnx::NodeProto* node, const std::string& name, float value) {
  auto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(value);
}

void SetIntsAttr(onnx::NodeProto* node, const std::string& name, std::vector<int64_t> values) {
  auto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a->add_ints(v);
}

}  // namespace nereid::engine::testing
