// Repository and logging extension endpoints through the Router (no
// sockets), plus base64 and the protocol-neutral parameter checks.
#include "server/http/extension_handlers.h"
#include "server/http/router_test_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>

#include "backends/builtin_backends.h"
#include "common/logging.h"
#include "server/http/base64.h"
#include "server/kserve/repository.h"

namespace nereid::server::http {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

TEST(Base64Test, RoundTripsAndRejectsGarbage) {
  for (std::string s : {std::string(), std::string("a"), std::string("ab"), std::string("abc"),
                        std::string("\0\xff\x10\x80", 4), std::string(1000, 'z')}) {
    auto d = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(*d, s);
  }
  EXPECT_EQ(Base64Encode("hello"), "aGVsbG8=");
  EXPECT_EQ(*Base64Decode("aGVsbG8"), "hello");  // padding optional
  EXPECT_FALSE(Base64Decode("aGVs bG8=").ok());
  EXPECT_FALSE(Base64Decode("a").ok());
  EXPECT_FALSE(Base64Decode("aGVsbG8==").ok());
  EXPECT_FALSE(Base64Decode("====").ok());
}

TEST(KserveRepositoryTest, LoadAndUnloadParameters) {
  Parameters p = {{"config", std::string("{}")}, {"file:1/model.onnx", std::string("xy")}};
  auto load = BuildLoadParameters(p);
  ASSERT_TRUE(load.ok());
  EXPECT_EQ(*load->config_json, "{}");
  EXPECT_EQ(load->files.at("1/model.onnx"), "xy");
  EXPECT_THAT(BuildLoadParameters({{"config", int64_t{1}}}).status().message(),
              HasSubstr("must be a string"));
  EXPECT_THAT(BuildLoadParameters({{"file:../x", std::string("x")}}).status().message(),
              HasSubstr("file:../x"));
  EXPECT_THAT(BuildLoadParameters({{"bogus", true}}).status().message(),
              HasSubstr("unknown load parameter 'bogus'"));
  EXPECT_TRUE(*ParseUnloadDependents({{"unload_dependents", true}}));
  EXPECT_FALSE(*ParseUnloadDependents({}));
  EXPECT_FALSE(ParseUnloadDependents({{"unload_dependents", std::string("yes")}}).ok());
}

class ExtensionHandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("nereid_ext_" + std::to_string(getpid()));
    fs::create_directories(root_ / "echo/1");
    std::ofstream(root_ / "echo/config.pbtxt") << R"(
      backend: "identity" max_batch_size: 4
      input [ { name: "IN" data_type: TYPE_INT32 dims: [ -1 ] } ]
      output [ { name: "OUT" data_type: TYPE_INT32 dims: [ -1 ] } ])";
    fs::create_directories(root_ / "other/1");
    std::ofstream(root_ / "other/config.pbtxt") << R"(
      backend: "identity" max_batch_size: 0
      input [ { name: "IN" data_type: TYPE_FP32 dims: [ 2 ] } ]
      output [ { name: "OUT" data_type: TYPE_FP32 dims: [ 2 ] } ])";
  }
  void TearDown() override {
    router_.reset();
    server_.reset();
    fs::remove_all(root_);
  }
  void Start(core::ModelControlMode mode, std::vector<std::string> load = {}) {
    auto registry = std::make_shared<core::BackendRegistry>();
    ASSERT_TRUE(backends::RegisterBuiltinBackends(registry.get()).ok());
    core::ServerOptions options;
    options.repositories = {root_.string()};
    options.control_mode = mode;
    options.startup_models = std::move(load);
    auto server = core::InferenceServer::Create(options, registry);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    router_ = std::make_unique<Router>(server_.get(), 1 << 20);
  }
  HttpResponse Call(const std::string& method, const std::string& target,
                    const std::string& body = "") {
    return testing::CallRouter(*router_, method, target, body);
  }

  fs::path root_;
  std::unique_ptr<core::InferenceServer> server_;
  std::unique_ptr<Router> router_;
};

