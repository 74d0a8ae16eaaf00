// Tuner (tuner.h): candidate enumeration, timing and the choice per node.
#include "engine/runtime/tuner.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <exception>
#include <limits>

namespace nereid::engine {
namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string ShapesOf(std::span<const Tensor* const> inputs) {
  std::string text;
  for (const Tensor* t : inputs) {
    if (!text.empty()) text += ' ';
    text += t == nullptr ? "-" : ShapeToString(t->shape());
  }
  return text;
}

// How far `got` is from `want`, relative to want's magnitude; nullopt
// when they cannot be compared (other dtype or shape: a different result).
std::optional<double> Difference(const Tensor& want, const Tensor& got) {
  if (want.dtype() != got.dtype() || want.shape() != got.shape() ||
      want.byte_size() != got.byte_size()) {
    return std::nullopt;
  }
  if (want.dtype() != DataType::kFp32) {
    return std::equal(want.data(), want.data() + want.byte_size(), got.data()) ? 0.0 : 1.0;
  }
  const float* a = want.data_as<float>();
  const float* b = got.data_as<float>();
  const size_t n = want.byte_size() / sizeof(float);
  double scale = 1, diff = 0;
  for (size_t i = 0; i < n; ++i) {
    scale = std::max(scale, static_cast<double>(std::fabs(a[i])));
    const double d = std::fabs(static_cast<double>(a[i]) - b[i]);
    if (!(d <= diff)) diff = std::isnan(d) ? std::numeric_limits<double>::infinity() : d;
  }
  return diff / scale;
}

struct Candidate {
  int priority = 0;
  std::string params;  // stored form
  std::string label;
  const Kernel* prebuilt = nullptr;  // the default: the step's own kernel
};

// One candidate's outcome.
struct Timing {
  bool ok = false;
  double ms = 0;  // median per run
  std::unique_ptr<Kernel> kernel;
};

std::string Label(int priority, int default_priority, const std::string& label) {
  if (priority == default_priority) return label;
  return "priority " + std::to_string(priority) + " kernel" + (label.empty() ? "" : ": " + label);
}

}  // namespace

StatusOr<SplitTuning> SplitTuningParams(std::string_view params) {
  ASSIGN_OR_RETURN(TuningParams parsed, TuningParams::Parse(params));
  SplitTuning split;
  if (std::optional<std::string> t = parsed.Get("threads")) {
    const char* end = t->data() + t->size();
    auto [p, ec] = std::from_chars(t->data(), end, split.threads);
    if (ec != std::errc() || p != end || split.threads < 1 || split.threads > 4096) {
      return InvalidArgument("tuning parameter threads must be an integer in 1..4096, got '" +
                             *t + "'");
    }
    parsed.Erase("threads");
  }
  split.kernel_params = parsed.ToString();
  return split;
}

std::string JoinTuningParams(int threads, std::string_view kernel_params) {
  auto parsed = TuningParams::Parse(kernel_params);
  TuningParams params = parsed.ok() ? std::move(parsed).value() : TuningParams();
  if (threads > 0) params.Set("threads", std::to_string(threads));
  return params.ToString();
}

Tuner::Tuner(int64_t budget_ms, TunerOptions options)
    : budget_ms_(budget_ms), options_(options), start_(Clock::now()) {
  report_.ran = budget_ms > 0;
}

double Tuner::ElapsedMs() const { return MsSince(start_); }

bool Tuner::BudgetSpent() const {
  return stopped_ || ElapsedMs() >= static_cast<double>(budget_ms_);
}

