// ModelManager and InferenceServer with the identity backend on temporary
// repositories: control modes, load/unload/reload, polling, load errors, and
// that unloads and reloads never lose an accepted request.
//
// Lives outside src/core because it wires in a backend (core never includes
// backends); it links only the identity backend, not the engine.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <thread>

#include "backends/identity/identity_backend.h"
#include "core/repository/model_manager.h"
#include "core/server.h"
#include "proto/model_config.pb.h"

namespace nereid::core {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string IdentityConfig(int delay_ms = 0, const std::string& extra = "") {
  std::string c = R"(backend: "identity"
max_batch_size: 4
input [ { name: "IN" data_type: TYPE_FP32 dims: [ -1 ] } ]
output [ { name: "OUT" data_type: TYPE_FP32 dims: [ -1 ] } ]
instance_group [ { count: 1 kind: KIND_CPU } ]
)";
  if (delay_ms > 0) {
    c += "parameters { key: \"execute_delay_ms\" value { string_value: \"" +
         std::to_string(delay_ms) + "\" } }\n";
  }
  return c + extra;
}

class ModelManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "nereid_mm_test_XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    base_ = templ;
    repo_ = (fs::path(base_) / "repo").string();
    uploads_ = (fs::path(base_) / "uploads").string();
    fs::create_directories(repo_);
    fs::create_directories(uploads_);
    registry_ = std::make_shared<BackendRegistry>();
    registry_->Register(std::make_shared<backends::IdentityBackend>());
  }
  void TearDown() override {
    manager_.reset();
    server_.reset();
    std::error_code ec;
    fs::remove_all(base_, ec);
  }

  void Write(const std::string& rel, const std::string& content) {
    fs::path p = fs::path(repo_) / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
  }
  void AddModel(const std::string& name, const std::string& config = IdentityConfig(),
                int version = 1) {
    Write(name + "/config.pbtxt", config);
    fs::create_directories(fs::path(repo_) / name / std::to_string(version));
  }

  ModelManager::Options Opts(ModelControlMode mode, std::vector<std::string> startup = {}) {
    ModelManager::Options o;
    o.repositories = {repo_};
    o.control_mode = mode;
    o.startup_models = std::move(startup);
    o.temp_directory = uploads_;
    o.drain_timeout = std::chrono::seconds(20);
    return o;
  }
  ModelManager& Start(ModelManager::Options o) {
    manager_ = std::make_unique<ModelManager>(std::move(o), registry_, clock_);
    Status st = manager_->Start();
    EXPECT_TRUE(st.ok()) << st.ToString();
    return *manager_;
  }
  InferenceServer& StartServer(ModelControlMode mode, std::vector<std::string> startup,
                               std::optional<ResponseCacheOptions> cache = std::nullopt) {
    ServerOptions so;
    so.repositories = {repo_};
    so.control_mode = mode;
    so.startup_models = std::move(startup);
    so.temp_directory = uploads_;
    so.response_cache = cache;
    auto s = InferenceServer::Create(so, registry_, clock_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    return *server_;
  }

  const ModelIndexEntry* Find(const std::vector<ModelIndexEntry>& index, const std::string& name) {
    for (const auto& e : index) {
      if (e.name == name) return &e;
    }
    return nullptr;
  }

  // A one-element FP32 request for `model`; `done` is told its status.
  std::unique_ptr<InferenceRequest> Request(const std::string& model,
                                            std::function<void(const Status&)> done) {
    auto r = std::make_unique<InferenceRequest>();
    r->model_name = model;
    auto data = std::make_shared<float>(1.5f);
    r->inputs.push_back({"IN", TensorView{DataType::kFp32, {1, 1},
                                          reinterpret_cast<char*>(data.get()), 4}, {}});
    r->buffer_owner = data;
    r->set_callback([done = std::move(done)](std::unique_ptr<InferenceResponse> resp) {
      done(resp->status);
    });
    return r;
  }

  // Waits (bounded, so a broken build fails instead of hanging) until `pred`.
  static bool WaitUntil(const std::function<bool()>& pred) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::yield();
    }
    return true;
  }

  // The server's in-flight count falls just after the client's callback
  // returns, so a test that saw every callback may still see it for a moment.
  static size_t SettledInFlight(const InferenceServer& s) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (s.InFlight() != 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    return s.InFlight();
  }

  std::string base_, repo_, uploads_;
  FakeClock clock_;
  std::shared_ptr<BackendRegistry> registry_;
  std::unique_ptr<ModelManager> manager_;
  std::unique_ptr<InferenceServer> server_;
};

