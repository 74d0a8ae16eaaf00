#include "tools/perf/http_client.h"

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <optional>
#include <utility>

#include "tools/perf/perf_json.h"

namespace nereid::tools::perf {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;
using boost::system::error_code;

// Largest infer response body accepted (the request is capped at 2 GiB).
constexpr uint64_t kMaxResponseBody = uint64_t{4} << 30;
constexpr size_t kReadBuffer = 64 * 1024;
// A connection idle for longer is reopened before a phase rather than risk a
// server's idle timeout closing it under the first request (Nereid: 300 s).
constexpr auto kMaxIdle = std::chrono::seconds(60);

// Percent-encodes a path segment (model names are directory names and may
// hold characters a URL path cannot).
std::string EncodeSegment(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return out;
}

std::string ModelPath(const std::string& model, const std::string& version) {
  std::string path = "/v2/models/" + EncodeSegment(model);
  if (!version.empty()) path += "/versions/" + EncodeSegment(version);
  return path;
}

// Maps an HTTP status of a KServe error onto our codes (for the exit message
// only; every failure exits 1).
StatusCode CodeForHttp(unsigned status) {
  switch (status) {
    case 400: return StatusCode::kInvalidArgument;
    case 404: return StatusCode::kNotFound;
    case 501: return StatusCode::kUnimplemented;
    case 503: return StatusCode::kUnavailable;
    default: return StatusCode::kInternal;
  }
}

class HttpPerfClient final : public PerfClient {
 public:
  HttpPerfClient(HostPort target, tcp::resolver::results_type endpoints,
                 std::chrono::milliseconds timeout)
      : target_(std::move(target)),
        endpoints_(std::move(endpoints)),
        timeout_(timeout),
        sweep_interval_(
            std::clamp(timeout / 10, std::chrono::milliseconds(1), std::chrono::milliseconds(100))),
        sweep_(ioc_) {}

  ~HttpPerfClient() override {
    for (auto& c : conns_) Close(*c);
  }

  std::string url() const override { return "http://" + target_.ToString(); }

  StatusOr<ModelInfo> GetModelInfo(const std::string& model, const std::string& version) override {
    const std::string path = ModelPath(model, version);
    ASSIGN_OR_RETURN(std::string metadata, GetOk(path));
    ASSIGN_OR_RETURN(ModelInfo info, ParseModelMetadataJson(metadata));
    ASSIGN_OR_RETURN(std::string config, GetOk(path + "/config"));
    ASSIGN_OR_RETURN(info.max_batch_size, ParseMaxBatchSizeJson(config));
    if (info.name.empty()) info.name = model;
    return info;
  }

  StatusOr<ServerStats> GetStats(const std::string& model, const std::string& version) override {
    ASSIGN_OR_RETURN(std::string body, GetOk(ModelPath(model, version) + "/stats"));
    return ParseStatisticsJson(body);
  }

  Status SetRequest(const std::string& model, const std::string& version,
                    const std::vector<InputTensor>& inputs) override {
    const std::string header = InferHeaderJson(inputs);
    size_t length = header.size();
    for (const auto& in : inputs) length += in.data.size();
    request_ = "POST " + ModelPath(model, version) +
               "/infer HTTP/1.1\r\nHost: " + target_.ToString() +
               "\r\nContent-Type: application/octet-stream\r\nInference-Header-Content-Length: " +
               std::to_string(header.size()) + "\r\nContent-Length: " + std::to_string(length) +
               "\r\n\r\n";
    request_.reserve(request_.size() + length);
    request_ += header;
    for (const auto& in : inputs) request_ += in.data;
    return Status::Ok();
  }

  PhaseResult RunPhase(const PhaseOptions& options) override;

