#include "common/status.h"

#include <gtest/gtest.h>

namespace nereid {
namespace {

StatusOr<int> Half(int x) {
  if (x % 2) return InvalidArgument("odd");
  return x / 2;
}

Status UseHalf(int x, int* out) {
  ASSIGN_OR_RETURN(*out, Half(x));
  RETURN_IF_ERROR(x > 100 ? ResourceExhausted("big") : Status::Ok());
  return Status::Ok();
}

TEST(StatusTest, OkIsCheap) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, CarriesCodeAndMessage) {
  Status s = NotFound("no model 'x'");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.WithPrefix("load").message(), "load: no model 'x'");
}

TEST(StatusTest, MacrosPropagate) {
  int v = 0;
  EXPECT_TRUE(UseHalf(8, &v).ok());
  EXPECT_EQ(v, 4);
  EXPECT_EQ(UseHalf(7, &v).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(UseHalf(200, &v).code(), StatusCode::kResourceExhausted);
}

TEST(StatusTest, StatusOrFromOkStatusIsAnError) {
  StatusOr<int> s{Status::Ok()};
  EXPECT_FALSE(s.ok());
}

}  // namespace
}  // namespace nereid