TEST_F(ModelManagerTest, NoneModeLoadsEverythingAndRefusesControl) {
  AddModel("a");
  AddModel("b");
  ModelManager& m = Start(Opts(ModelControlMode::kNone));
  EXPECT_TRUE(m.Get("a", -1).ok());
  EXPECT_TRUE(m.Get("b", 1).ok());
  Status load = m.Load("a");
  EXPECT_EQ(load.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(load.message(), HasSubstr("--model-control-mode=none"));
  EXPECT_EQ(m.Unload("a").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(m.Poll().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(m.Get("a", -1).ok());
}

TEST_F(ModelManagerTest, ExplicitModeLoadsOnlyWhatItIsAskedTo) {
  AddModel("a");
  AddModel("b");
  ModelManager& m = Start(Opts(ModelControlMode::kExplicit, {"a"}));
  EXPECT_TRUE(m.Get("a", -1).ok());
  EXPECT_EQ(m.Get("b", -1).status().code(), StatusCode::kNotFound);

  auto index = m.RepositoryIndex(false);
  ASSERT_EQ(index.size(), 2u);
  EXPECT_EQ(index[0].name, "a");
  EXPECT_EQ(index[0].state, ModelState::kReady);
  EXPECT_EQ(index[0].version, 1);
  EXPECT_EQ(index[1].name, "b");
  EXPECT_EQ(index[1].state, ModelState::kUnavailable);
  EXPECT_EQ(index[1].version, -1);
  EXPECT_EQ(index[1].reason, "not loaded");
  EXPECT_EQ(m.RepositoryIndex(true).size(), 1u);
  EXPECT_TRUE(m.AllReady());

  ASSERT_TRUE(m.Load("b").ok());
  EXPECT_TRUE(m.Get("b", -1).ok());
  ASSERT_TRUE(m.Unload("a", /*unload_dependents=*/true).ok());
  EXPECT_EQ(m.Get("a", -1).status().code(), StatusCode::kUnavailable);
  auto after_unload = m.RepositoryIndex(false);
  const ModelIndexEntry* a = Find(after_unload, "a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->state, ModelState::kUnavailable);
  EXPECT_EQ(a->reason, "unloaded");
  EXPECT_TRUE(m.AllReady()) << "an unloaded model does not make the server unready";
  // Unloading again, or a repository model never loaded, is a no-op.
  EXPECT_TRUE(m.Unload("a").ok());
  // And it loads again.
  ASSERT_TRUE(m.Load("a").ok());
  EXPECT_TRUE(m.Get("a", 1).ok());

  Status unknown = m.Load("nope");
  EXPECT_EQ(unknown.code(), StatusCode::kNotFound);
  EXPECT_THAT(unknown.message(), HasSubstr("failed to load 'nope'"));
  EXPECT_EQ(m.Unload("nope").code(), StatusCode::kNotFound);
  EXPECT_EQ(m.Load("../a").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(m.Poll().code(), StatusCode::kFailedPrecondition);
}

TEST_F(ModelManagerTest, ExplicitStarLoadsAllAndUnknownStartupModelIsRecorded) {
  AddModel("a");
  AddModel("b");
  ModelManager& m = Start(Opts(ModelControlMode::kExplicit, {"*", "ghost"}));
  EXPECT_TRUE(m.Get("a", -1).ok());
  EXPECT_TRUE(m.Get("b", -1).ok());
  auto index = m.Index();
  const ModelIndexEntry* ghost = Find(index, "ghost");
  ASSERT_NE(ghost, nullptr);
  EXPECT_THAT(ghost->reason, HasSubstr("failed to load 'ghost'"));
  EXPECT_FALSE(m.AllReady());
}

TEST_F(ModelManagerTest, BrokenConfigAndMissingFileFailAlone) {
  AddModel("good");
  AddModel("bad_syntax", "backend: \"identity\"\nmax_batch_size: \"x\"\n");
  AddModel("no_file", IdentityConfig(0, "default_model_filename: \"model.bin\"\n"));
  ModelManager& m = Start(Opts(ModelControlMode::kExplicit, {"*"}));
  EXPECT_TRUE(m.Get("good", -1).ok());
  auto index = m.Index();
  const ModelIndexEntry* bad = Find(index, "bad_syntax");
  ASSERT_NE(bad, nullptr);
  EXPECT_EQ(bad->state, ModelState::kUnavailable);
  EXPECT_THAT(bad->reason, HasSubstr("failed to load 'bad_syntax'"));
  EXPECT_THAT(bad->reason, HasSubstr("config.pbtxt:2"));
  const ModelIndexEntry* no_file = Find(index, "no_file");
  ASSERT_NE(no_file, nullptr);
  EXPECT_EQ(no_file->version, 1);
  EXPECT_THAT(no_file->reason, HasSubstr("failed to load 'no_file' version 1"));
  EXPECT_THAT(no_file->reason, HasSubstr("model.bin"));

  // Explicit loads report the same reasons; the good model keeps serving.
  Status again = m.Load("bad_syntax");
  EXPECT_FALSE(again.ok());
  EXPECT_THAT(again.message(), HasSubstr("failed to load 'bad_syntax'"));
  Status missing = m.Load("no_file");
  EXPECT_THAT(missing.message(), HasSubstr("failed to load 'no_file'"));
  EXPECT_TRUE(m.Get("good", -1).ok());
}

TEST_F(ModelManagerTest, ConfigOverrideJsonAcceptsNumbersAsStrings) {
  AddModel("a");
  ModelManager& m = Start(Opts(ModelControlMode::kExplicit));
  LoadParameters p;
  p.config_json = R"({"backend": "identity", "max_batch_size": "2",
    "input": [{"name": "X", "data_type": "TYPE_FP32", "dims": ["3"]}],
    "output": [{"name": "Y", "data_type": "TYPE_FP32", "dims": [3]}]})";
  Status st = m.Load("a", p);
  ASSERT_TRUE(st.ok()) << st.ToString();
  auto model = m.Get("a", -1);
  ASSERT_TRUE(model.ok());
  EXPECT_EQ((*model)->config().max_batch_size(), 2);
  EXPECT_EQ((*model)->config().input(0).name(), "X");
  EXPECT_EQ((*model)->config().input(0).dims(0), 3);

  p.config_json = R"({"backend": "identity", "max_batch_size": 2, "no_such_field": 1})";
  Status bad = m.Load("a", p);
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.message(), HasSubstr("failed to load 'a'"));
  EXPECT_THAT(bad.message(), HasSubstr("no_such_field"));
  p.config_json = "{not json";
  EXPECT_THAT(m.Load("a", p).message(), HasSubstr("failed to load 'a'"));
  // A failed reload leaves the loaded version serving.
  auto still = m.Get("a", -1);
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(*still, *model);
}

TEST_F(ModelManagerTest, UploadedFilesLoadFromAPrivateDirectoryRemovedOnUnload) {
  ModelManager& m = Start(Opts(ModelControlMode::kExplicit));
  LoadParameters p;
  p.files["1/model.bin"] = std::string("\0\1\2", 3);
  Status no_config = m.Load("up", p);
  EXPECT_EQ(no_config.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(no_config.message(), HasSubstr("failed to load 'up'"));

  p.config_json = R"({"backend": "identity", "max_batch_size": 4,
    "default_model_filename": "model.bin",
    "input": [{"name": "IN", "data_type": "TYPE_FP32", "dims": [-1]}],
    "output": [{"name": "OUT", "data_type": "TYPE_FP32", "dims": [-1]}]})";
  ASSERT_TRUE(m.Load("up", p).ok());
  EXPECT_TRUE(m.Get("up", 1).ok());
  EXPECT_FALSE(fs::is_empty(uploads_));
  ASSERT_TRUE(m.Unload("up").ok());
  EXPECT_TRUE(fs::is_empty(uploads_)) << "the private directory outlived the model";

  LoadParameters escape = p;
  escape.files = {{"../evil", "x"}};
  EXPECT_EQ(m.Load("up", escape).code(), StatusCode::kInvalidArgument);
  escape.files = {{"/abs", "x"}};
  EXPECT_EQ(m.Load("up", escape).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(fs::is_empty(uploads_));
  EXPECT_FALSE(fs::exists(fs::path(base_) / "evil"));
}

TEST_F(ModelManagerTest, PollAddsRemovesAndReloadsChangedModels) {
  AddModel("a");
  ModelManager::Options o = Opts(ModelControlMode::kPoll);
  ModelManager& m = Start(o);
  EXPECT_EQ(m.Load("a").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(m.Unload("a").code(), StatusCode::kFailedPrecondition);
  auto first = m.Get("a", -1);
  ASSERT_TRUE(first.ok());

  // Nothing changed: the same model object keeps serving.
  ASSERT_TRUE(m.Poll().ok());
  EXPECT_EQ(*m.Get("a", -1), *first);

  AddModel("b");
  ASSERT_TRUE(m.Poll().ok());
  EXPECT_TRUE(m.Get("b", -1).ok());

  // A changed config reloads.
  Write("a/config.pbtxt", IdentityConfig(1));
  ASSERT_TRUE(m.Poll().ok());
  auto second = m.Get("a", -1);
  ASSERT_TRUE(second.ok());
  EXPECT_NE(*second, *first);
  EXPECT_EQ((*second)->config().parameters().at("execute_delay_ms").string_value(), "1");

  // A new version replaces the old one (default policy: latest 1).
  fs::create_directories(fs::path(repo_) / "a" / "2");
  ASSERT_TRUE(m.Poll().ok());
  EXPECT_TRUE(m.Get("a", 2).ok());
  EXPECT_EQ(m.Get("a", 1).status().code(), StatusCode::kNotFound);

  // A broken edit keeps the loaded version serving.
  Write("a/config.pbtxt", "backend: \"identity\"\nmax_batch_size: \"x\"\n");
  ASSERT_TRUE(m.Poll().ok());
  EXPECT_TRUE(m.Get("a", 2).ok());

  fs::remove_all(fs::path(repo_) / "b");
  ASSERT_TRUE(m.Poll().ok());
  EXPECT_EQ(m.Get("b", -1).status().code(), StatusCode::kNotFound);
  auto final_index = m.RepositoryIndex(false);
  EXPECT_EQ(Find(final_index, "b"), nullptr);
}

TEST_F(ModelManagerTest, UnloadDrainsEveryAcceptedRequest) {
  AddModel("slow", IdentityConfig(10));
  InferenceServer& s = StartServer(ModelControlMode::kExplicit, {"slow"});
  constexpr int kRequests = 40;
  std::atomic<int> ok{0}, failed{0};
  for (int i = 0; i < kRequests; ++i) {
    s.Infer(Request("slow", [&](const Status& st) { (st.ok() ? ok : failed).fetch_add(1); }));
  }
  // Every request above was accepted (queued); unload must wait for all.
  ASSERT_TRUE(s.UnloadModel("slow", false).ok());
  EXPECT_EQ(ok.load(), kRequests);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(SettledInFlight(s), 0u);

  std::promise<Status> after;
  s.Infer(Request("slow", [&](const Status& st) { after.set_value(st); }));
  Status st = after.get_future().get();
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_THAT(st.message(), HasSubstr("unloaded"));
}

TEST_F(ModelManagerTest, ConcurrentInferDuringUnloadLosesNothing) {
  AddModel("slow", IdentityConfig(2));
  InferenceServer& s = StartServer(ModelControlMode::kExplicit, {"slow"});
  std::atomic<int> ok{0}, refused{0}, other{0}, submitted{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      while (!stop.load()) {
        std::promise<void> done;
        s.Infer(Request("slow", [&](const Status& st) {
          if (st.ok()) {
            ok.fetch_add(1);
          } else if (st.code() == StatusCode::kUnavailable ||
                     st.code() == StatusCode::kNotFound) {
            refused.fetch_add(1);
          } else {
            other.fetch_add(1);
          }
          done.set_value();
        }));
        submitted.fetch_add(1);
        done.get_future().wait();
      }
    });
  }
  EXPECT_TRUE(WaitUntil([&] { return ok.load() >= 20; }));
  EXPECT_TRUE(s.UnloadModel("slow", false).ok());
  EXPECT_TRUE(WaitUntil([&] { return refused.load() >= 8; }));
  stop = true;
  for (auto& c : clients) c.join();
  EXPECT_EQ(ok.load() + refused.load(), submitted.load()) << "a request was lost";
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(SettledInFlight(s), 0u);
}

TEST_F(ModelManagerTest, ReloadSwapsVersionsWithoutAGap) {
  AddModel("m", IdentityConfig(1));
  InferenceServer& s = StartServer(ModelControlMode::kExplicit, {"m"});
  auto first = s.GetModel("m", -1);
  ASSERT_TRUE(first.ok());
  std::atomic<int> ok{0}, failed{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < 3; ++t) {
    clients.emplace_back([&] {
      while (!stop.load()) {
        std::promise<void> done;
        s.Infer(Request("m", [&](const Status& st) {
          (st.ok() ? ok : failed).fetch_add(1);
          done.set_value();
        }));
        done.get_future().wait();
      }
    });
  }
  for (int i = 0; i < 4; ++i) {
    // Alternate versions 1 and 2 so every reload really swaps models.
    fs::create_directories(fs::path(repo_) / "m" / "2");
    if (i % 2) fs::remove_all(fs::path(repo_) / "m" / "2");
    int before = ok.load();
    EXPECT_TRUE(s.LoadModel("m", {}).ok());
    EXPECT_TRUE(WaitUntil([&] { return ok.load() >= before + 10; }));
  }
  stop = true;
  for (auto& c : clients) c.join();
  EXPECT_EQ(failed.load(), 0) << "a request saw no servable version during a reload";
  auto last = s.GetModel("m", -1);
  ASSERT_TRUE(last.ok());
  EXPECT_NE(*last, *first);
  EXPECT_EQ(SettledInFlight(s), 0u);
}

// Runs one request for `model` with input [1, 1] = `value`; returns the
// response (its status and outputs).
std::unique_ptr<InferenceResponse> InferOne(InferenceServer& s, const std::string& model,
                                            float value) {
  auto r = std::make_unique<InferenceRequest>();
  r->model_name = model;
  auto data = std::make_shared<float>(value);
  r->inputs.push_back(
      {"IN", TensorView{DataType::kFp32, {1, 1}, reinterpret_cast<char*>(data.get()), 4}, {}});
  r->buffer_owner = data;
  std::promise<std::unique_ptr<InferenceResponse>> done;
  r->set_callback([&done](std::unique_ptr<InferenceResponse> resp) {
    done.set_value(std::move(resp));
  });
  s.Infer(std::move(r));
  return done.get_future().get();
}

float OutputValue(const InferenceResponse& response) {
  EXPECT_TRUE(response.status.ok()) << response.status.ToString();
  if (response.outputs.empty()) return -1;
  return *response.outputs[0].tensor.data_as<float>();
}

TEST_F(ModelManagerTest, ResponseCacheHitsSkipTheBackendAndReloadsStartAfresh) {
  AddModel("c", IdentityConfig(0, "response_cache { enable: true }\n"));
  AddModel("u");
  InferenceServer& s =
      StartServer(ModelControlMode::kExplicit, {"c", "u"}, ResponseCacheOptions{1 << 20});
  ASSERT_NE(s.response_cache(), nullptr);
  EXPECT_TRUE((*s.GetModel("c", -1))->response_cache_enabled());
  EXPECT_FALSE((*s.GetModel("u", -1))->response_cache_enabled());

  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(OutputValue(*InferOne(s, "c", 1.5f)), 1.5f);
    EXPECT_EQ(OutputValue(*InferOne(s, "u", 1.5f)), 1.5f);
  }
  EXPECT_EQ(OutputValue(*InferOne(s, "c", 2.5f)), 2.5f);
  ModelStatsSnapshot c = (*s.GetModel("c", -1))->statistics().Snapshot();
  EXPECT_TRUE(c.cache_enabled);
  EXPECT_EQ(c.cache_hit.count, 2u);
  EXPECT_EQ(c.cache_miss.count, 2u);
  EXPECT_EQ(c.success.count, 4u);
  EXPECT_EQ(c.queue.count, 4u);
  EXPECT_EQ(c.compute_infer.count, 2u);
  EXPECT_EQ(c.execution_count, 2u);
  EXPECT_EQ(c.inference_count, 2u);
  ModelStatsSnapshot u = (*s.GetModel("u", -1))->statistics().Snapshot();
  EXPECT_FALSE(u.cache_enabled);
  EXPECT_EQ(u.cache_hit.count + u.cache_miss.count, 0u);
  EXPECT_EQ(u.execution_count, 3u);
  ResponseCacheStats cs = s.response_cache()->Stats();
  EXPECT_EQ(cs.entries, 2u);
  EXPECT_EQ(cs.hits, 2u);

  // A reloaded version (same number, maybe new files) never serves the
  // answers of the one it replaced.
  ASSERT_TRUE(s.LoadModel("c", {}).ok());
  EXPECT_EQ(OutputValue(*InferOne(s, "c", 1.5f)), 1.5f);
  c = (*s.GetModel("c", -1))->statistics().Snapshot();
  EXPECT_EQ(c.cache_hit.count, 0u);
  EXPECT_EQ(c.cache_miss.count, 1u);
  EXPECT_EQ(c.execution_count, 1u);
  EXPECT_EQ(OutputValue(*InferOne(s, "c", 1.5f)), 1.5f);
  EXPECT_EQ((*s.GetModel("c", -1))->statistics().Snapshot().cache_hit.count, 1u);
  EXPECT_EQ(SettledInFlight(s), 0u);
}

