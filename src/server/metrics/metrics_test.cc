#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/metrics/metrics_config.h"
#include "server/metrics/prometheus_text.h"
#include "server/metrics/system_metrics.h"

namespace nereid::server::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(MetricsConfigTest, ParsesTritonSettings) {
  MetricsConfig c;
  EXPECT_TRUE(c.counter_latencies);
  EXPECT_FALSE(c.summary_latencies);
  ASSERT_TRUE(ApplyMetricsConfig("summary_latencies=true", &c).ok());
  ASSERT_TRUE(ApplyMetricsConfig("counter_latencies=false", &c).ok());
  ASSERT_TRUE(ApplyMetricsConfig("histogram_latencies=1", &c).ok());
  ASSERT_TRUE(ApplyMetricsConfig("summary_quantiles=0.5:0.05,0.99:0.001", &c).ok());
  EXPECT_TRUE(c.summary_latencies);
  EXPECT_FALSE(c.counter_latencies);
  EXPECT_TRUE(c.histogram_latencies);
  ASSERT_EQ(c.summary_quantiles.size(), 2u);
  EXPECT_DOUBLE_EQ(c.summary_quantiles[1].first, 0.99);
}

TEST(MetricsConfigTest, RejectsBadSettingsClearly) {
  MetricsConfig c;
  Status s = ApplyMetricsConfig("bogus_latencies=true", &c);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("unknown --metrics-config setting 'bogus_latencies'"));
  EXPECT_THAT(ApplyMetricsConfig("summary_latencies=yes please", &c).message(),
              HasSubstr("must be true or false"));
  EXPECT_FALSE(ApplyMetricsConfig("summary_latencies", &c).ok());
  EXPECT_FALSE(ApplyMetricsConfig("=true", &c).ok());
  EXPECT_FALSE(ApplyMetricsConfig("summary_quantiles=0.5", &c).ok());
  EXPECT_FALSE(ApplyMetricsConfig("summary_quantiles=1.5:0.1", &c).ok());
  EXPECT_FALSE(ApplyMetricsConfig("summary_quantiles=0.5:x", &c).ok());
  EXPECT_FALSE(ApplyMetricsConfig("summary_quantiles=", &c).ok());
  EXPECT_FALSE(ApplyMetricsConfig("summary_quantiles=0.5:0.1,", &c).ok());
}

TEST(SystemMetricsTest, ParsesProcFiles) {
  auto cpu = ParseProcStat("cpu  100 5 50 800 20 3 2 0 0 0\ncpu0 1 2 3 4\n");
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  EXPECT_EQ(cpu->total, 980u);
  EXPECT_EQ(cpu->idle, 820u);
  EXPECT_DOUBLE_EQ(CpuUtilization({1000, 800}, {2000, 1550}), 0.25);
  EXPECT_DOUBLE_EQ(CpuUtilization({1000, 800}, {1000, 800}), 0.0);
  EXPECT_FALSE(ParseProcStat("intr 1 2 3\n").ok());
  EXPECT_FALSE(ParseProcStat("cpu 1 2\n").ok());
  EXPECT_FALSE(ParseProcStat("").ok());

  auto mem = ParseMemInfo("MemTotal:  1000 kB\nMemFree: 10 kB\nMemAvailable:  250 kB\n");
  ASSERT_TRUE(mem.ok());
  EXPECT_EQ(mem->first, 1000u * 1024);
  EXPECT_EQ(mem->second, 750u * 1024);
  EXPECT_FALSE(ParseMemInfo("MemTotal: 1000 kB\n").ok());
  EXPECT_FALSE(ParseMemInfo("MemTotal: 1 kB\nMemAvailable: 2 kB\n").ok());
}

TEST(SystemMetricsTest, PollerReadsThisMachine) {
  SystemMetricsPoller poller(std::chrono::milliseconds(10000));
  SystemSample s = poller.Latest();
  ASSERT_TRUE(s.cpu_utilization.has_value());
  EXPECT_GE(*s.cpu_utilization, 0.0);
  ASSERT_TRUE(s.memory_total_bytes.has_value());
  EXPECT_GT(*s.memory_total_bytes, 0u);
  EXPECT_LE(*s.memory_used_bytes, *s.memory_total_bytes);
}