 private:
  // One virtual client: a keep-alive connection with at most one request out.
  struct Conn {
    // Beast reads at most the buffer's free capacity (512 bytes when empty),
    // and the parser drains it after each read: without a reserve, a 600 KB
    // response takes over a thousand recv calls.
    explicit Conn(asio::io_context& ioc) : socket(ioc) { buffer.reserve(kReadBuffer); }
    tcp::socket socket;
    beast::flat_buffer buffer;
    std::optional<http::response_parser<http::string_body>> parser;
    bool open = false;
    bool busy = false;  // a request is out
    bool timed_out = false;
    SteadyClock::time_point start;
    SteadyClock::time_point last_answer;
  };

  struct Phase {
    SteadyClock::time_point end;
    int64_t max_requests = 0;
    int64_t sent = 0;
    int concurrency = 0;
    int active = 0;                // virtual clients still sending
    SteadyClock::time_point last;  // latest completion
    PhaseResult* result = nullptr;
  };

  StatusOr<std::string> GetOk(const std::string& target);
  void Issue(Conn& c);
  void Send(Conn& c);
  void Read(Conn& c);
  void Done(Conn& c);
  void Fail(Conn& c, const std::string& what, const error_code& ec);
  void Error(std::string message);
  void ArmSweep();
  static void Close(Conn& c) {
    error_code ignored;
    c.socket.close(ignored);
    c.open = false;
    c.buffer.consume(c.buffer.size());
  }
  std::string TimeoutText() const {
    return "timed out after " + std::to_string(timeout_.count()) + " ms";
  }

  const HostPort target_;
  const tcp::resolver::results_type endpoints_;
  const std::chrono::milliseconds timeout_;
  const std::chrono::milliseconds sweep_interval_;
  asio::io_context ioc_;
  asio::steady_timer sweep_;
  std::string request_;
  std::vector<std::unique_ptr<Conn>> conns_;  // grows to the largest concurrency
  Phase phase_;
};

StatusOr<std::string> HttpPerfClient::GetOk(const std::string& target) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, target_.ToString());
  req.keep_alive(false);
  http::response<http::string_body> res;
  beast::flat_buffer buffer;
  error_code result;
  bool connected = false;
  stream.expires_after(timeout_);
  stream.async_connect(endpoints_, [&](error_code ec, const tcp::endpoint&) {
    if (ec) {
      result = ec;
      return;
    }
    connected = true;
    http::async_write(stream, req, [&](error_code ec, size_t) {
      if (ec) {
        result = ec;
        return;
      }
      http::async_read(stream, buffer, res, [&](error_code ec, size_t) { result = ec; });
    });
  });
  ioc.run();
  if (result) {
    std::string why = result == beast::error::timeout ? TimeoutText() : result.message();
    if (!connected) return Unavailable("cannot connect to " + url() + ": " + why);
    return Unavailable("GET " + target + " on " + url() + ": " + why);
  }
  if (res.result_int() != 200) {
    return Status(CodeForHttp(res.result_int()), ErrorMessageFromBody(res.body()));
  }
  return std::move(res.body());
}

PhaseResult HttpPerfClient::RunPhase(const PhaseOptions& options) {
  PhaseResult result;
  while (conns_.size() < static_cast<size_t>(options.concurrency)) {
    conns_.push_back(std::make_unique<Conn>(ioc_));
  }
  const SteadyClock::time_point start = SteadyClock::now();
  for (auto& c : conns_) {
    if (c->open && start - c->last_answer > kMaxIdle) Close(*c);
  }
  phase_ = Phase{};
  phase_.end = start + options.duration;
  phase_.max_requests = options.max_requests;
  phase_.concurrency = options.concurrency;
  phase_.active = options.concurrency;
  phase_.last = start;
  phase_.result = &result;
  ioc_.restart();
  ArmSweep();
  for (int i = 0; i < options.concurrency; ++i) Issue(*conns_[i]);
  // Returns once every virtual client stopped and the sweep timer is
  // cancelled: no request is out.
  ioc_.run();
  result.elapsed = phase_.last - start;
  phase_.result = nullptr;
  return result;
}

