// Ensembles through the model manager and InferenceServer with the identity
// backend: load order, explicit loads pulling in composing models,
// unload_dependents, composing models going away and coming back, nested
// ensembles, ensembles that would contain each other, and poll mode
// re-checking an ensemble when its composing model appears.
//
// Lives outside src/core because it wires in a backend (core never includes
// backends).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "backends/identity/identity_backend.h"
#include "core/repository/model_manager.h"
#include "core/server.h"

namespace nereid::core {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr char kIdentity[] = R"(backend: "identity"
max_batch_size: 4
input [ { name: "IN" data_type: TYPE_FP32 dims: [ -1 ] } ]
output [ { name: "OUT" data_type: TYPE_FP32 dims: [ -1 ] } ]
)";

// An ensemble IN -> models[0] -> ... -> models[n-1] -> OUT.
std::string Chain(const std::vector<std::string>& models) {
  std::string c = R"(platform: "ensemble"
max_batch_size: 4
input [ { name: "IN" data_type: TYPE_FP32 dims: [ -1 ] } ]
output [ { name: "OUT" data_type: TYPE_FP32 dims: [ -1 ] } ]
ensemble_scheduling { step [
)";
  for (size_t i = 0; i < models.size(); ++i) {
    std::string in = i == 0 ? "IN" : "T" + std::to_string(i);
    std::string out = i + 1 == models.size() ? "OUT" : "T" + std::to_string(i + 1);
    c += std::string(i ? "," : "") + "{ model_name: \"" + models[i] +
         "\" input_map { key: \"IN\" value: \"" + in + "\" } output_map { key: \"OUT\" value: \"" +
         out + "\" } }\n";
  }
  return c + "] }\n";
}

class EnsembleManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "nereid_ens_test_XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    repo_ = templ;
    registry_ = std::make_shared<BackendRegistry>();
    registry_->Register(std::make_shared<backends::IdentityBackend>());
  }
  void TearDown() override {
    server_.reset();
    manager_.reset();
    std::error_code ec;
    fs::remove_all(repo_, ec);
  }

  void AddModel(const std::string& name, const std::string& config) {
    fs::create_directories(fs::path(repo_) / name / "1");
    std::ofstream(fs::path(repo_) / name / "config.pbtxt", std::ios::trunc) << config;
  }

  InferenceServer& StartServer(ModelControlMode mode, std::vector<std::string> startup = {}) {
    ServerOptions so;
    so.repositories = {repo_};
    so.control_mode = mode;
    so.startup_models = std::move(startup);
    auto s = InferenceServer::Create(so, registry_, clock_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    return *server_;
  }

  // Runs `model` on {1.5, 2.5}; the response (waited for, bounded).
  std::unique_ptr<InferenceResponse> Infer(const std::string& model) {
    auto r = std::make_unique<InferenceRequest>();
    r->model_name = model;
    auto data = std::make_shared<std::vector<float>>(std::vector<float>{1.5f, 2.5f});
    r->inputs.push_back(
        {"IN",
         TensorView{DataType::kFp32, {1, 2}, reinterpret_cast<const char*>(data->data()), 8},
         {}});
    r->buffer_owner = data;
    std::promise<std::unique_ptr<InferenceResponse>> done;
    auto got = done.get_future();
    r->set_callback(
        [&done](std::unique_ptr<InferenceResponse> resp) { done.set_value(std::move(resp)); });
    server_->Infer(std::move(r));
    EXPECT_EQ(got.wait_for(std::chrono::seconds(20)), std::future_status::ready);
    return got.get();
  }

  // The in-flight count falls just after the client's callback returns.
  static size_t SettledInFlight(const InferenceServer& s) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (s.InFlight() != 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    return s.InFlight();
  }

  ModelIndexEntry Entry(const std::string& name) {
    auto index = server_ ? server_->RepositoryIndex(false) : manager_->RepositoryIndex(false);
    for (const auto& e : index) {
      if (e.name == name) return e;
    }
    return {};
  }

  std::string repo_;
  FakeClock clock_;
  std::shared_ptr<BackendRegistry> registry_;
  std::unique_ptr<InferenceServer> server_;
  std::unique_ptr<ModelManager> manager_;
};

