#include "server/http/infer_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <google/protobuf/text_format.h>

#include <cstring>

#include "proto/model_config.pb.h"

namespace nereid::server::http {
namespace {

using ::testing::HasSubstr;

struct Parsed {
  Status status;
  std::unique_ptr<core::InferenceRequest> request = std::make_unique<core::InferenceRequest>();
  OutputEncoding encoding;
};

Parsed Parse(const std::string& body, std::optional<std::string> header = std::nullopt,
             const inference::ModelConfig* config = nullptr) {
  Parsed p;
  p.status = ParseInferRequest(std::make_shared<const std::string>(body), header, config,
                               p.request.get(), &p.encoding);
  return p;
}

TEST(InferCodecTest, JsonTensors) {
  auto p = Parse(R"({"id":"r1","parameters":{"binary_data_output":true,"x":1.5},
    "inputs":[{"name":"A","shape":[2,2],"datatype":"INT32","data":[[1,2],[3,-4]]},
              {"name":"B","shape":[2],"datatype":"BYTES","data":["ab",""]},
              {"name":"C","shape":[1],"datatype":"BOOL","data":[true]},
              {"name":"D","shape":[2],"datatype":"FP32","data":[0.5,1e3]}],
    "outputs":[{"name":"O","parameters":{"binary_data":false}}]})");
  ASSERT_TRUE(p.status.ok()) << p.status.ToString();
  auto& r = *p.request;
  EXPECT_EQ(r.id, "r1");
  ASSERT_EQ(r.inputs.size(), 4u);
  const int32_t* a = reinterpret_cast<const int32_t*>(r.inputs[0].tensor.data);
  EXPECT_EQ(a[3], -4);
  EXPECT_EQ(r.inputs[1].tensor.byte_size, 4u + 2 + 4);
  EXPECT_EQ(r.inputs[2].tensor.data[0], 1);
  EXPECT_EQ(reinterpret_cast<const float*>(r.inputs[3].tensor.data)[1], 1000.0f);
  EXPECT_TRUE(p.encoding.binary_default);
  ASSERT_EQ(p.encoding.binary_by_output.size(), 1u);
  EXPECT_FALSE(p.encoding.binary_by_output[0].second);
  EXPECT_EQ(std::get<double>(r.parameters["x"]), 1.5);
}

TEST(InferCodecTest, BinaryTensorsAreViewsIntoTheBody) {
  std::string json = R"({"inputs":[{"name":"A","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}},
      {"name":"B","shape":[1],"datatype":"FP16","parameters":{"binary_data_size":2}}]})";
  float v[2] = {1.25f, -2.0f};
  std::string body = json + std::string(reinterpret_cast<char*>(v), 8) + "\x01\x02";
  auto holder = std::make_shared<const std::string>(body);
  core::InferenceRequest r;
  OutputEncoding enc;
  ASSERT_TRUE(ParseInferRequest(holder, std::to_string(json.size()), nullptr, &r, &enc).ok());
  EXPECT_EQ(r.inputs[0].tensor.data, holder->data() + json.size());
  float first;
  std::memcpy(&first, r.inputs[0].tensor.data, 4);  // binary data need not be aligned
  EXPECT_EQ(first, 1.25f);
  EXPECT_EQ(r.inputs[1].tensor.byte_size, 2u);
  EXPECT_EQ(r.buffer_owner.get(), holder.get());
}

