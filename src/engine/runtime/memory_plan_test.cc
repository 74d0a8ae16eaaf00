#include "engine/runtime/memory_plan.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "engine/ir/test_models.h"
#include "engine/runtime/plan.h"

namespace nereid::engine {
namespace {

using testing::ModelBuilder;
using testing::SetIntAttr;

constexpr int32_t kFloat = onnx::TensorProto::FLOAT;
constexpr int32_t kInt64 = onnx::TensorProto::INT64;

// ---------------------------------------------------------------------------
// The offset planner
// ---------------------------------------------------------------------------

bool LiveTogether(const AllocationInterval& a, const AllocationInterval& b) {
  return a.first_step <= b.last_step && b.first_step <= a.last_step;
}

void CheckLayout(const std::vector<AllocationInterval>& intervals, const ArenaLayout& layout) {
  ASSERT_EQ(layout.offsets.size(), intervals.size());
  size_t naive = 0;
  for (size_t i = 0; i < intervals.size(); ++i) {
    const size_t size_i = ArenaSize(intervals[i].bytes);
    naive += size_i;
    EXPECT_EQ(layout.offsets[i] % kArenaAlignment, 0u);
    EXPECT_LE(layout.offsets[i] + size_i, layout.arena_bytes);
    for (size_t j = 0; j < i; ++j) {
      if (!LiveTogether(intervals[i], intervals[j])) continue;
      const size_t size_j = ArenaSize(intervals[j].bytes);
      const bool disjoint = layout.offsets[i] + size_i <= layout.offsets[j] ||
                            layout.offsets[j] + size_j <= layout.offsets[i];
      ASSERT_TRUE(disjoint) << "allocations " << i << " and " << j << " overlap";
    }
  }
  EXPECT_LE(layout.arena_bytes, naive);
  EXPECT_GE(layout.arena_bytes, PeakLiveBytes(intervals));
}

TEST(PlanArenaTest, RandomLifetimesNeverOverlap) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    const int steps = 1 + static_cast<int>(rng() % 40);
    const size_t count = rng() % 120;
    std::vector<AllocationInterval> intervals;
    for (size_t i = 0; i < count; ++i) {
      AllocationInterval a;
      a.first_step = static_cast<int>(rng() % steps);
      a.last_step = a.first_step + static_cast<int>(rng() % (steps - a.first_step + 1));
      // Mostly odd sizes (alignment), some zero, some repeated.
      const uint32_t pick = rng() % 10;
      a.bytes = pick == 0 ? 0 : (pick == 1 ? 4096 : rng() % 100000);
      intervals.push_back(a);
    }
    ArenaLayout layout = PlanArena(intervals);
    CheckLayout(intervals, layout);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST(PlanArenaTest, ReusesBytesOfDeadAllocations) {
  // A chain: each tensor lives from its step to the next one.
  std::vector<AllocationInterval> chain;
  for (int s = 0; s < 10; ++s) chain.push_back({1000, s, s + 1});
  ArenaLayout layout = PlanArena(chain);
  CheckLayout(chain, layout);
  EXPECT_EQ(layout.arena_bytes, 2 * ArenaSize(1000));  // ping-pong between two buffers
  EXPECT_EQ(PeakLiveBytes(chain), 2 * ArenaSize(1000));
  EXPECT_EQ(PlanArena({}).arena_bytes, 0u);
  EXPECT_EQ(ArenaSize(0), 64u);
  EXPECT_EQ(ArenaSize(65), 128u);
}

// ---------------------------------------------------------------------------
// RunMemory: recording, planned runs, fallbacks
// ---------------------------------------------------------------------------

// Records a run of two steps, each making one 256-byte tensor that dies in
// its step: the plan puts both at offset 0.
std::shared_ptr<const MemoryPlan> RecordTwoSteps() {
  auto memory = RunMemory::Create(nullptr, 2);
  for (int s = 0; s < 2; ++s) {
    memory->BeginStep(s);
    {
      ScopedTensorAllocator hook(memory.get());
      Tensor t = Tensor::Allocate(DataType::kFp32, {64}, 256);
    }
    memory->EndStep(s);
  }
  memory->Finish();
  return memory->BuildPlan("[64]", 0);
}

TEST(RunMemoryTest, PlannedRunsReuseOneArena) {
  auto plan = RecordTwoSteps();
  MemoryReport report = plan->Report();
  EXPECT_EQ(report.allocations, 2);
  EXPECT_EQ(report.naive_bytes, 512u);
  EXPECT_EQ(report.arena_bytes, 256u);
  const char* first_arena = nullptr;
  for (int run = 0; run < 3; ++run) {
    auto memory = RunMemory::Create(plan, 2);
    std::vector<const char*> seen;
    for (int s = 0; s < 2; ++s) {
      memory->BeginStep(s);
      {
        ScopedTensorAllocator hook(memory.get());
        Tensor t = Tensor::Allocate(DataType::kFp32, {64}, 256);
        seen.push_back(t.data());
      }
      memory->EndStep(s);
    }
    memory->Finish();
    EXPECT_FALSE(memory->fell_back());
    EXPECT_EQ(seen[0], seen[1]);
    if (run == 0) first_arena = seen[0];
    EXPECT_EQ(seen[0], first_arena) << "the arena comes back from the free list";
  }
}

TEST(RunMemoryTest, AllocationAliveTooLongSendsTheRestToTheHeap) {
  auto plan = RecordTwoSteps();
  auto memory = RunMemory::Create(plan, 2);
  Tensor kept;
  memory->BeginStep(0);
  {
    ScopedTensorAllocator hook(memory.get());
    kept = Tensor::Allocate(DataType::kFp32, {64}, 256);
    std::memset(kept.mutable_data(), 0x5a, 256);
  }
  memory->EndStep(0);  // planned dead by now, but still alive
  memory->BeginStep(1);
  {
    ScopedTensorAllocator hook(memory.get());
    Tensor t = Tensor::Allocate(DataType::kFp32, {64}, 256);
    EXPECT_NE(t.data(), kept.data());
    std::memset(t.mutable_data(), 0, 256);
  }
  memory->EndStep(1);
  memory->Finish();
  EXPECT_TRUE(memory->fell_back());
  memory.reset();
  // The arena stays alive (and off the free list) while `kept` uses it.
  for (int i = 0; i < 256; ++i) ASSERT_EQ(static_cast<unsigned char>(kept.data()[i]), 0x5a);
  auto next = RunMemory::Create(plan, 2);
  next->BeginStep(0);
  ScopedTensorAllocator hook(next.get());
  Tensor t = Tensor::Allocate(DataType::kFp32, {64}, 256);
  EXPECT_NE(t.data(), kept.data());
}

TEST(RunMemoryTest, SizeMismatchSendsTheRestToTheHeap) {
  auto plan = RecordTwoSteps();
  auto memory = RunMemory::Create(plan, 2);
  memory->BeginStep(0);
  {
    ScopedTensorAllocator hook(memory.get());
    Tensor t = Tensor::Allocate(DataType::kFp32, {32}, 128);  // recorded: 256
  }
  memory->EndStep(0);
  EXPECT_TRUE(memory->fell_back());
}

TEST(RunMemoryTest, AllocationsOnOtherThreadsUseTheHeap) {
  auto memory = RunMemory::Create(nullptr, 1);
  memory->BeginStep(0);
  {
    ScopedTensorAllocator hook(memory.get());
    std::thread([] { Tensor t = Tensor::Allocate(DataType::kFp32, {4}, 16); }).join();
  }
  memory->EndStep(0);
  memory->Finish();
  EXPECT_EQ(memory->BuildPlan("", 0)->Report().allocations, 0);
}

// ---------------------------------------------------------------------------
// Plans: planned runs give the same bytes as recording runs and the heap
// ---------------------------------------------------------------------------

CompileOptions Options(bool planning, bool in_place = true, int shapes = 8) {
  CompileOptions options;
  options.memory_planning = planning;
  options.in_place = in_place;
  options.max_planned_shapes = shapes;
  return options;
}

std::unique_ptr<Plan> MustBuild(const ModelBuilder& b, const CompileOptions& options) {
  auto plan = Plan::FromOnnxBytes(b.Serialize(), options);
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  return plan.ok() ? std::move(plan).value() : nullptr;
}

// A run's inputs, owned.
struct Feed {
  std::vector<Tensor> tensors;
  std::vector<TensorView> Views() const {
    std::vector<TensorView> views;
    for (const Tensor& t : tensors) views.push_back(t.view());
    return views;
  }
};

Tensor FloatTensor(Shape shape, uint32_t seed) {
  Tensor t = Tensor::AllocateDense(DataType::kFp32, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  for (size_t i = 0; i < t.byte_size() / 4; ++i) t.mutable_data_as<float>()[i] = dist(rng);
  return t;
}

Tensor Int64Tensor(Shape shape, std::vector<int64_t> values) {
  Tensor t = Tensor::AllocateDense(DataType::kInt64, std::move(shape));
  std::memcpy(t.mutable_data(), values.data(), values.size() * sizeof(int64_t));
  return t;
}

// Owned copies of a run's outputs (so later runs cannot change them).
std::vector<Tensor> RunOk(const Plan& plan, const Feed& feed) {
  std::vector<Tensor> out;
  Status s = plan.Run(feed.Views(), &out);
  EXPECT_TRUE(s.ok()) << s.ToString();
  std::vector<Tensor> copies;
  for (const Tensor& t : out) copies.push_back(Tensor::CopyOf(t.view()));
  return copies;
}

bool SameBytes(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].dtype() != b[i].dtype() || a[i].shape() != b[i].shape() ||
        a[i].byte_size() != b[i].byte_size() ||
        std::memcmp(a[i].data(), b[i].data(), a[i].byte_size()) != 0) {
      return false;
    }
  }
  return true;
}