core::ModelStatsSnapshot Model() {
  core::ModelStatsSnapshot m;
  m.name = "m\"x";
  m.version = 2;
  m.success = {3, 9000};
  m.fail = {1, 500};
  m.queue = {3, 3000};
  m.compute_input = {3, 1500};
  m.compute_infer = {3, 2999};
  m.compute_output = {3, 30};
  m.inference_count = 12;
  m.execution_count = 3;
  m.pending_requests = 4;
  m.load_duration_ns = 1500000000;
  m.failures_by_reason[static_cast<int>(core::FailureReason::kBackend)] = 1;
  for (uint64_t q : {1000u, 1000u, 1000u}) m.recent.push_back({3000, q, 500, 1000, 10});
  return m;
}

TEST(PrometheusTextTest, TritonNamesLabelsAndValues) {
  SystemSample sys;
  sys.cpu_utilization = 0.25;
  sys.memory_total_bytes = 1000;
  sys.memory_used_bytes = 400;
  std::string t = RenderPrometheusText({Model()}, &sys, MetricsConfig());
  const std::string labels = R"({model="m\"x",version="2"})";
  EXPECT_THAT(t, HasSubstr("# TYPE nv_inference_request_success counter\n"));
  EXPECT_THAT(t, HasSubstr("nv_inference_request_success" + labels + " 3\n"));
  EXPECT_THAT(
      t, HasSubstr(R"(nv_inference_request_failure{model="m\"x",version="2",reason="BACKEND"} 1)"));
  EXPECT_THAT(
      t,
      HasSubstr(R"(nv_inference_request_failure{model="m\"x",version="2",reason="REJECTED"} 0)"));
  EXPECT_THAT(t, HasSubstr("nv_inference_count" + labels + " 12\n"));
  EXPECT_THAT(t, HasSubstr("nv_inference_exec_count" + labels + " 3\n"));
  EXPECT_THAT(t, HasSubstr("# TYPE nv_inference_pending_request_count gauge\n"));
  EXPECT_THAT(t, HasSubstr("nv_inference_pending_request_count" + labels + " 4\n"));
  EXPECT_THAT(t, HasSubstr("# TYPE nv_model_load_duration_secs gauge\n"));
  EXPECT_THAT(t, HasSubstr("nv_model_load_duration_secs" + labels + " 1.5\n"));
  EXPECT_THAT(t, HasSubstr("nv_inference_request_duration_us" + labels + " 9\n"));
  EXPECT_THAT(t, HasSubstr("nv_inference_queue_duration_us" + labels + " 3\n"));
  EXPECT_THAT(t, HasSubstr("nv_inference_compute_input_duration_us" + labels + " 1\n"));
  EXPECT_THAT(t, HasSubstr("nv_inference_compute_infer_duration_us" + labels + " 2\n"));
  EXPECT_THAT(t, HasSubstr("nv_inference_compute_output_duration_us" + labels + " 0\n"));
  EXPECT_THAT(t, HasSubstr("nv_cpu_utilization 0.25\n"));
  EXPECT_THAT(t, HasSubstr("nv_cpu_memory_total_bytes 1000\n"));
  EXPECT_THAT(t, HasSubstr("nv_cpu_memory_used_bytes 400\n"));
  EXPECT_THAT(t, Not(HasSubstr("summary")));
}

TEST(PrometheusTextTest, SummariesAndDisabledCounters) {
  MetricsConfig c;
  ASSERT_TRUE(ApplyMetricsConfig("counter_latencies=false", &c).ok());
  ASSERT_TRUE(ApplyMetricsConfig("summary_latencies=true", &c).ok());
  ASSERT_TRUE(ApplyMetricsConfig("summary_quantiles=0.5:0.05,0.9:0.01", &c).ok());
  core::ModelStatsSnapshot empty;
  empty.name = "e";
  empty.version = 1;
  std::string t = RenderPrometheusText({Model(), empty}, nullptr, c);
  const std::string labels = R"(model="m\"x",version="2")";
  EXPECT_THAT(t, Not(HasSubstr("nv_inference_request_duration_us")));
  EXPECT_THAT(t, HasSubstr("# TYPE nv_inference_queue_summary_us summary\n"));
  EXPECT_THAT(t, HasSubstr("nv_inference_queue_summary_us_count{" + labels + "} 3\n"));
  EXPECT_THAT(t, HasSubstr("nv_inference_queue_summary_us_sum{" + labels + "} 3\n"));
  EXPECT_THAT(t, HasSubstr("nv_inference_queue_summary_us{" + labels + ",quantile=\"0.5\"} 1\n"));
  EXPECT_THAT(t, HasSubstr("nv_inference_request_summary_us{" + labels + ",quantile=\"0.9\"} 3\n"));
  EXPECT_THAT(
      t, HasSubstr(R"(nv_inference_queue_summary_us{model="e",version="1",quantile="0.5"} NaN)"));
  EXPECT_THAT(t, Not(HasSubstr("nv_cpu_")));  // no system sample given
}

