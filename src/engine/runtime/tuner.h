// Tuner: kernel auto-tuning at plan compile time (issue 7).
//
// GraphPlan::Create runs the compiled plan once on random inputs of the
// profile's opt shapes (or the model's static shapes) and, before each node
// runs, hands its actual inputs to Tuner::TuneNode, which times the node's
// candidates and picks the fastest:
//   1. the default kernel (the factory the plan chose, default parameters);
//   2. that kernel's alternatives for these shapes (Kernel::TuningCandidates:
//      oneDNN implementations, algorithms, layouts);
//   3. the other optimized factories registered for the op ("our own
//      kernels") with their alternatives; reference kernels (priority 0) are
//      the correctness oracle and are not timed (one run of them on a
//      ResNet-50 layer costs seconds);
//   4. the winner of 1-3 with fewer threads (budget/2, /4, ..., 1) when the
//      plan may use more than one.
// Each candidate is built, run once (warm-up: primitive creation, weight
// packing; its output is compared with the default's, so a candidate that
// computes something else is refused), then timed over a few runs (median;
// one run when it is already far slower than the best). A candidate that
// fails to build or run is skipped and counted. A candidate replaces the
// default only when it is more than 3% faster, and only after timing the
// two again, alternately (a burst of load during one of them then cannot
// decide), so noise does not change plans. The chosen factory's priority
// and the parameters (the kernel's own plus the runtime's "threads") go
// into PlanInfo::kernels, which the plan file stores; loading rebuilds them
// without timing anything.
//
// Budget: Tuner checks the time spent (from its construction) before every
// candidate; once it reaches the budget it stops, keeps the default of the
// node at hand, and GraphPlan ends the tuning run there, reporting the
// nodes it did not reach. One candidate may overrun the budget by its own
// time.
//
// Thread safety: a Tuner is used by one thread (the compiling one).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/tensor.h"
#include "engine/kernels/kernel.h"
#include "engine/runtime/plan.h"

namespace nereid::engine {

// A plan's stored parameters split into the runtime's key ("threads": 0
// when absent) and the rest, which the kernel's factory reads.
struct SplitTuning {
  int threads = 0;
  std::string kernel_params;
};
// InvalidArgument when malformed or threads is not an integer in 1..4096.
StatusOr<SplitTuning> SplitTuningParams(std::string_view params);
std::string JoinTuningParams(int threads, std::string_view kernel_params);

// Builds the node's kernel from the factory of `priority` with stored-form
// parameters (runtime keys included).
using TuningKernelBuilder =
    std::function<StatusOr<std::unique_ptr<Kernel>>(int priority, std::string_view params)>;

struct TunerNode {
  size_t step = 0;
  std::string label;  // DescribeNode()
  int default_priority = 0;
  const Kernel* default_kernel = nullptr;  // built with default parameters
  std::vector<int> other_priorities;       // other optimized factories, highest first
  int max_threads = 1;                     // the plan's intra-op budget
  TuningKernelBuilder build;
};

struct TunerOptions {
  int repeats = 5;          // timed runs per candidate (after one warm-up)
  double tolerance = 1e-3;  // max |candidate - default| / max(1, max |default|)
  double min_gain = 1.03;   // the default's time / the winner's, to switch
};

class Tuner {
 public:
  explicit Tuner(int64_t budget_ms, TunerOptions options = {});

  struct Choice {
    int priority = 0;
    std::string params;  // stored form
    std::unique_ptr<Kernel> kernel;
  };
  // Tunes one node on its actual inputs (outputs: how many the node has).
  // Returns the winner when it is not the default; nullopt keeps the
  // default (it won, nothing else could be timed, or the budget ran out).
  // Adds the node to report() when all its candidates were timed.
  std::optional<Choice> TuneNode(const TunerNode& node, std::span<const Tensor* const> inputs,
                                 size_t outputs);

  bool BudgetSpent() const;
  double ElapsedMs() const;
  PlanInfo::Tuning& report() { return report_; }

 private:
  const int64_t budget_ms_;
  const TunerOptions options_;
  const std::chrono::steady_clock::time_point start_;
  bool stopped_ = false;  // the budget ran out
  PlanInfo::Tuning report_;
};

}  // namespace nereid::engine
