// JSON parse of KServe v2 infer requests into a float buffer: RapidJSON vs
// simdjson, the two candidates for the HTTP front end. Google Benchmark.
// Build: cmake -DNEREID_BUILD_BENCH=ON, target json_parse_bench.
#include <benchmark/benchmark.h>
#include <rapidjson/document.h>
#include <simdjson.h>

#include <random>
#include <string>
#include <vector>

namespace {

std::string MakeRequest(size_t n) {
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::string s = R"({"id":"bench","inputs":[{"name":"INPUT0","shape":[1,)" + std::to_string(n) +
                  R"(],"datatype":"FP32","data":[)";
  for (size_t i = 0; i < n; ++i) {
    if (i) s += ",";
    s += std::to_string(dist(rng));
  }
  return s + "]}]}";
}

void RapidJson(benchmark::State& state) {
  std::string body = MakeRequest(state.range(0));
  std::vector<float> out;
  for (auto _ : state) {
    rapidjson::Document d;
    d.Parse(body.data(), body.size());
    const auto& data = d["inputs"][0]["data"];
    out.clear();
    for (const auto& v : data.GetArray()) out.push_back(static_cast<float>(v.GetDouble()));
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * body.size());
}

void SimdJsonOnDemand(benchmark::State& state) {
  std::string body = MakeRequest(state.range(0));
  // simdjson needs SIMDJSON_PADDING readable bytes after the input; the
  // HTTP layer would have to reserve them in its receive buffer.
  simdjson::padded_string padded(body);
  simdjson::ondemand::parser parser;
  std::vector<float> out;
  for (auto _ : state) {
    auto doc = parser.iterate(padded);
    out.clear();
    for (auto input : doc["inputs"]) {
      for (double v : input["data"].get_array()) out.push_back(static_cast<float>(v));
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * body.size());
}

// The API the server uses (infer_request_parser.cc): DOM, parser reused.
void SimdJsonDom(benchmark::State& state) {
  std::string body = MakeRequest(state.range(0));
  simdjson::padded_string padded(body);
  simdjson::dom::parser parser;
  std::vector<float> out;
  for (auto _ : state) {
    simdjson::dom::element doc = parser.parse(padded).value();
    out.clear();
    simdjson::dom::array inputs = doc["inputs"].get_array().value();
    for (simdjson::dom::element input : inputs) {
      simdjson::dom::array data = input["data"].get_array().value();
      for (simdjson::dom::element v : data) out.push_back(static_cast<float>(double(v)));
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * body.size());
}

BENCHMARK(RapidJson)->Arg(16)->Arg(150528);
BENCHMARK(SimdJsonOnDemand)->Arg(16)->Arg(150528);
BENCHMARK(SimdJsonDom)->Arg(16)->Arg(150528);

}  // namespace

BENCHMARK_MAIN();
