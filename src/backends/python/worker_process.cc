#include "backends/python/worker_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

extern char** environ;

namespace nereid::backends::python {
namespace {

constexpr int kChildSocketFd = 3;
constexpr int kChildShmFd = 4;
// Frames larger than this are refused: a corrupt length must not make us
// allocate without bound.
constexpr uint64_t kMaxFrameBytes = uint64_t{16} << 30;
constexpr size_t kReadChunk = 64 << 10;

std::string Errno(const std::string& what) { return what + ": " + strerror(errno); }

// Moves `fd` to a number >= 10 (close-on-exec), so that the child's dup2 to
// 3 and 4 never finds it already there (dup2 onto itself would keep the
// close-on-exec flag).
int MoveHigh(int fd) {
  int high = fcntl(fd, F_DUPFD_CLOEXEC, 10);
  close(fd);
  return high;
}

void PutLe32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void PutLe64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
uint64_t GetLe(const char* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return v;
}

}  // namespace

StatusOr<std::unique_ptr<WorkerProcess>> WorkerProcess::Spawn(const Options& options) {
  std::unique_ptr<WorkerProcess> w(new WorkerProcess());
  w->label_ = options.label;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return Internal(Errno("socketpair for the Python worker"));
  }
  w->socket_fd_ = MoveHigh(sv[0]);
  int child_socket = MoveHigh(sv[1]);
  int memfd = static_cast<int>(memfd_create("nereid-python", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (memfd < 0) {
    close(child_socket);
    return Internal(Errno("memfd_create for the Python worker"));
  }
  w->memfd_ = MoveHigh(memfd);
  // The worker may grow the file but never shrink it under our mapping
  // (reading a mapped page past the end of the file is SIGBUS).
  fcntl(w->memfd_, F_ADD_SEALS, F_SEAL_SHRINK);
  Status region = w->EnsureRegion(options.region_bytes);
  if (!region.ok()) {
    close(child_socket);
    return region;
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, child_socket, kChildSocketFd);
  posix_spawn_file_actions_adddup2(&actions, w->memfd_, kChildShmFd);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // The server may block or handle signals; the interpreter starts clean.
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int s : {SIGINT, SIGTERM, SIGPIPE, SIGHUP, SIGCHLD}) sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<std::string> args = {options.interpreter, "-B", options.script, "--socket-fd",
                                   std::to_string(kChildSocketFd), "--shm-fd",
                                   std::to_string(kChildShmFd)};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, options.interpreter.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(child_socket);
  if (rc != 0) {
    return FailedPrecondition("cannot start the Python interpreter '" + options.interpreter +
                              "': " + strerror(rc));
  }
  w->pid_ = pid;
  return w;
}

WorkerProcess::~WorkerProcess() {
  Kill();
  if (pid_ > 0) ExitDescription(std::chrono::milliseconds(5000));
  if (socket_fd_ >= 0) close(socket_fd_);
  if (region_) munmap(region_, region_size_);
  if (memfd_ >= 0) close(memfd_);
}

void WorkerProcess::Kill() {
  {
    std::lock_guard<std::mutex> lock(reap_mu_);
    if (pid_ > 0 && !reaped_) ::kill(pid_, SIGKILL);
  }
  // Wakes a reader blocked on the socket even when a child of the worker
  // still holds the other end open.
  if (socket_fd_ >= 0) shutdown(socket_fd_, SHUT_RDWR);
}

std::string WorkerProcess::ExitDescription(std::chrono::milliseconds wait) {
  std::lock_guard<std::mutex> lock(reap_mu_);
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (!reaped_ && pid_ > 0) {
    pid_t r = waitpid(pid_, &status_, WNOHANG);
    if (r == pid_ || (r < 0 && errno != EINTR)) {
      reaped_ = true;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) return "is still running";
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (WIFEXITED(status_)) return "exited with status " + std::to_string(WEXITSTATUS(status_));
  if (WIFSIGNALED(status_)) {
    int sig = WTERMSIG(status_);
    return "was killed by signal " + std::to_string(sig) + " (" + strsignal(sig) + ")";
  }
  return "ended";
}

Status WorkerProcess::Send(std::string_view json, const std::vector<PayloadPiece>& payload) {
  char header[12];
  uint64_t payload_bytes = 0;
  for (const auto& p : payload) payload_bytes += p.size;
  PutLe32(header, static_cast<uint32_t>(json.size()));
  PutLe64(header + 4, payload_bytes);
  std::vector<iovec> iov;
  iov.push_back({header, sizeof(header)});
  iov.push_back({const_cast<char*>(json.data()), json.size()});
  for (const auto& p : payload) {
    if (p.size) iov.push_back({const_cast<char*>(p.data), p.size});
  }
  std::lock_guard<std::mutex> lock(write_mu_);
  size_t first = 0;
  while (first < iov.size()) {
    msghdr msg{};
    msg.msg_iov = iov.data() + first;
    msg.msg_iovlen = std::min<size_t>(iov.size() - first, IOV_MAX);
    ssize_t n = sendmsg(socket_fd_, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Unavailable(Errno("writing to the Python worker of " + label_));
    }
    size_t left = static_cast<size_t>(n);
    while (first < iov.size() && left >= iov[first].iov_len) left -= iov[first++].iov_len;
    if (left > 0) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  return Status::Ok();
}

Status WorkerProcess::ReadExact(char* data, size_t size,
                                std::optional<std::chrono::steady_clock::time_point> deadline) {
  size_t got = std::min(size, rbuf_.size() - rpos_);
  std::memcpy(data, rbuf_.data() + rpos_, got);
  rpos_ += got;
  if (rpos_ == rbuf_.size()) {
    rbuf_.clear();
    rpos_ = 0;
  }
  while (got < size) {
    int timeout_ms = -1;
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          *deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return Status(StatusCode::kDeadlineExceeded, "timed out");
      timeout_ms = static_cast<int>(std::min<int64_t>(left.count() + 1, 1 << 30));
    }
    pollfd p{socket_fd_, POLLIN, 0};
    int r = poll(&p, 1, timeout_ms);
    if (r < 0) {
      if (errno == EINTR) continue;
      return Internal(Errno("poll"));
    }
    if (r == 0) continue;  // the deadline check above decides
    // Small reads go through our buffer, so that one recv usually brings a
    // whole frame; large ones land in place.
    const bool direct = size - got >= kReadChunk;
    if (!direct) rbuf_.resize(kReadChunk);
    ssize_t n = direct ? recv(socket_fd_, data + got, size - got, 0)
                       : recv(socket_fd_, rbuf_.data(), kReadChunk, 0);
    if (n <= 0) rbuf_.clear();
    if (n == 0) return Unavailable("the Python worker closed its connection");
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return Unavailable(Errno("reading from the Python worker"));
    }
    if (direct) {
      got += static_cast<size_t>(n);
      continue;
    }
    rbuf_.resize(static_cast<size_t>(n));
    const size_t take = std::min(size - got, rbuf_.size());
    std::memcpy(data + got, rbuf_.data(), take);
    got += take;
    rpos_ = take;
    if (rpos_ == rbuf_.size()) {
      rbuf_.clear();
      rpos_ = 0;
    }
  }
  return Status::Ok();
}

Status WorkerProcess::Receive(Frame* frame,
                              std::optional<std::chrono::steady_clock::time_point> deadline) {
  char header[12];
  RETURN_IF_ERROR(ReadExact(header, sizeof(header), deadline));
  const uint64_t json_bytes = GetLe(header, 4);
  const uint64_t payload_bytes = GetLe(header + 4, 8);
  if (json_bytes + payload_bytes > kMaxFrameBytes) {
    return Internal("the Python worker of " + label_ + " sent a frame of " +
                    std::to_string(json_bytes + payload_bytes) + " bytes");
  }
  // Once a frame has started, the rest follows at once: a worker that stops
  // mid-frame is hung or dead either way, so the same deadline applies.
  frame->json.resize(json_bytes);
  RETURN_IF_ERROR(ReadExact(frame->json.data(), json_bytes, deadline));
  frame->payload = std::make_shared<std::string>();
  if (payload_bytes) {
    frame->payload->resize(payload_bytes);
    RETURN_IF_ERROR(ReadExact(frame->payload->data(), payload_bytes, deadline));
  }
  return Status::Ok();
}

Status WorkerProcess::EnsureRegion(size_t bytes) {
  if (bytes <= region_size_) return Status::Ok();
  size_t size = std::max(bytes, region_size_ * 2);
  size = (size + 4095) / 4096 * 4096;
  if (ftruncate(memfd_, static_cast<off_t>(size)) != 0) {
    return ResourceExhausted(Errno("growing the Python worker's shared memory to " +
                                   std::to_string(size) + " bytes"));
  }
  return RemapTo(size);
}

Status WorkerProcess::RemapTo(size_t bytes) {
  if (bytes == region_size_) return Status::Ok();
  struct stat st;
  if (fstat(memfd_, &st) != 0 || static_cast<uint64_t>(st.st_size) < bytes) {
    return Internal("the Python worker of " + label_ + " reported " + std::to_string(bytes) +
                    " bytes of shared memory; the file has fewer");
  }
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, memfd_, 0);
  if (p == MAP_FAILED) return ResourceExhausted(Errno("mapping the Python worker's shared memory"));
  if (region_) munmap(region_, region_size_);
  region_ = static_cast<char*>(p);
  region_size_ = bytes;
  return Status::Ok();
}

}  // namespace nereid::backends::python
