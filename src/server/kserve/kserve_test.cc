#include "server/kserve/kserve.h"

#include <gtest/gtest.h>

namespace nereid::server {
namespace {

TEST(Kserve, HttpAndGrpcCodesComeFromOneStatus) {
  EXPECT_EQ(HttpStatusFor(StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(GrpcCodeFor(StatusCode::kInvalidArgument), 3);
  EXPECT_EQ(HttpStatusFor(StatusCode::kNotFound), 404);
  EXPECT_EQ(GrpcCodeFor(StatusCode::kNotFound), 5);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnavailable), 503);
  EXPECT_EQ(GrpcCodeFor(StatusCode::kUnavailable), 14);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnimplemented), 501);
  EXPECT_EQ(GrpcCodeFor(StatusCode::kUnimplemented), 12);
  EXPECT_EQ(HttpStatusFor(StatusCode::kInternal), 500);
  EXPECT_EQ(GrpcCodeFor(StatusCode::kInternal), 13);
  EXPECT_EQ(GrpcCodeFor(StatusCode::kResourceExhausted), 8);
  EXPECT_EQ(GrpcCodeFor(static_cast<StatusCode>(99)), 2);  // UNKNOWN
}

TEST(Kserve, InputChecks) {
  EXPECT_EQ(*ParseInputDatatype("x", "FP32"), DataType::kFp32);
  auto bad = ParseInputDatatype("x", "float32");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "input 'x' has unknown datatype 'float32'");

  int64_t dims[] = {2, 3};
  EXPECT_EQ(*ParseInputShape("x", dims, 2), (Shape{2, 3}));
  int64_t negative[] = {2, -1};
  EXPECT_FALSE(ParseInputShape("x", negative, 2).ok());
  int64_t huge[] = {1 << 30, 1 << 30, 1 << 30};
  EXPECT_FALSE(ParseInputShape("x", huge, 3).ok());

  EXPECT_TRUE(CheckElementCount("x", 6, {2, 3}, "'data'").ok());
  Status s = CheckElementCount("x", 5, {2, 3}, "'data'");
  EXPECT_EQ(s.message(), "input 'x' has 5 elements in 'data' but shape [2,3] needs 6");
}

TEST(Kserve, BytesFramingIsLittleEndianLengthThenBytes) {
  std::string out;
  ASSERT_TRUE(AppendBytesElement("abc", &out).ok());
  ASSERT_TRUE(AppendBytesElement(std::string(300, 'z'), &out).ok());
  EXPECT_EQ(out.substr(0, 7), std::string("\x03\0\0\0abc", 7));
  EXPECT_EQ(out.substr(7, 4), std::string("\x2c\x01\0\0", 4));
  EXPECT_EQ(*CountSerializedBytesElements(out.data(), out.size()), 2);
}

TEST(Kserve, RequestedOutputsAndSelection) {
  core::RequestedOutput plain{"a", {}};
  EXPECT_TRUE(CheckRequestedOutput(plain).ok());
  core::RequestedOutput cls{"a", {{"classification", int64_t{3}}}};
  EXPECT_TRUE(CheckRequestedOutput(cls).ok());
  core::RequestedOutput bad{"a", {{"classification", std::string("3")}}};
  EXPECT_EQ(CheckRequestedOutput(bad).code(), StatusCode::kInvalidArgument);

  core::InferenceResponse r;
  for (const char* n : {"a", "b", "c"}) r.outputs.push_back({n, Tensor()});
  auto all = SelectResponseOutputs(r, {});
  ASSERT_EQ(all.size(), 3u);
  auto some = SelectResponseOutputs(r, {"c", "a"});
  ASSERT_EQ(some.size(), 2u);
  EXPECT_EQ(some[0]->name, "a");  // response order, not request order
  EXPECT_EQ(some[1]->name, "c");
}

}  // namespace
}  // namespace nereid::server
