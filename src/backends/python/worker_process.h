// WorkerProcess: one Python interpreter process running a model instance
// (py/nereid_python_worker.py), the socket to it and the shared memory file
// the two exchange execute() tensors through.
//
// Wire format, both directions: frames of
//   uint32 json_length | uint64 payload_length (little endian) | JSON | payload
// (see the worker script for the messages).
//
// Thread safety: Send() may be called from any thread (frames are written
// whole under a lock). Receive() from one thread at a time. Region access
// (region(), RemapTo, EnsureRegion) only from the thread that runs the
// instance's Execute.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace nereid::backends::python {

struct Frame {
  std::string json;
  // Shared so that tensors wrapping payload bytes can keep them alive.
  std::shared_ptr<std::string> payload;
};

struct PayloadPiece {
  const char* data;
  size_t size;
};

class WorkerProcess {
 public:
  struct Options {
    std::string interpreter;  // e.g. /usr/bin/python3
    std::string script;       // nereid_python_worker.py
    std::string label;        // for messages: "model 'x' instance y"
    size_t region_bytes = 1 << 20;
  };

  // Starts the interpreter with its end of a socket pair on fd 3 and the
  // shared memory file on fd 4.
  static StatusOr<std::unique_ptr<WorkerProcess>> Spawn(const Options& options);
  // Kills the process (SIGKILL) if it still runs and reaps it.
  ~WorkerProcess();

  Status Send(std::string_view json, const std::vector<PayloadPiece>& payload = {});
  // The next frame. DeadlineExceeded when none arrives by `deadline`;
  // Unavailable when the process closed its end (usually: it died).
  Status Receive(Frame* frame,
                 std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt);

  // Kills the process now; later Sends fail and Receive sees the close.
  void Kill();
  // Why the process ended ("exited with status 1", "was killed by signal 11
  // (Segmentation fault)"), waiting up to `wait` for it to end; "is still
  // running" otherwise.
  std::string ExitDescription(std::chrono::milliseconds wait = std::chrono::milliseconds(1000));

  // The shared memory region, mapped at its current size.
  char* region() const { return region_; }
  size_t region_size() const { return region_size_; }
  // Grows the file (and our mapping) to at least `bytes`.
  Status EnsureRegion(size_t bytes);
  // Maps the file again at `bytes` (the worker grew it).
  Status RemapTo(size_t bytes);

 private:
  WorkerProcess() = default;
  Status ReadExact(char* data, size_t size,
                   std::optional<std::chrono::steady_clock::time_point> deadline);

  std::string label_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  int socket_fd_ = -1;
  int memfd_ = -1;
  // Received bytes not yet consumed (Receive's thread only).
  std::string rbuf_;
  size_t rpos_ = 0;
  char* region_ = nullptr;
  size_t region_size_ = 0;
  std::mutex write_mu_;
  std::mutex reap_mu_;
};

}  // namespace nereid::backends::python
