#include "core/cache/response_cache.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <new>
#include <numeric>

namespace nereid::core {
namespace {

constexpr size_t kAlign = 64;  // as Tensor::Allocate: typed reads stay aligned

size_t RoundUp(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// Fixed-width fields in native byte order: keys never leave the process.
template <typename T>
void Put(std::string* out, T value) {
  out->append(reinterpret_cast<const char*>(&value), sizeof(value));
}

// Length-prefixed, so no two different field sequences encode alike.
void PutBytes(std::string* out, std::string_view bytes) {
  Put<uint64_t>(out, bytes.size());
  out->append(bytes);
}

// Offsets of each output inside an entry's block; returns the block size.
size_t Layout(const InferenceResponse& response, std::vector<size_t>* offsets) {
  size_t total = 0;
  for (const auto& out : response.outputs) {
    if (offsets) offsets->push_back(total);
    total += RoundUp(out.tensor.byte_size());
  }
  return std::max(total, kAlign);
}

}  // namespace

StatusOr<ResponseCacheOptions> ParseCacheConfig(const std::vector<std::string>& settings) {
  static constexpr char kForm[] =
      "expected <cache>,<key>=<value>, e.g. --cache-config local,size=1048576";
  ResponseCacheOptions options;
  bool have_size = false;
  for (const auto& setting : settings) {
    const std::string what = "--cache-config '" + setting + "'";
    const size_t comma = setting.find(',');
    if (comma == std::string::npos || comma == 0) return InvalidArgument(what + ": " + kForm);
    const std::string cache = setting.substr(0, comma);
    if (cache != "local") {
      return InvalidArgument(what + ": unknown cache '" + cache +
                             "'; the only cache is 'local' (local,size=BYTES)");
    }
    const std::string setting_kv = setting.substr(comma + 1);
    const size_t eq = setting_kv.find('=');
    if (eq == std::string::npos || eq == 0) return InvalidArgument(what + ": " + kForm);
    const std::string key = setting_kv.substr(0, eq);
    const std::string value = setting_kv.substr(eq + 1);
    if (key != "size") {
      return InvalidArgument(what + ": unknown key '" + key +
                             "' for the local cache; its only key is size=BYTES");
    }
    if (have_size) return InvalidArgument(what + ": size is given more than once");
    uint64_t size = 0;
    const char* end = value.data() + value.size();
    auto [ptr, ec] = std::from_chars(value.data(), end, size);
    if (value.empty() || ec != std::errc() || ptr != end || size == 0) {
      return InvalidArgument(what + ": size must be a positive whole number of bytes, got '" +
                             value + "'");
    }
    options.size_bytes = size;
    have_size = true;
  }
  if (!have_size) {
    return InvalidArgument(
        "--cache-config: the local cache needs size=BYTES, e.g. "
        "--cache-config local,size=1048576");
  }
  return options;
}

std::shared_ptr<const CacheKey> CacheKey::FromRequest(const InferenceRequest& request,
                                                      uint64_t generation) {
  auto key = std::make_shared<CacheKey>();
  const auto& inputs = request.inputs;
  // Canonical order: by name (names are unique once validated).
  std::vector<size_t> order(inputs.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return inputs[a].name < inputs[b].name; });
  size_t total = 4 * sizeof(uint64_t) + request.model_name.size();
  for (const auto& in : inputs) {
    total += 4 * sizeof(uint64_t) + in.name.size() + in.tensor.shape.size() * sizeof(int64_t) +
             in.tensor.byte_size;
  }
  std::string& b = key->bytes_;
  b.reserve(total);
  PutBytes(&b, request.model_name);
  Put<int64_t>(&b, request.resolved_version);
  Put<uint64_t>(&b, generation);
  Put<uint64_t>(&b, inputs.size());
  key->input_offsets_.resize(inputs.size());
  for (size_t i : order) {
    const TensorView& t = inputs[i].tensor;
    PutBytes(&b, inputs[i].name);
    Put<uint64_t>(&b, static_cast<uint64_t>(t.dtype));
    Put<uint64_t>(&b, t.shape.size());
    for (int64_t d : t.shape) Put<int64_t>(&b, d);
    key->input_offsets_[i] = b.size() + sizeof(uint64_t);
    PutBytes(&b, std::string_view(t.data, t.byte_size));
  }
  // Bucketing only: entries are compared in full.
  key->hash_ = std::hash<std::string_view>{}(b);
  return key;
}

struct ResponseCache::Value {
  std::vector<ResponseOutput> outputs;  // tensors wrap the entry's block
  ParameterMap parameters;
};

ResponseCache::ResponseCache(uint64_t capacity, Clock& clock)
    : capacity_(capacity), clock_(clock) {}

ResponseCache::~ResponseCache() = default;

StatusOr<std::unique_ptr<ResponseCache>> ResponseCache::Create(const ResponseCacheOptions& options,
                                                               Clock& clock) {
  if (options.size_bytes == 0) return InvalidArgument("the response cache size must be positive");
  return std::unique_ptr<ResponseCache>(new ResponseCache(options.size_bytes, clock));
}

uint64_t ResponseCache::EntryBytes(const CacheKey& key, const InferenceResponse& response) {
  uint64_t bytes = kEntryOverhead + key.bytes().size() + Layout(response, nullptr);
  for (const auto& out : response.outputs) {
    bytes += kOutputOverhead + out.name.size() + out.tensor.shape().size() * sizeof(int64_t);
  }
  return bytes;
}

std::unique_ptr<InferenceResponse> ResponseCache::Lookup(const CacheKey& key) {
  const uint64_t start = clock_.NowNs();
  std::shared_ptr<const Value> value;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++lookups_;
    auto it = index_.find(KeyRef{key.bytes(), key.hash()});
    if (it == index_.end()) {
      ++misses_;
    } else {
      ++hits_;
      lru_.splice(lru_.begin(), lru_, it->second);
      value = it->second->value;
    }
  }
  std::unique_ptr<InferenceResponse> response;
  if (value) {
    response = std::make_unique<InferenceResponse>();
    response->outputs = value->outputs;  // shares the tensor storage
    response->parameters = value->parameters;
  }
  lookup_ns_.fetch_add(clock_.NowNs() - start, std::memory_order_relaxed);
  return response;
}

