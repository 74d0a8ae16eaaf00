// nereid: command-line entry point.
//
//   nereid serve --model-repository DIR [flags]   (also: nereid --model-repository DIR)
//   nereid run MODEL.onnx [flags]                  (tools/run_command.h)
//   nereid compile MODEL.onnx -o MODEL.plan [flags] (tools/compile/compile_command.h)
//   nereid perf -m MODEL [flags]                   (tools/perf/perf_command.h)
//
// Flags keep tritonserver's names and meanings. Start-up: parse flags ->
// load models -> listen. SIGINT/SIGTERM: stop accepting, drain in-flight
// requests for up to --exit-timeout-secs, exit 0.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <optional>
#include <thread>

#include "backends/builtin_backends.h"
#include "common/logging.h"
#include "core/server.h"
#include "server/grpc/grpc_server.h"
#include "server/http/http_server.h"
#include "server/metrics/metrics_service.h"
#include "tools/compile/compile_command.h"
#include "tools/perf/perf_command.h"
#include "tools/run_command.h"

namespace nereid {
namespace {

struct ServeFlags {
  std::vector<std::string> repositories;
  std::string http_address = "0.0.0.0";
  int http_port = 8000;
  int http_threads = 0;
  int64_t http_max_input_size = 64 * 1024 * 1024;
  bool allow_http = true;
  bool allow_grpc = true;
  server::grpc::GrpcServerOptions grpc;
  int metrics_port = 8002;
  bool allow_metrics = true;
  std::string metrics_address;  // empty: --http-address
  int metrics_interval_ms = 2000;
  std::vector<std::string> metrics_config;
  bool allow_cpu_metrics = true;
  bool allow_gpu_metrics = true;
  std::string control_mode = "none";
  std::vector<std::string> load_models;
  int repository_poll_secs = 15;
  std::string log_format = "default";
  std::string log_file;
  bool disable_auto_complete = false;
  bool strict_model_config = false;
  bool strict_readiness = true;
  bool exit_on_error = true;
  int exit_timeout_secs = 30;
  int log_verbose = 0;
  bool log_info = true, log_warning = true, log_error = true;
  std::string id = "nereid";
  bool allow_client_shm = false;
  std::vector<std::string> trace_config;
  std::string rate_limit = "off";
  std::vector<std::string> rate_limit_resources;
  std::vector<std::string> cache_config;
  std::string cache_directory;  // compiled plans of ONNX models; empty: none
  std::vector<std::string> backend_config;
  std::string backend_directory;  // empty: <dir of the executable>/backends
};

void AddServeFlags(CLI::App* app, ServeFlags* f) {
  app->add_option("--model-repository,--model-store", f->repositories,
                  "Model repository root; repeat for several")
      ->required()
      ->type_name("DIR");
  app->add_option("--http-address", f->http_address, "Address the HTTP server binds")
      ->capture_default_str();
  app->add_option("--http-port", f->http_port, "HTTP port (0 picks a free one)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  app->add_option("--http-thread-count", f->http_threads,
                  "HTTP I/O threads (default: number of cores)")
      ->check(CLI::Range(1, 256));
  app->add_option("--http-max-input-size", f->http_max_input_size,
                  "Largest request body in bytes, also after decompression")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  app->add_flag("--allow-http", f->allow_http, "Serve HTTP/REST (default true)");
  app->add_flag("--allow-grpc", f->allow_grpc, "Serve gRPC (default true)");
  auto& g = f->grpc;
  app->add_option("--grpc-address", g.address, "Address the gRPC server binds")
      ->capture_default_str();
  app->add_option("--grpc-port", g.port, "gRPC port (0 picks a free one)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  app->add_option("--grpc-infer-thread-count", g.infer_threads,
                  "Accepted for Triton compatibility; gRPC handlers never block on inference")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app->add_option("--grpc-keepalive-time", g.keepalive_time_ms,
                  "Milliseconds between keepalive pings on an idle transport")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app->add_option("--grpc-keepalive-timeout", g.keepalive_timeout_ms,
                  "Milliseconds to wait for a keepalive ping's acknowledgement")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app->add_flag("--grpc-keepalive-permit-without-calls", g.keepalive_permit_without_calls,
                "Allow keepalive pings when no call is in progress (default false)");
  app->add_option("--grpc-http2-max-pings-without-data", g.http2_max_pings_without_data,
                  "Pings sent without data before the transport stops pinging (0 = no limit)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app->add_option("--grpc-http2-min-recv-ping-interval-without-data",
                  g.http2_min_recv_ping_interval_without_data_ms,
                  "Minimum milliseconds between received pings without data")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app->add_option("--grpc-http2-max-ping-strikes", g.http2_max_ping_strikes,
                  "Bad pings tolerated before the connection is closed (0 = unlimited)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app->add_option("--grpc-infer-response-compression-level", g.infer_response_compression_level,
                  "Compression of infer responses: none, low, medium or high")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "low", "medium", "high"}));
  app->add_option("--grpc-max-message-size", g.max_message_bytes,
                  "Largest gRPC message in bytes (default 2147483647, Triton's limit)")
      ->check(CLI::PositiveNumber);
  app->add_flag("--grpc-use-ssl", g.use_ssl, "Serve gRPC over TLS (default false)");
  app->add_flag("--grpc-use-ssl-mutual", g.use_ssl_mutual,
                "Serve gRPC over mutual TLS: clients must present a certificate signed by "
                "--grpc-root-cert (default false)");
  app->add_option("--grpc-server-cert", g.server_cert, "PEM server certificate for TLS");
  app->add_option("--grpc-server-key", g.server_key, "PEM server private key for TLS");
  app->add_option("--grpc-root-cert", g.root_cert, "PEM root certificate(s) for client checks");
  app->add_option("--metrics-port", f->metrics_port,
                  "Prometheus metrics port, GET /metrics (0 picks a free one)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  app->add_flag("--allow-metrics", f->allow_metrics, "Serve Prometheus metrics (default true)");
  app->add_option("--metrics-address", f->metrics_address,
                  "Address the metrics endpoint binds (default: --http-address)");
  app->add_option("--metrics-interval-ms", f->metrics_interval_ms,
                  "How often CPU and memory gauges are sampled")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400000));
  app->add_option("--metrics-config", f->metrics_config,
                  "<setting>=<value>: counter_latencies, summary_latencies, summary_quantiles, "
                  "histogram_latencies (repeatable)");
  app->add_flag("--allow-cpu-metrics", f->allow_cpu_metrics,
                "Export nv_cpu_* gauges (default true)");
  app->add_flag("--allow-gpu-metrics", f->allow_gpu_metrics,
                "Accepted for Triton compatibility; there are no GPU metrics");
  app->add_option("--model-control-mode", f->control_mode,
                  "Model control mode: none (load all at start), poll (rescan every "
                  "--repository-poll-secs), explicit (--load-model and the load/unload API)")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "poll", "explicit"}));
  app->add_option("--load-model", f->load_models,
                  "Explicit mode: model to load at start-up (repeatable; '*' loads all)");
  app->add_option("--repository-poll-secs", f->repository_poll_secs,
                  "Poll mode: seconds between repository rescans")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400));
  app->add_flag("--disable-auto-complete-config", f->disable_auto_complete,
                "Do not fill model configs from the model files");
  app->add_flag("--strict-model-config", f->strict_model_config,
                "Deprecated Triton flag: true means --disable-auto-complete-config");
  app->add_flag("--strict-readiness", f->strict_readiness,
                "Ready only when every model is ready (default true)");
  app->add_flag("--exit-on-error", f->exit_on_error,
                "Exit when a model fails to load at start-up (default true)");
  app->add_option("--exit-timeout-secs", f->exit_timeout_secs,
                  "On SIGINT/SIGTERM, wait this long for in-flight requests")
      ->capture_default_str()
      ->check(CLI::Range(0, 86400));
  app->add_option("--rate-limit", f->rate_limit,
                  "off, or execution_count: instances execute only while the resources their "
                  "rate_limiter declares are free")
      ->capture_default_str()
      ->check(CLI::IsMember({"off", "execution_count"}));
  app->add_option("--rate-limit-resource", f->rate_limit_resources,
                  "NAME:COUNT[:DEVICE] available count of a rate limiter resource (repeatable)");
  app->add_option("--log-verbose", f->log_verbose, "Verbose logging level (0 = off)")
      ->capture_default_str();
  app->add_flag("--log-info", f->log_info, "Log info messages (default true)");
  app->add_flag("--log-warning", f->log_warning, "Log warnings (default true)");
  app->add_flag("--log-error", f->log_error, "Log errors (default true)");
  app->add_option("--log-format", f->log_format, "Log line format: default or ISO8601")
      ->capture_default_str()
      ->check(CLI::IsMember({"default", "ISO8601"}));
  app->add_option("--log-file", f->log_file, "Append log messages to this file, not stderr");
  app->add_option("--id", f->id, "Server name reported by GET /v2")->capture_default_str();
  app->add_option("--trace-config", f->trace_config,
                  "Trace setting, repeatable: level=OFF|TIMESTAMPS, rate=N, count=N, "
                  "triton,file=PATH, triton,log-frequency=N (Triton's form)")
      ->type_name("SETTING");
  app->add_option("--backend-config", f->backend_config,
                  "BACKEND,SETTING=VALUE for a backend (repeatable); python: interpreter, "
                  "execute-timeout-seconds, initialize-timeout-seconds, shm-default-byte-size");
  app->add_option("--cache-directory", f->cache_directory,
                  "Where compiled plans of ONNX models are kept between runs (keyed by model, "
                  "compile settings, CPU and engine version; default: none)")
      ->type_name("DIR");
  app->add_option("--cache-config", f->cache_config,
                  "Response cache, Triton's form <cache>,<key>=<value> (repeatable): "
                  "local,size=BYTES; models with response_cache { enable: true } use it")
      ->type_name("SETTING");
  app->add_option("--backend-directory", f->backend_directory,
                  "Folder holding backend plugins such as libnereid_backend_pytorch.so "
                  "(default: 'backends' next to the nereid executable)")
      ->type_name("DIR")
      ->check(CLI::ExistingDirectory);
  app->add_flag("--allow-client-shm", f->allow_client_shm,
                "Allow clients to register system shared memory for inputs/outputs (default false)");
}

