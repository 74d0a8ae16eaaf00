// Unit tests of the pure parts of `nereid perf`: flag parsing, percentile and
// statistics arithmetic, input building and the JSON it reads and writes.
// (tests/e2e/test_perf.py runs the real tool against the real server.)
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <cstring>

#include "tools/perf/perf_inputs.h"
#include "tools/perf/perf_json.h"
#include "tools/perf/perf_stats.h"

namespace nereid::tools::perf {
namespace {

std::vector<int> Levels(const char* text) {
  auto r = ParseConcurrencyRange(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().ToString();
  return r.ok() ? *r : std::vector<int>{};
}

TEST(ConcurrencyRangeTest, StartEndStepIsAdditive) {
  EXPECT_EQ(Levels("4"), (std::vector<int>{4}));
  EXPECT_EQ(Levels("1:4"), (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(Levels("1:16:4"), (std::vector<int>{1, 5, 9, 13}));
  EXPECT_EQ(Levels("2:2:3"), (std::vector<int>{2}));
  EXPECT_EQ(Levels(" 8 "), (std::vector<int>{8}));
}

TEST(ConcurrencyRangeTest, CommaList) {
  EXPECT_EQ(Levels("1,4,16,32"), (std::vector<int>{1, 4, 16, 32}));
  EXPECT_EQ(Levels("16, 1"), (std::vector<int>{16, 1}));
}

TEST(ConcurrencyRangeTest, Errors) {
  for (const char* bad : {"", "0", "-1", "a", "1:", ":4", "4:1", "1:4:0", "1:2:3:4", "1,,2",
                          "1,2:3", "1.5", "5000", "1:4096:1"}) {
    auto r = ParseConcurrencyRange(bad);
    EXPECT_FALSE(r.ok()) << "'" << bad << "' was accepted";
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
      EXPECT_NE(r.status().message().find("--concurrency-range"), std::string::npos)
          << r.status().message();
    }
  }
}

TEST(HostPortTest, Forms) {
  auto a = ParseHostPort("localhost:8001", 8000);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "localhost");
  EXPECT_EQ(a->port, 8001);
  auto b = ParseHostPort("example.org", 8000);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->port, 8000);
  auto c = ParseHostPort("http://127.0.0.1:9000/", 8000);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->host, "127.0.0.1");
  EXPECT_EQ(c->port, 9000);
  auto d = ParseHostPort("[::1]:8001", 8000);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->host, "::1");
  EXPECT_EQ(d->ToString(), "[::1]:8001");
  auto e = ParseHostPort("[::1]", 8001);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->port, 8001);
  for (const char* bad :
       {"", ":80", "host:", "host:0", "host:70000", "host:x", "::1:80", "[::1", "[::1]x"}) {
    EXPECT_FALSE(ParseHostPort(bad, 8000).ok()) << "'" << bad << "' was accepted";
  }
}

TEST(PercentileTest, NearestRank) {
  std::vector<uint64_t> v;
  for (uint64_t i = 1; i <= 10; ++i) v.push_back(i * 10);
  EXPECT_EQ(Percentile(v, 50), 50u);
  EXPECT_EQ(Percentile(v, 90), 90u);  // not 100: 0.9 * 10 is rank 9 exactly
  EXPECT_EQ(Percentile(v, 91), 100u);
  EXPECT_EQ(Percentile(v, 99), 100u);
  EXPECT_EQ(Percentile(v, 100), 100u);
  EXPECT_EQ(Percentile(v, 0.1), 10u);
  EXPECT_EQ(Percentile({}, 50), 0u);
  EXPECT_EQ(Percentile({7}, 99), 7u);
  std::vector<uint64_t> hundred;
  for (uint64_t i = 1; i <= 100; ++i) hundred.push_back(i);
  EXPECT_EQ(Percentile(hundred, 95), 95u);
  EXPECT_EQ(Percentile(hundred, 99), 99u);
  EXPECT_EQ(Percentile(hundred, 99.5), 100u);
}

