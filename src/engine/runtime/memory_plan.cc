#include "engine/runtime/memory_plan.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <limits>
#include <new>
#include <numeric>
#include <utility>

namespace nereid::engine {

size_t ArenaSize(size_t bytes) {
  if (bytes > std::numeric_limits<size_t>::max() - kArenaAlignment) throw std::bad_alloc();
  const size_t rounded = (bytes + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
  return std::max(rounded, kArenaAlignment);
}

ArenaLayout PlanArena(std::span<const AllocationInterval> intervals) {
  const size_t n = intervals.size();
  std::vector<size_t> sizes(n);
  for (size_t i = 0; i < n; ++i) sizes[i] = ArenaSize(intervals[i].bytes);
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (sizes[a] != sizes[b]) return sizes[a] > sizes[b];
    return intervals[a].first_step < intervals[b].first_step;
  });
  ArenaLayout layout;
  layout.offsets.assign(n, 0);
  std::vector<size_t> placed;
  std::vector<std::pair<size_t, size_t>> busy;  // [offset, end) of time-overlapping placed ones
  for (size_t i : order) {
    const AllocationInterval& a = intervals[i];
    busy.clear();
    for (size_t j : placed) {
      const AllocationInterval& b = intervals[j];
      if (b.first_step <= a.last_step && a.first_step <= b.last_step) {
        busy.emplace_back(layout.offsets[j], layout.offsets[j] + sizes[j]);
      }
    }
    std::sort(busy.begin(), busy.end());
    size_t best = 0;
    size_t best_gap = std::numeric_limits<size_t>::max();
    size_t top = 0;  // end of everything below the current position
    for (const auto& [begin, end] : busy) {
      if (begin > top && begin - top >= sizes[i] && begin - top < best_gap) {
        best_gap = begin - top;
        best = top;
      }
      top = std::max(top, end);
    }
    const size_t offset = best_gap != std::numeric_limits<size_t>::max() ? best : top;
    layout.offsets[i] = offset;
    layout.arena_bytes = std::max(layout.arena_bytes, offset + sizes[i]);
    placed.push_back(i);
  }
  return layout;
}

size_t PeakLiveBytes(std::span<const AllocationInterval> intervals) {
  // (step, +bytes) when one becomes live, (last_step + 1, -bytes) after it died;
  // at equal steps the frees sort first.
  std::vector<std::pair<int64_t, int64_t>> events;
  events.reserve(intervals.size() * 2);
  for (const AllocationInterval& a : intervals) {
    const auto size = static_cast<int64_t>(ArenaSize(a.bytes));
    events.emplace_back(a.first_step, size);
    events.emplace_back(int64_t{a.last_step} + 1, -size);
  }
  std::sort(events.begin(), events.end());
  int64_t live = 0;
  int64_t peak = 0;
  for (const auto& [step, delta] : events) {
    live += delta;
    peak = std::max(peak, live);
  }
  return static_cast<size_t>(peak);
}

// ---------------------------------------------------------------------------
// MemoryPlan
// ---------------------------------------------------------------------------

MemoryPlan::~MemoryPlan() {
  for (void* arena : free_arenas_) std::free(arena);
}

MemoryReport MemoryPlan::Report() const {
  MemoryReport report = report_;
  report.planned_runs = planned_runs_.load(std::memory_order_relaxed);
  report.fallback_runs = fallback_runs_.load(std::memory_order_relaxed);
  return report;
}

void MemoryPlan::CountRun(bool fell_back) const {
  planned_runs_.fetch_add(1, std::memory_order_relaxed);
  if (fell_back) fallback_runs_.fetch_add(1, std::memory_order_relaxed);
}

void* MemoryPlan::AcquireArena() const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_arenas_.empty()) {
      void* arena = free_arenas_.back();
      free_arenas_.pop_back();
      return arena;
    }
  }
  void* arena = std::aligned_alloc(kArenaAlignment, arena_bytes_);
  if (arena == nullptr) throw std::bad_alloc();
  return arena;
}

void MemoryPlan::ReleaseArena(void* arena) const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_arenas_.size() < kMaxFreeArenas) {
      try {
        free_arenas_.push_back(arena);
        return;
      } catch (const std::bad_alloc&) {
        // Falls through to free it.
      }
    }
  }
  std::free(arena);
}

// ---------------------------------------------------------------------------
// RunMemory
// ---------------------------------------------------------------------------