// trtexec's flag names where they fit (--shapes, --min-shapes, --opt-shapes,
// --max-shapes, --verbose); precision is one flag instead of --fp16/--int8.
void AddCompileFlags(CLI::App* app, tools::CompileCommandOptions* o) {
  app->add_option("model", o->model, "ONNX model file")->required();
  app->add_option("-o,--output", o->output, "Plan file to write")->required()->type_name("FILE");
  app->add_option("--precision", o->precision,
                  "Precision of convolutions and matrix products with constant weights (bf16, "
                  "int8; best times each layer in every precision, needs --calibration-data)")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp32", "bf16", "int8", "best"}));
  app->add_option("--calibration-data", o->calibration_data,
                  "INT8 calibration inputs: *.npy files, one sample each (one-input models), "
                  "or one subdirectory per sample with <input>.npy files")
      ->type_name("DIR");
  app->add_option("--write-calibration-table", o->calibration_table,
                  "Write the INT8 input scales as JSON (for tools/make_qdq.py)")
      ->type_name("FILE");
  app->add_option("--calibrator", o->calibrator, "INT8 calibration method")
      ->capture_default_str()
      ->check(CLI::IsMember({"minmax", "percentile", "entropy"}));
  app->add_option("--shapes", o->shapes, "Fixed input shapes: name:1x3x224x224,...")
      ->type_name("SHAPES");
  app->add_option("--min-shapes", o->min_shapes, "Smallest input shapes of the profile")
      ->type_name("SHAPES");
  app->add_option("--opt-shapes", o->opt_shapes,
                  "Shapes compile-time work uses (default: the max shapes)")
      ->type_name("SHAPES");
  app->add_option("--max-shapes", o->max_shapes, "Largest input shapes of the profile")
      ->type_name("SHAPES");
  app->add_option("--tuning-budget-ms", o->tuning_budget_ms,
                  "Time kernel auto-tuning may spend at the opt shapes (0: no tuning)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app->add_option("--threads", o->threads, "Intra-op threads of tuning and the first run")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app->add_flag("--verbose", o->verbose, "Print the passes applied, every node's kernel, the precision "
                "chosen per layer and the tuning choices");
}

