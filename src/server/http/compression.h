// gzip / deflate for HTTP bodies (zlib).
//
// Decompress refuses to produce more than `limit` bytes, so a small
// compressed body cannot expand without bound (a "gzip bomb").
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace nereid::server::http {

enum class Encoding { kIdentity, kGzip, kDeflate };

// Parses a Content-Encoding value. Unknown encodings are Unimplemented.
StatusOr<Encoding> ParseContentEncoding(std::string_view value);
// Picks the response encoding from an Accept-Encoding value (gzip first).
Encoding PickAcceptEncoding(std::string_view value);

StatusOr<std::string> Decompress(std::string_view data, Encoding encoding, size_t limit);
StatusOr<std::string> Compress(std::string_view data, Encoding encoding);

}  // namespace nereid::server::http