TEST(PrometheusTextTest, ResponseCacheMetrics) {
  core::ModelStatsSnapshot cached;
  cached.name = "c";
  cached.version = 1;
  cached.cache_enabled = true;
  cached.cache_hit = {3, 6000};
  cached.cache_miss = {2, 9000};
  cached.recent_cache_hit_ns = {1000, 2000, 3000};
  cached.recent_cache_miss_ns = {4000, 5000};
  core::ModelStatsSnapshot plain;
  plain.name = "p";
  plain.version = 1;
  core::ResponseCacheStats cache;
  cache.capacity_bytes = 1000;
  cache.used_bytes = 250;
  cache.entries = 2;
  cache.lookups = 5;
  cache.hits = 3;
  cache.misses = 2;
  cache.evictions = 1;
  cache.lookup_ns = 7000;
  cache.insert_ns = 8000;

  std::string t = RenderPrometheusText({cached, plain}, nullptr, MetricsConfig(), &cache);
  const std::string labels = R"({model="c",version="1"})";
  EXPECT_THAT(t, HasSubstr("# TYPE nv_cache_num_hits_per_model counter\n"));
  EXPECT_THAT(t, HasSubstr("nv_cache_num_hits_per_model" + labels + " 3\n"));
  EXPECT_THAT(t, HasSubstr("nv_cache_num_misses_per_model" + labels + " 2\n"));
  EXPECT_THAT(t, HasSubstr("nv_cache_hit_duration_per_model" + labels + " 6\n"));
  EXPECT_THAT(t, HasSubstr("nv_cache_miss_duration_per_model" + labels + " 9\n"));
  EXPECT_THAT(t, Not(HasSubstr(R"(_per_model{model="p")")));  // its cache is off
  EXPECT_THAT(t, HasSubstr("# TYPE nv_cache_util gauge\nnv_cache_util 0.25\n"));
  EXPECT_THAT(t, HasSubstr("nv_cache_num_entries 2\n"));
  EXPECT_THAT(t, HasSubstr("nv_cache_num_lookups 5\n"));
  EXPECT_THAT(t, HasSubstr("nv_cache_num_hits 3\n"));
  EXPECT_THAT(t, HasSubstr("nv_cache_num_misses 2\n"));
  EXPECT_THAT(t, HasSubstr("nv_cache_num_evictions 1\n"));
  EXPECT_THAT(t, HasSubstr("nv_cache_lookup_duration 7\n"));
  EXPECT_THAT(t, HasSubstr("nv_cache_insertion_duration 8\n"));
  EXPECT_THAT(t, Not(HasSubstr("summary")));

  MetricsConfig c;
  ASSERT_TRUE(ApplyMetricsConfig("counter_latencies=false", &c).ok());
  ASSERT_TRUE(ApplyMetricsConfig("summary_latencies=true", &c).ok());
  ASSERT_TRUE(ApplyMetricsConfig("summary_quantiles=0.5:0.05", &c).ok());
  t = RenderPrometheusText({cached, plain}, nullptr, c, nullptr);
  EXPECT_THAT(t, Not(HasSubstr("nv_cache_num_hits_per_model")));  // as Triton: a latency counter
  EXPECT_THAT(t, HasSubstr("# TYPE nv_cache_hit_summary_per_model summary\n"));
  EXPECT_THAT(t, HasSubstr(R"(nv_cache_hit_summary_per_model_count{model="c",version="1"} 3)"));
  EXPECT_THAT(t, HasSubstr(R"(nv_cache_hit_summary_per_model_sum{model="c",version="1"} 6)"));
  EXPECT_THAT(t, HasSubstr(
                     R"(nv_cache_hit_summary_per_model{model="c",version="1",quantile="0.5"} 2)"));
  EXPECT_THAT(t, HasSubstr(
                     R"(nv_cache_miss_summary_per_model{model="c",version="1",quantile="0.5"} 5)"));
  EXPECT_THAT(t, Not(HasSubstr("nv_cache_util")));  // no cache given
}

TEST(PrometheusTextTest, EscapesLabelValues) {
  EXPECT_EQ(EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
}

}  // namespace
}  // namespace nereid::server::metrics