// y = Tanh(Sigmoid(Relu(x @ W1 + b1) * s) @ W2), z = Reshape(y, [-1]): a
// dynamic batch, elementwise chains, and an output that is a view.
ModelBuilder MlpModel() {
  ModelBuilder b(17);
  b.Input("x", kFloat, {-1, 4});
  std::vector<float> w1(4 * 8), w2(8 * 3), b1(8);
  for (size_t i = 0; i < w1.size(); ++i) w1[i] = 0.1f * static_cast<float>(i % 7) - 0.3f;
  for (size_t i = 0; i < w2.size(); ++i) w2[i] = 0.2f * static_cast<float>(i % 5) - 0.4f;
  for (size_t i = 0; i < b1.size(); ++i) b1[i] = 0.05f * static_cast<float>(i);
  b.FloatInitializer("W1", {4, 8}, w1);
  b.FloatInitializer("b1", {8}, b1);
  b.FloatInitializer("s", {1}, {1.5f});
  b.FloatInitializer("W2", {8, 3}, w2);
  b.Int64Initializer("flat", {1}, {-1});
  b.Output("y", kFloat, {-1, 3});
  b.Output("z", kFloat, {-1});
  b.AddNode("MatMul", {"x", "W1"}, {"h0"});
  b.AddNode("Add", {"h0", "b1"}, {"h1"});
  b.AddNode("Relu", {"h1"}, {"h2"});
  b.AddNode("Mul", {"h2", "s"}, {"h3"});
  b.AddNode("Sigmoid", {"h3"}, {"h4"});
  b.AddNode("MatMul", {"h4", "W2"}, {"h5"});
  b.AddNode("Tanh", {"h5"}, {"y"});
  b.AddNode("Exp", {"h5"}, {"e"});
  b.AddNode("Reshape", {"e", "flat"}, {"z"});
  return b;
}