TEST(PercentileTest, SummarySortsAndConvertsToMicroseconds) {
  std::vector<uint64_t> ns = {5000, 1000, 3000, 2000, 4000};
  LatencySummary s = Summarize(&ns, 80);
  EXPECT_EQ(s.count, 5u);
  EXPECT_DOUBLE_EQ(s.avg_us, 3.0);
  EXPECT_DOUBLE_EQ(s.min_us, 1.0);
  EXPECT_DOUBLE_EQ(s.max_us, 5.0);
  EXPECT_DOUBLE_EQ(s.p50_us, 3.0);
  EXPECT_DOUBLE_EQ(s.p90_us, 5.0);
  EXPECT_DOUBLE_EQ(s.extra_us, 4.0);
  EXPECT_LE(s.p50_us, s.p90_us);
  EXPECT_LE(s.p90_us, s.p95_us);
  EXPECT_LE(s.p95_us, s.p99_us);
  std::vector<uint64_t> none;
  EXPECT_EQ(Summarize(&none, 99).count, 0u);
}

TEST(StatsDiffTest, PerRequestAverages) {
  ServerStats before, after;
  before.inference_count = 100;
  before.execution_count = 50;
  before.success = {50, 5'000'000};
  before.queue = {50, 1'000'000};
  after = before;
  after.inference_count += 40;  // 10 requests of batch 4, in 5 executions
  after.execution_count += 5;
  after.success = {60, 5'000'000 + 10 * 300'000};
  after.queue = {60, 1'000'000 + 10 * 20'000};
  after.compute_input = {10, 10 * 1'000};
  after.compute_infer = {10, 10 * 250'000};
  after.compute_output = {10, 10 * 2'000};
  after.fail = {2, 7};
  ServerStatsDelta d = DiffStats(before, after);
  ASSERT_TRUE(d.valid);
  EXPECT_EQ(d.success_count, 10u);
  EXPECT_EQ(d.fail_count, 2u);
  EXPECT_EQ(d.inference_count, 40u);
  EXPECT_EQ(d.execution_count, 5u);
  EXPECT_DOUBLE_EQ(d.request_us, 300.0);
  EXPECT_DOUBLE_EQ(d.queue_us, 20.0);
  EXPECT_DOUBLE_EQ(d.compute_input_us, 1.0);
  EXPECT_DOUBLE_EQ(d.compute_infer_us, 250.0);
  EXPECT_DOUBLE_EQ(d.compute_output_us, 2.0);
}

TEST(StatsDiffTest, NothingHappenedAndReset) {
  ServerStats s;
  s.success = {5, 500};
  ServerStatsDelta same = DiffStats(s, s);
  EXPECT_TRUE(same.valid);
  EXPECT_EQ(same.success_count, 0u);
  EXPECT_EQ(same.queue_us, 0.0);  // no division by zero
  ServerStats reloaded;           // counters restarted
  EXPECT_FALSE(DiffStats(s, reloaded).valid);
}

TEST(ShapeFlagTest, Parse) {
  auto a = ParseShapeFlag("INPUT0:1,16");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->first, "INPUT0");
  EXPECT_EQ(a->second, (std::vector<int64_t>{1, 16}));
  auto b = ParseShapeFlag("ns:input:3");  // the last ':' splits
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->first, "ns:input");
  EXPECT_EQ(b->second, (std::vector<int64_t>{3}));
  for (const char* bad : {"INPUT0", "INPUT0:", ":3", "X:1,,2", "X:-1", "X:a", "X:1,"}) {
    EXPECT_FALSE(ParseShapeFlag(bad).ok()) << "'" << bad << "' was accepted";
  }
  EXPECT_FALSE(ParseShapeFlags({"A:1", "A:2"}).ok());
  auto both = ParseShapeFlags({"A:1", "B:2,3"});
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->size(), 2u);
}

ModelInfo IdentityModel() {
  ModelInfo m;
  m.name = "identity_fp32";
  m.max_batch_size = 8;
  m.inputs = {{"INPUT0", "FP32", {-1, -1}}};
  return m;
}

TEST(BuildInputsTest, BatchAndShapeFlag) {
  auto inputs = BuildInputs(IdentityModel(), 4, {{"INPUT0", {16}}}, InputData::kZero);
  ASSERT_TRUE(inputs.ok()) << inputs.status().ToString();
  ASSERT_EQ(inputs->size(), 1u);
  EXPECT_EQ((*inputs)[0].shape, (std::vector<int64_t>{4, 16}));
  EXPECT_EQ((*inputs)[0].data, std::string(4 * 16 * 4, '\0'));
  // Random data is deterministic.
  auto r1 = BuildInputs(IdentityModel(), 1, {{"INPUT0", {3}}}, InputData::kRandom);
  auto r2 = BuildInputs(IdentityModel(), 1, {{"INPUT0", {3}}}, InputData::kRandom);
  ASSERT_TRUE(r1.ok() && r2.ok());
  EXPECT_EQ((*r1)[0].data, (*r2)[0].data);
  float f[3];
  std::memcpy(f, (*r1)[0].data.data(), sizeof(f));
  for (float x : f) EXPECT_TRUE(x >= 0 && x < 1) << x;
}

TEST(BuildInputsTest, ErrorsNameTheInput) {
  auto missing = BuildInputs(IdentityModel(), 1, {}, InputData::kZero);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("'INPUT0'"), std::string::npos);
  EXPECT_NE(missing.status().message().find("--shape INPUT0:"), std::string::npos);
  auto rank = BuildInputs(IdentityModel(), 1, {{"INPUT0", {1, 16}}}, InputData::kZero);
  ASSERT_FALSE(rank.ok());
  EXPECT_NE(rank.status().message().find("INPUT0"), std::string::npos);
  auto unknown =
      BuildInputs(IdentityModel(), 1, {{"INPUT0", {4}}, {"NOPE", {1}}}, InputData::kZero);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("'NOPE'"), std::string::npos);
  auto too_big = BuildInputs(IdentityModel(), 9, {{"INPUT0", {4}}}, InputData::kZero);
  ASSERT_FALSE(too_big.ok());
  EXPECT_NE(too_big.status().message().find("max_batch_size 8"), std::string::npos);
  auto huge = BuildInputs(IdentityModel(), 1, {{"INPUT0", {int64_t{1} << 40}}}, InputData::kZero);
  EXPECT_FALSE(huge.ok());
}

