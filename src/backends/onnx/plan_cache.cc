#include "backends/onnx/plan_cache.h"

#include <openssl/evp.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <vector>

#include "engine/runtime/cpu_features.h"
#include "engine/runtime/plan_file.h"

namespace nereid::backends {
namespace {

namespace fs = std::filesystem;

// Incremental SHA-256 over OpenSSL's EVP interface (libcrypto comes with
// gRPC's dependencies; its assembly is about twice as fast as a portable
// C++ implementation, which matters for 100 MB models).
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::string_view bytes) { EVP_DigestUpdate(ctx_, bytes.data(), bytes.size()); }
  // Length-prefixed, so concatenations cannot collide ("ab"+"c" vs "a"+"bc").
  void Field(std::string_view bytes) {
    const uint64_t n = bytes.size();
    Update(std::string_view(reinterpret_cast<const char*>(&n), sizeof(n)));
    Update(bytes);
  }
  std::string Hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_DigestFinal_ex(ctx_, digest, &size);
    static const char kHex[] = "0123456789abcdef";
    std::string hex;
    for (unsigned int i = 0; i < size; ++i) {
      hex += kHex[digest[i] >> 4];
      hex += kHex[digest[i] & 15];
    }
    return hex;
  }

 private:
  EVP_MD_CTX* ctx_;
};

// Every regular file under `dir` (relative path and contents), in path order.
Status HashDirectory(const fs::path& dir, Sha256* hash) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file(ec)) files.push_back(it->path());
  }
  if (ec) return InvalidArgument("cannot list " + dir.string() + ": " + ec.message());
  std::sort(files.begin(), files.end());
  std::vector<char> buffer(1 << 20);
  for (const fs::path& file : files) {
    hash->Field(fs::relative(file, dir).generic_string());
    std::ifstream in(file, std::ios::binary);
    if (!in) return InvalidArgument("cannot read " + file.string());
    uint64_t total = 0;
    while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size())) || in.gcount() > 0) {
      hash->Update(std::string_view(buffer.data(), static_cast<size_t>(in.gcount())));
      total += static_cast<uint64_t>(in.gcount());
    }
    hash->Field(std::to_string(total));
  }
  return Status::Ok();
}

}  // namespace

std::string Sha256Hex(std::string_view bytes) {
  Sha256 hash;
  hash.Update(bytes);
  return hash.Hex();
}

StatusOr<std::unique_ptr<PlanCache>> PlanCache::Create(const std::string& directory) {
  std::error_code ec;
  fs::create_directories(directory, ec);
  if (!fs::is_directory(directory, ec)) {
    return InvalidArgument("--cache-directory '" + directory +
                           "' is not a directory and cannot "
                           "be created");
  }
  return std::unique_ptr<PlanCache>(new PlanCache(directory));
}

StatusOr<std::string> PlanCache::Key(const std::string& model_path,
                                     const std::string& settings_text,
                                     const std::string& calibration_dir) {
  Sha256 hash;
  hash.Field("nereid plan cache key v1");
  hash.Field(engine::kEngineVersion);
  hash.Field(std::to_string(engine::kPlanFormatVersion));
  hash.Field(engine::JoinCpuFeatures(engine::DetectCpuFeatures()));
  hash.Field(fs::path(model_path).filename().string());
  RETURN_IF_ERROR(HashDirectory(fs::path(model_path).parent_path(), &hash));
  hash.Field(settings_text);
  if (!calibration_dir.empty()) RETURN_IF_ERROR(HashDirectory(calibration_dir, &hash));
  return hash.Hex();
}

std::string PlanCache::PathFor(const std::string& key) const {
  return (fs::path(directory_) / (key + ".plan")).string();
}

StatusOr<std::unique_ptr<engine::Plan>> PlanCache::Load(
    const std::string& key, const engine::PlanLoadOptions& options) const {
  const std::string path = PathFor(key);
  std::error_code ec;
  if (!fs::exists(path, ec)) return NotFound("no cached plan " + path);
  return engine::Plan::FromPlanFile(path, options);
}

Status PlanCache::Store(const std::string& key, const engine::Plan& plan) const {
  return engine::WritePlanFile(plan, PathFor(key));
}

}  // namespace nereid::backends