Feed BatchFeed(int64_t batch, uint32_t seed) {
  return Feed{{FloatTensor({batch, 4}, seed)}};
}

TEST(MemoryPlanTest, DynamicBatchPlannedRunsMatchTheHeapBitForBit) {
  ModelBuilder model = MlpModel();
  auto heap = MustBuild(model, Options(false));
  ASSERT_TRUE(heap);
  EXPECT_FALSE(heap->LastMemoryReport().has_value());
  int64_t allocations[2] = {0, 0};  // [in_place]
  for (bool in_place : {true, false}) {
    // The counts below are for the unfused MLP (fuse_matmul would fold the
    // bias and activations into the MatMuls).
    CompileOptions options = Options(true, in_place);
    options.disabled_passes = {"fuse_matmul"};
    auto planned = MustBuild(model, options);
    ASSERT_TRUE(planned);
    const int64_t batches[] = {1, 17, 3, 1, 17, 3, 17, 1};
    for (size_t i = 0; i < std::size(batches); ++i) {
      Feed feed = BatchFeed(batches[i], static_cast<uint32_t>(i));
      std::vector<Tensor> want = RunOk(*heap, feed);
      std::vector<Tensor> got = RunOk(*planned, feed);
      EXPECT_TRUE(SameBytes(got, want)) << "run " << i << " batch " << batches[i];
      auto report = planned->LastMemoryReport();
      ASSERT_TRUE(report.has_value());
      EXPECT_EQ(report->fallback_runs, 0);
      EXPECT_EQ(report->input_shapes, "[" + std::to_string(batches[i]) + ",4]");
    }
    auto report = planned->LastMemoryReport();  // batch 1: runs 0, 3, 7
    EXPECT_EQ(report->planned_runs, 2);
    EXPECT_EQ(report->escaped_allocations, 2);  // y, and the bytes z views
    EXPECT_LE(report->arena_bytes, report->naive_bytes);
    EXPECT_GE(report->arena_bytes, report->heap_peak_bytes);
    allocations[in_place] = report->allocations;
    if (in_place) {
      // MatMul's output is reused by Add, Relu, Mul, Sigmoid; the second
      // MatMul's by Exp (z).
      EXPECT_EQ(report->in_place_steps, 5);
    } else {
      EXPECT_EQ(report->in_place_steps, 0);
      EXPECT_LT(report->arena_bytes, report->naive_bytes);
    }
  }
  // Without in-place: h0..h5 (Exp's output is z's bytes), plus whatever
  // scratchpads the oneDNN MatMuls ask for on this CPU (planned too); with
  // in-place five of those intermediates are never allocated.
  EXPECT_EQ(allocations[false] - allocations[true], 5);
  EXPECT_GE(allocations[false], 6);
}

