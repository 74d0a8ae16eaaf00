#include "core/cache/response_cache.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace nereid::core {
namespace {

using ::testing::HasSubstr;

// A request of model `model` version 1 with FP32 input "IN" holding `values`
// (shape [1, n] unless given).
struct RequestSpec {
  std::string model = "m";
  int64_t version = 1;
  std::vector<std::pair<std::string, std::vector<float>>> inputs = {{"IN", {1, 2, 3, 4}}};
  DataType dtype = DataType::kFp32;
  Shape shape;  // empty: [1, n]
};

// Keeps the input bytes alive for the request's views.
struct OwnedRequest {
  std::vector<std::vector<float>> storage;
  InferenceRequest request;
};

std::unique_ptr<OwnedRequest> MakeRequest(const RequestSpec& spec) {
  auto r = std::make_unique<OwnedRequest>();
  r->request.model_name = spec.model;
  r->request.resolved_version = spec.version;
  r->storage.reserve(spec.inputs.size());
  for (const auto& [name, values] : spec.inputs) {
    r->storage.push_back(values);
    const auto& v = r->storage.back();
    Shape shape = spec.shape.empty() ? Shape{1, static_cast<int64_t>(v.size())} : spec.shape;
    r->request.inputs.push_back(
        {name,
         TensorView{spec.dtype, shape, reinterpret_cast<const char*>(v.data()),
                    v.size() * sizeof(float)},
         {}});
  }
  return r;
}

std::shared_ptr<const CacheKey> Key(const RequestSpec& spec, uint64_t generation = 7) {
  auto r = MakeRequest(spec);
  return CacheKey::FromRequest(r->request, generation);
}

// A response with one FP32 output "OUT" holding `values`.
InferenceResponse MakeResponse(const std::vector<float>& values) {
  InferenceResponse response;
  Tensor t = Tensor::CopyOf(TensorView{DataType::kFp32,
                                       {1, static_cast<int64_t>(values.size())},
                                       reinterpret_cast<const char*>(values.data()),
                                       values.size() * sizeof(float)});
  response.outputs.push_back({"OUT", std::move(t)});
  response.parameters["p"] = int64_t{5};
  return response;
}

std::vector<float> Values(const InferenceResponse& response, size_t output = 0) {
  const Tensor& t = response.outputs.at(output).tensor;
  std::vector<float> v(t.byte_size() / sizeof(float));
  std::memcpy(v.data(), t.data(), t.byte_size());
  return v;
}

std::unique_ptr<ResponseCache> NewCache(uint64_t bytes) {
  auto cache = ResponseCache::Create(ResponseCacheOptions{bytes});
  EXPECT_TRUE(cache.ok()) << cache.status().ToString();
  return std::move(cache).value();
}

TEST(CacheConfigTest, ParsesLocalSize) {
  auto o = ParseCacheConfig({"local,size=1048576"});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->size_bytes, 1048576u);
}

TEST(CacheConfigTest, BadSettingsNameTheFlag) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"redis,size=100"}, "unknown cache 'redis'"},
      {{"local,bytes=100"}, "unknown key 'bytes'"},
      {{"local,size=0"}, "positive whole number"},
      {{"local,size=-5"}, "positive whole number"},
      {{"local,size=12abc"}, "positive whole number"},
      {{"local,size="}, "positive whole number"},
      {{"local,size=99999999999999999999999"}, "positive whole number"},
      {{"size=100"}, "expected <cache>,<key>=<value>"},
      {{"local"}, "expected <cache>,<key>=<value>"},
      {{"local,size"}, "expected <cache>,<key>=<value>"},
      {{"local,size=10", "local,size=20"}, "more than once"},
      {{}, "needs size=BYTES"},
  };
  for (const auto& [settings, fragment] : cases) {
    auto o = ParseCacheConfig(settings);
    ASSERT_FALSE(o.ok()) << (settings.empty() ? "" : settings[0]);
    EXPECT_EQ(o.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(o.status().message(), HasSubstr("--cache-config"));
    EXPECT_THAT(o.status().message(), HasSubstr(fragment));
  }
  EXPECT_FALSE(ResponseCache::Create(ResponseCacheOptions{0}).ok());
}

