#include "server/http/compression.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>

namespace nereid::server::http {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// zlib window bits: 16+15 = gzip wrapper, 15 = zlib ("deflate" in HTTP).
int WindowBits(Encoding e) { return e == Encoding::kGzip ? 16 + MAX_WBITS : MAX_WBITS; }

}  // namespace

StatusOr<Encoding> ParseContentEncoding(std::string_view value) {
  std::string v = Lower(value);
  v.erase(std::remove_if(v.begin(), v.end(), [](unsigned char c) { return std::isspace(c); }),
          v.end());
  if (v.empty() || v == "identity") return Encoding::kIdentity;
  if (v == "gzip" || v == "x-gzip") return Encoding::kGzip;
  if (v == "deflate") return Encoding::kDeflate;
  return Unimplemented("unsupported Content-Encoding '" + std::string(value) +
                       "' (supported: gzip, deflate)");
}

Encoding PickAcceptEncoding(std::string_view value) {
  std::string v = Lower(value);
  auto accepts = [&](const std::string& name) {
    size_t pos = v.find(name);
    if (pos == std::string::npos) return false;
    size_t end = v.find(',', pos);
    std::string token = v.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    return token.find("q=0") == std::string::npos || token.find("q=0.") != std::string::npos;
  };
  if (accepts("gzip")) return Encoding::kGzip;
  if (accepts("deflate")) return Encoding::kDeflate;
  return Encoding::kIdentity;
}

StatusOr<std::string> Decompress(std::string_view data, Encoding encoding, size_t limit) {
  if (encoding == Encoding::kIdentity) return std::string(data);
  z_stream zs{};
  if (inflateInit2(&zs, WindowBits(encoding)) != Z_OK) return Internal("inflateInit2 failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char chunk[64 * 1024];
  int ret = Z_OK;
  while (ret != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(chunk);
    zs.avail_out = sizeof(chunk);
    ret = inflate(&zs, Z_NO_FLUSH);
    if (ret != Z_OK && ret != Z_STREAM_END) {
      inflateEnd(&zs);
      return InvalidArgument("request body is not valid " +
                             std::string(encoding == Encoding::kGzip ? "gzip" : "deflate") +
                             " data" + (zs.msg ? std::string(": ") + zs.msg : std::string()));
    }
    size_t produced = sizeof(chunk) - zs.avail_out;
    if (out.size() + produced > limit) {
      inflateEnd(&zs);
      return InvalidArgument("decompressed request body exceeds the limit of " +
                             std::to_string(limit) + " bytes (--http-max-input-size)");
    }
    out.append(chunk, produced);
    if (ret != Z_STREAM_END && zs.avail_in == 0 && produced == 0) {
      inflateEnd(&zs);
      return InvalidArgument("compressed request body is truncated");
    }
  }
  inflateEnd(&zs);
  return out;
}

StatusOr<std::string> Compress(std::string_view data, Encoding encoding) {
  if (encoding == Encoding::kIdentity) return std::string(data);
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, WindowBits(encoding), 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    return Internal("deflateInit2 failed");
  }
  std::string out;
  out.resize(deflateBound(&zs, data.size()));
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int ret = deflate(&zs, Z_FINISH);
  deflateEnd(&zs);
  if (ret != Z_STREAM_END) return Internal("compression failed");
  out.resize(zs.total_out);
  return out;
}

}  // namespace nereid::server::http
