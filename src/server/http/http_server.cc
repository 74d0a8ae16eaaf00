#include "server/http/http_server.h"

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <thread>
#include <vector>

#include "common/logging.h"
#include "server/http/infer_codec.h"

namespace nereid::server::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

struct Shared {
  HttpServerOptions options;
  std::shared_ptr<const Router> router;
  std::atomic<bool> stopping{false};
  std::atomic<int> busy{0};  // requests read whose response is not yet written
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<Shared> shared)
      : stream_(std::move(socket)), shared_(std::move(shared)) {}

  void Run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->DoRead(); });
  }

 private:
  void DoRead() {
    parser_.emplace();
    parser_->body_limit(shared_->options.max_input_size);
    parser_->header_limit(static_cast<uint32_t>(shared_->options.max_header_size));
    stream_.expires_after(std::chrono::seconds(shared_->options.idle_timeout_secs));
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        self->OnRead(ec);
                      });
  }

  void OnRead(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == net::error::operation_aborted ||
        ec == beast::error::timeout || ec == net::error::connection_reset ||
        ec == net::error::eof) {
      return Close();
    }
    if (ec == bhttp::error::body_limit) {
      return SendError(413, "request body exceeds the limit of " +
                                std::to_string(shared_->options.max_input_size) +
                                " bytes (--http-max-input-size)");
    }
    if (ec == bhttp::error::header_limit) {
      return SendError(431, "request headers exceed the limit of " +
                                std::to_string(shared_->options.max_header_size) + " bytes");
    }
    if (ec) return SendError(400, "malformed HTTP request: " + ec.message());

    auto& req = parser_->get();
    keep_alive_ = req.keep_alive();
    HttpRequest request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    *request.body = std::move(req.body());
    if (auto it = req.find("Inference-Header-Content-Length"); it != req.end()) {
      request.inference_header_length = std::string(it->value());
    }
    if (auto it = req.find(bhttp::field::content_encoding); it != req.end()) {
      request.content_encoding = std::string(it->value());
    }
    if (auto it = req.find(bhttp::field::accept_encoding); it != req.end()) {
      request.accept_encoding = std::string(it->value());
    }
    version_ = req.version();
    parser_.reset();
    stream_.expires_never();  // inference may take long; no read is pending
    shared_->busy.fetch_add(1);
    shared_->router->Handle(std::move(request), [self = shared_from_this()](HttpResponse r) {
      // Called from whichever thread finished the request; hop back onto
      // this connection's strand to write.
      net::post(self->stream_.get_executor(),
                [self, r = std::move(r)]() mutable { self->Write(std::move(r), true); });
    });
  }

  void SendError(int status, const std::string& message) {
    keep_alive_ = false;
    version_ = 11;
    HttpResponse r;
    r.status = status;
    r.body = ErrorJson(message);
    shared_->busy.fetch_add(1);
    Write(std::move(r), true);
  }

  void Write(HttpResponse r, bool counted) {
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(r.status), version_);
    res->set(bhttp::field::server, "nereid");
    if (!r.content_type.empty()) res->set(bhttp::field::content_type, r.content_type);
    for (auto& [k, v] : r.headers) res->set(k, v);
    bool keep = keep_alive_ && !shared_->stopping.load();
    res->keep_alive(keep);
    res->body() = std::move(r.body);
    res->prepare_payload();
    stream_.expires_after(std::chrono::seconds(shared_->options.idle_timeout_secs));
    bhttp::async_write(stream_, *res,
                       [self = shared_from_this(), res, keep, counted](beast::error_code ec, size_t) {
                         if (counted) self->shared_->busy.fetch_sub(1);
                         if (ec || !keep) return self->Close();
                         self->DoRead();
                       });
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::shared_ptr<Shared> shared_;
  bool keep_alive_ = true;
  unsigned version_ = 11;
};

class BeastServer final : public HttpServer {
 public:
  BeastServer(std::shared_ptr<Shared> shared)
      : shared_(std::move(shared)),
        ioc_(shared_->options.threads),
        work_(net::make_work_guard(ioc_)),
        acceptor_(net::make_strand(ioc_)) {}

  ~BeastServer() override { Stop(); }

  Status Listen() {
    beast::error_code ec;
    auto address = net::ip::make_address(shared_->options.address, ec);
    if (ec) {
      return InvalidArgument("invalid --http-address '" + shared_->options.address + "': " +
                             ec.message());
    }
    tcp::endpoint endpoint(address, static_cast<uint16_t>(shared_->options.port));
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return Unavailable("cannot listen for HTTP on " + shared_->options.address + ":" +
                         std::to_string(shared_->options.port) + ": " + ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    DoAccept();
    for (int i = 0; i < shared_->options.threads; ++i) {
      threads_.emplace_back([this] { ioc_.run(); });
    }
    return Status::Ok();
  }

  int port() const override { return port_; }

  void StopAccepting() override {
    if (shared_->stopping.exchange(true)) return;
    net::post(acceptor_.get_executor(), [this] {
      beast::error_code ec;
      acceptor_.close(ec);
    });
  }

  void Stop() override {
    if (threads_.empty()) return;
    StopAccepting();
    // Let responses that are being written reach their clients (bounded).
    for (int i = 0; i < 200 && shared_->busy.load() > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    work_.reset();
    ioc_.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

 private:
  void DoAccept() {
    acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket s) {
      if (ec) {
        if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
        NLOG(WARNING) << "accept failed: " << ec.message();
      } else {
        beast::error_code opt_ec;
        s.set_option(tcp::no_delay(true), opt_ec);
        std::make_shared<Session>(std::move(s), shared_)->Run();
      }
      if (!shared_->stopping.load()) DoAccept();
    });
  }

  std::shared_ptr<Shared> shared_;
  net::io_context ioc_;
  // Keeps the I/O threads running while no socket operation is pending (for
  // example while every connection waits for an inference result).
  net::executor_work_guard<net::io_context::executor_type> work_;
  tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
  int port_ = 0;
};

}  // namespace

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                        std::shared_ptr<const Router> router) {
  if (options.threads < 1) return InvalidArgument("--http-thread-count must be at least 1");
  auto shared = std::make_shared<Shared>();
  shared->options = options;
  shared->router = std::move(router);
  auto server = std::make_unique<BeastServer>(shared);
  RETURN_IF_ERROR(server->Listen());
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace nereid::server::http