TEST_F(ModelManagerTest, ResponseCacheConfigWithoutServerCacheRunsUncached) {
  AddModel("c", IdentityConfig(0, "response_cache { enable: true }\n"));
  InferenceServer& s = StartServer(ModelControlMode::kExplicit, {"c"});
  EXPECT_EQ(s.response_cache(), nullptr);
  auto model = s.GetModel("c", -1);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_FALSE((*model)->response_cache_enabled());
  EXPECT_EQ(OutputValue(*InferOne(s, "c", 1.5f)), 1.5f);
  EXPECT_EQ(OutputValue(*InferOne(s, "c", 1.5f)), 1.5f);
  ModelStatsSnapshot c = (*model)->statistics().Snapshot();
  EXPECT_FALSE(c.cache_enabled);
  EXPECT_EQ(c.execution_count, 2u);
  EXPECT_EQ(c.cache_hit.count + c.cache_miss.count, 0u);
}

// Identical requests from several threads while the version is reloaded
// again and again: requests racing a swap are re-routed (their insertion is
// dropped), every answer is right and nothing is lost.
TEST_F(ModelManagerTest, ResponseCacheDuringReloads) {
  AddModel("c", IdentityConfig(1, "response_cache { enable: true }\n"));
  InferenceServer& s =
      StartServer(ModelControlMode::kExplicit, {"c"}, ResponseCacheOptions{1 << 20});
  std::atomic<int> ok{0}, wrong{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < 3; ++t) {
    clients.emplace_back([&, t] {
      while (!stop.load()) {
        const float v = static_cast<float>(t % 2) + 0.5f;
        auto resp = InferOne(s, "c", v);
        if (resp->status.ok() && !resp->outputs.empty() &&
            *resp->outputs[0].tensor.data_as<float>() == v) {
          ok.fetch_add(1);
        } else {
          wrong.fetch_add(1);
        }
      }
    });
  }
  for (int i = 0; i < 4; ++i) {
    const int before = ok.load();
    EXPECT_TRUE(s.LoadModel("c", {}).ok());
    EXPECT_TRUE(WaitUntil([&] { return ok.load() >= before + 10; }));
  }
  stop = true;
  for (auto& c : clients) c.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(s.response_cache()->Stats().hits, 0u);
  EXPECT_EQ(SettledInFlight(s), 0u);
}

