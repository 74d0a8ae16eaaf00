// A backend plugin without a framework, for plugin_backend_test.cc. Built
// three times (src/backends/CMakeLists.txt):
//   FAKE_PLUGIN_GOOD            backend "fake", whose Load answers with a
//                               marker error the test looks for
//   FAKE_PLUGIN_ABI             reports another ABI version
//   FAKE_PLUGIN_MISSING_SYMBOL  calls a function nobody defines, so
//                               dlopen(RTLD_NOW) must refuse it
#include "backends/backend_plugin.h"

namespace {

class FakeBackend final : public nereid::core::Backend {
 public:
  std::string name() const override { return "fake"; }
  std::string default_model_filename() const override { return "model.fake"; }
  nereid::StatusOr<std::unique_ptr<nereid::core::BackendModel>> Load(
      const inference::ModelConfig&, const nereid::core::ModelFiles& files) override {
    return nereid::Unimplemented("fake plugin loaded " + files.model_path);
  }
};

}  // namespace

#ifdef FAKE_PLUGIN_MISSING_SYMBOL
void NereidFunctionNobodyDefines();
#endif

extern "C" int NereidBackendPluginAbiVersion() {
#ifdef FAKE_PLUGIN_ABI
  return nereid::backends::kBackendPluginAbiVersion + 1000;
#else
  return nereid::backends::kBackendPluginAbiVersion;
#endif
}

extern "C" void NereidCreateBackend(nereid::StatusOr<std::shared_ptr<nereid::core::Backend>>* out) {
#ifdef FAKE_PLUGIN_MISSING_SYMBOL
  NereidFunctionNobodyDefines();
#endif
  *out = std::shared_ptr<nereid::core::Backend>(std::make_shared<FakeBackend>());
}