TEST(MemoryPlanTest, OutputsOfEarlierRunsSurviveLaterRuns) {
  auto plan = MustBuild(MlpModel(), Options(true));
  ASSERT_TRUE(plan);
  Feed a = BatchFeed(5, 1);
  Feed b = BatchFeed(5, 2);
  std::vector<Tensor> want_a = RunOk(*plan, a);
  std::vector<Tensor> kept;  // not copied: views of what the runs computed
  ASSERT_TRUE(plan->Run(a.Views(), &kept).ok());
  for (int i = 0; i < 3; ++i) {
    std::vector<Tensor> other;
    ASSERT_TRUE(plan->Run(b.Views(), &other).ok());
  }
  EXPECT_TRUE(SameBytes(kept, want_a));
}

// Relu -> TopK(k from an input) -> Neg -> Exp, and NonZero -> Cast -> Neg:
// allocation sizes depend on data, not on input shapes.
ModelBuilder DataDependentModel() {
  ModelBuilder b(17);
  b.Input("x", kFloat, {-1});
  b.Input("k", kInt64, {1});
  b.Output("top", kFloat, {-1});
  b.Output("idx", kInt64, {-1});
  b.Output("nz", kFloat, {1, -1});
  b.AddNode("Relu", {"x"}, {"r"});
  b.AddNode("TopK", {"r", "k"}, {"v", "idx"});
  b.AddNode("Neg", {"v"}, {"n"});
  b.AddNode("Exp", {"n"}, {"top"});
  b.AddNode("NonZero", {"r"}, {"where"});
  auto* cast = b.AddNode("Cast", {"where"}, {"wf"});
  SetIntAttr(cast, "to", kFloat);
  b.AddNode("Neg", {"wf"}, {"nz"});
  return b;
}

TEST(MemoryPlanTest, DataDependentShapesFallBackToTheHeap) {
  ModelBuilder model = DataDependentModel();
  auto planned = MustBuild(model, Options(true));
  auto heap = MustBuild(model, Options(false));
  ASSERT_TRUE(planned && heap);
  for (int i = 0; i < 12; ++i) {
    // Every fourth run repeats the recorded data: those fit the plan.
    Feed feed{{FloatTensor({16}, static_cast<uint32_t>(i % 4)), Int64Tensor({1}, {1 + i % 4})}};
    std::vector<Tensor> want = RunOk(*heap, feed);
    EXPECT_TRUE(SameBytes(RunOk(*planned, feed), want)) << "run " << i;
  }
  auto report = planned->LastMemoryReport();
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->planned_runs, 11);
  EXPECT_GT(report->fallback_runs, 0);
  EXPECT_LT(report->fallback_runs, 11);  // repeats of the recorded k and data fit
}

