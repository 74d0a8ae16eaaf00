// ResponseCache: Triton's response cache (the "local" cache of
// `--cache-config local,size=BYTES`), shared by every model whose config has
// `response_cache { enable: true }`.
//
// Key (CacheKey): the model name, the resolved version, the load generation
// of that version (a reloaded version gets a new one, so answers computed
// with the old files are never served; Triton keys on name and version only)
// and every input, sorted by name: name, data type, shape and bytes. It is
// the full byte string, not a hash of it: the 64-bit hash only picks the
// bucket and entries are compared in full, so two different requests can
// never share an entry (Triton keys on a 64-bit hash and accepts collisions).
// Left out, because they cannot change what the model computes here:
//   - requested outputs: backends always return every output and the front
//     ends pick the requested ones (kserve::SelectResponseOutputs), so one
//     entry serves any selection;
//   - classification and shared-memory output parameters: applied per
//     request after the cache (core/server.cc), so the cache holds the raw
//     outputs and a hit is classified / written to the client's region anew;
//   - request parameters (priority, timeout, custom ones) and the request
//     id: Triton leaves them out too; no backend here reads them.
//
// Values: the outputs (name, data type, shape, bytes, parameters) and the
// response parameters of a successful response, copied once at insertion
// into one block owned by the entry. A hit's response shares that block
// (Tensor owners), so hits copy no tensor bytes; entries are never written
// after insertion, and an evicted entry's block lives on until the last
// response using it is sent.
//
// Bound: entries are charged their key, their output block and a fixed
// per-entry overhead; the sum never exceeds the configured size. Inserting
// evicts least-recently-used entries (a hit refreshes its entry) until the
// new one fits; an entry larger than the whole cache is refused.
//
// Thread safety: every method is thread-safe. One mutex guards the table;
// keys are built, bytes copied and responses assembled outside it, and no
// callback runs under it.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "core/request/inference_request.h"

namespace nereid::core {

// --cache-config, Triton's form: every setting is "<cache>,<key>=<value>"
// (repeat the flag for several keys). Only the "local" cache exists, with
// one key, "size": bytes, a positive decimal integer.
struct ResponseCacheOptions {
  uint64_t size_bytes = 0;
};

// Parses the --cache-config settings. InvalidArgument naming the flag and the
// setting for another cache name, another key, a key given twice, a missing
// size or a size that is not a positive integer.
StatusOr<ResponseCacheOptions> ParseCacheConfig(const std::vector<std::string>& settings);

// The identity of a request (see the file comment for what it covers).
// Immutable; shared by the request, which may read its inputs from the copy
// of their bytes the key holds, and the cache entry made from it.
class CacheKey {
 public:
  // `generation`: Model::generation() of the resolved version.
  static std::shared_ptr<const CacheKey> FromRequest(const InferenceRequest& request,
                                                     uint64_t generation);

  std::string_view bytes() const { return bytes_; }
  uint64_t hash() const { return hash_; }
  // The copy of the bytes of request input `i` (the request's order).
  const char* input_data(size_t i) const { return bytes_.data() + input_offsets_[i]; }

 private:
  std::string bytes_;
  uint64_t hash_ = 0;
  std::vector<size_t> input_offsets_;
};

// Counters of one cache since it was created (the global nv_cache_* gauges).
struct ResponseCacheStats {
  uint64_t capacity_bytes = 0;
  uint64_t used_bytes = 0;  // charged to the entries now held
  uint64_t entries = 0;
  uint64_t lookups = 0;
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t evictions = 0;
  uint64_t inserts = 0;
  uint64_t lookup_ns = 0;  // inside Lookup, hits and misses
  uint64_t insert_ns = 0;  // inside Insert
};

class ResponseCache {
 public:
  // Bytes charged to every entry besides its key and output block (table
  // node, list node, bookkeeping), and to every output (name, shape).
  static constexpr uint64_t kEntryOverhead = 256;
  static constexpr uint64_t kOutputOverhead = 64;

  static StatusOr<std::unique_ptr<ResponseCache>> Create(const ResponseCacheOptions& options,
                                                         Clock& clock = SystemClock::Get());
  ResponseCache(const ResponseCache&) = delete;
  ResponseCache& operator=(const ResponseCache&) = delete;
  ~ResponseCache();

  // The cached response for `key` (outputs sharing the entry's storage; model
  // name, version and id left for the caller to fill), or null. Counts a
  // lookup and a hit or a miss; a hit becomes the most recently used entry.
  std::unique_ptr<InferenceResponse> Lookup(const CacheKey& key);

  // Stores a copy of the outputs and parameters of `response`, which must be
  // a success. AlreadyExists when `key` is already cached (the entry is kept:
  // a concurrent identical request got there first); ResourceExhausted when
  // the entry alone is larger than the cache (nothing is evicted).
  Status Insert(std::shared_ptr<const CacheKey> key, const InferenceResponse& response);

  // What an entry for `response` under `key` is charged.
  static uint64_t EntryBytes(const CacheKey& key, const InferenceResponse& response);

  ResponseCacheStats Stats() const;

 private:
  struct Value;
  struct Entry {
    std::shared_ptr<const CacheKey> key;
    std::shared_ptr<const Value> value;
    uint64_t bytes = 0;
  };
  // Table key: a view of the entry's own CacheKey.
  struct KeyRef {
    std::string_view bytes;
    uint64_t hash;
    bool operator==(const KeyRef& o) const { return bytes == o.bytes; }
  };
  struct KeyRefHash {
    size_t operator()(const KeyRef& k) const { return static_cast<size_t>(k.hash); }
  };
  using Lru = std::list<Entry>;  // front: most recently used

  ResponseCache(uint64_t capacity, Clock& clock);

  const uint64_t capacity_;
  Clock& clock_;
  mutable std::mutex mu_;
  Lru lru_;                                                      // guarded by mu_
  std::unordered_map<KeyRef, Lru::iterator, KeyRefHash> index_;  // guarded by mu_
  uint64_t used_ = 0;                                            // guarded by mu_
  uint64_t lookups_ = 0, hits_ = 0, misses_ = 0;                 // guarded by mu_
  uint64_t evictions_ = 0, inserts_ = 0;                         // guarded by mu_
  std::atomic<uint64_t> lookup_ns_{0};
  std::atomic<uint64_t> insert_ns_{0};
};

}  // namespace nereid::core
