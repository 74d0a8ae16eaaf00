// Clock: injected time source. Schedulers take a Clock& so tests can use a
// fake clock instead of sleeping.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace nereid {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic nanoseconds (for durations).
  virtual uint64_t NowNs() const = 0;
  // Wall-clock milliseconds since the Unix epoch (for timestamps users see).
  virtual uint64_t WallMs() const = 0;
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
  static SystemClock& Get() {
    static SystemClock clock;
    return clock;
  }
};

// Test clock: time moves only when Advance is called. Thread-safe.
class FakeClock final : public Clock {
 public:
  uint64_t NowNs() const override { return now_ns_.load(); }
  uint64_t WallMs() const override { return 1700000000000ull + now_ns_.load() / 1000000; }
  void AdvanceNs(uint64_t ns) { now_ns_ += ns; }

 private:
  std::atomic<uint64_t> now_ns_{1000};
};

}  // namespace nereid
