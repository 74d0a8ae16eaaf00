// Memory planning for GraphPlan ("dynamic tensor memory").
//
// The first run of a set of input shapes is a recording run: a RunMemory
// installed as the thread's TensorAllocator (only while a kernel runs, only
// on the calling thread) serves every Tensor::Allocate from the heap and
// notes its size, the step that made it and the step during (or after) which
// its last reference died. MemoryPlan::Build turns that into offsets in one
// arena (PlanArena: liveness-based reuse) and the plan is cached per shape.
//
// A planned run gives allocation k of step s its planned offset when its
// size equals the recorded one. The first allocation that does not match
// (data-dependent shapes: NonZero, TopK with an input k, ...) and any
// allocation still alive after the step at which it was planned to die (a
// kernel that kept or viewed it) switch the rest of the run to the heap, so
// a plan that does not fit the run can never place two live tensors on the
// same bytes. Allocations alive at the end of the recording run (outputs and
// what shares their bytes) always go to the heap: they escape to the caller.
// Every arena tensor keeps its run's arena alive; the arena returns to the
// plan's free list when the last one dies, so a steady-state run does no
// large allocation.
//
// Thread safety: PlanArena and PeakLiveBytes are pure. A MemoryPlan is
// immutable after Build except for its arena free list and run counters,
// which are synchronized; share it freely. A RunMemory belongs to one run:
// its methods are called on the run's thread, the deleters of the storage it
// hands out may run on any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "common/tensor.h"
#include "engine/runtime/plan.h"

namespace nereid::engine {

inline constexpr size_t kArenaAlignment = 64;

// Bytes an allocation of `bytes` occupies: rounded up to kArenaAlignment, at
// least kArenaAlignment (as Tensor::Allocate rounds heap allocations).
// Throws std::bad_alloc when rounding overflows.
size_t ArenaSize(size_t bytes);

// One allocation's size and lifetime: live at steps [first_step, last_step].
struct AllocationInterval {
  size_t bytes = 0;
  int first_step = 0;
  int last_step = 0;
};

struct ArenaLayout {
  std::vector<size_t> offsets;  // per interval, multiples of kArenaAlignment
  size_t arena_bytes = 0;       // end of the highest placed allocation
};

// Offsets such that intervals live at a common step never share bytes.
// Greedy by size: largest first, each into the smallest gap between the
// allocations already placed that overlap it in time, else on top of them.
ArenaLayout PlanArena(std::span<const AllocationInterval> intervals);

// Most ArenaSize() bytes live at one step: a lower bound for any layout.
size_t PeakLiveBytes(std::span<const AllocationInterval> intervals);

class RunMemory;

// Where each allocation of a run of one shape set goes, and that shape's
// free arenas.
class MemoryPlan {
 public:
  ~MemoryPlan();
  MemoryPlan(const MemoryPlan&) = delete;
  MemoryPlan& operator=(const MemoryPlan&) = delete;

  // The report with the run counters as of now.
  MemoryReport Report() const;
  // Counts a run served by this plan.
  void CountRun(bool fell_back) const;

 private:
  friend class RunMemory;
  struct Slot {
    size_t bytes = 0;  // as recorded
    size_t offset = 0;
    int id = -1;  // index among arena allocations; -1: on the heap (escaped)
  };
  // Free arenas kept per plan; more concurrent runs of one shape allocate.
  static constexpr size_t kMaxFreeArenas = 4;

  MemoryPlan() = default;
  void* AcquireArena() const;
  void ReleaseArena(void* arena) const;

  std::vector<std::vector<Slot>> steps_;      // per step, in allocation order
  std::vector<std::vector<int>> dies_after_;  // per step: arena ids dead once it ends
  size_t arena_bytes_ = 0;
  int arena_allocations_ = 0;
  MemoryReport report_;  // counters below
  mutable std::atomic<int64_t> planned_runs_{0};
  mutable std::atomic<int64_t> fallback_runs_{0};
  mutable std::mutex mu_;
  mutable std::vector<void*> free_arenas_;  // GUARDED_BY(mu_)
};

// The TensorAllocator of one run: recording (no plan) or planned. Make it
// with Create (its storage deleters hold shared references to it). The
// runtime calls BeginStep before and EndStep after each step (EndStep after
// the step's releases), and Finish after the last.
class RunMemory final : public TensorAllocator, public std::enable_shared_from_this<RunMemory> {
  struct Token {};

 public:
  // Recording when `plan` is null. Throws std::bad_alloc when no arena can
  // be allocated.
  static std::shared_ptr<RunMemory> Create(std::shared_ptr<const MemoryPlan> plan, int num_steps);
  RunMemory(Token, std::shared_ptr<const MemoryPlan> plan, int num_steps);
  ~RunMemory() override;

  std::shared_ptr<void> Allocate(size_t byte_size) override;
  void BeginStep(int step);
  void EndStep(int step);
  void Finish();

  bool recording() const { return plan_ == nullptr; }
  // A planned run that left its plan.
  bool fell_back() const { return fell_back_; }
  const std::shared_ptr<const MemoryPlan>& plan() const { return plan_; }

  // Recording runs, after the run succeeded and its intermediates died:
  // the plan for these shapes. `input_shapes` and `in_place_steps` go into
  // its report.
  std::shared_ptr<MemoryPlan> BuildPlan(std::string input_shapes, int64_t in_place_steps) const;

 private:
  struct Record {
    size_t bytes = 0;
    int step = 0;
    std::atomic<int> death{-1};  // step at which the last reference died
  };
  struct RecordingDeleter;
  struct ArenaDeleter;

  const std::shared_ptr<const MemoryPlan> plan_;
  const int num_steps_;
  std::atomic<int> step_{0};
  // Recording.
  std::deque<Record> records_;  // stable addresses for the deleters
  // Planned.
  char* arena_ = nullptr;
  std::unique_ptr<std::atomic<bool>[]> alive_;  // per arena id
  size_t next_in_step_ = 0;
  bool arena_on_ = false;
  bool fell_back_ = false;
};

}  // namespace nereid::engine
