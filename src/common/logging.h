// Minimal leveled logging to stderr (or --log-file), adjustable at run time
// through the logging extension (GET/POST /v2/logging).
//
//   NLOG(INFO) << "loaded " << name;
//   NLOG_VERBOSE(1) << "detail";
//
// Formats: default  "I1128 09:01:05.123456 file.cc:12] message"
//          ISO8601  "2026-11-28T09:01:05Z I file.cc:12] message"
//
// Thread safety: each message is written with one write() call, so lines
// from different threads never interleave. Level, verbosity and format
// setters are atomic and may be called at any time. SetLogFile is meant for
// start-up; it is thread-safe too (the previous file stays open, so a
// message being written concurrently never hits a closed descriptor).
#pragma once

#include <sstream>
#include <string>

#include "common/status.h"

namespace nereid::logging {

enum class Level { kError = 0, kWarning = 1, kInfo = 2, kVerbose = 3 };

void SetEnabled(Level level, bool enabled);
bool IsEnabled(Level level);
void SetVerboseLevel(int level);
int VerboseLevel();

enum class Format { kDefault, kIso8601 };
void SetFormat(Format format);
Format GetFormat();
// "default" / "ISO8601" (Triton's names).
const char* FormatName(Format format);

// Appends messages to `path` (created if missing) instead of stderr; an
// empty path goes back to stderr. Errors name the file.
Status SetLogFile(const std::string& path);
// The current log file ("" for stderr).
std::string LogFile();

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
