// Minimal leveled logging to stderr, configured once at start-up.
//
//   NLOG(INFO) << "loaded " << name;
//   NLOG_VERBOSE(1) << "detail";
//
// Thread safety: each message is written with one write() call, so lines
// from different threads never interleave. Level setters are atomic.
#pragma once

#include <sstream>
#include <string>

namespace nereid::logging {

enum class Level { kError = 0, kWarning = 1, kInfo = 2, kVerbose = 3 };

void SetEnabled(Level level, bool enabled);
bool IsEnabled(Level level);
void SetVerboseLevel(int level);
int VerboseLevel();

class Message {
 public:
  Message(Level level, const char* file, int line);
  ~Message();
  std::ostringstream& stream() { return stream_; }

 private:
  Level level_;
  std::ostringstream stream_;
};

// Turns a stream expression into void so it can sit in a ?: with (void)0;
// this keeps NLOG safe inside an unbraced if/else.
struct NLogVoidify {
  void operator&(std::ostream&) {}
};

}  // namespace nereid::logging

#define NLOG_LEVEL_ERROR ::nereid::logging::Level::kError
#define NLOG_LEVEL_WARNING ::nereid::logging::Level::kWarning
#define NLOG_LEVEL_INFO ::nereid::logging::Level::kInfo

#define NLOG(severity)                                          \
  !::nereid::logging::IsEnabled(NLOG_LEVEL_##severity)          \
      ? (void)0                                                 \
      : ::nereid::logging::NLogVoidify() &                                         \
            ::nereid::logging::Message(NLOG_LEVEL_##severity, __FILE__, __LINE__).stream()

#define NLOG_VERBOSE(n)                                                              \
  ::nereid::logging::VerboseLevel() < (n)                                            \
      ? (void)0                                                                      \
      : ::nereid::logging::NLogVoidify() & ::nereid::logging::Message(::nereid::logging::Level::kVerbose, \
                                                   __FILE__, __LINE__)               \
                            .stream()
