// Turning libtorch's exception texts into one-line error messages for
// clients and model load errors.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace nereid::backends::pytorch {

// The line of `what` that says what went wrong. An error raised inside the
// TorchScript interpreter starts with "The following operation failed..."
// and a traceback, and ends with the exception itself
// ("builtins.ValueError: negative input"): that last line is returned.
// Otherwise the first line. Trimmed, at most 400 characters.
std::string SummarizeTorchError(std::string_view what);

}  // namespace nereid::backends::pytorch
