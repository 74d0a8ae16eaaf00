#include "engine/ir/onnx_import.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "engine/ir/onnx_tensor.h"
#include "engine/ir/test_models.h"

namespace nereid::engine {
namespace {

using ::testing::HasSubstr;
using testing::ModelBuilder;

TEST(OnnxImportTest, GarbageBytesAreInvalidArgument) {
  for (std::string bytes :
       {std::string("hello world, not a model"), std::string("\xff\xff\xff", 3), std::string()}) {
    auto graph = ImportOnnxModel(bytes);
    ASSERT_FALSE(graph.ok());
    EXPECT_EQ(graph.status().code(), StatusCode::kInvalidArgument) << graph.status().ToString();
  }
}

// Writes a model whose initializer "w" lives in an external file.
std::string WriteExternalModel(const std::string& dir, const std::string& location,
                               int64_t offset, bool write_weights) {
  std::filesystem::create_directories(dir);
  ModelBuilder b(13);
  b.Input("x", onnx::TensorProto::FLOAT, {1, 2});
  b.FloatInitializer("w", {2, 2}, {0, 0, 0, 0});
  b.Output("y", onnx::TensorProto::FLOAT, {1, 2});
  b.AddNode("MatMul", {"x", "w"}, {"y"}, "mm");
  auto* w = b.model().mutable_graph()->mutable_initializer(0);
  w->clear_raw_data();
  w->clear_float_data();
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto add = [&](const std::string& k, const std::string& v) {
    auto* e = w->add_external_data();
    e->set_key(k);
    e->set_value(v);
  };
  add("location", location);
  add("offset", std::to_string(offset));
  add("length", "16");
  if (write_weights) {
    const float values[4] = {1, 2, 3, 4};
    std::ofstream f(dir + "/weights.bin", std::ios::binary);
    f.write("padding!", 8);
    f.write(reinterpret_cast<const char*>(values), sizeof(values));
  }
  const std::string path = dir + "/model.onnx";
  std::ofstream(path, std::ios::binary) << b.Serialize();
  return path;
}

TEST(OnnxImportTest, ExternalDataIsReadRelativeToTheModel) {
  const std::string dir = ::testing::TempDir() + "/nereid_ext_ok";
  auto graph = ImportOnnxFile(WriteExternalModel(dir, "weights.bin", 8, true));
  ASSERT_TRUE(graph.ok()) << graph.status().ToString();
  const Tensor& w = graph->initializers.begin()->second;
  EXPECT_EQ(w.data_as<float>()[3], 4.0f);
  std::filesystem::remove_all(dir);
}

TEST(OnnxImportTest, BadExternalDataIsAClearError) {
  const std::string dir = ::testing::TempDir() + "/nereid_ext_bad";
  auto expect = [&](const std::string& path, const std::string& needle) {
    auto graph = ImportOnnxFile(path);
    ASSERT_FALSE(graph.ok());
    EXPECT_EQ(graph.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(graph.status().message(), HasSubstr(needle));
  };
  expect(WriteExternalModel(dir, "missing.bin", 0, false), "missing.bin");
  expect(WriteExternalModel(dir, "../escape.bin", 0, true), "relative path inside");
  expect(WriteExternalModel(dir, "/etc/passwd", 0, true), "relative path inside");
  expect(WriteExternalModel(dir, "weights.bin", 100, true), "outside");
  std::filesystem::remove_all(dir);
}

TEST(OnnxImportTest, MissingFileIsInvalidArgument) {
  auto graph = ImportOnnxFile("/nonexistent/model.onnx");
  ASSERT_FALSE(graph.ok());
  EXPECT_EQ(graph.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(graph.status().message(), HasSubstr("/nonexistent/model.onnx"));
}

TEST(OnnxImportTest, InputsExcludeInitializersAndSymbolicDimsAreMinusOne) {
  ModelBuilder b(13);
  b.Input("x", onnx::TensorProto::FLOAT, {-1, 2});
  b.Input("w", onnx::TensorProto::FLOAT, {2, 2});  // IR < 4 style: initializer listed as input
  b.FloatInitializer("w", {2, 2}, {1, 2, 3, 4});
  b.Output("y", onnx::TensorProto::FLOAT, {-1, 2});
  b.AddNode("MatMul", {"x", "w"}, {"y"}, "mm");
  auto graph = ImportOnnxModel(b.Serialize());
  ASSERT_TRUE(graph.ok()) << graph.status().ToString();
  ASSERT_EQ(graph->inputs.size(), 1u);
  const Value& x = graph->values[graph->inputs[0]];
  EXPECT_EQ(x.name, "x");
  EXPECT_EQ(x.dtype, DataType::kFp32);
  EXPECT_EQ(*x.shape, (Shape{-1, 2}));
  EXPECT_EQ(graph->OpsetFor(""), 13);
  EXPECT_EQ(graph->OpsetFor("ai.onnx"), 13);
  ASSERT_EQ(graph->initializers.size(), 1u);
  const Tensor& w = graph->initializers.begin()->second;
  EXPECT_EQ(w.shape(), (Shape{2, 2}));
  EXPECT_EQ(w.data_as<float>()[3], 4.0f);
  ASSERT_EQ(graph->nodes.size(), 1u);
  EXPECT_EQ(graph->nodes[0].op_type, "MatMul");
}

TEST(OnnxImportTest, ShapeInferenceFillsIntermediates) {
  ModelBuilder b(13);
  b.Input("x", onnx::TensorProto::FLOAT, {-1, 3});
  b.Output("z", onnx::TensorProto::FLOAT, {-1, 3});
  b.AddNode("Relu", {"x"}, {"t"});
  b.AddNode("Relu", {"t"}, {"z"});
  auto graph = ImportOnnxModel(b.Serialize());
  ASSERT_TRUE(graph.ok()) << graph.status().ToString();
  const Value& t = graph->values[graph->FindValue("t")];
  EXPECT_EQ(t.dtype, DataType::kFp32);
  ASSERT_TRUE(t.shape.has_value());
  EXPECT_EQ(t.shape->size(), 2u);
}

TEST(OnnxImportTest, NodesAreSortedTopologically) {
  ModelBuilder b(13);
  b.Input("x", onnx::TensorProto::FLOAT, {3});
  b.Output("z", onnx::TensorProto::FLOAT, {3});
  b.AddNode("Relu", {"t"}, {"z"}, "second");
  b.AddNode("Relu", {"x"}, {"t"}, "first");
  auto graph = ImportOnnxModel(b.Serialize());
  ASSERT_TRUE(graph.ok()) << graph.status().ToString();
  EXPECT_EQ(graph->nodes[0].name, "first");
  EXPECT_EQ(graph->nodes[1].name, "second");
}

TEST(OnnxImportTest, CycleAndDanglingInputsAreRejected) {
  ModelBuilder cyc(13);
  cyc.Input("x", onnx::TensorProto::FLOAT, {3});
  cyc.Output("z", onnx::TensorProto::FLOAT, {3});
  cyc.AddNode("Add", {"x", "z"}, {"t"});
  cyc.AddNode("Relu", {"t"}, {"z"});
  auto graph = ImportOnnxModel(cyc.Serialize());
  ASSERT_FALSE(graph.ok());
  EXPECT_EQ(graph.status().code(), StatusCode::kInvalidArgument);

  ModelBuilder dangling(13);
  dangling.Input("x", onnx::TensorProto::FLOAT, {3});
  dangling.Output("z", onnx::TensorProto::FLOAT, {3});
  dangling.AddNode("Add", {"x", "nowhere"}, {"z"}, "adder");
  graph = ImportOnnxModel(dangling.Serialize());
  ASSERT_FALSE(graph.ok());
  EXPECT_THAT(graph.status().message(), HasSubstr("nowhere"));
}

TEST(OnnxImportTest, SequenceInputIsUnimplemented) {
  ModelBuilder b(16);
  auto* in = b.model().mutable_graph()->add_input();
  in->set_name("seq");
  in->mutable_type()
      ->mutable_sequence_type()
      ->mutable_elem_type()
      ->mutable_tensor_type()
      ->set_elem_type(onnx::TensorProto::FLOAT);
  b.Output("y", onnx::TensorProto::FLOAT, {});
  b.AddNode("Identity", {"seq"}, {"y"});
  auto graph = ImportOnnxModel(b.Serialize());
  ASSERT_FALSE(graph.ok());
  EXPECT_EQ(graph.status().code(), StatusCode::kUnimplemented);
}

TEST(OnnxTensorTest, TypeMapping) {
  EXPECT_EQ(DataTypeFromOnnx(onnx::TensorProto::FLOAT), DataType::kFp32);
  EXPECT_EQ(DataTypeFromOnnx(onnx::TensorProto::INT64), DataType::kInt64);
  EXPECT_EQ(DataTypeFromOnnx(onnx::TensorProto::STRING), DataType::kBytes);
  EXPECT_EQ(DataTypeFromOnnx(onnx::TensorProto::BOOL), DataType::kBool);
  EXPECT_EQ(DataTypeFromOnnx(onnx::TensorProto::FLOAT16), DataType::kFp16);
  EXPECT_EQ(DataTypeFromOnnx(onnx::TensorProto::BFLOAT16), DataType::kBf16);
  EXPECT_EQ(DataTypeFromOnnx(onnx::TensorProto::COMPLEX64), DataType::kInvalid);
  EXPECT_EQ(DataTypeToOnnx(DataType::kUint32), onnx::TensorProto::UINT32);
}

TEST(OnnxTensorTest, RawAndTypedFields) {
  onnx::TensorProto raw;
  raw.set_data_type(onnx::TensorProto::INT32);
  raw.add_dims(2);
  int32_t values[2] = {7, -3};
  raw.set_raw_data(std::string(reinterpret_cast<char*>(values), sizeof(values)));
  auto t = TensorFromOnnx(raw);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->data_as<int32_t>()[1], -3);

  onnx::TensorProto half;
  half.set_data_type(onnx::TensorProto::FLOAT16);
  half.add_int32_data(0x3C00);  // 1.0
  t = TensorFromOnnx(half);     // no dims: a scalar
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->shape(), Shape{});
  EXPECT_EQ(t->data_as<uint16_t>()[0], 0x3C00);

  onnx::TensorProto dbl;
  dbl.set_data_type(onnx::TensorProto::DOUBLE);
  dbl.add_dims(1);
  dbl.add_double_data(2.5);
  t = TensorFromOnnx(dbl);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->data_as<double>()[0], 2.5);

  onnx::TensorProto str;
  str.set_data_type(onnx::TensorProto::STRING);
  str.add_dims(2);
  str.add_string_data("ab");
  str.add_string_data("");
  t = TensorFromOnnx(str);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->dtype(), DataType::kBytes);
  EXPECT_EQ(t->byte_size(), 4u + 2u + 4u);
}

TEST(OnnxTensorTest, CountMismatchAndBadTypes) {
  onnx::TensorProto p;
  p.set_data_type(onnx::TensorProto::FLOAT);
  p.add_dims(3);
  p.add_float_data(1.0f);
  auto t = TensorFromOnnx(p);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);

  p.clear_float_data();
  p.set_raw_data(std::string(5, '\0'));
  EXPECT_EQ(TensorFromOnnx(p).status().code(), StatusCode::kInvalidArgument);

  onnx::TensorProto c;
  c.set_data_type(onnx::TensorProto::COMPLEX64);
  EXPECT_EQ(TensorFromOnnx(c).status().code(), StatusCode::kUnimplemented);

  EXPECT_EQ(TensorFromOnnxBytes("\xff\xff").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace nereid::engine
