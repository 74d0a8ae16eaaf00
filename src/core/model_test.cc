#include "core/model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <google/protobuf/text_format.h>

#include <cstring>

namespace nereid::core {
namespace {

using ::testing::HasSubstr;

class EchoInstance : public ModelInstance {
 public:
  void Execute(std::vector<std::unique_ptr<InferenceRequest>>& requests) override {
    for (auto& r : requests) r->Complete(std::make_unique<InferenceResponse>());
  }
};

class EchoModel : public BackendModel {
 public:
  StatusOr<std::unique_ptr<ModelInstance>> CreateInstance(const InstanceOptions&) override {
    return std::unique_ptr<ModelInstance>(std::make_unique<EchoInstance>());
  }
};

class ModelValidateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    inference::ModelConfig config;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"(
      name: "m" backend: "identity" max_batch_size: 4
      input [ { name: "A" data_type: TYPE_FP32 dims: [ -1, 2 ] },
              { name: "S" data_type: TYPE_STRING dims: [ 1 ] } ]
      output [ { name: "OUT" data_type: TYPE_FP32 dims: [ -1, 2 ] } ]
      instance_group [ { count: 1 kind: KIND_CPU name: "g" } ])",
                                                              &config));
    auto m = Model::Create(config, 3, std::make_unique<EchoModel>(), Model::Options(), clock_);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    model_ = *m;
  }

  std::unique_ptr<InferenceRequest> Request(Shape a_shape, DataType a_type = DataType::kFp32) {
    auto r = std::make_unique<InferenceRequest>();
    int64_t n = 1;
    for (auto d : a_shape) n *= d;
    a_.assign(n, 1.0f);
    r->inputs.push_back({"A", TensorView{a_type, a_shape, reinterpret_cast<char*>(a_.data()),
                                         a_.size() * 4}, {}});
    s_.clear();
    for (int64_t i = 0; i < (a_shape.empty() ? 1 : a_shape[0]); ++i) {
      uint32_t len = 2;
      s_.append(reinterpret_cast<char*>(&len), 4);
      s_ += "hi";
    }
    r->inputs.push_back({"S", TensorView{DataType::kBytes, {a_shape.empty() ? 1 : a_shape[0], 1},
                                         s_.data(), s_.size()}, {}});
    r->set_callback([](std::unique_ptr<InferenceResponse>) {});
    return r;
  }

  FakeClock clock_;
  std::shared_ptr<Model> model_;
  std::vector<float> a_;
  std::string s_;
};

TEST_F(ModelValidateTest, AcceptsValidRequest) {
  auto r = Request({3, 5, 2});
  Status s = model_->Validate(r.get());
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(r->batch_size, 3);
  EXPECT_EQ(r->resolved_version, 3);
}

TEST_F(ModelValidateTest, RejectsBadRequests) {
  auto expect = [&](std::unique_ptr<InferenceRequest> r, const std::string& needle) {
    Status s = model_->Validate(r.get());
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << needle;
    EXPECT_THAT(s.message(), HasSubstr(needle));
  };
  expect(Request({5, 1, 2}), "batch-size must be <= 4");
  expect(Request({1, 3, 3}), "unexpected shape for input 'A'");
  expect(Request({1, 3, 2}, DataType::kInt32), "data-type is 'INT32', but model 'm' expects 'FP32'");
  auto r = Request({1, 3, 2});
  r->inputs.pop_back();
  expect(std::move(r), "missing input 'S'");
  r = Request({1, 3, 2});
  r->inputs.push_back({"X", {}, {}});
  expect(std::move(r), "unexpected inference input 'X'");
  r = Request({1, 3, 2});
  r->inputs[0].tensor.byte_size -= 4;
  expect(std::move(r), "holds 20 bytes");
  r = Request({1, 3, 2});
  r->inputs[1].tensor.byte_size -= 1;
  expect(std::move(r), "input 'S'");
  r = Request({1, 3, 2});
  r->requested_outputs.push_back({"NOPE", {}});
  expect(std::move(r), "unexpected inference output 'NOPE'");
  r = Request({0, 3, 2});
  expect(std::move(r), "batch size must be at least 1");
}

}  // namespace
}  // namespace nereid::core
