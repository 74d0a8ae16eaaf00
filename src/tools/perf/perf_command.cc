#include "tools/perf/perf_command.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>

#include "common/data_type.h"
#include "tools/perf/grpc_client.h"
#include "tools/perf/http_client.h"
#include "tools/perf/perf_client.h"
#include "tools/perf/perf_inputs.h"
#include "tools/perf/perf_json.h"
#include "tools/perf/perf_stats.h"

namespace nereid::tools::perf {
namespace {

int Fail(const Status& s) {
  std::fprintf(stderr, "error: %s\n", s.message().c_str());
  return 1;
}

Status CheckOptions(const PerfOptions& o) {
  if (o.model.empty()) return InvalidArgument("-m MODEL is required");
  if (o.protocol != "http" && o.protocol != "grpc") {
    return InvalidArgument("-i '" + o.protocol + "' must be http or grpc");
  }
  if (o.measurement_interval_ms < 1) {
    return InvalidArgument("-p/--measurement-interval must be at least 1 ms");
  }
  if (o.warmup_ms < 0) return InvalidArgument("--warmup-ms must not be negative");
  if (o.max_requests < 0) return InvalidArgument("--max-requests must not be negative");
  if (o.batch < 1) return InvalidArgument("-b must be at least 1");
  if (!(o.percentile > 0 && o.percentile <= 100)) {
    return InvalidArgument("--percentile must be in (0, 100]");
  }
  if (o.timeout_ms < 1) return InvalidArgument("--timeout-ms must be at least 1");
  return Status::Ok();
}

std::string Bytes(size_t n) {
  char text[32];
  if (n >= (size_t{1} << 20)) {
    std::snprintf(text, sizeof(text), "%.1f MiB", static_cast<double>(n) / (1 << 20));
  } else if (n >= 1024) {
    std::snprintf(text, sizeof(text), "%.1f KiB", static_cast<double>(n) / 1024);
  } else {
    std::snprintf(text, sizeof(text), "%zu B", n);
  }
  return text;
}

bool ExtraColumn(double p) { return p != 50 && p != 90 && p != 95 && p != 99; }

void PrintHeader(const PerfOptions& o, const PerfClient& client,
                 const std::vector<InputTensor>& inputs) {
  std::printf("nereid perf: model '%s' (version %s) at %s, %s, batch %d\n", o.model.c_str(),
              o.version.empty() ? "chosen by the server" : o.version.c_str(), client.url().c_str(),
              o.protocol == "http" ? "HTTP with binary tensors" : "gRPC raw_input_contents",
              o.batch);
  std::printf("  inputs (%s):", o.input_data.c_str());
  for (const auto& in : inputs) {
    std::printf(" %s %s %s (%s);", in.name.c_str(), in.datatype.c_str(),
                ShapeToString(in.shape).c_str(), Bytes(in.data.size()).c_str());
  }
  std::printf("\n  per level: %d ms warm-up, then %d ms measured", o.warmup_ms,
              o.measurement_interval_ms);
  if (o.max_requests > 0) {
    std::printf(" (at most %lld requests each)", static_cast<long long>(o.max_requests));
  }
  std::printf("; latencies in microseconds; server columns are averages per request\n\n");
  std::printf("%11s %10s %10s %9s %7s %9s %9s %9s %9s %9s", "concurrency", "infer/s", "req/s",
              "requests", "errors", "avg", "p50", "p90", "p95", "p99");
  if (ExtraColumn(o.percentile)) {
    char name[32];
    std::snprintf(name, sizeof(name), "p%g", o.percentile);
    std::printf(" %9s", name);
  }
  std::printf(" | %8s %8s %8s %8s %9s %9s\n", "queue", "c_input", "c_infer", "c_output", "exec",
              "infer_cnt");
  std::fflush(stdout);
}

void PrintLevel(const PerfOptions& o, const LevelReport& l) {
  std::printf("%11d %10.1f %10.1f %9llu %7lld %9.1f %9.1f %9.1f %9.1f %9.1f", l.concurrency,
              l.inferences_per_sec, l.requests_per_sec, static_cast<unsigned long long>(l.requests),
              static_cast<long long>(l.errors), l.latency.avg_us, l.latency.p50_us,
              l.latency.p90_us, l.latency.p95_us, l.latency.p99_us);
  if (ExtraColumn(o.percentile)) std::printf(" %9.1f", l.latency.extra_us);
  if (l.server.valid) {
    std::printf(" | %8.1f %8.1f %8.1f %8.1f %9llu %9llu\n", l.server.queue_us,
                l.server.compute_input_us, l.server.compute_infer_us, l.server.compute_output_us,
                static_cast<unsigned long long>(l.server.execution_count),
                static_cast<unsigned long long>(l.server.inference_count));
  } else {
    std::printf(" | server statistics unavailable%s%s\n", l.server_error.empty() ? "" : ": ",
                l.server_error.c_str());
  }
  if (l.errors > 0) {
    std::printf("%11s %lld error(s); the first: %s\n", "", static_cast<long long>(l.errors),
                l.first_error.c_str());
  }
  std::fflush(stdout);
}

// One level: warm-up, statistics, measured phase, statistics.
LevelReport MeasureLevel(const PerfOptions& o, PerfClient* client, int concurrency) {
  const auto interval = std::chrono::milliseconds(o.measurement_interval_ms);
  if (o.warmup_ms > 0) {
    client->RunPhase({concurrency, std::chrono::milliseconds(o.warmup_ms), o.max_requests});
  }
  LevelReport l;
  l.concurrency = concurrency;
  StatusOr<ServerStats> before = client->GetStats(o.model, o.version);
  PhaseResult r = client->RunPhase({concurrency, interval, o.max_requests});
  StatusOr<ServerStats> after = before.ok() ? client->GetStats(o.model, o.version) : before;
  if (after.ok()) {
    l.server = DiffStats(*before, *after);
    if (!l.server.valid) l.server_error = "counters went backwards (model reloaded?)";
  } else {
    l.server_error = after.status().message();
  }
  l.requests = r.latencies_ns.size();
  l.errors = r.errors;
  l.first_error = r.first_error;
  l.latency = Summarize(&r.latencies_ns, o.percentile);
  const double seconds = std::chrono::duration<double>(r.elapsed).count();
  l.measurement_ms = seconds * 1000.0;
  if (seconds > 0) {
    l.requests_per_sec = static_cast<double>(l.requests) / seconds;
    l.inferences_per_sec = l.requests_per_sec * o.batch;
  }
  return l;
}

}  // namespace

int RunPerf(const PerfOptions& o) {
  if (Status st = CheckOptions(o); !st.ok()) return Fail(st);
  StatusOr<std::vector<int>> levels = ParseConcurrencyRange(o.concurrency_range);
  if (!levels.ok()) return Fail(levels.status());
  StatusOr<std::map<std::string, std::vector<int64_t>>> shapes = ParseShapeFlags(o.shapes);
  if (!shapes.ok()) return Fail(shapes.status());
  StatusOr<InputData> data = ParseInputData(o.input_data);
  if (!data.ok()) return Fail(data.status());
  const bool grpc = o.protocol == "grpc";
  StatusOr<HostPort> target =
      ParseHostPort(o.url.empty() ? "localhost" : o.url, grpc ? 8001 : 8000);
  if (!target.ok()) return Fail(target.status());
  // Opened (and truncated) now so that an unwritable path fails before the run.
  std::ofstream json;
  if (!o.json_file.empty()) {
    json.open(o.json_file, std::ios::trunc);
    if (!json) return Fail(InvalidArgument("cannot write --json file '" + o.json_file + "'"));
  }

  const auto timeout = std::chrono::milliseconds(o.timeout_ms);
  StatusOr<std::unique_ptr<PerfClient>> client =
      grpc ? CreateGrpcClient(*target, timeout) : CreateHttpClient(*target, timeout);
  if (!client.ok()) return Fail(client.status());
  StatusOr<ModelInfo> model = (*client)->GetModelInfo(o.model, o.version);
  if (!model.ok()) return Fail(model.status());
  StatusOr<std::vector<InputTensor>> inputs = BuildInputs(*model, o.batch, *shapes, *data);
  if (!inputs.ok()) return Fail(inputs.status());
  if (Status st = (*client)->SetRequest(o.model, o.version, *inputs); !st.ok()) return Fail(st);

  PrintHeader(o, **client, *inputs);
  RunInfo run{o.model, o.version, o.protocol, (*client)->url(), o.batch};
  std::vector<LevelReport> reports;
  int status = 0;
  for (int concurrency : *levels) {
    reports.push_back(MeasureLevel(o, client->get(), concurrency));
    const LevelReport& l = reports.back();
    PrintLevel(o, l);
    if (l.requests == 0) {
      std::fprintf(stderr, "error: no request succeeded at concurrency %d (%lld failed)%s%s\n",
                   concurrency, static_cast<long long>(l.errors), l.first_error.empty() ? "" : ": ",
                   l.first_error.c_str());
      status = 1;
      break;
    }
  }
  if (json.is_open()) {
    json << ResultsJson(run, reports);
    json.close();
    if (!json) return Fail(Internal("cannot write --json file '" + o.json_file + "'"));
  }
  return status;
}

}  // namespace nereid::tools::perf