TEST_F(EnsembleManagerTest, NoneModeLoadsComposingModelsFirst) {
  // "a_ens" sorts before its composing models and the ensemble inside it.
  AddModel("a_ens", Chain({"z_id", "m_inner"}));
  AddModel("m_inner", Chain({"z_id", "z_id"}));
  AddModel("z_id", kIdentity);
  InferenceServer& s = StartServer(ModelControlMode::kNone);
  EXPECT_TRUE(s.IsReady());
  EXPECT_EQ(Entry("a_ens").state, ModelState::kReady) << Entry("a_ens").reason;
  auto resp = Infer("a_ens");
  ASSERT_TRUE(resp->status.ok()) << resp->status.ToString();
  ASSERT_EQ(resp->outputs.size(), 1u);
  EXPECT_EQ(resp->outputs[0].name, "OUT");
  EXPECT_EQ(resp->outputs[0].tensor.data_as<float>()[1], 2.5f);
  EXPECT_EQ(resp->model_name, "a_ens");
  // Every model counted its own request: the identity ran three times.
  auto stats = s.Statistics("z_id", -1);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ((*stats)[0].success.count, 3u);
  EXPECT_EQ((*s.Statistics("m_inner", -1))[0].success.count, 1u);
  EXPECT_EQ((*s.Statistics("a_ens", -1))[0].success.count, 1u);
}

TEST_F(EnsembleManagerTest, ExplicitLoadPullsInComposingModelsAndUnloadDependents) {
  AddModel("ens", Chain({"id_a", "id_b"}));
  AddModel("id_a", kIdentity);
  AddModel("id_b", kIdentity);
  InferenceServer& s = StartServer(ModelControlMode::kExplicit);
  EXPECT_EQ(Entry("id_a").reason, "not loaded");
  ASSERT_TRUE(s.LoadModel("ens", {}).ok());
  EXPECT_EQ(Entry("id_a").state, ModelState::kReady);
  EXPECT_EQ(Entry("id_b").state, ModelState::kReady);
  EXPECT_TRUE(Infer("ens")->status.ok());

  // Without unload_dependents the composing models stay.
  ASSERT_TRUE(s.UnloadModel("ens", false).ok());
  EXPECT_EQ(Entry("ens").reason, "unloaded");
  EXPECT_EQ(Entry("id_a").state, ModelState::kReady);
  // id_a asked for by name stays even with unload_dependents; id_b goes.
  ASSERT_TRUE(s.LoadModel("ens", {}).ok());
  ASSERT_TRUE(s.LoadModel("id_a", {}).ok());
  ASSERT_TRUE(s.UnloadModel("ens", true).ok());
  EXPECT_EQ(Entry("id_a").state, ModelState::kReady);
  EXPECT_EQ(Entry("id_b").state, ModelState::kUnavailable);
  EXPECT_EQ(Entry("id_b").reason, "unloaded");
}

TEST_F(EnsembleManagerTest, UnloadDependentsKeepsModelsAnotherEnsembleUses) {
  AddModel("e1", Chain({"shared", "only1"}));
  AddModel("e2", Chain({"shared"}));
  AddModel("shared", kIdentity);
  AddModel("only1", kIdentity);
  InferenceServer& s = StartServer(ModelControlMode::kExplicit, {"e1", "e2"});
  ASSERT_EQ(Entry("shared").state, ModelState::kReady);
  ASSERT_TRUE(s.UnloadModel("e1", true).ok());
  EXPECT_EQ(Entry("only1").state, ModelState::kUnavailable);
  EXPECT_EQ(Entry("shared").state, ModelState::kReady);
  EXPECT_TRUE(Infer("e2")->status.ok());
}

TEST_F(EnsembleManagerTest, ComposingModelUnloadedFailsRequestsUntilReloaded) {
  AddModel("ens", Chain({"id_a", "id_b"}));
  AddModel("id_a", kIdentity);
  AddModel("id_b", kIdentity);
  InferenceServer& s = StartServer(ModelControlMode::kExplicit, {"ens"});
  ASSERT_TRUE(s.UnloadModel("id_b", false).ok());
  auto failed = Infer("ens");
  EXPECT_EQ(failed->status.code(), StatusCode::kUnavailable);
  EXPECT_THAT(failed->status.message(), AllOf(HasSubstr("in ensemble 'ens', step 1 (model 'id_b')"),
                                              HasSubstr("not ready"), HasSubstr("unloaded")));
  EXPECT_EQ((*s.Statistics("ens", -1))[0].fail.count, 1u);
  ASSERT_TRUE(s.LoadModel("id_b", {}).ok());
  EXPECT_TRUE(Infer("ens")->status.ok());
  EXPECT_EQ(SettledInFlight(s), 0u);
}