TEST(ResponseCacheTest, MissThenHitSharesTheCachedBytes) {
  auto cache = NewCache(1 << 20);
  auto key = Key({});
  EXPECT_EQ(cache->Lookup(*key), nullptr);
  InferenceResponse original = MakeResponse({10, 20, 30});
  ASSERT_TRUE(cache->Insert(key, original).ok());

  auto hit = cache->Lookup(*Key({}));  // an equal key built anew
  ASSERT_NE(hit, nullptr);
  ASSERT_EQ(hit->outputs.size(), 1u);
  EXPECT_EQ(hit->outputs[0].name, "OUT");
  EXPECT_EQ(hit->outputs[0].tensor.dtype(), DataType::kFp32);
  EXPECT_EQ(hit->outputs[0].tensor.shape(), (Shape{1, 3}));
  EXPECT_EQ(Values(*hit), (std::vector<float>{10, 20, 30}));
  EXPECT_FALSE(hit->outputs[0].in_shared_memory);
  EXPECT_EQ(std::get<int64_t>(hit->parameters.at("p")), 5);
  // Copied once at insertion (the original may be a view of anything) ...
  EXPECT_NE(hit->outputs[0].tensor.data(), original.outputs[0].tensor.data());
  // ... and shared by every hit, 64-byte aligned.
  auto again = cache->Lookup(*key);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->outputs[0].tensor.data(), hit->outputs[0].tensor.data());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(hit->outputs[0].tensor.data()) % 64, 0u);

  ResponseCacheStats s = cache->Stats();
  EXPECT_EQ(s.lookups, 3u);
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.inserts, 1u);
  EXPECT_EQ(s.used_bytes, ResponseCache::EntryBytes(*key, original));
}

TEST(ResponseCacheTest, KeyCoversModelVersionGenerationAndEveryInputField) {
  auto cache = NewCache(1 << 20);
  RequestSpec base;
  base.inputs = {{"A", {1, 2, 3, 4}}, {"B", {5, 6}}};
  ASSERT_TRUE(cache->Insert(Key(base), MakeResponse({1})).ok());

  // Inputs in another order are the same request.
  RequestSpec reordered = base;
  std::swap(reordered.inputs[0], reordered.inputs[1]);
  EXPECT_NE(cache->Lookup(*Key(reordered)), nullptr);

  std::vector<RequestSpec> different;
  RequestSpec s = base;
  s.model = "n";
  different.push_back(s);
  s = base;
  s.version = 2;
  different.push_back(s);
  s = base;
  s.inputs[0].second[3] = 4.5f;  // one byte of data
  different.push_back(s);
  s = base;
  s.inputs[1].first = "C";  // an input name
  different.push_back(s);
  s = base;
  s.dtype = DataType::kInt32;  // same bytes, another data type
  different.push_back(s);
  s = base;
  s.inputs = {{"A", {1, 2, 3, 4}}};  // an input fewer
  different.push_back(s);
  for (const auto& spec : different) EXPECT_EQ(cache->Lookup(*Key(spec)), nullptr);

  // Same bytes in another shape: [1,4]+[1,2] vs [2,2]+[2,1].
  RequestSpec one_input;
  one_input.inputs = {{"A", {1, 2, 3, 4}}};
  ASSERT_TRUE(cache->Insert(Key(one_input), MakeResponse({2})).ok());
  RequestSpec reshaped = one_input;
  reshaped.shape = {2, 2};
  EXPECT_EQ(cache->Lookup(*Key(reshaped)), nullptr);
  EXPECT_NE(cache->Lookup(*Key(one_input)), nullptr);

  // A reloaded version (another generation) never sees the old answers.
  EXPECT_EQ(cache->Lookup(*Key(base, /*generation=*/8)), nullptr);
}

TEST(ResponseCacheTest, LengthPrefixesKeepNameAndDataApart) {
  // "AB" + data "C..." must not equal "A" + data "BC...": names and data are
  // length-prefixed. Build the keys over raw bytes to line them up.
  const char bytes1[] = "Cxyz";
  const char bytes2[] = "BCxy";
  InferenceRequest r1, r2;
  r1.model_name = r2.model_name = "m";
  r1.inputs.push_back({"AB", TensorView{DataType::kUint8, {4}, bytes1, 4}, {}});
  r2.inputs.push_back({"A", TensorView{DataType::kUint8, {4}, bytes2, 4}, {}});
  auto k1 = CacheKey::FromRequest(r1, 1);
  auto k2 = CacheKey::FromRequest(r2, 1);
  EXPECT_NE(k1->bytes(), k2->bytes());
  EXPECT_EQ(std::string(k1->input_data(0), 4), "Cxyz");
  EXPECT_EQ(std::string(k2->input_data(0), 4), "BCxy");
}

TEST(ResponseCacheTest, ByteBoundEvictsLeastRecentlyUsed) {
  RequestSpec a, b, c, d;
  a.inputs = {{"IN", {1}}};
  b.inputs = {{"IN", {2}}};
  c.inputs = {{"IN", {3}}};
  d.inputs = {{"IN", {4}}};
  const InferenceResponse response = MakeResponse({9, 9, 9, 9});
  const uint64_t entry = ResponseCache::EntryBytes(*Key(a), response);
  auto cache = NewCache(3 * entry + entry / 2);  // room for three entries
  ASSERT_TRUE(cache->Insert(Key(a), response).ok());
  ASSERT_TRUE(cache->Insert(Key(b), response).ok());
  ASSERT_TRUE(cache->Insert(Key(c), response).ok());
  EXPECT_EQ(cache->Stats().used_bytes, 3 * entry);
  ASSERT_NE(cache->Lookup(*Key(a)), nullptr);  // a is now the most recent: b is the oldest
  ASSERT_TRUE(cache->Insert(Key(d), response).ok());

  EXPECT_EQ(cache->Lookup(*Key(b)), nullptr);
  EXPECT_NE(cache->Lookup(*Key(a)), nullptr);
  EXPECT_NE(cache->Lookup(*Key(c)), nullptr);
  EXPECT_NE(cache->Lookup(*Key(d)), nullptr);
  ResponseCacheStats s = cache->Stats();
  EXPECT_EQ(s.entries, 3u);
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_LE(s.used_bytes, s.capacity_bytes);
}