TEST_F(ModelManagerTest, AsyncLoadAndUnloadRunOnTheControlThread) {
  AddModel("a");
  ModelManager& m = Start(Opts(ModelControlMode::kExplicit));
  std::promise<Status> loaded, unloaded, refused, late;
  const auto caller = std::this_thread::get_id();
  std::thread::id ran_on;
  m.LoadAsync("a", {}, [&](Status st) {
    ran_on = std::this_thread::get_id();
    loaded.set_value(st);
  });
  EXPECT_TRUE(loaded.get_future().get().ok());
  EXPECT_NE(ran_on, caller);
  EXPECT_TRUE(m.Get("a", -1).ok());
  m.UnloadAsync("a", true, [&](Status st) { unloaded.set_value(st); });
  EXPECT_TRUE(unloaded.get_future().get().ok());
  EXPECT_FALSE(m.Get("a", -1).ok());
  m.LoadAsync("ghost", {}, [&](Status st) { refused.set_value(st); });
  EXPECT_THAT(refused.get_future().get().message(), HasSubstr("failed to load 'ghost'"));
  m.StopAll();
  m.LoadAsync("a", {}, [&](Status st) { late.set_value(st); });
  EXPECT_EQ(late.get_future().get().code(), StatusCode::kUnavailable);
}

TEST(LoadParametersTest, FilePathsMustStayInside) {
  EXPECT_TRUE(ValidateModelFilePath("1/model.onnx").ok());
  EXPECT_TRUE(ValidateModelFilePath("labels.txt").ok());
  for (const char* bad : {"", "/etc/passwd", "../x", "1/../../x", "1//x", "./x", "1/"}) {
    EXPECT_EQ(ValidateModelFilePath(bad).code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(LoadParametersTest, ControlModeNames) {
  EXPECT_EQ(*ParseModelControlMode("poll"), ModelControlMode::kPoll);
  EXPECT_EQ(*ParseModelControlMode("explicit"), ModelControlMode::kExplicit);
  EXPECT_EQ(*ParseModelControlMode("none"), ModelControlMode::kNone);
  EXPECT_FALSE(ParseModelControlMode("EXPLICIT").ok());
}

}  // namespace
}  // namespace nereid::core
