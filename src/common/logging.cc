#include "common/logging.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <ctime>

namespace nereid::logging {
namespace {

std::atomic<bool> g_enabled[3] = {true, true, true};
std::atomic<int> g_verbose{0};

}  // namespace

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
  std::snprintf(buf, sizeof(buf), "%c%02d%02d %02d:%02d:%02d.%06lld ", kTags[static_cast<int>(level)],
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(us));
  const char* base = std::strrchr(file, '/');
  stream_ << buf << (base ? base + 1 : file) << ":" << line << "] ";
}

Message::~Message() {
  stream_ << '\n';
  std::string s = stream_.str();
  ssize_t unused = ::write(2, s.data(), s.size());
  (void)unused;
  (void)level_;
}

}  // namespace nereid::logging
