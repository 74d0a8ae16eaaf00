#include "server/http/router.h"
#include "server/http/router_test_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>

#include <rapidjson/document.h>

#include "backends/builtin_backends.h"
#include "server/kserve/kserve.h"

namespace nereid::server::http {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class RouterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new fs::path(fs::temp_directory_path() / ("nereid_router_" + std::to_string(getpid())));
    fs::create_directories(*root_ / "echo/1");
    std::ofstream(*root_ / "echo/config.pbtxt") << R"(
      backend: "identity" max_batch_size: 4
      input [ { name: "IN" data_type: TYPE_INT32 dims: [ -1 ] } ]
      output [ { name: "OUT" data_type: TYPE_INT32 dims: [ -1 ] } ])";
    fs::create_directories(*root_ / "broken/1");
    std::ofstream(*root_ / "broken/config.pbtxt") << "backend: \"identity\" max_batch_size: oops";
    auto registry = std::make_shared<core::BackendRegistry>();
    ASSERT_TRUE(backends::RegisterBuiltinBackends(registry.get()).ok());
    core::ServerOptions options;
    options.repositories = {root_->string()};
    auto server = core::InferenceServer::Create(options, registry);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = server->release();
    router_ = new Router(server_, 1 << 20);
  }
  static void TearDownTestSuite() {
    delete router_;
    delete server_;
    fs::remove_all(*root_);
    delete root_;
  }

  HttpResponse Call(const std::string& method, const std::string& target,
                    const std::string& body = "") {
    return testing::CallRouter(*router_, method, target, body);
  }

  static fs::path* root_;
  static core::InferenceServer* server_;
  static Router* router_;
};

fs::path* RouterTest::root_ = nullptr;
core::InferenceServer* RouterTest::server_ = nullptr;
Router* RouterTest::router_ = nullptr;

TEST_F(RouterTest, HealthAndMetadata) {
  EXPECT_EQ(Call("GET", "/v2/health/live").status, 200);
  // strict readiness: the broken model keeps the server from being ready
  EXPECT_EQ(Call("GET", "/v2/health/ready").status, 400);
  EXPECT_THAT(Call("GET", "/v2").body, HasSubstr("\"extensions\""));
  auto md = Call("GET", "/v2/models/echo");
  EXPECT_EQ(md.status, 200);
  EXPECT_EQ(md.body,
            R"({"name":"echo","versions":["1"],"platform":"identity","inputs":[{"name":"IN",)"
            R"("datatype":"INT32","shape":[-1,-1]}],"outputs":[{"name":"OUT","datatype":"INT32",)"
            R"("shape":[-1,-1]}]})");
  EXPECT_EQ(Call("GET", "/v2/models/echo/versions/1/ready").status, 200);
  EXPECT_EQ(Call("GET", "/v2/models/echo/versions/2/ready").status, 400);
  EXPECT_EQ(Call("GET", "/v2/models/echo/versions/2").status, 404);
  EXPECT_EQ(Call("GET", "/v2/models/echo/versions/x").status, 400);
  EXPECT_EQ(Call("GET", "/v2/models/nope").status, 404);
  auto broken = Call("GET", "/v2/models/broken");
  EXPECT_EQ(broken.status, 503);
  EXPECT_THAT(broken.body, HasSubstr("config.pbtxt:1:"));
}

TEST_F(RouterTest, ConfigJsonUsesTritonConventions) {
  auto r = Call("GET", "/v2/models/echo/config");
  ASSERT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr(R"("max_batch_size":4)"));
  EXPECT_THAT(r.body, HasSubstr(R"("dims":[-1])"));  // int64 as numbers
  EXPECT_THAT(r.body, HasSubstr(R"("data_type":"TYPE_INT32")"));
  EXPECT_THAT(r.body, HasSubstr(R"("kind":"KIND_CPU")"));
}

TEST_F(RouterTest, InferRoundTrip) {
  auto r = Call("POST", "/v2/models/echo/infer",
                R"({"id":"7","inputs":[{"name":"IN","shape":[1,3],"datatype":"INT32","data":[1,2,3]}]})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body,
            R"({"model_name":"echo","model_version":"1","id":"7","outputs":[{"name":"OUT",)"
            R"("datatype":"INT32","shape":[1,3],"data":[1,2,3]}]})");
}

