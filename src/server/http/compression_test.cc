#include "server/http/compression.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace nereid::server::http {
namespace {

TEST(CompressionTest, RoundTrips) {
  std::string data(100000, 'x');
  for (size_t i = 0; i < data.size(); i += 7) data[i] = static_cast<char>('a' + i % 26);
  for (Encoding e : {Encoding::kGzip, Encoding::kDeflate}) {
    auto c = Compress(data, e);
    ASSERT_TRUE(c.ok());
    EXPECT_LT(c->size(), data.size());
    auto d = Decompress(*c, e, 1 << 20);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(*d, data);
  }
}

TEST(CompressionTest, BombIsRefused) {
  std::string zeros(50 << 20, '\0');  // 50 MB of zeros compresses to ~50 KB
  auto c = Compress(zeros, Encoding::kGzip);
  ASSERT_TRUE(c.ok());
  auto d = Decompress(*c, Encoding::kGzip, 1 << 20);
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(d.status().message(), ::testing::HasSubstr("exceeds the limit"));
}

TEST(CompressionTest, GarbageAndTruncationAreErrors) {
  EXPECT_FALSE(Decompress("not gzip at all", Encoding::kGzip, 1000).ok());
  auto c = Compress(std::string(1000, 'q'), Encoding::kGzip);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(Decompress(c->substr(0, c->size() / 2), Encoding::kGzip, 10000).ok());
}

TEST(CompressionTest, HeaderParsing) {
  EXPECT_EQ(*ParseContentEncoding("gzip"), Encoding::kGzip);
  EXPECT_EQ(*ParseContentEncoding(" Deflate "), Encoding::kDeflate);
  EXPECT_EQ(*ParseContentEncoding(""), Encoding::kIdentity);
  EXPECT_EQ(ParseContentEncoding("br").status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(PickAcceptEncoding("gzip, deflate"), Encoding::kGzip);
  EXPECT_EQ(PickAcceptEncoding("deflate"), Encoding::kDeflate);
  EXPECT_EQ(PickAcceptEncoding("gzip;q=0, deflate"), Encoding::kDeflate);
  EXPECT_EQ(PickAcceptEncoding("br"), Encoding::kIdentity);
}

}  // namespace
}  // namespace nereid::server::http
