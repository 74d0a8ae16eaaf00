// Standard base64 (RFC 4648, '+' '/' alphabet, '=' padding), as Triton's HTTP
// load request carries "file:" model files.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace nereid::server::http {

// Decodes `text`; whitespace is not allowed. Padding is optional. Any other
// character, or a length that cannot be base64, is InvalidArgument.
StatusOr<std::string> Base64Decode(std::string_view text);
std::string Base64Encode(std::string_view bytes);

}  // namespace nereid::server::http
