// PythonInstance: one instance of a Python model, run by a worker process
// (WorkerProcess + py/nereid_python_worker.py).
//
// Isolation: the model's code never runs in the server's process. When
// execute() raises, the requests get the error text. When the worker dies
// (os._exit, a segfault in an extension, the OOM killer) or execute() runs
// past the model's timeout (the worker is then killed), the requests in
// flight get an error naming what happened and the next Execute starts a
// new worker (initialize() runs again). Other models and instances are not
// affected.
//
// Threads: Execute runs on the instance's thread. Non-decoupled models: that
// thread also reads the worker's frames until execute() returns. Decoupled
// models: a reader thread per worker handles every frame (responses may
// come after execute() returned) and tells Execute when execute() returned.
// BLS responses are written back by whichever thread completes the call.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "backends/python/wire.h"
#include "backends/python/worker_process.h"
#include "core/backend/backend.h"

namespace nereid::backends::python {

// What every instance of one loaded Python model shares.
struct PythonModelInfo {
  std::string interpreter;
  std::string worker_script;
  std::string model_file;    // .../<version>/model.py
  std::string model_name;
  std::string model_dir;
  int64_t version = 0;
  std::string config_json;   // ModelConfig as Triton prints it
  bool decoupled = false;
  OutputSpecs outputs;
  std::chrono::milliseconds execute_timeout{300000};
  std::chrono::milliseconds initialize_timeout{120000};
  size_t region_bytes = 1 << 20;
};

class PythonInstance final : public core::ModelInstance {
 public:
  // Starts the worker and runs initialize(); its errors fail the load.
  static StatusOr<std::unique_ptr<PythonInstance>> Create(
      std::shared_ptr<const PythonModelInfo> info, const core::InstanceOptions& options);
  // Runs finalize() (bounded wait), then stops the worker. Requests of a
  // decoupled model still waiting for responses get an error.
  ~PythonInstance() override;

  void Execute(std::vector<std::unique_ptr<core::InferenceRequest>>& requests) override;

  // State shared with the reader thread and BLS callbacks; public only so
  // that the .cc's helpers can name it.
  struct Connection;

 private:
  PythonInstance(std::shared_ptr<const PythonModelInfo> info, core::InstanceOptions options);
  Status StartWorker();
  // Kills the worker, fails what it still owed, joins the reader.
  void StopWorker(const Status& reason);
  void ReaderLoop(std::shared_ptr<Connection> c);

  std::shared_ptr<const PythonModelInfo> info_;
  core::InstanceOptions options_;
  std::string label_;
  std::shared_ptr<Connection> conn_;
  std::thread reader_;
  uint64_t next_key_ = 1;
};

}  // namespace nereid::backends::python