// Reshape to a shape given as an input: same sizes, shapes from data.
TEST(MemoryPlanTest, ReshapeByComputedShape) {
  ModelBuilder b(17);
  b.Input("x", kFloat, {2, 6});
  b.Input("shape", kInt64, {2});
  b.Output("y", kFloat, {-1, -1});
  b.AddNode("Relu", {"x"}, {"r"});
  b.AddNode("Reshape", {"r", "shape"}, {"t"});
  b.AddNode("Transpose", {"t"}, {"u"});
  b.AddNode("Neg", {"u"}, {"y"});
  auto planned = MustBuild(b, Options(true));
  auto heap = MustBuild(b, Options(false));
  ASSERT_TRUE(planned && heap);
  const std::vector<int64_t> shapes[] = {{3, 4}, {4, 3}, {12, 1}, {3, 4}, {2, 6}};
  for (size_t i = 0; i < std::size(shapes); ++i) {
    Feed feed{{FloatTensor({2, 6}, 9), Int64Tensor({2}, shapes[i])}};
    std::vector<Tensor> want = RunOk(*heap, feed);
    std::vector<Tensor> got = RunOk(*planned, feed);
    EXPECT_TRUE(SameBytes(got, want)) << "run " << i;
    EXPECT_EQ(got[0].shape(), (Shape{shapes[i][1], shapes[i][0]}));
  }
  EXPECT_EQ(planned->LastMemoryReport()->fallback_runs, 0);
}

// Outputs that are views of intermediates: Reshape and Identity last.
TEST(MemoryPlanTest, OutputsThatViewIntermediates) {
  ModelBuilder b(17);
  b.Input("x", kFloat, {-1, 4});
  b.Int64Initializer("flat", {1}, {-1});
  b.Output("flat_out", kFloat, {-1});
  b.Output("same", kFloat, {-1, 4});
  b.AddNode("Sigmoid", {"x"}, {"s"});
  b.AddNode("Neg", {"s"}, {"n"});
  b.AddNode("Reshape", {"n", "flat"}, {"flat_out"});
  b.AddNode("Exp", {"x"}, {"e"});
  b.AddNode("Identity", {"e"}, {"same"});
  for (bool optimize : {true, false}) {
    CompileOptions options = Options(true);
    options.optimize = optimize;
    auto planned = MustBuild(b, options);
    options.memory_planning = false;
    auto heap = MustBuild(b, options);
    ASSERT_TRUE(planned && heap);
    for (int i = 0; i < 6; ++i) {
      Feed feed = BatchFeed(1 + i % 2, static_cast<uint32_t>(i));
      std::vector<Tensor> want = RunOk(*heap, feed);
      std::vector<Tensor> got;
      ASSERT_TRUE(planned->Run(feed.Views(), &got).ok());
      std::vector<Tensor> again;  // a later run must not touch `got`
      ASSERT_TRUE(planned->Run(BatchFeed(1 + i % 2, 99).Views(), &again).ok());
      EXPECT_TRUE(SameBytes(got, want)) << "run " << i << " optimize " << optimize;
    }
  }
}

