#include "server/grpc/infer_codec.h"

#include <gtest/gtest.h>

#include <cstring>

namespace nereid::server::grpc {
namespace {

inference::ModelInferRequest TwoInputs() {
  inference::ModelInferRequest m;
  m.set_model_name("simple");
  m.set_model_version("3");
  m.set_id("r1");
  for (const char* name : {"A", "B"}) {
    auto* in = m.add_inputs();
    in->set_name(name);
    in->set_datatype("INT32");
    in->add_shape(1);
    in->add_shape(2);
  }
  return m;
}

TEST(GrpcInferCodec, RawInputsAreViewsIntoTheMessage) {
  auto m = TwoInputs();
  int32_t a[2] = {1, 2}, b[2] = {3, 4};
  m.add_raw_input_contents()->assign(reinterpret_cast<char*>(a), 8);
  m.add_raw_input_contents()->assign(reinterpret_cast<char*>(b), 8);
  core::InferenceRequest r;
  std::vector<std::string> requested;
  ASSERT_TRUE(DecodeInferRequest(m, &r, &requested).ok());
  EXPECT_EQ(r.model_name, "simple");
  EXPECT_EQ(r.model_version, 3);
  EXPECT_EQ(r.id, "r1");
  ASSERT_EQ(r.inputs.size(), 2u);
  EXPECT_EQ(r.inputs[1].tensor.data, m.raw_input_contents(1).data());
  EXPECT_EQ(r.inputs[1].tensor.shape, (Shape{1, 2}));
  r.CompleteWithError(Internal("unused"));
}

TEST(GrpcInferCodec, TypedContentsAndParameters) {
  auto m = TwoInputs();
  m.mutable_inputs(0)->mutable_contents()->add_int_contents(7);
  m.mutable_inputs(0)->mutable_contents()->add_int_contents(-8);
  m.mutable_inputs(1)->mutable_contents()->add_int_contents(9);
  m.mutable_inputs(1)->mutable_contents()->add_int_contents(10);
  (*m.mutable_parameters())["d"].set_double_param(0.5);
  (*m.mutable_parameters())["u"].set_uint64_param(1ull << 63);
  m.add_outputs()->set_name("OUTPUT1");
  core::InferenceRequest r;
  std::vector<std::string> requested;
  ASSERT_TRUE(DecodeInferRequest(m, &r, &requested).ok());
  int32_t got[2];
  std::memcpy(got, r.inputs[0].tensor.data, 8);
  EXPECT_EQ(got[0], 7);
  EXPECT_EQ(got[1], -8);
  EXPECT_EQ(std::get<double>(r.parameters.at("d")), 0.5);
  EXPECT_EQ(std::get<uint64_t>(r.parameters.at("u")), 1ull << 63);
  EXPECT_EQ(requested, std::vector<std::string>{"OUTPUT1"});
  r.CompleteWithError(Internal("unused"));
}

TEST(GrpcInferCodec, BadRequestsAreInvalidArgument) {
  struct Case {
    const char* what;
    std::function<void(inference::ModelInferRequest*)> mutate;
  };
  std::string eight(8, '\0');
  std::vector<Case> cases = {
      {"raw count", [&](auto* m) { m->add_raw_input_contents(eight); }},
      {"raw and typed",
       [&](auto* m) {
         m->add_raw_input_contents(eight);
         m->add_raw_input_contents(eight);
         m->mutable_inputs(0)->mutable_contents()->add_int_contents(1);
       }},
      {"typed count",
       [&](auto* m) { m->mutable_inputs(0)->mutable_contents()->add_int_contents(1); }},
      {"wrong field",
       [&](auto* m) {
         for (int i = 0; i < 2; ++i) {
           m->mutable_inputs(i)->mutable_contents()->add_fp32_contents(1);
           m->mutable_inputs(i)->mutable_contents()->add_fp32_contents(2);
         }
       }},
      {"datatype", [&](auto* m) { m->mutable_inputs(0)->set_datatype("FLOAT"); }},
      {"negative dim", [&](auto* m) { m->mutable_inputs(0)->set_shape(0, -1); }},
      {"version", [&](auto* m) { m->set_model_version("x1"); }},
      {"empty parameter", [&](auto* m) { (*m->mutable_parameters())["p"]; }},
  };
  for (const auto& c : cases) {
    auto m = TwoInputs();
    c.mutate(&m);
    core::InferenceRequest r;
    std::vector<std::string> requested;
    Status s = DecodeInferRequest(m, &r, &requested);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.what << ": " << s.message();
    r.CompleteWithError(Internal("unused"));
  }
}

TEST(GrpcInferCodec, Int8RangeAndBytes) {
  inference::ModelInferRequest m;
  auto* in = m.add_inputs();
  in->set_name("x");
  in->set_datatype("INT8");
  in->add_shape(1);
  in->mutable_contents()->add_int_contents(200);
  core::InferenceRequest r;
  std::vector<std::string> requested;
  EXPECT_EQ(DecodeInferRequest(m, &r, &requested).code(), StatusCode::kInvalidArgument);

  inference::ModelInferRequest b;
  in = b.add_inputs();
  in->set_name("s");
  in->set_datatype("BYTES");
  in->add_shape(2);
  in->mutable_contents()->add_bytes_contents("ab");
  in->mutable_contents()->add_bytes_contents("");
  core::InferenceRequest rb;
  ASSERT_TRUE(DecodeInferRequest(b, &rb, &requested).ok());
  ASSERT_EQ(rb.inputs[0].tensor.byte_size, 4u + 2u + 4u);
  EXPECT_EQ(std::string(rb.inputs[0].tensor.data, 10), std::string("\x02\0\0\0ab\0\0\0\0", 10));
  r.CompleteWithError(Internal("unused"));
  rb.CompleteWithError(Internal("unused"));
}

TEST(GrpcInferCodec, ResponseKeepsRequestedOutputsInResponseOrder) {
  core::InferenceResponse resp;
  resp.model_name = "m";
  resp.model_version = 2;
  resp.id = "x";
  float v[2] = {1.5f, 2.5f};
  for (const char* name : {"A", "B", "C"}) {
    resp.outputs.push_back(
        {name, Tensor::Wrap(DataType::kFp32, {2}, reinterpret_cast<char*>(v), 8, nullptr)});
  }
  inference::ModelInferResponse msg;
  ASSERT_TRUE(EncodeInferResponse(resp, {"C", "A"}, &msg).ok());
  EXPECT_EQ(msg.model_version(), "2");
  ASSERT_EQ(msg.outputs_size(), 2);
  EXPECT_EQ(msg.outputs(0).name(), "A");
  EXPECT_EQ(msg.outputs(1).name(), "C");
  EXPECT_EQ(msg.outputs(1).datatype(), "FP32");
  ASSERT_EQ(msg.raw_output_contents_size(), 2);
  EXPECT_EQ(msg.raw_output_contents(0), std::string(reinterpret_cast<char*>(v), 8));
}

}  // namespace
}  // namespace nereid::server::grpc