// perf_analyzer's flag names where they fit (-m -x -u -i -b -p --concurrency-range
// --shape --percentile); CLI11 checks ranges, RunPerf the rest.
void AddPerfFlags(CLI::App* app, tools::perf::PerfOptions* o) {
  app->add_option("-m,--model", o->model, "Model name")->required();
  app->add_option("-x,--model-version", o->version,
                  "Model version (default: the server's choice)");
  app->add_option("-u,--url", o->url,
                  "Server HOST:PORT (default localhost:8000 for http, localhost:8001 for grpc)");
  app->add_option("-i,--protocol", o->protocol, "http or grpc")
      ->capture_default_str()
      ->check(CLI::IsMember({"http", "grpc"}));
  app->add_option("--concurrency-range", o->concurrency_range,
                  "Concurrency levels: START[:END[:STEP]] (STEP is added) or a list C1,C2,...")
      ->capture_default_str();
  app->add_option("-p,--measurement-interval", o->measurement_interval_ms,
                  "Milliseconds measured per level")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600000));
  app->add_option("--warmup-ms", o->warmup_ms, "Unmeasured milliseconds before each level")
      ->capture_default_str()
      ->check(CLI::Range(0, 3600000));
  app->add_option("--max-requests", o->max_requests,
                  "Requests per phase (warm-up, measurement) at most; 0: bounded by time only")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  app->add_option("-b,--batch-size", o->batch, "Batch dimension of every request")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  app->add_option("--shape", o->shapes,
                  "NAME:D1,D2,... for an input with -1 dimensions, without the batch "
                  "dimension (repeatable)")
      ->type_name("NAME:DIMS");
  app->add_option("--input-data", o->input_data, "Input values: zero or random (fixed seed)")
      ->capture_default_str()
      ->check(CLI::IsMember({"zero", "random"}));
  app->add_option("--percentile", o->percentile,
                  "Latency percentile reported besides p50/p90/p95/p99 "
                  "(JSON: latency_percentile_us)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 100.0));
  app->add_option("-f,--json", o->json_file,
                  "Write the results to FILE as a JSON array, one object per level")
      ->type_name("FILE");
  app->add_option("--timeout-ms", o->timeout_ms,
                  "Per-request timeout; a request without an answer by then counts as an error")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600000));
}