std::optional<Tuner::Choice> Tuner::TuneNode(const TunerNode& node,
                                             std::span<const Tensor* const> inputs,
                                             size_t outputs) {
  if (BudgetSpent()) {
    stopped_ = true;
    return std::nullopt;
  }
  // Runs `kernel` once; false when it fails or throws.
  auto run = [&](const Kernel& kernel, std::vector<Tensor>* results) {
    results->assign(std::max<size_t>(outputs, 1), Tensor());
    try {
      return kernel.Run(inputs, *results).ok();
    } catch (const std::exception&) {
      return false;
    }
  };
  auto build = [&](int priority, const std::string& params) -> StatusOr<std::unique_ptr<Kernel>> {
    try {
      return node.build(priority, params);
    } catch (const std::exception& e) {
      return Internal(std::string("exception while building: ") + e.what());
    }
  };
  auto alternatives = [&](const Kernel& kernel) {
    try {
      return kernel.TuningCandidates(inputs);
    } catch (const std::exception&) {
      return std::vector<TuningCandidate>{};
    }
  };

  // Stage 1: the default factory's alternatives, then the other factories'.
  std::vector<Candidate> candidates;
  std::vector<TuningCandidate> own = alternatives(*node.default_kernel);
  candidates.push_back({node.default_priority, "", own.empty() ? "default" : own[0].label,
                        node.default_kernel});
  for (size_t i = 1; i < own.size(); ++i) {
    candidates.push_back({node.default_priority, own[i].params, own[i].label, nullptr});
  }
  int failed = 0;
  std::vector<std::unique_ptr<Kernel>> others;  // the other factories' default kernels
  for (int priority : node.other_priorities) {
    auto kernel = build(priority, "");
    if (!kernel.ok()) {
      // Unimplemented: that factory does not take this node (not a failure).
      if (kernel.status().code() != StatusCode::kUnimplemented) ++failed;
      continue;
    }
    std::vector<TuningCandidate> theirs = alternatives(**kernel);
    candidates.push_back({priority, "", Label(priority, node.default_priority,
                                              theirs.empty() ? "" : theirs[0].label),
                          kernel->get()});
    for (size_t i = 1; i < theirs.size(); ++i) {
      candidates.push_back({priority, theirs[i].params,
                            Label(priority, node.default_priority, theirs[i].label), nullptr});
    }
    others.push_back(std::move(kernel).value());
  }
  if (candidates.size() < 2 && node.max_threads <= 1) return std::nullopt;  // no choice
  auto with_threads = [](const std::string& label, int threads) {
    return label + ", " + std::to_string(threads) + " thread" + (threads == 1 ? "" : "s");
  };
  if (node.max_threads > 1) {
    for (Candidate& c : candidates) c.label = with_threads(c.label, node.max_threads);
  }

  std::vector<Tensor> expected;  // the default's outputs
  std::vector<Tensor> results;
  double best_ms = std::numeric_limits<double>::infinity();
  // Times one candidate; nullopt when the budget ran out before it started.
  auto time = [&](const Candidate& c) -> std::optional<Timing> {
    if (BudgetSpent()) {
      stopped_ = true;
      return std::nullopt;
    }
    Timing t;
    const Kernel* kernel = c.prebuilt;
    if (kernel == nullptr) {
      auto built = build(c.priority, c.params);
      if (!built.ok()) return t;
      t.kernel = std::move(built).value();
      kernel = t.kernel.get();
    }
    if (!run(*kernel, &results)) return t;  // warm-up
    if (expected.empty()) {
      expected = results;
    } else {
      for (size_t o = 0; o < expected.size(); ++o) {
        if (expected[o].dtype() == DataType::kInvalid) continue;
        std::optional<double> d = Difference(expected[o], results[o]);
        if (!d || *d > options_.tolerance) return t;  // computes something else
      }
    }
    std::vector<double> ms;
    for (int r = 0; r < std::max(options_.repeats, 1); ++r) {
      const Clock::time_point a = Clock::now();
      if (!run(*kernel, &results)) return t;
      ms.push_back(MsSince(a));
      if (ms[0] > 2 * best_ms) break;  // far behind: one run tells
    }
    std::sort(ms.begin(), ms.end());
    t.ok = true;
    t.ms = ms[ms.size() / 2];
    best_ms = std::min(best_ms, t.ms);
    return t;
  };

  PlanInfo::Tuning::Node entry;
  entry.step = node.step;
  entry.node = node.label;
  entry.input_shapes = ShapesOf(inputs);
  entry.default_label = candidates[0].label;
  size_t winner = 0;
  Timing winner_timing;
  double default_ms = 0;
  auto consider = [&](size_t index, Timing t) {
    ++entry.candidates;
    if (!t.ok) {
      ++failed;
      return;
    }
    if (index == 0) default_ms = t.ms;
    if (index == 0 || t.ms < winner_timing.ms) {
      winner = index;
      winner_timing = std::move(t);
    }
  };
  for (size_t i = 0; i < candidates.size(); ++i) {
    std::optional<Timing> t = time(candidates[i]);
    if (!t) {
      ++report_.unfinished;
      report_.failed_candidates += failed;
      return std::nullopt;
    }
    if (i == 0 && !t->ok) {  // the default itself cannot run these inputs: leave it be
      report_.failed_candidates += failed + 1;
      return std::nullopt;
    }
    consider(i, std::move(*t));
  }
  // Stage 2: the winner with fewer threads.
  const Candidate first_winner = candidates[winner];
  auto split = SplitTuningParams(first_winner.params);
  for (int threads = node.max_threads / 2; split.ok() && threads >= 1;
       threads = threads > 1 ? threads / 2 : 0) {
    std::string label = first_winner.label;
    label.resize(label.rfind(", "));  // without the thread count
    Candidate c{first_winner.priority, JoinTuningParams(threads, split->kernel_params),
                with_threads(label, threads), nullptr};
    candidates.push_back(c);
    std::optional<Timing> t = time(c);
    if (!t) {
      ++report_.unfinished;
      report_.failed_candidates += failed;
      return std::nullopt;
    }
    consider(candidates.size() - 1, std::move(*t));
  }

  // A winner other than the default is confirmed by timing both again,
  // alternately, so a burst of load on the machine during one of them does
  // not decide.
  if (winner != 0 && winner_timing.ms * options_.min_gain < default_ms) {
    const Kernel* challenger = winner_timing.kernel != nullptr ? winner_timing.kernel.get()
                                                               : candidates[winner].prebuilt;
    std::vector<double> a, b;
    for (int r = 0; r < std::max(options_.repeats, 1); ++r) {
      for (int k = 0; k < 2; ++k) {
        const Kernel* kernel = k == 0 ? node.default_kernel : challenger;
        const Clock::time_point t0 = Clock::now();
        if (!run(*kernel, &results)) return std::nullopt;  // ran before: not expected
        (k == 0 ? a : b).push_back(MsSince(t0));
      }
    }
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    default_ms = a[a.size() / 2];
    winner_timing.ms = b[b.size() / 2];
  }
  entry.failed = failed;
  report_.failed_candidates += failed;
  ++report_.tuned;
  entry.default_ms = default_ms;
  const bool switch_ = winner != 0 && winner_timing.ms * options_.min_gain < default_ms;
  entry.chosen_label = switch_ ? candidates[winner].label : candidates[0].label;
  entry.chosen_ms = switch_ ? winner_timing.ms : default_ms;
  report_.nodes.push_back(std::move(entry));
  if (!switch_) return std::nullopt;
  ++report_.changed;
  Choice choice;
  choice.priority = candidates[winner].priority;
  choice.params = candidates[winner].params;
  if (winner_timing.kernel != nullptr) {
    choice.kernel = std::move(winner_timing.kernel);
  } else {
    // A prebuilt default of another factory.
    for (auto& k : others) {
      if (k.get() == candidates[winner].prebuilt) choice.kernel = std::move(k);
    }
  }
  if (choice.kernel == nullptr) return std::nullopt;
  return choice;
}

}  // namespace nereid::engine