TEST_F(EnsembleManagerTest, EnsemblesThatContainEachOtherFailToLoad) {
  AddModel("loop1", Chain({"id", "loop2"}));
  AddModel("loop2", Chain({"loop1"}));
  AddModel("id", kIdentity);
  InferenceServer& s = StartServer(ModelControlMode::kNone);
  EXPECT_THAT(Entry("loop2").reason,
              AllOf(HasSubstr("failed to load 'loop2'"), HasSubstr("cannot contain each other")));
  EXPECT_THAT(Entry("loop1").reason, AllOf(HasSubstr("failed to load 'loop1'"),
                                           HasSubstr("'loop1' -> 'loop2' -> 'loop1'")));
  EXPECT_EQ(Entry("id").state, ModelState::kReady);
  EXPECT_FALSE(s.IsReady());
}

TEST_F(EnsembleManagerTest, ReloadThatWouldCloseALoopIsRefused) {
  AddModel("inner", Chain({"id"}));
  AddModel("outer", Chain({"inner"}));
  AddModel("id", kIdentity);
  InferenceServer& s = StartServer(ModelControlMode::kExplicit, {"outer"});
  ASSERT_EQ(Entry("inner").state, ModelState::kReady);
  LoadParameters p;
  p.config_json = R"({"name": "inner", "platform": "ensemble", "max_batch_size": 4,
      "input": [{"name": "IN", "data_type": "TYPE_FP32", "dims": [-1]}],
      "output": [{"name": "OUT", "data_type": "TYPE_FP32", "dims": [-1]}],
      "ensemble_scheduling": {"step": [{"model_name": "outer", "model_version": -1,
          "input_map": {"IN": "IN"}, "output_map": {"OUT": "OUT"}}]}})";
  Status st = s.LoadModel("inner", p);
  EXPECT_THAT(st.message(), AllOf(HasSubstr("failed to load 'inner'"),
                                  HasSubstr("'inner' -> 'outer' -> 'inner'")));
  // The old version keeps serving.
  EXPECT_TRUE(Infer("outer")->status.ok());
}

TEST_F(EnsembleManagerTest, PollLoadsAnEnsembleOnceItsComposingModelAppears) {
  AddModel("ens", Chain({"late"}));
  ModelManager::Options o;
  o.repositories = {repo_};
  o.control_mode = ModelControlMode::kPoll;
  o.ensemble_submit = [](std::unique_ptr<InferenceRequest> r) {
    r->CompleteWithError(Unavailable("no server in this test"));
  };
  manager_ = std::make_unique<ModelManager>(o, registry_, clock_);
  ASSERT_TRUE(manager_->Start().ok());
  EXPECT_THAT(Entry("ens").reason,
              AllOf(HasSubstr("failed to load 'ens'"), HasSubstr("step 0 (model 'late')"),
                    HasSubstr("not available"), HasSubstr("unknown model")));
  AddModel("late", kIdentity);
  ASSERT_TRUE(manager_->Poll().ok());
  EXPECT_EQ(Entry("late").state, ModelState::kReady);
  EXPECT_EQ(Entry("ens").state, ModelState::kReady) << Entry("ens").reason;
  // A composing model whose config no longer fits makes the re-check fail;
  // the loaded version of the ensemble is kept (as any failed reload).
  std::ofstream(fs::path(repo_) / "late" / "config.pbtxt", std::ios::trunc)
      << R"(backend: "identity" max_batch_size: 4
input [ { name: "IN" data_type: TYPE_INT32 dims: [ -1 ] } ]
output [ { name: "OUT" data_type: TYPE_INT32 dims: [ -1 ] } ])";
  fs::last_write_time(fs::path(repo_) / "late" / "config.pbtxt",
                      fs::file_time_type::clock::now() + std::chrono::seconds(5));
  ASSERT_TRUE(manager_->Poll().ok());
  EXPECT_EQ(Entry("ens").state, ModelState::kReady);
}

}  // namespace
}  // namespace nereid::core
