#include "backends/torch/torch_errors.h"

#include <vector>

namespace nereid::backends::pytorch {
namespace {

constexpr size_t kMaxLength = 400;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

std::string SummarizeTorchError(std::string_view what) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start <= what.size()) {
    size_t end = what.find('\n', start);
    if (end == std::string_view::npos) end = what.size();
    std::string_view line = Trim(what.substr(start, end - start));
    if (!line.empty()) lines.push_back(line);
    start = end + 1;
  }
  if (lines.empty()) return "(no message)";
  const bool traceback = what.find("Traceback of TorchScript") != std::string_view::npos;
  std::string_view pick = traceback ? lines.back() : lines.front();
  std::string out(pick.substr(0, kMaxLength));
  if (pick.size() > kMaxLength) out += "...";
  return out;
}

}  // namespace nereid::backends::pytorch
