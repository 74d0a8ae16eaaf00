// PythonBackend: Triton's Python backend (`backend: "python"`, model.py
// with class TritonPythonModel). Each instance runs in a worker process of
// its own (see python_instance.h for why and what that guarantees).
//
// Thread safety: Load/AutoCompleteConfig may run concurrently (the worker
// scripts are written once, under a lock).
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "core/backend/backend.h"

namespace nereid::backends {

struct PythonBackendOptions {
  // The interpreter that runs models; it needs numpy.
  std::string interpreter = "/usr/bin/python3";
  // Defaults for the model parameters EXECUTE_TIMEOUT_SECONDS and
  // INITIALIZE_TIMEOUT_SECONDS.
  std::chrono::milliseconds execute_timeout{300000};
  std::chrono::milliseconds initialize_timeout{120000};
  // First size of each instance's shared memory (it grows on demand).
  size_t region_bytes = 1 << 20;
};

// Applies `--backend-config=python,KEY=VALUE` settings: interpreter,
// execute-timeout-seconds, initialize-timeout-seconds, shm-default-byte-size.
Status ApplyPythonBackendConfig(const std::map<std::string, std::string>& settings,
                                PythonBackendOptions* options);

class PythonBackend final : public core::Backend {
 public:
  explicit PythonBackend(PythonBackendOptions options = {});
  ~PythonBackend() override;

  std::string name() const override { return "python"; }
  std::string default_model_filename() const override { return "model.py"; }
  // Calls TritonPythonModel.auto_complete_config when model.py defines it.
  Status AutoCompleteConfig(const core::ModelFiles& files, inference::ModelConfig* config) override;
  StatusOr<std::unique_ptr<core::BackendModel>> Load(const inference::ModelConfig& config,
                                                     const core::ModelFiles& files) override;

 private:
  // The worker script, written (with triton_python_backend_utils.py) to a
  // private temporary directory on first use.
  StatusOr<std::string> WorkerScript();

  PythonBackendOptions options_;
  std::mutex mu_;
  std::string dir_;  // guarded by mu_
};

}  // namespace nereid::backends