TEST(MemoryPlanTest, ConcurrentRunsOfDifferentShapes) {
  ModelBuilder model = MlpModel();
  auto plan = MustBuild(model, Options(true, true, 3));
  ASSERT_TRUE(plan);
  constexpr int kThreads = 4;
  // Single-threaded results first, on a fresh plan.
  auto reference = MustBuild(model, Options(true));
  std::vector<std::vector<std::vector<Tensor>>> want(kThreads);
  auto feed_of = [](int t, int i) { return BatchFeed(1 + (t + i) % 5, static_cast<uint32_t>(t * 7 + i % 3)); };
  constexpr int kIterations = 40;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kIterations; ++i) want[t].push_back(RunOk(*reference, feed_of(t, i)));
  }
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIterations; ++i) {
        std::vector<Tensor> out;
        if (!plan->Run(feed_of(t, i).Views(), &out).ok() || !SameBytes(out, want[t][i])) {
          ++mismatches[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(kThreads, 0));
}

TEST(MemoryPlanTest, MoreShapesThanTheCacheHolds) {
  ModelBuilder model = MlpModel();
  auto planned = MustBuild(model, Options(true, true, 2));
  auto heap = MustBuild(model, Options(false));
  ASSERT_TRUE(planned && heap);
  for (int round = 0; round < 3; ++round) {
    for (int64_t batch = 1; batch <= 5; ++batch) {
      Feed feed = BatchFeed(batch, static_cast<uint32_t>(round * 10 + batch));
      EXPECT_TRUE(SameBytes(RunOk(*planned, feed), RunOk(*heap, feed))) << batch;
    }
  }
  // Each shape was evicted before it came back: always recording.
  EXPECT_EQ(planned->LastMemoryReport()->planned_runs, 0);
}

// ---------------------------------------------------------------------------
// In place
// ---------------------------------------------------------------------------

TEST(InPlaceTest, ElementwiseChainNeedsLessArena) {
  ModelBuilder b(17);
  b.Input("x", kFloat, {-1, 256});
  b.FloatInitializer("c", {1}, {0.5f});
  b.Output("y", kFloat, {-1, 256});
  b.AddNode("Relu", {"x"}, {"a"});
  b.AddNode("Neg", {"a"}, {"n"});
  b.AddNode("Exp", {"n"}, {"e"});
  b.AddNode("Mul", {"e", "c"}, {"m"});
  b.AddNode("Sigmoid", {"m"}, {"s"});
  b.AddNode("Add", {"s", "c"}, {"t"});
  b.AddNode("Tanh", {"t"}, {"y"});
  auto in_place = MustBuild(b, Options(true, true));
  auto copying = MustBuild(b, Options(true, false));
  auto heap = MustBuild(b, Options(false, false));
  ASSERT_TRUE(in_place && copying && heap);
  Feed feed{{FloatTensor({16, 256}, 3)}};
  const Tensor x_before = Tensor::CopyOf(feed.tensors[0].view());
  std::vector<Tensor> want = RunOk(*heap, feed);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(SameBytes(RunOk(*in_place, feed), want));
    EXPECT_TRUE(SameBytes(RunOk(*copying, feed), want));
  }
  EXPECT_TRUE(SameBytes({feed.tensors[0]}, {x_before})) << "a graph input was written";
  MemoryReport with = *in_place->LastMemoryReport();
  MemoryReport without = *copying->LastMemoryReport();
  EXPECT_EQ(with.in_place_steps, 6);  // all but the first (its input is the graph's)
  EXPECT_EQ(without.in_place_steps, 0);
  EXPECT_LT(with.arena_bytes, without.arena_bytes);
  EXPECT_EQ(with.arena_bytes, 0u);  // one buffer, passed along and returned
  EXPECT_EQ(without.arena_bytes, 2 * 16 * 256 * 4u);
}

TEST(InPlaceTest, ValuesReadTwiceOrOutputsAreNeverOverwritten) {
  // a is read by Relu and Sigmoid; y1 is an output that Exp reads.
  ModelBuilder b(17);
  b.Input("x", kFloat, {4});
  b.Output("y", kFloat, {4});
  b.Output("y1", kFloat, {4});
  b.Output("y2", kFloat, {4});
  b.AddNode("Neg", {"x"}, {"a"});
  b.AddNode("Relu", {"a"}, {"r"});
  b.AddNode("Sigmoid", {"a"}, {"s"});
  b.AddNode("Add", {"r", "s"}, {"y"});
  b.AddNode("Abs", {"x"}, {"y1"});
  b.AddNode("Exp", {"y1"}, {"y2"});
  auto plan = MustBuild(b, Options(true, true));
  ASSERT_TRUE(plan);
  const float x[4] = {-1.0f, 2.0f, 0.0f, -3.0f};
  Feed feed{{Tensor::CopyOf(TensorView{DataType::kFp32, {4}, reinterpret_cast<const char*>(x),
                                       sizeof(x)})}};
  for (int i = 0; i < 2; ++i) {
    std::vector<Tensor> out = RunOk(*plan, feed);
    for (int k = 0; k < 4; ++k) {
      const float a = -x[k];
      const float want = (a < 0 ? 0.0f : a) + 1.0f / (1.0f + std::exp(-a));
      EXPECT_FLOAT_EQ(out[0].data_as<float>()[k], want) << k;
      EXPECT_EQ(out[1].data_as<float>()[k], std::fabs(x[k])) << k;
      EXPECT_FLOAT_EQ(out[2].data_as<float>()[k], std::exp(std::fabs(x[k]))) << k;
    }
  }
  // Only Add may reuse (r dies there); Relu and Sigmoid read a, which lives on
  // until Sigmoid, where it dies: Sigmoid may reuse it.
  EXPECT_EQ(plan->LastMemoryReport()->in_place_steps, 2);
}

}  // namespace
}  // namespace nereid::engine
