#include "backends/plugin_backend.h"

#include <gtest/gtest.h>

#include "backends/backend_plugin.h"
#include "backends/builtin_backends.h"
#include "proto/model_config.pb.h"

namespace nereid::backends {
namespace {

PluginBackendOptions Fake(const std::string& library) {
  PluginBackendOptions o;
  o.name = "fake";
  o.default_model_filename = "model.fake";
  o.library = library;
  o.directory = NEREID_FAKE_PLUGIN_DIR;
  return o;
}

Status LoadThrough(PluginBackend& backend) {
  inference::ModelConfig config;
  core::ModelFiles files;
  files.model_path = "/repo/m/1/model.fake";
  return backend.Load(config, files).status();
}

TEST(PluginBackendTest, LoadsThePluginOnFirstUseAndForwardsToIt) {
  PluginBackend backend(Fake("libfake_backend_good.so"));
  EXPECT_EQ(backend.name(), "fake");
  EXPECT_EQ(backend.default_model_filename(), "model.fake");
  Status st = LoadThrough(backend);
  EXPECT_EQ(st.code(), StatusCode::kUnimplemented);
  EXPECT_EQ(st.message(), "fake plugin loaded /repo/m/1/model.fake");
  // The second use reuses the loaded backend.
  EXPECT_EQ(LoadThrough(backend).message(), st.message());
}

TEST(PluginBackendTest, MissingLibraryGivesDlerrorAndTheFlag) {
  PluginBackend backend(Fake("libno_such_plugin.so"));
  Status st = LoadThrough(backend);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find(std::string(NEREID_FAKE_PLUGIN_DIR) + "/libno_such_plugin.so"),
            std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("cannot open shared object file"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("--backend-directory"), std::string::npos) << st.message();
}

TEST(PluginBackendTest, UnresolvedSymbolIsReportedAtLoad) {
  PluginBackend backend(Fake("libfake_backend_missing_symbol.so"));
  Status st = LoadThrough(backend);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("undefined symbol"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("NereidFunctionNobodyDefines"), std::string::npos) << st.message();
}

TEST(PluginBackendTest, OtherAbiVersionIsRefused) {
  PluginBackend backend(Fake("libfake_backend_abi.so"));
  Status st = LoadThrough(backend);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("ABI version " + std::to_string(kBackendPluginAbiVersion + 1000)),
            std::string::npos)
      << st.message();
}

TEST(PluginBackendTest, PluginProvidingAnotherBackendIsRefused) {
  PluginBackendOptions o = Fake("libfake_backend_good.so");
  o.name = "pytorch";
  PluginBackend backend(o);
  Status st = LoadThrough(backend);
  EXPECT_NE(st.message().find("provides backend 'fake', not 'pytorch'"), std::string::npos)
      << st.message();
}

TEST(PluginBackendTest, UnavailableBackendSaysWhy) {
  PluginBackendOptions o = Fake("libfake_backend_good.so");
  o.unavailable = "this build has none";
  PluginBackend backend(o);
  Status st = LoadThrough(backend);
  EXPECT_EQ(st.code(), StatusCode::kUnimplemented);
  EXPECT_EQ(st.message(), "backend 'fake' is not available: this build has none");
}

TEST(PluginBackendTest, DefaultDirectoryIsNextToTheExecutable) {
  const std::string dir = DefaultBackendDirectory();
  EXPECT_EQ(dir.substr(dir.size() - 9), "/backends") << dir;
  PluginBackendOptions o = Fake("libx.so");
  o.directory.clear();
  EXPECT_EQ(PluginBackend(o).LibraryPath(), dir + "/libx.so");
}

TEST(PluginBackendTest, BuiltinRegistryHasPytorchWithItsDefaultFile) {
  core::BackendRegistry registry;
  BuiltinBackendOptions options;
  options.backend_directory = "/nowhere";
  ASSERT_TRUE(RegisterBuiltinBackends(&registry, options).ok());
  auto pytorch = registry.Find("pytorch");
  ASSERT_NE(pytorch, nullptr);
  EXPECT_EQ(pytorch->default_model_filename(), "model.pt");
  // No plugin in /nowhere (or none in this build): the load says which.
  inference::ModelConfig config;
  Status st = pytorch->Load(config, core::ModelFiles{}).status();
  EXPECT_FALSE(st.ok());
  const bool missing_file =
      st.message().find("/nowhere/libnereid_backend_pytorch.so") != std::string::npos;
  const bool not_built = st.message().find("has no libtorch backend") != std::string::npos;
  EXPECT_TRUE(missing_file || not_built) << st.message();
}

}  // namespace
}  // namespace nereid::backends
