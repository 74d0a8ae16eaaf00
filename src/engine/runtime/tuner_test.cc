// Tests of kernel auto-tuning (runtime/tuner.h) through compiled plans: a
// test-only op whose kernel has candidates of known speed (and some that
// fail) checks the choice, the budget, the plan file round trip and the
// refusal of bad parameters; a real convolution checks that tuned oneDNN
// kernels compute what the untuned plan does.
#include "engine/runtime/tuner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstring>
#include <mutex>
#include <random>

#include "engine/ir/test_models.h"
#include "engine/runtime/cpu_features.h"
#include "engine/runtime/plan_file.h"

namespace nereid::engine {
namespace {

using ::testing::HasSubstr;
using testing::ModelBuilder;

constexpr int32_t kFloat = onnx::TensorProto::FLOAT;

// --- test.tuning:Delay: Y = X after spinning `delay_us` (default 3000) -----
// times its thread count (as if the other threads were busy elsewhere).
// Candidates: faster and slower delays, and ones that fail to build
// (fail=build), to run (fail=run) or that compute something else
// (fail=wrong).
std::atomic<int> g_runs{0};
std::mutex g_built_mu;
std::vector<std::string> g_built;  // params of every kernel built, GUARDED_BY(g_built_mu)
std::vector<int> g_built_threads;  // and its thread count, GUARDED_BY(g_built_mu)

class DelayKernel final : public Kernel {
 public:
  DelayKernel(int delay_us, std::string fail, std::string applied)
      : delay_us_(delay_us), fail_(std::move(fail)), applied_(std::move(applied)) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    ++g_runs;
    if (fail_ == "run") return Internal("this candidate fails");
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(delay_us_);
    while (std::chrono::steady_clock::now() < until) {
    }
    outputs[0] = Tensor::CopyOf(inputs[0]->view());
    if (fail_ == "wrong") outputs[0].mutable_data_as<float>()[0] += 1;
    return Status::Ok();
  }
  std::vector<TuningCandidate> TuningCandidates(
      std::span<const Tensor* const> inputs) const override {
    return {{"", "3000 us"},
            {"delay_us=100", "100 us"},
            {"fail=build", "fails to build"},
            {"fail=run", "fails to run"},
            {"fail=wrong", "computes something else"},
            {"delay_us=20000", "20000 us"}};
  }
  std::string AppliedTuning() const override { return applied_; }

