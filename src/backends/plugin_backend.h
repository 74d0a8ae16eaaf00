// PluginBackend: a Backend registered at start-up whose implementation lives
// in a shared library (backend_plugin.h) that is loaded on first use, the
// first AutoCompleteConfig or Load of a model naming it. A server whose
// repositories never use the backend never maps the library, so it pays
// nothing for a framework such as libtorch (about 290 shared libraries).
//
// The library is opened with RTLD_NOW, so a symbol missing from the
// executable is reported at that moment (dlerror's text in the model's load
// error) instead of crashing a request later. It is never closed: the
// frameworks register exit handlers and thread-locals that must outlive it,
// and tensors returned to clients may still be owned by its code.
//
// A failed load is not remembered: the next model load tries again, so a
// plugin built after the server started is picked up without a restart.
//
// Thread safety: all methods may be called from any thread; the first load
// is serialized by a mutex that is not held while the plugin's backend runs.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "core/backend/backend.h"

namespace nereid::backends {

struct PluginBackendOptions {
  std::string name;                    // the config's `backend` ("pytorch")
  std::string default_model_filename;  // "model.pt"
  std::string library;                 // file name in `directory`
  std::string directory;               // empty: DefaultBackendDirectory()
  // Non-empty: this build has no such plugin; every use fails with this text
  // (the backend stays registered so the error names the reason).
  std::string unavailable;
};

// <directory of the running executable>/backends, from /proc/self/exe
// ("backends" in the working directory if that cannot be read).
std::string DefaultBackendDirectory();

class PluginBackend final : public core::Backend {
 public:
  explicit PluginBackend(PluginBackendOptions options);

  std::string name() const override { return options_.name; }
  std::string default_model_filename() const override { return options_.default_model_filename; }
  Status AutoCompleteConfig(const core::ModelFiles& files, inference::ModelConfig* config) override;
  StatusOr<std::unique_ptr<core::BackendModel>> Load(const inference::ModelConfig& config,
                                                     const core::ModelFiles& files) override;

  // The library's full path.
  std::string LibraryPath() const;

 private:
  // The plugin's backend, loading the library on first use.
  StatusOr<std::shared_ptr<core::Backend>> Resolve();
  StatusOr<std::shared_ptr<core::Backend>> Open() const;

  const PluginBackendOptions options_;
  std::mutex mu_;
  std::shared_ptr<core::Backend> loaded_;  // guarded by mu_
};

}  // namespace nereid::backends
