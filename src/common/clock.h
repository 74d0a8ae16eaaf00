// Clock: injected time source. Schedulers take a Clock& so tests can use a
// fake clock instead of sleeping.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <set>

namespace nereid {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic nanoseconds (for durations).
  virtual uint64_t NowNs() const = 0;
  // Wall-clock milliseconds since the Unix epoch (for timestamps users see).
  virtual uint64_t WallMs() const = 0;
  // Waits on `cv` (with `lock` held on entry and on return) until it is
  // notified or NowNs() reaches `deadline_ns` (UINT64_MAX: no deadline).
  // May return early (spuriously): callers re-check their condition.
  virtual void WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                         uint64_t deadline_ns) = 0;
};

class SystemClock final : public Clock {
 public:
  uint64_t NowNs() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  uint64_t WallMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  void WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 uint64_t deadline_ns) override {
    if (deadline_ns == UINT64_MAX) {
      cv.wait(lock);
      return;
    }
    const uint64_t now = NowNs();
    if (deadline_ns <= now) return;
    cv.wait_for(lock, std::chrono::nanoseconds(deadline_ns - now));
  }
  static SystemClock& Get() {
    static SystemClock clock;
    return clock;
  }
};

// Test clock: time moves only when Advance is called. Thread-safe.
// WaitUntil wakes every waiter when time advances; as the clock cannot take
// the waiter's mutex, a notification may race with a waiter about to block,
// so waits also end after 1 ms of real time (callers re-check), which keeps
// tests free of sleeps and of lost wake-ups.
class FakeClock final : public Clock {
 public:
  uint64_t NowNs() const override { return now_ns_.load(); }
  uint64_t WallMs() const override { return 1700000000000ull + now_ns_.load() / 1000000; }
  void AdvanceNs(uint64_t ns) {
    now_ns_ += ns;
    std::lock_guard<std::mutex> g(waiters_mu_);
    for (auto* cv : waiters_) cv->notify_all();
  }
  void WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 uint64_t deadline_ns) override {
    if (deadline_ns <= NowNs()) return;
    {
      std::lock_guard<std::mutex> g(waiters_mu_);
      waiters_.insert(&cv);
    }
    if (deadline_ns > NowNs()) cv.wait_for(lock, std::chrono::milliseconds(1));
    std::lock_guard<std::mutex> g(waiters_mu_);
    waiters_.erase(waiters_.find(&cv));
  }

 private:
  std::atomic<uint64_t> now_ns_{1000};
  std::mutex waiters_mu_;
  std::multiset<std::condition_variable*> waiters_;
};

}  // namespace nereid