 private:
  const int delay_us_;
  const std::string fail_;
  const std::string applied_;
};

StatusOr<std::unique_ptr<Kernel>> MakeDelay(const KernelBuildContext& context) {
  ASSIGN_OR_RETURN(TuningParams params, TuningParams::Parse(context.tuning_params));
  RETURN_IF_ERROR(params.CheckKeys({"delay_us", "fail"}, "Delay"));
  int delay = 3000;
  if (auto d = params.Get("delay_us")) {
    auto [p, ec] = std::from_chars(d->data(), d->data() + d->size(), delay);
    if (ec != std::errc() || p != d->data() + d->size() || delay < 0) {
      return InvalidArgument("delay_us must be a number, got '" + *d + "'");
    }
  }
  const std::string fail = params.Get("fail").value_or("");
  if (fail == "build") return InvalidArgument("this candidate cannot be built");
  delay *= std::max(context.intra_op_threads, 1);
  {
    std::lock_guard<std::mutex> lock(g_built_mu);
    g_built.push_back(params.ToString());
    g_built_threads.push_back(context.intra_op_threads);
  }
  return std::unique_ptr<Kernel>(new DelayKernel(delay, fail, params.ToString()));
}
NEREID_REGISTER_KERNEL_PRIORITY("test.tuning", "Delay", MakeDelay, 10);

void Reset() {
  g_runs = 0;
  std::lock_guard<std::mutex> lock(g_built_mu);
  g_built.clear();
  g_built_threads.clear();
}

std::vector<std::string> Built() {
  std::lock_guard<std::mutex> lock(g_built_mu);
  return g_built;
}

// x -> Delay -> ... -> Delay -> y (`count` nodes); x is [N, 3] (N = -1: symbolic).
std::string DelayChain(int count, int64_t n = 2) {
  ModelBuilder b(17);
  auto* opset = b.model().add_opset_import();
  opset->set_domain("test.tuning");
  opset->set_version(1);
  b.Input("x", kFloat, {n, 3});
  b.Output("y", kFloat, {n, 3});
  for (int i = 0; i < count; ++i) {
    const std::string in = i == 0 ? "x" : "t" + std::to_string(i);
    const std::string out = i == count - 1 ? "y" : "t" + std::to_string(i + 1);
    b.AddNode("Delay", {in}, {out}, "delay" + std::to_string(i))->set_domain("test.tuning");
  }
  return b.Serialize();
}

StatusOr<std::unique_ptr<Plan>> Compile(const std::string& model, int64_t budget_ms) {
  CompileOptions options;
  options.tuning_budget_ms = budget_ms;
  return CompileToPlan(model, options);
}

TEST(TunerTest, ChoosesTheFastestCandidateAndSkipsFailingOnes) {
  Reset();
  auto plan = Compile(DelayChain(2), 10000);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const PlanInfo& info = (*plan)->info();
  ASSERT_TRUE(info.tuning.ran);
  EXPECT_EQ(info.tuning.skipped, "");
  EXPECT_EQ(info.tuning.input_shapes, "[2,3]");
  EXPECT_EQ(info.tuning.tuned, 2);
  EXPECT_EQ(info.tuning.changed, 2);
  EXPECT_EQ(info.tuning.failed_candidates, 6);  // per node: build, run, wrong
  ASSERT_EQ(info.kernels.size(), 2u);
  for (const auto& k : info.kernels) {
    EXPECT_EQ(k.params, "delay_us=100");
    EXPECT_EQ(k.priority, 10);
  }
  ASSERT_EQ(info.tuning.nodes.size(), 2u);
  const auto& node = info.tuning.nodes[0];
  EXPECT_EQ(node.node, "node 'delay0' (op test.tuning.Delay)");
  EXPECT_EQ(node.input_shapes, "[2,3]");
  EXPECT_EQ(node.candidates, 6);
  EXPECT_EQ(node.failed, 3);
  EXPECT_EQ(node.default_label, "3000 us");
  EXPECT_EQ(node.chosen_label, "100 us");
  EXPECT_GT(node.default_ms, 2.9);
  EXPECT_LT(node.chosen_ms, node.default_ms / 2);
  // The plan runs the chosen kernels.
  std::vector<float> x = {1, 2, 3, 4, 5, 6};
  TensorView view{DataType::kFp32, {2, 3}, reinterpret_cast<const char*>(x.data()), 24};
  std::vector<Tensor> out;
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE((*plan)->Run({view}, &out).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(5000));
  EXPECT_EQ(std::vector<float>(out[0].data_as<float>(), out[0].data_as<float>() + 6), x);
}

TEST(TunerTest, ChoicesSurviveThePlanFileAndLoadingTimesNothing) {
  Reset();
  auto plan = Compile(DelayChain(2), 10000);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  auto bytes = (*plan)->Serialize();
  ASSERT_TRUE(bytes.ok());
  Reset();
  auto loaded = Plan::FromPlanBytes(*bytes, PlanLoadOptions{});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(g_runs.load(), 0);  // no timing at load
  EXPECT_EQ(Built(), (std::vector<std::string>{"delay_us=100", "delay_us=100"}));
  EXPECT_FALSE((*loaded)->info().tuning.ran);
  for (const auto& k : (*loaded)->info().kernels) EXPECT_EQ(k.params, "delay_us=100");
  std::vector<float> x = {1, 2, 3, 4, 5, 6};
  TensorView view{DataType::kFp32, {2, 3}, reinterpret_cast<const char*>(x.data()), 24};
  std::vector<Tensor> out;
  ASSERT_TRUE((*loaded)->Run({view}, &out).ok());
  EXPECT_EQ(g_runs.load(), 2);
}

TEST(TunerTest, FewerThreadsAreACandidateAndTheLoadedPlanKeepsThem) {
  Reset();
  CompileOptions options;
  options.tuning_budget_ms = 10000;
  options.intra_op_threads = 4;
  auto plan = CompileToPlan(DelayChain(1), options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const PlanInfo& info = (*plan)->info();
  // Stage 1 at 4 threads (100 us x 4), stage 2 at 2 and 1.
  EXPECT_EQ(info.kernels[0].params, "delay_us=100;threads=1");
  ASSERT_EQ(info.tuning.nodes.size(), 1u);
  EXPECT_EQ(info.tuning.nodes[0].candidates, 8);
  EXPECT_EQ(info.tuning.nodes[0].default_label, "3000 us, 4 threads");
  EXPECT_EQ(info.tuning.nodes[0].chosen_label, "100 us, 1 thread");
  auto bytes = (*plan)->Serialize();
  ASSERT_TRUE(bytes.ok());
  Reset();
  PlanLoadOptions load;
  load.intra_op_threads = 8;
  auto loaded = Plan::FromPlanBytes(*bytes, load);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(Built(), std::vector<std::string>{"delay_us=100"});
  std::lock_guard<std::mutex> lock(g_built_mu);
  EXPECT_EQ(g_built_threads, std::vector<int>{1});
}

TEST(TunerTest, ZeroBudgetTimesNothing) {
  Reset();
  auto plan = Compile(DelayChain(3), 0);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(g_runs.load(), 0);
  EXPECT_FALSE((*plan)->info().tuning.ran);
  EXPECT_EQ(Built(), (std::vector<std::string>{"", "", ""}));
  for (const auto& k : (*plan)->info().kernels) EXPECT_EQ(k.params, "");
}

TEST(TunerTest, BudgetStopsTuningAndKeepsDefaults) {
  Reset();
  // Each node needs > 25 ms (the default's warm-up and 5 timed runs of 3 ms,
  // the slow candidate's 20 ms run): a 30 ms budget covers one or two.
  const int kNodes = 10;
  const auto start = std::chrono::steady_clock::now();
  auto plan = Compile(DelayChain(kNodes), 30);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const PlanInfo::Tuning& t = (*plan)->info().tuning;
  ASSERT_TRUE(t.ran);
  EXPECT_LE(t.tuned, 2);
  EXPECT_EQ(t.tuned + t.unfinished + t.not_reached, kNodes);
  EXPECT_GT(t.not_reached, 0);
  // Overrun: at most one candidate (the slow one: 20 ms) plus slack for a busy machine.
  EXPECT_LT(t.spent_ms, 30 + 20 + 250);
  EXPECT_LT(ms, 2000);
  int tuned = 0;
  for (const auto& k : (*plan)->info().kernels) tuned += k.params.empty() ? 0 : 1;
  EXPECT_EQ(tuned, t.changed);
  EXPECT_LE(tuned, 2);
}

TEST(TunerTest, UnknownShapesSkipTuningSayingWhy) {
  Reset();
  auto plan = Compile(DelayChain(1, -1), 1000);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const PlanInfo::Tuning& t = (*plan)->info().tuning;
  EXPECT_FALSE(t.ran);
  EXPECT_THAT(t.skipped, HasSubstr("input 'x' has shape [-1,3]"));
  EXPECT_EQ(g_runs.load(), 0);
  // A shape profile gives the opt shape.
  CompileOptions options;
  options.tuning_budget_ms = 10000;
  options.shape_profile = {{"x", {1, 3}, {4, 3}, {8, 3}}};
  plan = CompileToPlan(DelayChain(1, -1), options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_TRUE((*plan)->info().tuning.ran);
  EXPECT_EQ((*plan)->info().tuning.input_shapes, "[4,3]");
  EXPECT_EQ((*plan)->info().kernels[0].params, "delay_us=100");
}

// The plan's bytes with node 0's parameters replaced by `params`.
std::string WithParams(const std::string& bytes, const std::string& params) {
  const size_t size = (bytes.size() + 63) / 64 * 64;
  auto buffer = std::shared_ptr<char>(static_cast<char*>(std::aligned_alloc(64, size)),
                                      [](char* p) { std::free(p); });
  std::memcpy(buffer.get(), bytes.data(), bytes.size());
  auto file = DecodePlanFile(std::string_view(buffer.get(), bytes.size()), buffer,
                             DetectCpuFeatures());
  EXPECT_TRUE(file.ok()) << file.status().ToString();
  if (!file.ok()) return "";
  file->info.kernels[0].params = params;
  auto encoded = EncodePlanFile(file->graph, file->info);
  EXPECT_TRUE(encoded.ok());
  return encoded.ok() ? *encoded : "";
}

TEST(TunerTest, LoadingRefusesMalformedOrUnknownParameters) {
  auto plan = Compile(DelayChain(1), 10000);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  auto bytes = (*plan)->Serialize();
  ASSERT_TRUE(bytes.ok());
  ASSERT_TRUE(Plan::FromPlanBytes(WithParams(*bytes, "delay_us=100"), {}).ok());
  const std::pair<std::string, std::string> cases[] = {
      {"delay_us", "malformed tuning parameters 'delay_us': expected key=value"},
      {"delay_us=100;", "malformed tuning parameters"},
      {"bogus=1", "unknown tuning parameter 'bogus' for Delay (it takes: delay_us, fail)"},
      {"delay_us=fast", "delay_us must be a number, got 'fast'"},
      {"threads=0", "threads must be an integer in 1..4096, got '0'"},
      {"delay_us=1\x01", "bad character"},
  };
  for (const auto& [params, message] : cases) {
    auto loaded = Plan::FromPlanBytes(WithParams(*bytes, params), {});
    ASSERT_FALSE(loaded.ok()) << params;
    EXPECT_EQ(loaded.status().code(), StatusCode::kInvalidArgument) << params;
    EXPECT_THAT(loaded.status().message(), HasSubstr("node 'delay0' (op test.tuning.Delay)"));
    EXPECT_THAT(loaded.status().message(),
                HasSubstr("tuning parameters '" + TuningParams::Printable(params) + "'"));
    EXPECT_THAT(loaded.status().message(), HasSubstr(message)) << params;
  }
}

TEST(TunerTest, LoadingRefusesParametersForAKernelWithoutAny) {
  ModelBuilder b(17);
  b.Input("x", kFloat, {2, 3});
  b.Output("y", kFloat, {2, 3});
  b.AddNode("Relu", {"x"}, {"y"}, "relu");
  auto plan = Compile(b.Serialize(), 0);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  auto bytes = (*plan)->Serialize();
  ASSERT_TRUE(bytes.ok());
  auto loaded = Plan::FromPlanBytes(WithParams(*bytes, "alg=direct"), {});
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.status().message(),
              HasSubstr("this kernel takes no tuning parameters, but was given 'alg=direct'"));
  // The runtime's own key applies to every kernel.
  EXPECT_TRUE(Plan::FromPlanBytes(WithParams(*bytes, "threads=1"), {}).ok());
}

TEST(TunerTest, SplitAndJoinParameters) {
  auto split = SplitTuningParams("impl=jit:avx512_core;threads=2;alg=direct");
  ASSERT_TRUE(split.ok());
  EXPECT_EQ(split->threads, 2);
  EXPECT_EQ(split->kernel_params, "alg=direct;impl=jit:avx512_core");
  EXPECT_EQ(JoinTuningParams(2, split->kernel_params), "alg=direct;impl=jit:avx512_core;threads=2");
  EXPECT_EQ(JoinTuningParams(0, ""), "");
  EXPECT_FALSE(SplitTuningParams("threads=two").ok());
  EXPECT_FALSE(SplitTuningParams("a=1;a=2").ok());
}

// A real convolution (3x3, 16 -> 16 channels, 28x28) compiled with and
// without tuning: every oneDNN candidate computes the same, the tuned plan
// agrees with the untuned one, and its choice survives a round trip.
TEST(TunerTest, TunedConvolutionMatchesTheUntunedPlan) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> w(16 * 16 * 9), bias(16), x(16 * 28 * 28);
  for (float& v : w) v = u(rng);
  for (float& v : bias) v = u(rng);
  for (float& v : x) v = u(rng);
  ModelBuilder b(17);
  b.Input("x", kFloat, {1, 16, 28, 28});
  b.FloatInitializer("w", {16, 16, 3, 3}, w);
  b.FloatInitializer("b", {16}, bias);
  b.Output("y", kFloat, {1, 16, 28, 28});
  auto* conv = b.AddNode("Conv", {"x", "w", "b"}, {"y"}, "conv");
  testing::SetIntsAttr(conv, "pads", {1, 1, 1, 1});
  CompileOptions options;
  options.optimize = false;  // a plain Conv: layout and algorithm choices
  auto untuned = CompileToPlan(b.Serialize(), options);
  options.tuning_budget_ms = 20000;
  auto tuned = CompileToPlan(b.Serialize(), options);
  ASSERT_TRUE(untuned.ok()) << untuned.status().ToString();
  ASSERT_TRUE(tuned.ok()) << tuned.status().ToString();
  const PlanInfo::Tuning& t = (*tuned)->info().tuning;
  ASSERT_EQ(t.tuned, 1);
  EXPECT_EQ(t.failed_candidates, 0);
  EXPECT_GE(t.nodes[0].candidates, 3);  // direct/winograd x plain/blocked at least
  auto bytes = (*tuned)->Serialize();
  ASSERT_TRUE(bytes.ok());
  auto loaded = Plan::FromPlanBytes(*bytes, {});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)->info().kernels[0].params, (*tuned)->info().kernels[0].params);
  TensorView view{DataType::kFp32, {1, 16, 28, 28}, reinterpret_cast<const char*>(x.data()),
                  x.size() * 4};
  std::vector<Tensor> a, c, d;
  ASSERT_TRUE((*untuned)->Run({view}, &a).ok());
  ASSERT_TRUE((*tuned)->Run({view}, &c).ok());
  ASSERT_TRUE((*loaded)->Run({view}, &d).ok());
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_NEAR(a[0].data_as<float>()[i], c[0].data_as<float>()[i], 1e-4) << i;
    ASSERT_EQ(c[0].data_as<float>()[i], d[0].data_as<float>()[i]) << i;
  }
}

}  // namespace
}  // namespace nereid::engine