TEST_F(ExtensionHandlersTest, IndexLoadUnloadInExplicitMode) {
  Start(core::ModelControlMode::kExplicit, {"echo"});
  auto r = Call("POST", "/v2/repository/index");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body,
            R"([{"name":"echo","version":"1","state":"READY","reason":""},)"
            R"({"name":"other","state":"UNAVAILABLE","reason":"not loaded"}])");
  r = Call("POST", "/v2/repository/index", R"({"ready": true})");
  EXPECT_EQ(r.body, R"([{"name":"echo","version":"1","state":"READY","reason":""}])");
  EXPECT_EQ(Call("POST", "/v2/repository/index", R"({"ready": "yes"})").status, 400);
  EXPECT_EQ(Call("POST", "/v2/repository/index", "[1").status, 400);
  EXPECT_EQ(Call("GET", "/v2/repository/index").status, 405);

  r = Call("POST", "/v2/repository/models/other/load", "{}");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Call("GET", "/v2/models/other/ready").status, 200);
  r = Call("POST", "/v2/repository/models/other/unload",
           R"({"parameters": {"unload_dependents": true}})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Call("GET", "/v2/models/other/ready").status, 400);

  r = Call("POST", "/v2/repository/models/ghost/load");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("failed to load 'ghost'"));
  r = Call("POST", "/v2/repository/models/echo/load",
           R"({"parameters": {"file:1/model.onnx": "not base64!"}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("failed to load 'echo'"));
  EXPECT_THAT(r.body, HasSubstr("base64"));
  r = Call("POST", "/v2/repository/models/echo/load",
           R"({"parameters": {"config": "{\"max_batch_size\": \"x\"}"}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("failed to load 'echo'"));
  EXPECT_EQ(Call("GET", "/v2/models/echo/ready").status, 200) << "failed reload kept the model";
  EXPECT_EQ(Call("POST", "/v2/repository/models/echo/unload", R"({"parameters": 3})").status,
            400);
  EXPECT_EQ(Call("POST", "/v2/repository/models/echo/bogus").status, 404);
}

TEST_F(ExtensionHandlersTest, LoadAndUnloadRefusedInNoneMode) {
  Start(core::ModelControlMode::kNone);
  auto r = Call("POST", "/v2/repository/models/echo/unload");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("not allowed"));
  r = Call("POST", "/v2/repository/models/echo/load");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("not allowed"));
  EXPECT_EQ(Call("GET", "/v2/models/echo/ready").status, 200);
}

TEST_F(ExtensionHandlersTest, LogSettingsGetAndUpdate) {
  Start(core::ModelControlMode::kNone);
  auto r = Call("GET", "/v2/logging");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr(R"("log_verbose_level":0)"));
  r = Call("POST", "/v2/logging", R"({"log_verbose_level": 3, "log_info": false,
                                      "log_format": "ISO8601"})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.body, HasSubstr(R"("log_info":false)"));
  EXPECT_EQ(logging::VerboseLevel(), 3);
  EXPECT_FALSE(logging::IsEnabled(logging::Level::kInfo));
  EXPECT_EQ(logging::GetFormat(), logging::Format::kIso8601);
  // Invalid updates change nothing.
  for (const char* bad : {R"({"log_format": "xml", "log_info": true})",
                          R"({"log_verbose_level": -1})", R"({"log_verbose_level": "1"})",
                          R"({"log_file": "/tmp/elsewhere.log"})", R"({"nope": 1})", "[]"}) {
    EXPECT_EQ(Call("POST", "/v2/logging", bad).status, 400) << bad;
  }
  EXPECT_FALSE(logging::IsEnabled(logging::Level::kInfo));
  r = Call("POST", "/v2/logging", R"({"log_verbose_level": 0, "log_info": true,
                                      "log_format": "default"})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Call("DELETE", "/v2/logging").status, 405);
}

}  // namespace
}  // namespace nereid::server::http
