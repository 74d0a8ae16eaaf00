// Test-only helpers that build small ONNX models in C++ (no Python needed).
//
//   ModelBuilder b(/*opset=*/17);
//   b.Input("x", onnx::TensorProto::FLOAT, {-1, 4});   // -1 -> dim_param "N"
//   b.Output("y", onnx::TensorProto::FLOAT, {-1, 4});
//   b.AddNode("Relu", {"x"}, {"y"});
//   std::string bytes = b.Serialize();
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace nereid::engine::testing {

class ModelBuilder {
 public:
  explicit ModelBuilder(int64_t opset = 17);

  // dims: -1 becomes a symbolic dim "N"; pass no_shape to omit the shape.
  ModelBuilder& Input(const std::string& name, int32_t elem_type, std::vector<int64_t> dims,
                      bool no_shape = false);
  ModelBuilder& Output(const std::string& name, int32_t elem_type, std::vector<int64_t> dims);
  ModelBuilder& FloatInitializer(const std::string& name, std::vector<int64_t> dims,
                                 std::vector<float> values);
  ModelBuilder& Int64Initializer(const std::string& name, std::vector<int64_t> dims,
                                 std::vector<int64_t> values);
  onnx::NodeProto* AddNode(const std::string& op_type, std::vector<std::string> inputs,
                           std::vector<std::string> outputs, const std::string& name = "");

  onnx::ModelProto& model() { return model_; }
  std::string Serialize() const;

 private:
  onnx::ModelProto model_;
};

void SetIntAttr(onnx::NodeProto* node, const std::string& name, int64_t value);
void SetFloatAttr(onnx::NodeProto* node, const std::string& name, float value);
void SetIntsAttr(onnx::NodeProto* node, const std::string& name, std::vector<int64_t> values);

}  // namespace nereid::engine::testing
