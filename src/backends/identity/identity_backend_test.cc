#include "backends/identity/identity_backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <google/protobuf/text_format.h>

#include "proto/model_config.pb.h"

namespace nereid::backends {
namespace {

inference::ModelConfig Config(const std::string& extra = "") {
  inference::ModelConfig c;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"(name: "id" backend: "identity" max_batch_size: 2
         input [ { name: "A" data_type: TYPE_FP32 dims: [ -1 ] },
                 { name: "B" data_type: TYPE_STRING dims: [ 1 ] } ]
         output [ { name: "X" data_type: TYPE_FP32 dims: [ -1 ] },
                  { name: "Y" data_type: TYPE_STRING dims: [ 1 ] } ])" + extra,
      &c));
  return c;
}

TEST(IdentityBackendTest, EchoesWithoutCopy) {
  IdentityBackend backend;
  auto model = backend.Load(Config(), {});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto inst = (*model)->CreateInstance({});
  ASSERT_TRUE(inst.ok());
  auto body = std::make_shared<std::string>(std::string(8, 'a') + "\x01\0\0\0z");
  std::vector<std::unique_ptr<core::InferenceRequest>> reqs;
  reqs.push_back(std::make_unique<core::InferenceRequest>());
  auto& r = *reqs[0];
  r.buffer_owner = body;
  r.inputs.push_back({"B", {DataType::kBytes, {1, 1}, body->data() + 8, 5}, {}});
  r.inputs.push_back({"A", {DataType::kFp32, {1, 2}, body->data(), 8}, {}});
  std::unique_ptr<core::InferenceResponse> got;
  r.set_callback([&](std::unique_ptr<core::InferenceResponse> resp) { got = std::move(resp); });
  (*inst)->Execute(reqs);
  ASSERT_TRUE(got);
  ASSERT_EQ(got->outputs.size(), 2u);
  EXPECT_EQ(got->outputs[0].name, "X");
  EXPECT_EQ(got->outputs[0].tensor.data(), body->data());  // zero copy
  EXPECT_EQ(got->outputs[1].name, "Y");
  EXPECT_EQ(got->outputs[1].tensor.byte_size(), 5u);
}

TEST(IdentityBackendTest, BadConfigs) {
  IdentityBackend backend;
  auto c = Config();
  c.mutable_output()->RemoveLast();
  EXPECT_THAT(backend.Load(c, {}).status().message(), ::testing::HasSubstr("as many outputs"));
  c = Config(R"( parameters { key: "execute_delay_ms" value: { string_value: "soon" } })");
  EXPECT_THAT(backend.Load(c, {}).status().message(), ::testing::HasSubstr("execute_delay_ms"));
  c = Config();
  c.mutable_output(0)->set_data_type(inference::TYPE_INT8);
  EXPECT_FALSE(backend.Load(c, {}).ok());
}

}  // namespace
}  // namespace nereid::backends