Status ResponseCache::Insert(std::shared_ptr<const CacheKey> key,
                             const InferenceResponse& response) {
  const uint64_t start = clock_.NowNs();
  auto charge_time = [&] {
    insert_ns_.fetch_add(clock_.NowNs() - start, std::memory_order_relaxed);
  };
  const KeyRef ref{key->bytes(), key->hash()};
  const uint64_t bytes = EntryBytes(*key, response);
  if (bytes > capacity_) {
    charge_time();
    return ResourceExhausted("a response cache entry of " + std::to_string(bytes) +
                             " bytes (key + outputs) exceeds the cache size of " +
                             std::to_string(capacity_) + " bytes");
  }
  {
    // A concurrent identical request may have inserted already: skip the copy.
    std::lock_guard<std::mutex> lock(mu_);
    if (index_.count(ref)) {
      charge_time();
      return AlreadyExists("the response is already cached");
    }
  }
  // Copy outside the lock, into one block the entry (and later every hit's
  // response) co-owns. Not Tensor::Allocate: the calling thread may have an
  // arena allocator installed, and cached bytes must outlive any run.
  std::vector<size_t> offsets;
  const size_t block_bytes = Layout(response, &offsets);
  void* raw = std::aligned_alloc(kAlign, block_bytes);
  if (raw == nullptr) throw std::bad_alloc();
  std::shared_ptr<const void> block(raw, [](const void* p) { std::free(const_cast<void*>(p)); });
  char* base = static_cast<char*>(raw);
  auto value = std::make_shared<Value>();
  value->outputs.reserve(response.outputs.size());
  for (size_t i = 0; i < response.outputs.size(); ++i) {
    const ResponseOutput& out = response.outputs[i];
    const Tensor& t = out.tensor;
    if (t.byte_size()) std::memcpy(base + offsets[i], t.data(), t.byte_size());
    value->outputs.push_back(
        {out.name, Tensor::Wrap(t.dtype(), t.shape(), base + offsets[i], t.byte_size(), block),
         false, out.parameters});
  }
  value->parameters = response.parameters;

  Lru evicted;  // freed after the lock is released
  Status result = Status::Ok();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (index_.count(ref)) {
      result = AlreadyExists("the response is already cached");
    } else {
      while (used_ + bytes > capacity_ && !lru_.empty()) {
        auto last = std::prev(lru_.end());
        index_.erase(KeyRef{last->key->bytes(), last->key->hash()});
        used_ -= last->bytes;
        evicted.splice(evicted.end(), lru_, last);
        ++evictions_;
      }
      lru_.push_front(Entry{std::move(key), std::move(value), bytes});
      index_.emplace(ref, lru_.begin());
      used_ += bytes;
      ++inserts_;
    }
  }
  evicted.clear();
  charge_time();
  return result;
}

ResponseCacheStats ResponseCache::Stats() const {
  ResponseCacheStats s;
  s.capacity_bytes = capacity_;
  s.lookup_ns = lookup_ns_.load(std::memory_order_relaxed);
  s.insert_ns = insert_ns_.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mu_);
  s.used_bytes = used_;
  s.entries = lru_.size();
  s.lookups = lookups_;
  s.hits = hits_;
  s.misses = misses_;
  s.evictions = evictions_;
  s.inserts = inserts_;
  return s;
}

}  // namespace nereid::core