TEST(BuildInputsTest, FixedDimsNonBatchingAndBytes) {
  ModelInfo simple;
  simple.name = "simple";
  simple.max_batch_size = 8;
  simple.inputs = {{"INPUT0", "INT32", {-1, 16}}, {"INPUT1", "INT32", {-1, 16}}};
  auto s = BuildInputs(simple, 2, {}, InputData::kRandom);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)[1].shape, (std::vector<int64_t>{2, 16}));
  EXPECT_EQ((*s)[1].data.size(), 2u * 16 * 4);
  EXPECT_FALSE(BuildInputs(simple, 1, {{"INPUT0", {8}}}, InputData::kZero).ok());  // fixed 16

  ModelInfo flat;
  flat.name = "flat";
  flat.inputs = {{"X", "BYTES", {2, -1}}};
  auto f = BuildInputs(flat, 1, {{"X", {2, 3}}}, InputData::kZero);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)[0].shape, (std::vector<int64_t>{2, 3}));  // no batch dimension
  EXPECT_EQ((*f)[0].data.size(), 6u * 5);                  // 6 x (4-byte length + "0")
  EXPECT_EQ((*f)[0].data.substr(0, 5), std::string("\x01\x00\x00\x00"
                                                   "0",
                                                   5));
  auto no_batching = BuildInputs(flat, 2, {{"X", {2, 3}}}, InputData::kZero);
  ASSERT_FALSE(no_batching.ok());
  EXPECT_NE(no_batching.status().message().find("does not batch"), std::string::npos);
}

