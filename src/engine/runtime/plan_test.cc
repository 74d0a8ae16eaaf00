#include "engine/runtime/plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <thread>
#include <vector>

#include "engine/ir/test_models.h"

namespace nereid::engine {
namespace {

using ::testing::HasSubstr;
using testing::ModelBuilder;
using testing::SetIntAttr;
using testing::SetIntsAttr;

constexpr int32_t kFloat = onnx::TensorProto::FLOAT;
constexpr int32_t kInt64 = onnx::TensorProto::INT64;

StatusOr<std::unique_ptr<Plan>> Build(const ModelBuilder& b) {
  return Plan::FromOnnxBytes(b.Serialize(), CompileOptions{});
}

TensorView View(const std::vector<float>& v, Shape shape) {
  return TensorView{DataType::kFp32, std::move(shape), reinterpret_cast<const char*>(v.data()),
                    v.size() * sizeof(float)};
}

std::vector<float> Floats(const Tensor& t) {
  return std::vector<float>(t.data_as<float>(), t.data_as<float>() + t.byte_size() / 4);
}

// y = Relu(x @ W + b), x: [N, 2], W: [2, 3], b: [3].
ModelBuilder DenseModel() {
  ModelBuilder b(17);
  b.Input("x", kFloat, {-1, 2});
  b.FloatInitializer("W", {2, 3}, {1, -1, 0, 2, 1, 1});
  b.FloatInitializer("b", {3}, {0, 0, -1});
  b.Output("y", kFloat, {-1, 3});
  b.AddNode("MatMul", {"x", "W"}, {"xw"}, "matmul");
  b.AddNode("Add", {"xw", "b"}, {"pre"}, "bias");
  b.AddNode("Relu", {"pre"}, {"y"}, "relu");
  return b;
}

TEST(PlanTest, MisalignedInputBytesAreHandled) {
  auto plan = Build(DenseModel());
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  // Binary HTTP tensors start at any byte offset: place x at an odd address.
  std::vector<char> storage(1 + 4 * sizeof(float));
  const float x[4] = {1, 2, -1, 0.5f};
  std::memcpy(storage.data() + 1, x, sizeof(x));
  TensorView view{DataType::kFp32, {2, 2}, storage.data() + 1, sizeof(x)};
  std::vector<Tensor> out;
  ASSERT_TRUE((*plan)->Run({view}, &out).ok());
  // Row 0: [1,2] @ W = [1+4, -1+2, 0+2] -> relu([5, 1, 1]) with bias [0,0,-1] -> [5, 1, 1]
  EXPECT_EQ(Floats(out[0])[0], 5.0f);
  EXPECT_EQ(Floats(out[0])[2], 1.0f);
}

TEST(PlanTest, BadBytesAreInvalidArgument) {
  auto plan = Plan::FromOnnxBytes("definitely not onnx", CompileOptions{});
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kInvalidArgument);
  plan = Plan::FromOnnxFile("/nonexistent.onnx", CompileOptions{});
  EXPECT_EQ(plan.status().code(), StatusCode::kInvalidArgument);
}

TEST(PlanTest, UnsupportedOpNamesNodeAndOp) {
  ModelBuilder b;
  b.Input("x", kFloat, {2});
  b.Output("y", kFloat, {2});
  b.AddNode("Relu", {"x"}, {"t"}, "fine");
  b.AddNode("Foo", {"t"}, {"y"}, "my_foo");
  auto plan = Build(b);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kUnimplemented);
  EXPECT_THAT(plan.status().message(), HasSubstr("node 'my_foo' (op Foo) is not supported"));
}

TEST(PlanTest, UnsupportedUnnamedNodeGivesIndexAndDomain) {
  ModelBuilder b;
  auto* opset = b.model().add_opset_import();
  opset->set_domain("com.example");
  opset->set_version(1);
  b.Input("x", kFloat, {2});
  b.Output("y", kFloat, {2});
  b.AddNode("Relu", {"x"}, {"t"});
  b.AddNode("Add", {"t", "t"}, {"y"})->set_domain("com.example");
  auto plan = Build(b);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kUnimplemented);
  EXPECT_THAT(plan.status().message(), HasSubstr("node #1 (op com.example.Add) is not supported"));
}

TEST(PlanTest, InputsAndOutputsDescribeTheModel) {
  auto plan = Build(DenseModel());
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ((*plan)->inputs().size(), 1u);  // initializers excluded
  EXPECT_EQ((*plan)->inputs()[0].name, "x");
  EXPECT_EQ((*plan)->inputs()[0].dtype, DataType::kFp32);
  EXPECT_EQ((*plan)->inputs()[0].shape, (Shape{-1, 2}));
  ASSERT_EQ((*plan)->outputs().size(), 1u);
  EXPECT_EQ((*plan)->outputs()[0].shape, (Shape{-1, 3}));
}

