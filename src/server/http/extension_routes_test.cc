// Router-level tests of the shared memory and trace endpoints (no sockets).
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>

#include "backends/builtin_backends.h"
#include "server/http/router.h"
#include "server/http/router_test_util.h"

namespace nereid::server::http {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

class ExtensionRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("nereid_ext_routes_" + std::to_string(getpid()));
    fs::create_directories(root_ / "echo/1");
    std::ofstream(root_ / "echo/config.pbtxt") << R"(
      backend: "identity" max_batch_size: 4
      input [ { name: "IN" data_type: TYPE_INT32 dims: [ -1 ] } ]
      output [ { name: "OUT" data_type: TYPE_INT32 dims: [ -1 ] } ])";
    auto registry = std::make_shared<core::BackendRegistry>();
    ASSERT_TRUE(backends::RegisterBuiltinBackends(registry.get()).ok());
    core::ServerOptions options;
    options.repositories = {root_.string()};
    options.allow_client_shm = true;
    options.trace.file = (root_ / "trace.json").string();
    auto server = core::InferenceServer::Create(options, registry);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    router_ = std::make_unique<Router>(server_.get(), 1 << 20);
    key_ = "/nereid_routes_" + std::to_string(getpid());
    int fd = shm_open(key_.c_str(), O_CREAT | O_RDWR, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, 256), 0);
    mem_ = static_cast<char*>(mmap(nullptr, 256, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    close(fd);
  }
  void TearDown() override {
    router_.reset();
    server_.reset();
    munmap(mem_, 256);
    shm_unlink(key_.c_str());
    fs::remove_all(root_);
  }

  HttpResponse Call(const std::string& method, const std::string& target,
                    const std::string& body = "") {
    return testing::CallRouter(*router_, method, target, body);
  }

  fs::path root_;
  std::unique_ptr<core::InferenceServer> server_;
  std::unique_ptr<Router> router_;
  std::string key_;
  char* mem_ = nullptr;
};

TEST_F(ExtensionRoutesTest, SharedMemoryRoundTrip) {
  int32_t in[3] = {7, -8, 9};
  std::memcpy(mem_, in, sizeof(in));
  auto r = Call("POST", "/v2/systemsharedmemory/region/r/register",
                R"({"key":")" + key_ + R"(","offset":0,"byte_size":256})");
  ASSERT_EQ(r.status, 200) << r.body;
  r = Call("GET", "/v2/systemsharedmemory/status");
  EXPECT_EQ(r.body, R"([{"name":"r","key":")" + key_ + R"(","offset":0,"byte_size":256}])");
  r = Call("POST", "/v2/models/echo/infer",
           R"({"inputs":[{"name":"IN","shape":[1,3],"datatype":"INT32","parameters":)"
           R"({"shared_memory_region":"r","shared_memory_byte_size":12}}],)"
           R"("outputs":[{"name":"OUT","parameters":{"shared_memory_region":"r",)"
           R"("shared_memory_offset":100,"shared_memory_byte_size":12}}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.body, HasSubstr(R"("parameters":{"shared_memory_byte_size":12,)"
                                R"("shared_memory_offset":100,"shared_memory_region":"r"})"));
  EXPECT_THAT(r.body, Not(HasSubstr("\"data\"")));
  EXPECT_EQ(std::memcmp(mem_ + 100, in, sizeof(in)), 0);
  EXPECT_EQ(Call("POST", "/v2/systemsharedmemory/region/r/unregister").status, 200);
  EXPECT_EQ(Call("GET", "/v2/systemsharedmemory/status").body, "[]");
}

TEST_F(ExtensionRoutesTest, SharedMemoryBadRequests) {
  const std::string reg = "/v2/systemsharedmemory/region/r/register";
  EXPECT_THAT(Call("POST", reg, "[]").body, HasSubstr("JSON object"));
  EXPECT_THAT(Call("POST", reg, R"({"byte_size":4})").body, HasSubstr("string 'key'"));
  EXPECT_THAT(Call("POST", reg, R"({"key":1,"byte_size":4})").body, HasSubstr("string 'key'"));
  EXPECT_THAT(Call("POST", reg, R"({"key":")" + key_ + R"(","byte_size":-4})").body,
              HasSubstr("non-negative integer"));
  EXPECT_THAT(Call("POST", reg, R"({"key":")" + key_ + R"(","byte_size":4,"offset":"1"})").body,
              HasSubstr("'offset'"));
  EXPECT_EQ(Call("POST", reg, R"({"key":")" + key_ + R"(","byte_size":257})").status, 400);
  EXPECT_EQ(Call("POST", "/v2/systemsharedmemory/register", "{}").status, 404);
  EXPECT_EQ(Call("GET", "/v2/systemsharedmemory/region/r").status, 404);
  EXPECT_EQ(Call("GET", "/v2/systemsharedmemory/region/r/bogus").status, 404);
  EXPECT_EQ(Call("POST", "/v2/systemsharedmemory/status").status, 405);
  EXPECT_EQ(Call("GET", "/v2/cudasharedmemory/unregister").status, 405);
  auto r = Call("POST", "/v2/models/echo/infer",
                R"({"inputs":[{"name":"IN","shape":[1,1],"datatype":"INT32","parameters":)"
                R"({"shared_memory_region":5,"shared_memory_byte_size":4}}]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("shared_memory_region must be a string"));
}

TEST_F(ExtensionRoutesTest, TraceSettingsParsing) {
  auto r = Call("POST", "/v2/trace/setting", R"({"trace_level":"TIMESTAMPS","trace_rate":2})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.body, HasSubstr(R"("trace_level":["TIMESTAMPS"],"trace_rate":"2")"));
  for (const char* bad : {R"({"trace_rate":1.5})", R"({"trace_level":[1]})",
                          R"({"trace_level":{}})", R"({"trace_count":"-2"})", "[1]", "nope",
                          R"({"trace_mode":"opentelemetry"})"}) {
    r = Call("POST", "/v2/trace/setting", bad);
    EXPECT_NE(r.status, 200) << bad;
    EXPECT_THAT(r.body, HasSubstr("error")) << bad;
  }
  // Two requests at rate 2: one trace, written on shutdown.
  for (int i = 0; i < 2; ++i) {
    r = Call("POST", "/v2/models/echo/infer",
             R"({"inputs":[{"name":"IN","shape":[1,1],"datatype":"INT32","data":[1]}]})");
    ASSERT_EQ(r.status, 200) << r.body;
  }
  server_->Shutdown(std::chrono::milliseconds(1000));
  std::ifstream in(root_ / "trace.json");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr(R"({"id":1,"model_name":"echo","model_version":1,)"));
  EXPECT_THAT(text, Not(HasSubstr(R"("id":2)")));
  EXPECT_THAT(text, HasSubstr("COMPUTE_END"));
}

}  // namespace
}  // namespace nereid::server::http