TEST(PerfJsonTest, ParsesServerAnswers) {
  auto meta = ParseModelMetadataJson(
      R"({"name":"simple","versions":["1"],"platform":"onnxruntime_onnx",)"
      R"("inputs":[{"name":"INPUT0","datatype":"INT32","shape":[-1,16]}],)"
      R"("outputs":[{"name":"OUTPUT0","datatype":"INT32","shape":[-1,16]}]})");
  ASSERT_TRUE(meta.ok()) << meta.status().ToString();
  EXPECT_EQ(meta->versions, (std::vector<std::string>{"1"}));
  ASSERT_EQ(meta->inputs.size(), 1u);
  EXPECT_EQ(meta->inputs[0].shape, (std::vector<int64_t>{-1, 16}));
  EXPECT_FALSE(ParseModelMetadataJson("not json").ok());

  EXPECT_EQ(*ParseMaxBatchSizeJson(R"({"name":"m","max_batch_size":8})"), 8);
  EXPECT_EQ(*ParseMaxBatchSizeJson(R"({"name":"m"})"), 0);

  auto stats = ParseStatisticsJson(
      R"({"model_stats":[{"name":"m","version":"1","inference_count":12,"execution_count":3,)"
      R"("inference_stats":{"success":{"count":3,"ns":900},"queue":{"count":3,"ns":30}}},)"
      R"({"name":"m","version":"2","inference_count":1,"execution_count":1,)"
      R"("inference_stats":{"success":{"count":1,"ns":100}}}]})");
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->inference_count, 13u);
  EXPECT_EQ(stats->execution_count, 4u);
  EXPECT_EQ(stats->success.count, 4u);
  EXPECT_EQ(stats->success.ns, 1000u);
  EXPECT_EQ(stats->queue.ns, 30u);
  EXPECT_FALSE(ParseStatisticsJson(R"({"error":"x"})").ok());

  EXPECT_EQ(ErrorMessageFromBody(R"({"error":"unknown model"})"), "unknown model");
  EXPECT_EQ(ErrorMessageFromBody("plain text\n"), "plain text");
}

TEST(PerfJsonTest, InferHeaderAndResults) {
  InputTensor in{"INPUT0", "FP32", {1, 4}, std::string(16, '\0')};
  rapidjson::Document header;
  header.Parse(InferHeaderJson({in}).c_str());
  ASSERT_FALSE(header.HasParseError());
  EXPECT_EQ(header["inputs"][0]["parameters"]["binary_data_size"].GetUint64(), 16u);
  EXPECT_EQ(header["inputs"][0]["shape"][1].GetInt64(), 4);
  EXPECT_TRUE(header["parameters"]["binary_data_output"].GetBool());

  LevelReport level;
  level.concurrency = 2;
  level.requests = 10;
  level.latency.p99_us = 12.5;
  level.server.valid = true;
  level.server.inference_count = 10;
  rapidjson::Document results;
  results.Parse(ResultsJson({"m", "", "grpc", "grpc://h:1", 1}, {level, level}).c_str());
  ASSERT_FALSE(results.HasParseError());
  ASSERT_TRUE(results.IsArray());
  EXPECT_EQ(results.Size(), 2u);
  EXPECT_EQ(results[0]["concurrency"].GetUint64(), 2u);
  EXPECT_EQ(std::string(results[0]["protocol"].GetString()), "grpc");
  EXPECT_DOUBLE_EQ(results[1]["latency_p99_us"].GetDouble(), 12.5);
  EXPECT_EQ(results[1]["server"]["inference_count"].GetUint64(), 10u);
}

}  // namespace
}  // namespace nereid::tools::perf