// Heap storage of a recording run; notes the step at which it died.
struct RunMemory::RecordingDeleter {
  std::shared_ptr<RunMemory> memory;
  Record* record;
  void operator()(void* p) const {
    record->death.store(memory->step_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    std::free(p);
  }
};

// Arena storage; keeps the run (and so its arena) alive until it dies.
struct RunMemory::ArenaDeleter {
  std::shared_ptr<RunMemory> memory;
  int id;
  void operator()(void*) const { memory->alive_[id].store(false, std::memory_order_release); }
};

std::shared_ptr<RunMemory> RunMemory::Create(std::shared_ptr<const MemoryPlan> plan,
                                             int num_steps) {
  return std::make_shared<RunMemory>(Token{}, std::move(plan), num_steps);
}

RunMemory::RunMemory(Token, std::shared_ptr<const MemoryPlan> plan, int num_steps)
    : plan_(std::move(plan)), num_steps_(num_steps) {
  if (plan_ == nullptr) return;
  // A plan recorded for another step count cannot describe this run.
  if (static_cast<int>(plan_->steps_.size()) != num_steps || plan_->arena_allocations_ == 0) {
    return;
  }
  alive_ = std::make_unique<std::atomic<bool>[]>(static_cast<size_t>(plan_->arena_allocations_));
  arena_ = static_cast<char*>(plan_->AcquireArena());
  arena_on_ = true;
}

RunMemory::~RunMemory() {
  if (arena_ != nullptr) plan_->ReleaseArena(arena_);
}

std::shared_ptr<void> RunMemory::Allocate(size_t byte_size) {
  const int step = step_.load(std::memory_order_relaxed);
  if (plan_ == nullptr) {
    void* p = std::aligned_alloc(kArenaAlignment, ArenaSize(byte_size));
    if (p == nullptr) throw std::bad_alloc();
    Record* record = nullptr;
    try {
      record = &records_.emplace_back();
    } catch (...) {
      std::free(p);
      throw;
    }
    record->bytes = byte_size;
    record->step = step;
    // On failure the deleter runs: the record dies at once.
    return std::shared_ptr<void>(p, RecordingDeleter{shared_from_this(), record});
  }
  if (!arena_on_) return nullptr;
  const std::vector<MemoryPlan::Slot>& slots = plan_->steps_[static_cast<size_t>(step)];
  const size_t k = next_in_step_++;
  if (k >= slots.size() || slots[k].bytes != byte_size) {
    arena_on_ = false;  // the run left the recording: heap from here on
    fell_back_ = true;
    return nullptr;
  }
  if (slots[k].id < 0) return nullptr;  // escaped when recorded
  alive_[slots[k].id].store(true, std::memory_order_relaxed);
  return std::shared_ptr<void>(arena_ + slots[k].offset, ArenaDeleter{shared_from_this(), slots[k].id});
}

void RunMemory::BeginStep(int step) {
  step_.store(step, std::memory_order_relaxed);
  next_in_step_ = 0;
}

void RunMemory::EndStep(int step) {
  if (!arena_on_) return;
  // Later steps may reuse these bytes: everything planned to be dead by now
  // must be. (Never handed out counts as dead.)
  for (int id : plan_->dies_after_[static_cast<size_t>(step)]) {
    if (alive_[id].load(std::memory_order_acquire)) {
      arena_on_ = false;
      fell_back_ = true;
      return;
    }
  }
}

void RunMemory::Finish() {
  step_.store(num_steps_, std::memory_order_relaxed);
  arena_on_ = false;
}

std::shared_ptr<MemoryPlan> RunMemory::BuildPlan(std::string input_shapes,
                                                 int64_t in_place_steps) const {
  const auto start = std::chrono::steady_clock::now();
  std::shared_ptr<MemoryPlan> plan(new MemoryPlan());
  MemoryReport& report = plan->report_;
  report.input_shapes = std::move(input_shapes);
  report.steps = num_steps_;
  report.in_place_steps = in_place_steps;
  std::vector<AllocationInterval> intervals;
  std::vector<int> ids;  // per record: arena id or -1
  for (const Record& r : records_) {
    const int death = r.death.load(std::memory_order_relaxed);
    if (death < 0) {  // still alive: escaped
      ids.push_back(-1);
      ++report.escaped_allocations;
      report.escaped_bytes += ArenaSize(r.bytes);
      continue;
    }
    ids.push_back(static_cast<int>(intervals.size()));
    intervals.push_back({r.bytes, r.step, death});
    report.naive_bytes += ArenaSize(r.bytes);
  }
  const ArenaLayout layout = PlanArena(intervals);
  plan->steps_.resize(static_cast<size_t>(num_steps_));
  plan->dies_after_.resize(static_cast<size_t>(num_steps_) + 1);
  size_t i = 0;
  for (const Record& r : records_) {
    const int id = ids[i++];
    MemoryPlan::Slot slot{r.bytes, 0, id};
    if (id >= 0) {
      slot.offset = layout.offsets[static_cast<size_t>(id)];
      const int death = intervals[static_cast<size_t>(id)].last_step;
      plan->dies_after_[static_cast<size_t>(std::min(death, num_steps_))].push_back(id);
    }
    plan->steps_[static_cast<size_t>(r.step)].push_back(slot);
  }
  plan->arena_bytes_ = layout.arena_bytes;
  plan->arena_allocations_ = static_cast<int>(intervals.size());
  report.allocations = static_cast<int64_t>(intervals.size());
  report.arena_bytes = layout.arena_bytes;
  report.heap_peak_bytes = PeakLiveBytes(intervals);
  report.planning_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return plan;
}

}  // namespace nereid::engine
