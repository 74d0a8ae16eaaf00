#include "backends/python/wire.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <cstring>

#include "backends/builtin_backends.h"
#include "backends/python/python_backend.h"

namespace nereid::backends::python {
namespace {

std::unique_ptr<core::InferenceRequest> FloatRequest(const std::vector<float>& values) {
  auto owner = std::make_shared<std::vector<float>>(values);
  auto r = std::make_unique<core::InferenceRequest>();
  r->model_name = "m";
  r->id = "req-1";
  r->sequence_id = 7;
  r->sequence_start = true;
  r->parameters["k"] = int64_t{3};
  r->inputs.push_back({"IN",
                       TensorView{DataType::kFp32, {static_cast<int64_t>(values.size())},
                                  reinterpret_cast<const char*>(owner->data()),
                                  owner->size() * sizeof(float)},
                       {}});
  r->buffer_owner = owner;
  return r;
}

rapidjson::Document Parse(const std::string& json) {
  rapidjson::Document d;
  d.Parse(json.c_str());
  return d;
}

TEST(PythonWire, EncodeExecuteAsksForRoomThenLaysOutInputs) {
  std::vector<std::unique_ptr<core::InferenceRequest>> requests;
  requests.push_back(FloatRequest({1, 2, 3}));
  requests.push_back(FloatRequest({4}));
  size_t needed = 0;
  char small[16];
  EXPECT_EQ(EncodeExecute(requests, {10, 11}, small, sizeof(small), &needed), "");
  EXPECT_EQ(needed, 128u);  // 12 bytes, then 4 at offset 64, rounded up
  std::vector<char> region(needed);
  std::string json = EncodeExecute(requests, {10, 11}, region.data(), region.size(), &needed);
  auto doc = Parse(json);
  ASSERT_TRUE(doc.IsObject());
  EXPECT_EQ(doc["out_base"].GetUint64(), 128u);
  const auto& r0 = doc["requests"][0];
  EXPECT_EQ(r0["key"].GetUint64(), 10u);
  EXPECT_EQ(r0["corrid"].GetUint64(), 7u);
  EXPECT_EQ(r0["flags"].GetUint(), 1u);
  EXPECT_EQ(r0["parameters"]["k"].GetInt64(), 3);
  EXPECT_EQ(doc["requests"][1]["inputs"][0]["offset"].GetUint64(), 64u);
  float second;
  std::memcpy(&second, region.data() + 64, sizeof(second));
  EXPECT_EQ(second, 4.0f);
}

TEST(PythonWire, DecodeResponseChecksEveryOffsetAndType) {
  std::vector<char> region(256, 0);
  float v = 2.5f;
  std::memcpy(region.data() + 64, &v, sizeof(v));
  OutputSpecs specs{{"OUT", {DataType::kFp32}}};
  ResponseSources src{{region.data(), region.size()}, nullptr};
  auto ok = Parse(R"({"outputs":[{"name":"OUT","datatype":"FP32","shape":[1],"loc":"shm",
                      "offset":64,"size":4}],"parameters":{"p":true}})");
  auto response = DecodeResponse(ok, src, &specs, {});
  ASSERT_TRUE(response.ok()) << response.status().message();
  EXPECT_EQ((*response)->outputs[0].tensor.data_as<float>()[0], 2.5f);
  EXPECT_TRUE(std::get<bool>((*response)->parameters["p"]));

  auto outside = Parse(R"({"outputs":[{"name":"OUT","datatype":"FP32","shape":[1],"loc":"shm",
                           "offset":254,"size":4}]})");
  EXPECT_NE(DecodeResponse(outside, src, &specs, {}).status().message().find("outside"),
            std::string::npos);
  auto short_data = Parse(R"({"outputs":[{"name":"OUT","datatype":"FP32","shape":[2],
                              "loc":"shm","offset":0,"size":4}]})");
  EXPECT_FALSE(DecodeResponse(short_data, src, &specs, {}).ok());
  auto wrong_type = Parse(R"({"outputs":[{"name":"OUT","datatype":"INT32","shape":[1],
                              "loc":"shm","offset":0,"size":4}]})");
  EXPECT_NE(DecodeResponse(wrong_type, src, &specs, {}).status().message().find(
                "is INT32 but the config declares TYPE_FP32"),
            std::string::npos);
  auto unknown = Parse(R"({"outputs":[{"name":"X","datatype":"FP32","shape":[1],
                           "loc":"shm","offset":0,"size":4}]})");
  EXPECT_FALSE(DecodeResponse(unknown, src, &specs, {}).ok());
  // Payload tensors need a payload.
  auto in_msg = Parse(R"({"outputs":[{"name":"OUT","datatype":"FP32","shape":[1],"loc":"msg",
                          "offset":0,"size":4}]})");
  EXPECT_FALSE(DecodeResponse(in_msg, src, &specs, {}).ok());
  // A requested output that is missing is an error; others are dropped.
  EXPECT_FALSE(DecodeResponse(ok, src, &specs, {{"OTHER", {}}}).ok());
  auto err = Parse(R"({"error":{"message":"nope","code":3}})");
  auto failed = DecodeResponse(err, src, &specs, {});
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ((*failed)->status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*failed)->status.message(), "nope");
}

