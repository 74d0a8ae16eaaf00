#include "common/logging.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <mutex>

namespace nereid::logging {
namespace {

std::atomic<bool> g_enabled[3] = {true, true, true};
std::atomic<int> g_verbose{0};
std::atomic<int> g_format{static_cast<int>(Format::kDefault)};
std::atomic<int> g_fd{2};
std::mutex g_file_mu;
std::string g_file;  // guarded by g_file_mu

}  // namespace

void SetFormat(Format format) { g_format = static_cast<int>(format); }
Format GetFormat() { return static_cast<Format>(g_format.load(std::memory_order_relaxed)); }
const char* FormatName(Format format) {
  return format == Format::kIso8601 ? "ISO8601" : "default";
}

Status SetLogFile(const std::string& path) {
  std::lock_guard<std::mutex> lock(g_file_mu);
  if (path.empty()) {
    g_fd = 2;
    g_file.clear();
    return Status::Ok();
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    return InvalidArgument("cannot open log file '" + path + "': " + std::strerror(errno));
  }
  // The old descriptor is deliberately left open: another thread may be
  // inside write() on it right now.
  g_fd = fd;
  g_file = path;
  return Status::Ok();
}

std::string LogFile() {
  std::lock_guard<std::mutex> lock(g_file_mu);
  return g_file;
}

void SetEnabled(Level level, bool enabled) {
  int i = static_cast<int>(level);
  if (i >= 0 && i < 3) g_enabled[i] = enabled;
}

bool IsEnabled(Level level) {
  int i = static_cast<int>(level);
  if (i >= 3) return g_verbose.load() > 0;
  return g_enabled[i].load(std::memory_order_relaxed);
}

void SetVerboseLevel(int level) { g_verbose = level; }
int VerboseLevel() { return g_verbose.load(std::memory_order_relaxed); }

Message::Message(Level level, const char* file, int line) : level_(level) {
  static const char kTags[] = {'E', 'W', 'I', 'V'};
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
            1000000;
  std::tm tm;
  gmtime_r(&t, &tm);
  char buf[64];
  if (GetFormat() == Format::kIso8601) {
    std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ %c ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  kTags[static_cast<int>(level)]);
  } else {
    std::snprintf(buf, sizeof(buf), "%c%02d%02d %02d:%02d:%02d.%06lld ",
                  kTags[static_cast<int>(level)], tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                  tm.tm_min, tm.tm_sec, static_cast<long long>(us));
  }
  const char* base = std::strrchr(file, '/');
  stream_ << buf << (base ? base + 1 : file) << ":" << line << "] ";
}

Message::~Message() {
  stream_ << '\n';
  std::string s = stream_.str();
  ssize_t unused = ::write(g_fd.load(std::memory_order_relaxed), s.data(), s.size());
  (void)unused;
  (void)level_;
}

}  // namespace nereid::logging