TEST(PlanTest, DynamicBatchRunsAtOneAndFive) {
  auto plan = Build(DenseModel());
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  for (int64_t batch : {1, 5}) {
    std::vector<float> x;
    for (int64_t i = 0; i < batch; ++i) {
      x.push_back(static_cast<float>(i));
      x.push_back(1.0f);
    }
    std::vector<Tensor> out;
    ASSERT_TRUE((*plan)->Run({View(x, {batch, 2})}, &out).ok());
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].shape(), (Shape{batch, 3}));
    std::vector<float> want;
    for (int64_t i = 0; i < batch; ++i) {
      float r = static_cast<float>(i);
      // [r, 1] @ W = [r + 2, 1 - r, 1]; + b = [r + 2, 1 - r, 0]; relu
      want.insert(want.end(), {r + 2, std::max(0.0f, 1 - r), 0.0f});
    }
    EXPECT_EQ(Floats(out[0]), want) << "batch " << batch;
  }
}

TEST(PlanTest, RunValidatesInputs) {
  auto plan = Build(DenseModel());
  ASSERT_TRUE(plan.ok());
  std::vector<Tensor> out;
  std::vector<float> x(6, 1.0f);

  Status s = (*plan)->Run({}, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("expected 1 inputs, got 0"));

  s = (*plan)->Run({View(x, {2, 3})}, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("input 'x'"));
  EXPECT_THAT(s.message(), HasSubstr("expected shape [-1,2], got [2,3]"));

  s = (*plan)->Run({View(x, {6})}, &out);  // wrong rank
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);

  TensorView wrong_type = View(x, {3, 2});
  wrong_type.dtype = DataType::kInt32;
  s = (*plan)->Run({wrong_type}, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("expected element type FP32, got INT32"));

  TensorView short_data = View(x, {3, 2});
  short_data.byte_size -= 4;
  s = (*plan)->Run({short_data}, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);

  TensorView negative = View(x, {-3, 2});
  EXPECT_EQ((*plan)->Run({negative}, &out).code(), StatusCode::kInvalidArgument);
}

TEST(PlanTest, RunTimeShapeErrorNamesTheNode) {
  ModelBuilder b;
  b.Input("a", kFloat, {-1});
  b.Input("c", kFloat, {-1});
  b.Output("y", kFloat, {-1});
  b.AddNode("Add", {"a", "c"}, {"y"}, "adder");
  auto plan = Build(b);
  ASSERT_TRUE(plan.ok());
  std::vector<float> a(2), c(3);
  std::vector<Tensor> out;
  Status s = (*plan)->Run({View(a, {2}), View(c, {3})}, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("node 'adder' (op Add)"));
}