TEST(PythonWire, BytesOutputsMustHoldTheirElements) {
  auto payload = std::make_shared<std::string>(std::string("\x02\0\0\0hi", 6));
  ResponseSources src{{}, payload};
  auto two = Parse(R"({"outputs":[{"name":"S","datatype":"BYTES","shape":[2],"loc":"msg",
                       "offset":0,"size":6}]})");
  EXPECT_FALSE(DecodeResponse(two, src, nullptr, {}).ok());
  auto one = Parse(R"({"outputs":[{"name":"S","datatype":"BYTES","shape":[1],"loc":"msg",
                       "offset":0,"size":6}]})");
  EXPECT_TRUE(DecodeResponse(one, src, nullptr, {}).ok());
}

TEST(PythonWire, BlsRequestRoundTrip) {
  auto payload = std::make_shared<std::string>(std::string(64, '\0') + std::string(8, '\1'));
  uint64_t id = 0;
  auto request = DecodeBlsRequest(
      R"({"op":"bls","id":5,"model":"simple","version":2,"request_id":"r","corrid":"abc",
          "flags":3,"timeout":100,"parameters":{"x":1.5},"decoupled":true,
          "inputs":[{"name":"A","datatype":"INT32","shape":[2],"loc":"msg","offset":64,
                     "size":8}],"outputs":["B"]})",
      payload, &id);
  ASSERT_TRUE(request.ok()) << request.status().message();
  EXPECT_EQ(id, 5u);
  EXPECT_EQ((*request)->model_name, "simple");
  EXPECT_EQ((*request)->model_version, 2);
  EXPECT_EQ((*request)->sequence_id_string, "abc");
  EXPECT_TRUE((*request)->sequence_start && (*request)->sequence_end);
  EXPECT_EQ((*request)->timeout_us, 100u);
  EXPECT_TRUE((*request)->accepts_many_responses);
  EXPECT_EQ((*request)->inputs[0].tensor.data, payload->data() + 64);
  EXPECT_EQ((*request)->requested_outputs[0].name, "B");

  id = 0;
  auto bad = DecodeBlsRequest(R"({"id":9,"model":"m","inputs":[{"name":"A","datatype":"INT32",
                                  "shape":[4],"loc":"msg","offset":64,"size":16}]})",
                              payload, &id);
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(id, 9u);

  core::InferenceResponse response;
  response.outputs.push_back({"B", Tensor::CopyOf(TensorView{DataType::kInt32, {1}, "\7\0\0\0", 4})});
  EncodedFrame f = EncodeBlsResponse(5, &response, true);
  auto doc = Parse(f.json);
  EXPECT_EQ(doc["id"].GetUint64(), 5u);
  EXPECT_TRUE(doc["final"].GetBool());
  EXPECT_EQ(doc["response"]["outputs"][0]["size"].GetUint64(), 4u);
  ASSERT_EQ(f.pieces.size(), 1u);
  EXPECT_EQ(f.pieces[0].second, 4u);
  EXPECT_TRUE(Parse(EncodeBlsResponse(5, nullptr, true).json)["response"].IsNull());
}

TEST(PythonBackendConfig, SettingsAreCheckedByName) {
  BackendSettings settings;
  EXPECT_TRUE(ParseBackendConfig("python,interpreter=/x/python3", &settings).ok());
  EXPECT_EQ(settings["python"]["interpreter"], "/x/python3");
  EXPECT_FALSE(ParseBackendConfig("python", &settings).ok());
  EXPECT_FALSE(ParseBackendConfig(",a=b", &settings).ok());
  PythonBackendOptions o;
  EXPECT_TRUE(ApplyPythonBackendConfig({{"execute-timeout-seconds", "2.5"}}, &o).ok());
  EXPECT_EQ(o.execute_timeout.count(), 2500);
  EXPECT_FALSE(ApplyPythonBackendConfig({{"execute-timeout-seconds", "-1"}}, &o).ok());
  EXPECT_FALSE(ApplyPythonBackendConfig({{"colour", "blue"}}, &o).ok());
  core::BackendRegistry registry;
  BuiltinBackendOptions bad;
  bad.settings["tensorflow"]["a"] = "b";
  EXPECT_FALSE(RegisterBuiltinBackends(&registry, bad).ok());
}

}  // namespace
}  // namespace nereid::backends::python