int Serve(const ServeFlags& f) {
  logging::SetEnabled(logging::Level::kInfo, f.log_info);
  logging::SetEnabled(logging::Level::kWarning, f.log_warning);
  logging::SetEnabled(logging::Level::kError, f.log_error);
  logging::SetVerboseLevel(f.log_verbose);
  logging::SetFormat(f.log_format == "ISO8601" ? logging::Format::kIso8601
                                               : logging::Format::kDefault);
  if (!f.log_file.empty()) {
    Status opened = logging::SetLogFile(f.log_file);
    if (!opened.ok()) {
      std::cerr << "error: " << opened.message() << "\n";
      return 2;
    }
  }
  auto control_mode = core::ParseModelControlMode(f.control_mode);
  if (!control_mode.ok() || (!f.load_models.empty() && *control_mode !=
                                                           core::ModelControlMode::kExplicit)) {
    std::cerr << "error: " << (control_mode.ok() ? "--load-model needs "
                                                   "--model-control-mode=explicit"
                                                 : control_mode.status().message())
              << "\n";
    return 2;
  }
  std::optional<core::ResponseCacheOptions> cache;
  if (!f.cache_config.empty()) {
    auto parsed = core::ParseCacheConfig(f.cache_config);
    if (!parsed.ok()) {
      std::cerr << "error: " << parsed.status().message() << "\n";
      return 1;
    }
    cache = *parsed;
  }
  if (!f.allow_http && !f.allow_grpc) {
    std::cerr << "error: --allow-http=false and --allow-grpc=false leave no front end to "
                 "serve\n";
    return 2;
  }

  server::metrics::MetricsServiceOptions mo;
  for (const auto& setting : f.metrics_config) {
    Status st = server::metrics::ApplyMetricsConfig(setting, &mo.config);
    if (!st.ok()) {
      std::cerr << "error: " << st.message() << "\n";
      return 2;
    }
  }

  // Signals are handled by sigwait below; block them before any thread starts
  // so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto registry = std::make_shared<core::BackendRegistry>();
  {
    backends::BuiltinBackendOptions bo;
    bo.backend_directory = f.backend_directory;
    bo.plan_cache_directory = f.cache_directory;
    Status st;
    for (const auto& b : f.backend_config) {
      if (st.ok()) st = backends::ParseBackendConfig(b, &bo.settings);
    }
    if (st.ok()) st = backends::RegisterBuiltinBackends(registry.get(), bo);
    if (!st.ok()) {
      std::cerr << "error: " << st.message() << "\n";
      return 2;
    }
  }
  core::ServerOptions so;
  so.id = f.id;
  so.repositories = f.repositories;
  so.auto_complete = !(f.disable_auto_complete || f.strict_model_config);
  so.strict_readiness = f.strict_readiness;
  so.control_mode = *control_mode;
  so.startup_models = f.load_models;
  so.poll_interval = std::chrono::seconds(f.repository_poll_secs);
  so.allow_client_shm = f.allow_client_shm;
  so.rate_limit = f.rate_limit == "execution_count";
  for (const auto& r : f.rate_limit_resources) {
    Status st = core::ParseRateLimitResource(r, &so.rate_limit_resources);
    if (!st.ok()) {
      std::cerr << "error: " << st.message() << "\n";
      return 2;
    }
  }
  so.response_cache = cache;
  for (const auto& t : f.trace_config) {
    Status st = core::ParseTraceConfig(t, &so.trace);
    if (!st.ok()) {
      std::cerr << "error: " << st.message() << "\n";
      return 2;
    }
  }
  auto server = core::InferenceServer::Create(so, registry);
  if (!server.ok()) {
    NLOG(ERROR) << server.status().message();
    return 1;
  }
  bool all_loaded = true;
  for (const auto& e : (*server)->ModelIndex()) {
    all_loaded &= e.state == core::ModelState::kReady;
  }
  if (!all_loaded && f.exit_on_error) {
    NLOG(ERROR) << "exiting: failed to load all models (use --exit-on-error=false to serve the "
                   "models that did load)";
    (*server)->Shutdown(std::chrono::milliseconds(0));
    return 1;
  }

  std::unique_ptr<server::grpc::GrpcServer> grpc;
  if (f.allow_grpc) {
    auto started = server::grpc::GrpcServer::Start(f.grpc, server->get());
    if (!started.ok()) {
      NLOG(ERROR) << started.status().message();
      (*server)->Shutdown(std::chrono::milliseconds(0));
      return 1;
    }
    grpc = std::move(started).value();
    NLOG(INFO) << "started GRPCInferenceService at " << f.grpc.address << ":" << grpc->port();
    std::printf("nereid: serving gRPC on %s:%d\n", f.grpc.address.c_str(), grpc->port());
    std::fflush(stdout);
  }

  std::unique_ptr<server::http::HttpServer> http;
  if (f.allow_http) {
    server::http::HttpServerOptions ho;
    ho.address = f.http_address;
    ho.port = f.http_port;
    ho.threads =
        f.http_threads > 0 ? f.http_threads : std::max(1u, std::thread::hardware_concurrency());
    ho.max_input_size = static_cast<size_t>(f.http_max_input_size);
    auto router = std::make_shared<server::http::Router>(server->get(), ho.max_input_size);
    auto started = server::http::HttpServer::Start(ho, router);
    if (!started.ok()) {
      NLOG(ERROR) << started.status().message();
      if (grpc) grpc->Stop(std::chrono::milliseconds(0));
      (*server)->Shutdown(std::chrono::milliseconds(0));
      return 1;
    }
    http = std::move(started).value();
    NLOG(INFO) << "started HTTP service at " << f.http_address << ":" << http->port();
    // A line scripts can wait for; flushed at once.
    std::printf("nereid: serving HTTP on %s:%d\n", f.http_address.c_str(), http->port());
    std::fflush(stdout);
  }
  std::unique_ptr<server::metrics::MetricsService> metrics;
  if (f.allow_metrics) {
    mo.address = f.metrics_address.empty() ? f.http_address : f.metrics_address;
    mo.port = f.metrics_port;
    mo.interval = std::chrono::milliseconds(f.metrics_interval_ms);
    mo.cpu_metrics = f.allow_cpu_metrics;
    auto started = server::metrics::MetricsService::Start(mo, server->get());
    if (!started.ok()) {
      NLOG(ERROR) << started.status().message();
      if (http) http->Stop();
      if (grpc) grpc->Stop(std::chrono::milliseconds(0));
      (*server)->Shutdown(std::chrono::milliseconds(0));
      return 1;
    }
    metrics = std::move(started).value();
    std::printf("nereid: serving metrics on %s:%d\n", mo.address.c_str(), metrics->port());
    std::fflush(stdout);
  }

  int sig = 0;
  sigwait(&signals, &sig);
  NLOG(INFO) << "received " << (sig == SIGINT ? "SIGINT" : "SIGTERM")
             << ", draining in-flight requests (up to " << f.exit_timeout_secs << " s)";
  if (http) http->StopAccepting();
  // Core drains in-flight inferences (new ones get UNAVAILABLE); then gRPC
  // finishes the calls still open (streams get a second to end) and HTTP
  // flushes its writes.
  size_t left = (*server)->Shutdown(std::chrono::seconds(f.exit_timeout_secs));
  if (grpc) grpc->Stop(std::chrono::seconds(1));
  if (http) http->Stop();
  if (metrics) metrics->Stop();
  NLOG(INFO) << "stopped" << (left ? " with requests still in flight" : "");
  return 0;
}