TEST(ResponseCacheTest, EvictedBytesStayValidForResponsesStillInFlight) {
  RequestSpec a, b;
  a.inputs = {{"IN", {1}}};
  b.inputs = {{"IN", {2}}};
  const uint64_t entry = ResponseCache::EntryBytes(*Key(a), MakeResponse({7, 8}));
  auto cache = NewCache(entry);  // one entry at a time
  ASSERT_TRUE(cache->Insert(Key(a), MakeResponse({7, 8})).ok());
  auto held = cache->Lookup(*Key(a));
  ASSERT_NE(held, nullptr);
  ASSERT_TRUE(cache->Insert(Key(b), MakeResponse({5, 6})).ok());  // evicts a
  EXPECT_EQ(cache->Lookup(*Key(a)), nullptr);
  EXPECT_EQ(Values(*held), (std::vector<float>{7, 8}));
}

TEST(ResponseCacheTest, OversizedEntryIsRefusedAndEvictsNothing) {
  RequestSpec small, big;
  small.inputs = {{"IN", {1}}};
  big.inputs = {{"IN", {2}}};
  const uint64_t entry = ResponseCache::EntryBytes(*Key(small), MakeResponse({1}));
  auto cache = NewCache(entry + 100);
  ASSERT_TRUE(cache->Insert(Key(small), MakeResponse({1})).ok());
  Status st = cache->Insert(Key(big), MakeResponse(std::vector<float>(1000, 1.0f)));
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(st.message(), HasSubstr("exceeds the cache size"));
  EXPECT_NE(cache->Lookup(*Key(small)), nullptr);
  EXPECT_EQ(cache->Stats().evictions, 0u);
}

TEST(ResponseCacheTest, SecondInsertOfAKeyKeepsTheFirst) {
  auto cache = NewCache(1 << 20);
  ASSERT_TRUE(cache->Insert(Key({}), MakeResponse({1})).ok());
  EXPECT_EQ(cache->Insert(Key({}), MakeResponse({2})).code(), StatusCode::kAlreadyExists);
  auto hit = cache->Lookup(*Key({}));
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(Values(*hit), (std::vector<float>{1}));
  EXPECT_EQ(cache->Stats().entries, 1u);
}

// Several threads look up and insert overlapping keys in a cache that holds
// only some of them: every hit must carry its own key's answer, and the
// counters and the bound must hold. (Also run under TSan in CI.)
TEST(ResponseCacheTest, ConcurrentLookupsAndInsertsStayConsistent) {
  constexpr int kThreads = 6, kIterations = 2000, kKeys = 40;
  RequestSpec probe;
  probe.inputs = {{"IN", {0}}};
  const uint64_t entry = ResponseCache::EntryBytes(*Key(probe), MakeResponse({0, 0}));
  auto cache = NewCache(10 * entry);
  std::atomic<int> wrong{0}, hits{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIterations; ++i) {
        const float k = static_cast<float>((i * 7 + t * 13) % kKeys);
        RequestSpec spec;
        spec.inputs = {{"IN", {k}}};
        auto key = Key(spec);
        if (auto hit = cache->Lookup(*key)) {
          ++hits;
          if (Values(*hit) != std::vector<float>{k, -k}) ++wrong;
        } else {
          Status st = cache->Insert(key, MakeResponse({k, -k}));
          if (!st.ok() && st.code() != StatusCode::kAlreadyExists) ++wrong;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  ResponseCacheStats s = cache->Stats();
  EXPECT_EQ(s.lookups, static_cast<uint64_t>(kThreads * kIterations));
  EXPECT_EQ(s.hits + s.misses, s.lookups);
  EXPECT_EQ(s.hits, static_cast<uint64_t>(hits.load()));
  EXPECT_GT(s.hits, 0u);
  EXPECT_GT(s.evictions, 0u);
  EXPECT_LE(s.entries, 10u);
  EXPECT_EQ(s.used_bytes, s.entries * entry);
  EXPECT_LE(s.used_bytes, s.capacity_bytes);
  EXPECT_EQ(s.inserts - s.evictions, s.entries);
}

}  // namespace
}  // namespace nereid::core