TEST(InferCodecTest, BadBodies) {
  auto expect = [](const Parsed& p, const std::string& needle) {
    EXPECT_EQ(p.status.code(), StatusCode::kInvalidArgument) << needle;
    EXPECT_THAT(p.status.message(), HasSubstr(needle));
  };
  expect(Parse("{not json"), "malformed JSON");
  expect(Parse("[1,2]"), "must be a JSON object");
  expect(Parse("{\"id\":\"\xff\xfe\",\"inputs\":[]}"), "malformed JSON");  // invalid UTF-8
  expect(Parse(R"({"inputs":[{"name":"A","shape":[1],"datatype":"FP32","data":)" +
               std::string(40, '[') + "1" + std::string(40, ']') + "}]}"),
         "nested too deeply");
  expect(Parse(R"({"inputs":[{"name":"A","shape":[1.5],"datatype":"FP32","data":[1]}]})"),
         "non-negative integers");
  expect(Parse(R"({"inputs":{}})"), "'inputs' array");
  expect(Parse(R"({"inputs":[{"name":"A","shape":[2],"datatype":"FLOAT","data":[1,2]}]})"),
         "unknown datatype 'FLOAT'");
  expect(Parse(R"({"inputs":[{"name":"A","shape":[3],"datatype":"FP32","data":[1,2]}]})"),
         "has 2 elements in 'data' but shape [3] needs 3");
  expect(Parse(R"({"inputs":[{"name":"A","shape":[1],"datatype":"INT8","data":[300]}]})"),
         "out of range for INT8");
  expect(Parse(R"({"inputs":[{"name":"A","shape":[1],"datatype":"INT32","data":["x"]}]})"),
         "expects integer elements");
  expect(Parse(R"({"inputs":[{"name":"A","shape":[1],"datatype":"FP16","data":[1.0]}]})"),
         "binary tensor data extension");
  expect(Parse(R"({"inputs":[{"name":"A","shape":[-1],"datatype":"FP32","data":[]}]})"),
         "non-negative");
  expect(Parse(R"({"inputs":[{"name":"A","shape":[1],"datatype":"FP32"}]})"),
         "neither 'data' nor");
  std::string json = R"({"inputs":[{"name":"A","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}}]})";
  expect(Parse(json + "1234", std::to_string(json.size())), "only 4 remain");
  expect(Parse(json + "123456789", std::to_string(json.size())), "no input claims");
  expect(Parse(json, "-5"), "non-negative integer");
  expect(Parse(json, "abc"), "non-negative integer");
  expect(Parse(json, "999999"), "larger than the request body");
  // Classification is carried as an output parameter for core to apply.
  auto p = Parse(R"({"inputs":[],"outputs":[{"name":"O","parameters":{"classification":2}}]})");
  ASSERT_TRUE(p.status.ok()) << p.status.ToString();
  EXPECT_EQ(std::get<int64_t>(p.request->requested_outputs[0].parameters.at("classification")), 2);
}

TEST(InferCodecTest, RawBinaryRequest) {
  inference::ModelConfig config;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"(name: "m" max_batch_size: 8 input [{name: "IN" data_type: TYPE_FP32 dims: [-1]}])",
      &config));
  std::string body(12, '\0');
  auto p = Parse(body, "0", &config);
  ASSERT_TRUE(p.status.ok()) << p.status.ToString();
  EXPECT_EQ(p.request->inputs[0].tensor.shape, (Shape{1, 3}));
  EXPECT_TRUE(p.encoding.binary_default);
  config.add_input()->set_name("second");
  EXPECT_THAT(Parse(body, "0", &config).status.message(), HasSubstr("exactly one input"));
}

TEST(InferCodecTest, EncodesJsonAndBinaryOutputs) {
  core::InferenceResponse resp;
  resp.model_name = "m";
  resp.model_version = 2;
  resp.id = "abc";
  float f[3] = {0.1f, 2.0f, -1.5f};
  resp.outputs.push_back({"F", Tensor::CopyOf({DataType::kFp32, {3}, reinterpret_cast<char*>(f), 12})});
  int64_t i[2] = {7, -8};
  resp.outputs.push_back({"I", Tensor::CopyOf({DataType::kInt64, {1, 2}, reinterpret_cast<char*>(i), 16})});
  OutputEncoding enc;
  auto e = EncodeInferResponse(resp, enc);
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->has_binary);
  EXPECT_EQ(e->body,
            R"({"model_name":"m","model_version":"2","id":"abc","outputs":[)"
            R"({"name":"F","datatype":"FP32","shape":[3],"data":[0.1,2,-1.5]},)"
            R"({"name":"I","datatype":"INT64","shape":[1,2],"data":[7,-8]}]})");
  enc.binary_by_output = {{"I", true}};
  e = EncodeInferResponse(resp, enc);
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->has_binary);
  EXPECT_EQ(e->body.size(), e->json_size + 16);
  EXPECT_THAT(e->body.substr(0, e->json_size), HasSubstr(R"("parameters":{"binary_data_size":16})"));
  EXPECT_THAT(e->body.substr(0, e->json_size), ::testing::Not(HasSubstr("\"F\"")));
  EXPECT_EQ(std::memcmp(e->body.data() + e->json_size, i, 16), 0);
}

TEST(InferCodecTest, ErrorJsonEscapes) {
  EXPECT_EQ(ErrorJson("bad \"x\"\n"), R"({"error":"bad \"x\"\n"})");
}

}  // namespace
}  // namespace nereid::server::http
