// Runs Debian's ONNX backend node tests (libonnx-testdata) for the ops the
// engine supports, comparing outputs with the reference data.
// Label: conformance. Skips cleanly when the test data is not installed.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "engine/ir/onnx_tensor.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/runtime/plan.h"

namespace nereid::engine {
namespace {

namespace fs = std::filesystem;

constexpr char kNodeTestDir[] = "/usr/share/libonnx-testdata/data/node";

const char* const kPrefixes[] = {"test_add",     "test_sub",       "test_mul",      "test_div",
                                 "test_matmul",  "test_gemm",      "test_relu",     "test_sigmoid",
                                 "test_tanh",    "test_softmax",   "test_identity", "test_reshape",
                                 "test_flatten", "test_transpose", "test_concat",   "test_cast"};

// Cases outside the engine's scope, each with the reason.
const std::map<std::string, std::string>& SkipList() {
  static const auto* skips = new std::map<std::string, std::string>{
      {"test_cast_FLOAT_to_STRING", "casts to STRING are out of scope"},
      {"test_cast_STRING_to_FLOAT", "casts from STRING are out of scope"},
      {"test_castlike_BFLOAT16_to_FLOAT",
       "ONNX 1.12 data feeds 'like' as [1] but the model declares [3,4]; the engine rightly "
       "rejects the mismatch"},
      {"test_castlike_BFLOAT16_to_FLOAT_expanded",
       "ONNX 1.12 data feeds 'like' as [1] but the model declares [3,4]; the engine rightly "
       "rejects the mismatch"},
      {"test_castlike_FLOAT_to_BFLOAT16",
       "ONNX 1.12 data feeds 'like' as [1] but the model declares [3,4]; the engine rightly "
       "rejects the mismatch"},
      {"test_castlike_FLOAT_to_BFLOAT16_expanded",
       "ONNX 1.12 data feeds 'like' as [1] but the model declares [3,4]; the engine rightly "
       "rejects the mismatch"},
      {"test_castlike_FLOAT_to_STRING", "casts to STRING are out of scope"},
      {"test_castlike_FLOAT_to_STRING_expanded", "casts to STRING are out of scope"},
      {"test_castlike_STRING_to_FLOAT", "casts from STRING are out of scope"},
      {"test_castlike_STRING_to_FLOAT_expanded", "casts from STRING are out of scope"},
      {"test_identity_opt", "optional-typed values are out of scope"},
      {"test_identity_sequence", "sequence-typed values are out of scope"},
      {"test_matmulinteger", "MatMulInteger (quantized) is a different op, not in scope"},
      {"test_softmax_axis_0_expanded", "function body uses Exp/ReduceMax/ReduceSum (not in scope)"},
      {"test_softmax_axis_1_expanded", "function body uses Exp/ReduceMax/ReduceSum (not in scope)"},
      {"test_softmax_axis_2_expanded", "function body uses Exp/ReduceMax/ReduceSum (not in scope)"},
      {"test_softmax_default_axis_expanded",
       "function body uses Exp/ReduceMax/ReduceSum (not in scope)"},
      {"test_softmax_example_expanded",
       "function body uses Exp/ReduceMax/ReduceSum (not in scope)"},
      {"test_softmax_large_number_expanded",
       "function body uses Exp/ReduceMax/ReduceSum (not in scope)"},
      {"test_softmax_negative_axis_expanded",
       "function body uses Exp/ReduceMax/ReduceSum (not in scope)"},
  };
  return *skips;
}

struct Tally {
  int passed = 0;
  int failed = 0;
  int skipped = 0;
};
Tally& Counts() {
  static Tally tally;
  return tally;
}

std::vector<std::string> ListCases() {
  std::vector<std::string> cases;
  std::error_code ec;
  if (!fs::is_directory(kNodeTestDir, ec)) return cases;
  for (const auto& entry : fs::directory_iterator(kNodeTestDir, ec)) {
    const std::string name = entry.path().filename().string();
    for (const char* prefix : kPrefixes) {
      if (name.rfind(prefix, 0) == 0) {
        cases.push_back(name);
        break;
      }
    }
  }
  std::sort(cases.begin(), cases.end());
  return cases;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// Reads input_N.pb / output_N.pb of one data set, in N order.
std::vector<Tensor> ReadTensors(const fs::path& dir, const std::string& stem) {
  std::vector<Tensor> tensors;
  for (int i = 0;; ++i) {
    fs::path p = dir / (stem + "_" + std::to_string(i) + ".pb");
    if (!fs::exists(p)) break;
    auto t = TensorFromOnnxBytes(ReadFile(p));
    EXPECT_TRUE(t.ok()) << p << ": " << t.status().ToString();
    if (!t.ok()) break;
    tensors.push_back(std::move(t).value());
  }
  return tensors;
}

// Relative tolerance per dtype: fp32/fp64 1e-4; fp16 and bf16 compare at their precision.
double RelTol(DataType dtype) {
  if (dtype == DataType::kFp16) return 1e-3;
  if (dtype == DataType::kBf16) return 1e-2;
  return 1e-4;
}

// Empty string when equal; otherwise what differs.
std::string Compare(const Tensor& got, const Tensor& want) {
  if (got.dtype() != want.dtype()) {
    return "dtype " + std::string(DataTypeName(got.dtype())) + " vs expected " +
           std::string(DataTypeName(want.dtype()));
  }
  if (got.shape() != want.shape()) {
    return "shape " + ShapeToString(got.shape()) + " vs expected " + ShapeToString(want.shape());
  }
  if (got.byte_size() != want.byte_size()) return "byte size differs";
  std::string error;
  Status s = ref::DispatchNumericOrBool(got.dtype(), "compare", [&]<typename T>() -> Status {
    const size_t n = got.byte_size() / sizeof(T);
    const T* g = got.data_as<T>();
    const T* w = want.data_as<T>();
    for (size_t i = 0; i < n && error.empty(); ++i) {
      if constexpr (ref::kIsFloating<T>) {
        const double gv = static_cast<double>(g[i]);
        const double wv = static_cast<double>(w[i]);
        if (std::isnan(gv) && std::isnan(wv)) continue;
        if (gv == wv) continue;  // also equal infinities
        if (std::fabs(gv - wv) > 1e-5 + RelTol(got.dtype()) * std::fabs(wv)) {
          error = "element " + std::to_string(i) + ": " + std::to_string(gv) + " vs expected " +
                  std::to_string(wv);
        }
      } else {
        if (std::memcmp(&g[i], &w[i], sizeof(T)) != 0) {
          error = "element " + std::to_string(i) + " differs";
        }
      }
    }
    return Status::Ok();
  });
  if (!s.ok()) return s.ToString();
  return error;
}

// ONNX 1.12's generator stores BFLOAT16 test tensors as UINT16 (numpy has no
// bfloat16); relabel them when the model declares BF16 at that position.
void FixBf16Labels(const std::vector<ValueInfo>& infos, std::vector<Tensor>* tensors) {
  for (size_t i = 0; i < tensors->size() && i < infos.size(); ++i) {
    Tensor& t = (*tensors)[i];
    if (infos[i].dtype == DataType::kBf16 && t.dtype() == DataType::kUint16) {
      t = Tensor::Wrap(DataType::kBf16, t.shape(), t.data(), t.byte_size(), t.owner());
    }
  }
}

class OnnxNodeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(OnnxNodeTest, MatchesReference) {
  const std::string& name = GetParam();
  auto skip = SkipList().find(name);
  if (skip != SkipList().end()) {
    ++Counts().skipped;
    GTEST_SKIP() << skip->second;
  }
  ++Counts().failed;  // undone at the end on success
  const fs::path dir = fs::path(kNodeTestDir) / name;
  auto plan = Plan::FromOnnxFile((dir / "model.onnx").string(), CompileOptions{});
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  int data_sets = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_directory() || entry.path().filename().string().rfind("test_data_set_", 0)) {
      continue;
    }
    ++data_sets;
    std::vector<Tensor> inputs = ReadTensors(entry.path(), "input");
    std::vector<Tensor> want = ReadTensors(entry.path(), "output");
    FixBf16Labels((*plan)->inputs(), &inputs);
    FixBf16Labels((*plan)->outputs(), &want);
    std::vector<TensorView> views;
    for (const Tensor& t : inputs) views.push_back(t.view());
    std::vector<Tensor> got;
    Status s = (*plan)->Run(views, &got);
    ASSERT_TRUE(s.ok()) << entry.path() << ": " << s.ToString();
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      std::string diff = Compare(got[i], want[i]);
      EXPECT_TRUE(diff.empty()) << entry.path() << " output " << i << ": " << diff;
    }
  }
  EXPECT_GT(data_sets, 0);
  if (!HasFailure()) {
    --Counts().failed;
    ++Counts().passed;
  }
}

std::string CaseName(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

INSTANTIATE_TEST_SUITE_P(Node, OnnxNodeTest, ::testing::ValuesIn(ListCases()), CaseName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(OnnxNodeTest);

TEST(OnnxNodeTestData, Present) {
  if (ListCases().empty()) GTEST_SKIP() << kNodeTestDir << " is absent (libonnx-testdata)";
  SUCCEED();
}

class SummaryPrinter : public ::testing::Environment {
 public:
  void TearDown() override {
    const Tally& t = Counts();
    if (t.passed + t.failed + t.skipped == 0) return;
    std::printf("[ONNX node tests] passed %d, failed %d, skipped %d\n", t.passed, t.failed,
                t.skipped);
    for (const auto& [name, reason] : SkipList()) {
      std::printf("  skipped %s: %s\n", name.c_str(), reason.c_str());
    }
  }
};

[[maybe_unused]] ::testing::Environment* const kSummary =
    ::testing::AddGlobalTestEnvironment(new SummaryPrinter);

}  // namespace
}  // namespace nereid::engine