void HttpPerfClient::Issue(Conn& c) {
  const SteadyClock::time_point now = SteadyClock::now();
  if (now >= phase_.end || (phase_.max_requests > 0 && phase_.sent >= phase_.max_requests)) {
    c.busy = false;
    if (--phase_.active == 0) sweep_.cancel();
    return;
  }
  ++phase_.sent;
  c.busy = true;
  c.timed_out = false;
  c.start = now;
  if (c.open) {
    Send(c);
    return;
  }
  asio::async_connect(c.socket, endpoints_, [this, &c](const error_code& ec, const tcp::endpoint&) {
    if (ec) return Fail(c, "cannot connect to " + url(), ec);
    error_code ignored;
    c.socket.set_option(tcp::no_delay(true), ignored);
    c.open = true;
    Send(c);
  });
}

void HttpPerfClient::Send(Conn& c) {
  asio::async_write(c.socket, asio::buffer(request_), [this, &c](const error_code& ec, size_t) {
    if (ec) return Fail(c, "sending the request", ec);
    Read(c);
  });
}

void HttpPerfClient::Read(Conn& c) {
  c.parser.emplace();
  c.parser->body_limit(kMaxResponseBody);
  http::async_read(c.socket, c.buffer, *c.parser, [this, &c](const error_code& ec, size_t) {
    if (ec) return Fail(c, "reading the response", ec);
    Done(c);
  });
}

void HttpPerfClient::Done(Conn& c) {
  const SteadyClock::time_point now = SteadyClock::now();
  phase_.last = now;
  const auto& res = c.parser->get();
  if (res.result_int() == 200) {
    phase_.result->latencies_ns.push_back(
        static_cast<uint64_t>(std::chrono::nanoseconds(now - c.start).count()));
  } else {
    Error("HTTP " + std::to_string(res.result_int()) + ": " + ErrorMessageFromBody(res.body()));
  }
  c.last_answer = now;
  if (!res.keep_alive()) Close(c);
  c.parser.reset();
  Issue(c);
}

void HttpPerfClient::Fail(Conn& c, const std::string& what, const error_code& ec) {
  phase_.last = SteadyClock::now();
  Error(c.timed_out ? "request " + TimeoutText() : what + ": " + ec.message());
  Close(c);
  c.parser.reset();
  Issue(c);
}

void HttpPerfClient::Error(std::string message) {
  if (phase_.result->errors++ == 0) phase_.result->first_error = std::move(message);
}

void HttpPerfClient::ArmSweep() {
  sweep_.expires_after(sweep_interval_);
  sweep_.async_wait([this](const error_code& ec) {
    if (ec || phase_.active == 0) return;  // cancelled: the phase is over
    const SteadyClock::time_point now = SteadyClock::now();
    for (int i = 0; i < phase_.concurrency; ++i) {
      Conn& c = *conns_[i];
      // Closing the socket completes its pending operation with
      // operation_aborted; Fail() then reports the timeout. Repeated every
      // sweep while the request is out, in case a connect moved on to the
      // next resolved address.
      if (c.busy && now - c.start >= timeout_) {
        c.timed_out = true;
        error_code ignored;
        c.socket.close(ignored);
      }
    }
    ArmSweep();
  });
}

}  // namespace

StatusOr<std::unique_ptr<PerfClient>> CreateHttpClient(const HostPort& target,
                                                       std::chrono::milliseconds timeout) {
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  error_code ec;
  auto endpoints = resolver.resolve(target.host, std::to_string(target.port), ec);
  if (ec || endpoints.empty()) {
    return Unavailable("cannot connect to http://" + target.ToString() + ": cannot resolve '" +
                       target.host + "': " + (ec ? ec.message() : "no address"));
  }
  return std::unique_ptr<PerfClient>(new HttpPerfClient(target, std::move(endpoints), timeout));
}

}  // namespace nereid::tools::perf