int Main(int argc, char** argv) {
  CLI::App app{"nereid: a Triton-compatible inference server with its own ONNX engine"};
  app.set_version_flag("--version", core::InferenceServer::Version());
  app.require_subcommand(0, 1);
  ServeFlags flags;
  CLI::App* serve = app.add_subcommand("serve", "Serve a model repository over KServe v2 HTTP");
  AddServeFlags(serve, &flags);
  tools::RunOptions run_options;
  std::vector<std::string> run_inputs;
  CLI::App* run = app.add_subcommand("run", "Run an ONNX model once or K times on the engine");
  run->add_option("model", run_options.model, "ONNX model or compiled plan file")->required();
  run->add_option("--input", run_inputs, "NAME=FILE.npy (repeatable); others get random data");
  run->add_option("--batch", run_options.batch, "Value of a symbolic first dimension")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  run->add_option("--iterations", run_options.iterations, "Timed runs")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  run->add_option("--warmup", run_options.warmup, "Untimed runs first")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  run->add_option("--threads", run_options.threads, "Intra-op threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  run->add_option("--save-outputs", run_options.save_outputs, "Write outputs as DIR/<name>.npy");
  run->add_flag("--profile", run_options.profile,
                "Time every step (fused node) and print the slowest steps and op types");
  run->add_flag("--no-memory-plan", run_options.no_memory_plan,
                "Every tensor from the heap: no per-shape arena, no in-place kernels (A/B)");
  tools::CompileCommandOptions compile_options;
  CLI::App* compile = app.add_subcommand(
      "compile", "Compile an ONNX model into a plan file (trtexec's flag names where they fit)");
  AddCompileFlags(compile, &compile_options);
  tools::perf::PerfOptions perf_options;
  CLI::App* perf = app.add_subcommand(
      "perf", "Closed-loop load generator for a running server (perf_analyzer's role)");
  AddPerfFlags(perf, &perf_options);

  // `nereid --model-repository DIR ...` behaves like tritonserver: serve.
  std::vector<std::string> args(argv + 1, argv + argc);
  bool want_help = args.empty();
  for (const auto& a : args) want_help |= (a == "--help" || a == "-h");
  if (!args.empty() && args[0] != "serve" && args[0].rfind("--model-", 0) == 0) {
    args.insert(args.begin(), "serve");
  }
  const bool perf_args = !args.empty() && args[0] == "perf";
  const bool compile_args = !args.empty() && args[0] == "compile";
  if (want_help && (args.empty() || (args[0] != "serve" && args[0] != "run" &&
                                      args[0] != "compile" && !perf_args))) {
    std::cout << app.help() << "\n" << serve->help() << "\n" << run->help() << "\n"
              << compile->help() << "\n" << perf->help();
    return args.empty() ? 1 : 0;
  }
  std::reverse(args.begin(), args.end());  // CLI11 parses a reversed vector
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    // `nereid perf` exits 1 on any error, bad flags included (CLI11 uses 100+);
    // `nereid compile` exits 2 on bad flags, as on bad flag values.
    if (perf_args && code != 0) return 1;
    return compile_args && code != 0 ? 2 : code;
  }
  if (serve->parsed()) return Serve(flags);
  if (perf->parsed()) return tools::perf::RunPerf(perf_options);
  if (compile->parsed()) return tools::RunCompile(compile_options);
  if (run->parsed()) {
    for (const auto& in : run_inputs) {
      size_t eq = in.find('=');
      if (eq == std::string::npos || eq == 0) {
        std::cerr << "error: --input expects NAME=FILE.npy, got '" << in << "'\n";
        return 2;
      }
      run_options.inputs[in.substr(0, eq)] = in.substr(eq + 1);
    }
    return tools::RunModel(run_options);
  }
  std::cout << app.help();
  return 1;
}

}  // namespace
}  // namespace nereid

int main(int argc, char** argv) { return nereid::Main(argc, argv); }
