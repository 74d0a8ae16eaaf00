// ProgressLine: one status line on a terminal, rewritten in place, for long
// commands (`nereid compile`).
//
// On a terminal the line is redrawn ("\r" + clear to end of line) at most
// every 100 ms, and always when the phase changes; elsewhere (a log file, a
// pipe) each phase is printed once as an ordinary line, so logs stay
// readable. Finish() ends the line.
//
// Thread safety: one thread.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

namespace nereid::tools {

class ProgressLine {
 public:
  // Writes to `out`; `interactive` picks the redrawn form (isatty by default).
  explicit ProgressLine(std::FILE* out);
  ProgressLine(std::FILE* out, bool interactive);
  ~ProgressLine() { Finish(); }

  // Phase `step` of `steps` ("import"), `done` of `total` units within it
  // (total 0: no count), and what it is at (a pass, a node).
  void Update(int step, int steps, std::string_view phase, int64_t done, int64_t total,
              std::string_view detail);
  // Ends the current line (a terminal's cursor moves to the next one).
  void Finish();

 private:
  std::FILE* out_;
  bool interactive_;
  bool open_ = false;  // a line is on screen without its newline
  std::string phase_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace nereid::tools
