#include "core/trace/trace_manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace nereid::core {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string TempFile(const std::string& name) { return ::testing::TempDir() + "/" + name; }

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int CountTraces(TraceManager& m, const std::string& model, int requests) {
  int traced = 0;
  for (int i = 0; i < requests; ++i) traced += m.Start(model) != nullptr;
  return traced;
}

TraceSettings On(const std::string& file, int64_t rate, int64_t count) {
  TraceSettings s;
  s.level = TraceLevel::kTimestamps;
  s.file = file;
  s.rate = rate;
  s.count = count;
  return s;
}

TEST(TraceManagerTest, OffByDefaultTracesNothing) {
  auto m = TraceManager::Create(TraceSettings{});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(CountTraces(**m, "a", 5000), 0);
}

TEST(TraceManagerTest, RateAndCount) {
  FakeClock clock;
  auto m = TraceManager::Create(On(TempFile("t_rate.json"), 3, -1), clock);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(CountTraces(**m, "a", 30), 10);  // every third request
  TraceSettingsUpdate u;
  u.count = {true, 4};
  u.rate = {true, 1};
  ASSERT_TRUE((*m)->Update("", u).ok());
  EXPECT_EQ(CountTraces(**m, "a", 30), 4);  // the count runs out
  EXPECT_EQ((*m)->Settings("").count, 0);
  // null resets to the start-up values.
  u = {};
  u.count = {true, std::nullopt};
  u.rate = {true, std::nullopt};
  ASSERT_TRUE((*m)->Update("", u).ok());
  EXPECT_EQ((*m)->Settings("").rate, 3);
  EXPECT_EQ((*m)->Settings("").count, -1);
}

TEST(TraceManagerTest, ModelSettingsOverrideAndReset) {
  auto m = TraceManager::Create(On(TempFile("t_model.json"), 1000, -1));
  ASSERT_TRUE(m.ok());
  TraceSettingsUpdate u;
  u.rate = {true, 1};
  u.count = {true, 2};
  ASSERT_TRUE((*m)->Update("b", u).ok());
  EXPECT_EQ(CountTraces(**m, "b", 10), 2);
  EXPECT_EQ((*m)->Settings("b").count, 0);
  EXPECT_EQ((*m)->Settings("").count, -1);
  EXPECT_EQ(CountTraces(**m, "a", 10), 0);  // global rate 1000
  u = {};
  u.level = {true, TraceLevel::kOff};
  ASSERT_TRUE((*m)->Update("", u).ok());
  EXPECT_EQ(CountTraces(**m, "a", 5000), 0);
  u = {};
  u.level = {true, TraceLevel::kTimestamps};
  u.count = {true, std::nullopt};
  ASSERT_TRUE((*m)->Update("b", u).ok());  // b alone is on, count from global
  EXPECT_EQ(CountTraces(**m, "b", 3), 3);
  EXPECT_EQ(CountTraces(**m, "a", 3000), 0);
}

TEST(TraceManagerTest, RejectsBadSettings) {
  EXPECT_THAT(TraceManager::Create(On("", 1, -1)).status().message(), HasSubstr("trace file"));
  EXPECT_FALSE(TraceManager::Create(On("x", 0, -1)).ok());
  EXPECT_FALSE(TraceManager::Create(On("x", 1, -2)).ok());
  auto m = TraceManager::Create(TraceSettings{});
  TraceSettingsUpdate u;
  u.file = {true, std::string("/etc/passwd")};
  EXPECT_THAT((*m)->Update("", u).message(), HasSubstr("cannot be changed"));
  u = {};
  u.level = {true, TraceLevel::kTimestamps};
  EXPECT_THAT((*m)->Update("", u).message(), HasSubstr("trace file"));
  EXPECT_THAT((*m)->Update("m", u).message(), HasSubstr("trace file"));
  EXPECT_EQ(CountTraces(**m, "m", 5000), 0);
}

TEST(TraceManagerTest, ParsesTritonTraceConfig) {
  TraceSettings s;
  ASSERT_TRUE(ParseTraceConfig("level=TIMESTAMPS", &s).ok());
  ASSERT_TRUE(ParseTraceConfig("rate=5", &s).ok());
  ASSERT_TRUE(ParseTraceConfig("count=7", &s).ok());
  ASSERT_TRUE(ParseTraceConfig("triton,file=/tmp/x.json", &s).ok());
  ASSERT_TRUE(ParseTraceConfig("triton,log-frequency=2", &s).ok());
  ASSERT_TRUE(ParseTraceConfig("mode=triton", &s).ok());
  EXPECT_EQ(s.level, TraceLevel::kTimestamps);
  EXPECT_EQ(s.rate, 5);
  EXPECT_EQ(s.count, 7);
  EXPECT_EQ(s.file, "/tmp/x.json");
  EXPECT_EQ(s.log_frequency, 2);
  EXPECT_FALSE(ParseTraceConfig("rate=abc", &s).ok());
  EXPECT_FALSE(ParseTraceConfig("level=MAX", &s).ok());
  EXPECT_EQ(ParseTraceConfig("level=TENSORS", &s).code(), StatusCode::kUnimplemented);
  EXPECT_EQ(ParseTraceConfig("opentelemetry,url=x", &s).code(), StatusCode::kUnimplemented);
  EXPECT_FALSE(ParseTraceConfig("bogus", &s).ok());
}

TEST(TraceManagerTest, WritesJsonTracesByLogFrequency) {
  FakeClock clock;
  std::string file = TempFile("t_write.json");
  TraceSettings s = On(file, 1, -1);
  s.log_frequency = 2;
  auto m = TraceManager::Create(s, clock);
  ASSERT_TRUE(m.ok());
  for (int i = 0; i < 3; ++i) {
    auto t = (*m)->Start("m\"x");
    ASSERT_TRUE(t);
    t->set_model_version(4);
    t->Record("REQUEST_START");
  }
  std::string first = ReadAll(file + ".0");
  EXPECT_THAT(first, HasSubstr("\"id\":1,\"model_name\":\"m\\\"x\",\"model_version\":4"));
  EXPECT_THAT(first, HasSubstr("{\"name\":\"REQUEST_START\",\"ns\":"));
  EXPECT_THAT(first, HasSubstr("\"id\":2"));
  EXPECT_EQ(ReadAll(file + ".1"), "");
  (*m)->Flush();  // the third, alone
  EXPECT_THAT(ReadAll(file + ".1"), HasSubstr("\"id\":3"));
  std::remove((file + ".0").c_str());
  std::remove((file + ".1").c_str());
}

TEST(TraceManagerTest, LogFrequencyZeroRewritesEverythingOnEachFlush) {
  std::string file = TempFile("t_flush.json");
  auto m = TraceManager::Create(On(file, 1, -1));
  ASSERT_TRUE(m.ok());
  std::shared_ptr<Trace> late;
  (*m)->Start("a");
  (*m)->Flush();
  EXPECT_THAT(ReadAll(file), HasSubstr("\"id\":1"));
  (*m)->Start("a");
  late = (*m)->Start("a");  // still alive when the manager goes
  (*m)->Flush();
  m->reset();
  EXPECT_THAT(ReadAll(file), Not(HasSubstr("\"id\":3")));
  late.reset();
  std::string all = ReadAll(file);
  EXPECT_THAT(all, HasSubstr("\"id\":1"));
  EXPECT_THAT(all, HasSubstr("\"id\":2"));
  EXPECT_THAT(all, HasSubstr("\"id\":3"));
  std::remove(file.c_str());
}

}  // namespace
}  // namespace nereid::core