TEST(PlanTest, OutputsThatAreInputsOrInitializersOrViews) {
  ModelBuilder b;
  b.Input("x", kFloat, {2, 2});
  b.FloatInitializer("w", {2}, {5, 6});
  b.Int64Initializer("flat", {1}, {4});
  b.Output("x", kFloat, {2, 2});
  b.Output("w", kFloat, {2});
  b.Output("r", kFloat, {4});
  b.Output("k", kInt64, {2});
  b.AddNode("Reshape", {"x", "flat"}, {"r"});
  auto* c = b.AddNode("Constant", {}, {"k"});
  auto* attr = c->add_attribute();
  attr->set_name("value_ints");
  attr->set_type(onnx::AttributeProto::INTS);
  attr->add_ints(3);
  attr->add_ints(4);
  auto plan = Build(b);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  std::vector<Tensor> out;
  {
    std::vector<float> x = {1, 2, 3, 4};
    ASSERT_TRUE((*plan)->Run({View(x, {2, 2})}, &out).ok());
    // Outputs must not alias the caller's bytes.
    EXPECT_NE(out[0].data(), reinterpret_cast<const char*>(x.data()));
    EXPECT_NE(out[2].data(), reinterpret_cast<const char*>(x.data()));
    x.assign(4, -1.0f);
  }
  EXPECT_EQ(Floats(out[0]), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(Floats(out[1]), (std::vector<float>{5, 6}));
  EXPECT_EQ(out[2].shape(), (Shape{4}));
  EXPECT_EQ(Floats(out[2]), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(out[3].data_as<int64_t>()[1], 4);
  plan->reset();  // outputs keep their bytes alive after the plan is gone
  EXPECT_EQ(Floats(out[1]), (std::vector<float>{5, 6}));
}

TEST(PlanTest, ChainOfShapeOpsWithLiveness) {
  ModelBuilder b(13);
  b.Input("x", kFloat, {-1, 2, 3});
  b.Output("y", kFloat, {-1, 6});
  b.Output("z", kFloat, {-1, 12});
  b.AddNode("Transpose", {"x"}, {"t"});
  SetIntsAttr(b.model().mutable_graph()->mutable_node(0), "perm", {0, 2, 1});
  b.AddNode("Flatten", {"t"}, {"y"});
  b.AddNode("Concat", {"y", "y"}, {"z"});
  SetIntAttr(b.model().mutable_graph()->mutable_node(2), "axis", -1);
  auto plan = Build(b);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  std::vector<float> x = {1, 2, 3, 4, 5, 6};
  std::vector<Tensor> out;
  ASSERT_TRUE((*plan)->Run({View(x, {1, 2, 3})}, &out).ok());
  EXPECT_EQ(Floats(out[0]), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(out[1].shape(), (Shape{1, 12}));
}

TEST(PlanTest, ConcurrentRuns) {
  auto plan = Build(DenseModel());
  ASSERT_TRUE(plan.ok());
  const Plan& p = **plan;
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        std::vector<float> x = {static_cast<float>(t), 1.0f};
        std::vector<Tensor> out;
        if (!p.Run({View(x, {1, 2})}, &out).ok() || out[0].data_as<float>()[0] != t + 2.0f) {
          ++failures[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, (std::vector<int>(4, 0)));
}

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
TEST(PlanTest, HugeOutputIsResourceExhausted) {
  ModelBuilder b;
  b.Input("a", kFloat, {-1, -1});
  b.Input("c", kFloat, {-1, -1});
  b.Output("y", kFloat, {-1, -1});
  b.AddNode("MatMul", {"a", "c"}, {"y"});
  auto plan = Build(b);
  ASSERT_TRUE(plan.ok());
  std::vector<float> none;
  std::vector<Tensor> out;
  // [1, 0] x [0, 2^45] is a 128 TiB result from empty inputs.
  Status s = (*plan)->Run({View(none, {1, 0}), View(none, {0, int64_t{1} << 45})}, &out);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
}
#endif

}  // namespace
}  // namespace nereid::engine

namespace nereid::engine {
namespace {

TEST(PlanTest, NodeWithoutOutputsIsInvalidArgument) {
  ModelBuilder b;
  b.Input("x", kFloat, {2});
  b.Output("x", kFloat, {2});
  b.AddNode("Relu", {"x"}, {}, "mute");
  auto plan = Build(b);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(plan.status().message(), HasSubstr("node 'mute' (op Relu)"));
}

// Corrupts a valid model byte by byte: every result must be a clean error or
// a runnable plan, never a crash.
TEST(PlanTest, MutatedModelsNeverCrash) {
  const std::string good = DenseModel().Serialize();
  uint32_t seed = 12345;
  auto next = [&seed] {
    seed = seed * 1103515245u + 12345u;
    return seed >> 8;
  };
  int built = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    std::string bytes = good;
    const int flips = 1 + static_cast<int>(next() % 4);
    for (int f = 0; f < flips; ++f) {
      bytes[next() % bytes.size()] = static_cast<char>(next() & 0xFF);
    }
    auto plan = Plan::FromOnnxBytes(bytes, CompileOptions{});
    if (!plan.ok()) continue;
    ++built;
    std::vector<TensorView> inputs;
    std::vector<std::vector<char>> buffers;
    for (const ValueInfo& info : (*plan)->inputs()) {
      Shape shape = info.shape;
      for (int64_t& d : shape) d = d < 0 ? 2 : std::min<int64_t>(d, 8);
      int64_t n = 1;
      for (int64_t d : shape) n *= d;
      size_t elem = DataTypeByteSize(info.dtype);
      if (elem == 0) continue;
      buffers.emplace_back(static_cast<size_t>(n) * elem, 0);
      inputs.push_back(TensorView{info.dtype, shape, buffers.back().data(), buffers.back().size()});
    }
    std::vector<Tensor> out;
    (void)(*plan)->Run(inputs, &out);
  }
  EXPECT_GT(built, 0);
}

}  // namespace
}  // namespace nereid::engine

namespace nereid::engine {
namespace {

// ONNX's Scan shape inference dereferences a missing body graph; the engine
// must reject the model without running it.
TEST(PlanTest, MalformedUnsupportedOpDoesNotReachShapeInference) {
  ModelBuilder b(17);
  b.Input("x", kFloat, {2});
  b.Output("y", kFloat, {2});
  b.AddNode("Scan", {"x"}, {"y"}, "scan");
  SetIntAttr(b.model().mutable_graph()->mutable_node(0), "num_scan_inputs", 1);
  auto plan = Build(b);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kUnimplemented);
  EXPECT_THAT(plan.status().message(), HasSubstr("node 'scan' (op Scan) is not supported"));
}

}  // namespace
}  // namespace nereid::engine
