#include "tools/compile/progress_line.h"

#include <unistd.h>

namespace nereid::tools {

ProgressLine::ProgressLine(std::FILE* out) : ProgressLine(out, ::isatty(::fileno(out)) == 1) {}

ProgressLine::ProgressLine(std::FILE* out, bool interactive)
    : out_(out), interactive_(interactive) {}

void ProgressLine::Update(int step, int steps, std::string_view phase, int64_t done, int64_t total,
                          std::string_view detail) {
  const auto now = std::chrono::steady_clock::now();
  const bool new_phase = phase != phase_;
  if (!interactive_) {
    // Logs get one line per phase.
    if (new_phase) {
      std::fprintf(out_, "[%d/%d] %.*s\n", step, steps, static_cast<int>(phase.size()),
                   phase.data());
      std::fflush(out_);
    }
    phase_ = std::string(phase);
    return;
  }
  if (!new_phase && now - last_draw_ < std::chrono::milliseconds(100)) return;
  phase_ = std::string(phase);
  last_draw_ = now;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  std::string count;
  if (total > 0) count = " " + std::to_string(done) + "/" + std::to_string(total);
  // Keep the line short enough for an 80-column terminal.
  std::string text(detail.substr(0, 40));
  std::fprintf(out_, "\r\033[K[%d/%d] %.*s%s %s  %.1f s", step, steps,
               static_cast<int>(phase.size()), phase.data(), count.c_str(), text.c_str(), seconds);
  std::fflush(out_);
  open_ = true;
}

void ProgressLine::Finish() {
  if (!open_) return;
  std::fprintf(out_, "\r\033[K");
  std::fflush(out_);
  open_ = false;
}

}  // namespace nereid::tools
