#include "backends/plugin_backend.h"

#include <dlfcn.h>

#include <chrono>
#include <filesystem>

#include "backends/backend_plugin.h"
#include "common/logging.h"

namespace nereid::backends {
namespace {

namespace fs = std::filesystem;

std::string DlError() {
  const char* e = dlerror();
  return e ? e : "unknown dlopen error";
}

}  // namespace

std::string DefaultBackendDirectory() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "backends";
  return (exe.parent_path() / "backends").string();
}

PluginBackend::PluginBackend(PluginBackendOptions options) : options_(std::move(options)) {}

std::string PluginBackend::LibraryPath() const {
  const std::string dir =
      options_.directory.empty() ? DefaultBackendDirectory() : options_.directory;
  return (fs::path(dir) / options_.library).string();
}

Status PluginBackend::AutoCompleteConfig(const core::ModelFiles& files,
                                         inference::ModelConfig* config) {
  ASSIGN_OR_RETURN(auto backend, Resolve());
  return backend->AutoCompleteConfig(files, config);
}

StatusOr<std::unique_ptr<core::BackendModel>> PluginBackend::Load(
    const inference::ModelConfig& config, const core::ModelFiles& files) {
  ASSIGN_OR_RETURN(auto backend, Resolve());
  return backend->Load(config, files);
}

StatusOr<std::shared_ptr<core::Backend>> PluginBackend::Resolve() {
  if (!options_.unavailable.empty()) {
    return Unimplemented("backend '" + options_.name +
                         "' is not available: " + options_.unavailable);
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!loaded_) {
    ASSIGN_OR_RETURN(loaded_, Open());
  }
  return loaded_;
}

StatusOr<std::shared_ptr<core::Backend>> PluginBackend::Open() const {
  const std::string path = LibraryPath();
  const std::string what = "backend '" + options_.name + "': cannot load the plugin " + path;
  const auto start = std::chrono::steady_clock::now();
  // RTLD_NOW: every symbol the plugin takes from the executable is bound
  // here, so a missing one fails this load with its name. RTLD_LOCAL: the
  // framework's symbols stay out of the global scope that later plugins see.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    return FailedPrecondition(what + ": " + DlError() +
                              " (build the plugin, or point --backend-directory at the "
                              "folder that holds it)");
  }
  dlerror();
  auto abi = reinterpret_cast<BackendPluginAbiFn>(dlsym(handle, kBackendPluginAbiSymbol));
  if (!abi) return FailedPrecondition(what + ": " + DlError());
  if (abi() != kBackendPluginAbiVersion) {
    return FailedPrecondition(what + ": it was built for plugin ABI version " +
                              std::to_string(abi()) + ", this server has version " +
                              std::to_string(kBackendPluginAbiVersion) +
                              " (rebuild the plugin with this server)");
  }
  auto create = reinterpret_cast<BackendPluginCreateFn>(dlsym(handle, kBackendPluginCreateSymbol));
  if (!create) return FailedPrecondition(what + ": " + DlError());
  StatusOr<std::shared_ptr<core::Backend>> backend = Internal("plugin created no backend");
  create(&backend);
  if (!backend.ok()) return backend.status().WithPrefix(what);
  if (!*backend || (*backend)->name() != options_.name) {
    return FailedPrecondition(what + ": it provides backend '" +
                              (*backend ? (*backend)->name() : std::string("(none)")) + "', not '" +
                              options_.name + "'");
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  NLOG(INFO) << "backend '" << options_.name << "': loaded " << path << " in " << ms << " ms";
  return backend;
}

}  // namespace nereid::backends