TEST_F(RouterTest, Errors) {
  EXPECT_EQ(Call("GET", "/v2/models/echo/infer").status, 405);
  EXPECT_EQ(Call("POST", "/v2/models/echo/infer", "{").status, 400);
  EXPECT_EQ(Call("POST", "/v2/models/nope/infer", R"({"inputs":[]})").status, 404);
  EXPECT_EQ(Call("GET", "/v2/models/a%zz").status, 400);
  EXPECT_EQ(Call("GET", "/v1/models").status, 404);
  EXPECT_EQ(Call("POST", "/v2/models/stats").status, 405);
  auto bad = Call("POST", "/v2/models/echo/infer",
                  R"({"inputs":[{"name":"IN","shape":[9,1],"datatype":"INT32","data":[1,2,3,4,5,6,7,8,9]}]})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body, HasSubstr("batch-size must be <= 4"));
}

uint64_t StatField(const rapidjson::Value& model, const char* stat, const char* field) {
  return model["inference_stats"][stat][field].GetUint64();
}

TEST_F(RouterTest, Statistics) {
  auto read = [&](const std::string& path) {
    HttpResponse r = Call("GET", path);
    EXPECT_EQ(r.status, 200) << r.body;
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    EXPECT_TRUE(d.IsObject() && d["model_stats"].IsArray()) << r.body;
    return d;
  };
  rapidjson::Document before = read("/v2/models/echo/stats");
  ASSERT_EQ(before["model_stats"].Size(), 1u);
  const std::string good =
      R"({"inputs":[{"name":"IN","shape":[3,1],"datatype":"INT32","data":[1,2,3]}]})";
  EXPECT_EQ(Call("POST", "/v2/models/echo/infer", good).status, 200);
  EXPECT_EQ(Call("POST", "/v2/models/echo/infer", good).status, 200);
  EXPECT_EQ(Call("POST", "/v2/models/echo/infer",
                 R"({"inputs":[{"name":"IN","shape":[1,1],"datatype":"FP32","data":[1]}]})")
                .status,
            400);
  rapidjson::Document after = read("/v2/models/echo/versions/1/stats");
  ASSERT_EQ(after["model_stats"].Size(), 1u);
  const auto& a = after["model_stats"][0];
  const auto& b = before["model_stats"][0];
  EXPECT_STREQ(a["name"].GetString(), "echo");
  EXPECT_STREQ(a["version"].GetString(), "1");
  EXPECT_EQ(StatField(a, "success", "count") - StatField(b, "success", "count"), 2u);
  EXPECT_EQ(StatField(a, "fail", "count") - StatField(b, "fail", "count"), 1u);
  EXPECT_EQ(a["inference_count"].GetUint64() - b["inference_count"].GetUint64(), 6u);
  EXPECT_EQ(a["execution_count"].GetUint64() - b["execution_count"].GetUint64(), 2u);
  EXPECT_GT(a["last_inference"].GetUint64(), 0u);
  ASSERT_TRUE(a["batch_stats"].IsArray());
  bool has_batch_3 = false;
  for (const auto& bs : a["batch_stats"].GetArray()) {
    has_batch_3 |=
        bs["batch_size"].GetUint64() == 3 && bs["compute_infer"]["count"].GetUint64() >= 2;
  }
  EXPECT_TRUE(has_batch_3);
  for (const char* k : {"queue", "compute_input", "compute_infer", "compute_output", "cache_hit",
                        "cache_miss"}) {
    EXPECT_TRUE(a["inference_stats"][k]["ns"].IsUint64()) << k;
  }
  // All models: only ready versions ("broken" failed to load).
  rapidjson::Document all = read("/v2/models/stats");
  ASSERT_EQ(all["model_stats"].Size(), 1u);
  EXPECT_STREQ(all["model_stats"][0]["name"].GetString(), "echo");

  HttpResponse unknown = Call("GET", "/v2/models/nope/stats");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_THAT(unknown.body, HasSubstr("requested model 'nope' is not available"));
  EXPECT_EQ(Call("GET", "/v2/models/echo/versions/7/stats").status, 400);
  EXPECT_EQ(Call("GET", "/v2/models/echo/versions/x1/stats").status, 400);
  EXPECT_EQ(Call("GET", "/v2/models/broken/stats").status, 400);
}

}  // namespace
}  // namespace nereid::server::http

namespace nereid::server {
namespace {

TEST(KserveTest, TritonStatusMapping) {
  EXPECT_EQ(HttpStatusFor(StatusCode::kOk), 200);
  EXPECT_EQ(HttpStatusFor(StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(StatusCode::kAlreadyExists), 400);
  EXPECT_EQ(HttpStatusFor(StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnimplemented), 501);
  EXPECT_EQ(HttpStatusFor(StatusCode::kInternal), 500);
}

TEST(KserveTest, ParseModelVersion) {
  EXPECT_EQ(*ParseModelVersion(""), -1);
  EXPECT_EQ(*ParseModelVersion("17"), 17);
  EXPECT_FALSE(ParseModelVersion("-1").ok());
  EXPECT_FALSE(ParseModelVersion("1a").ok());
  EXPECT_FALSE(ParseModelVersion("99999999999999999999").ok());
}

}  // namespace
}  // namespace nereid::server
