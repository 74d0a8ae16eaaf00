// RateLimiter: Triton's rate limiter (`--rate-limit=execution_count`). Every
// model instance declares the resources one execution needs
// (`instance_group { rate_limiter { resources [ { name count global } ]
// priority } }`); an instance may execute only while the resources it needs
// are free, so resources cap how many executions run at once across all
// models. A resource's capacity is the `--rate-limit-resource` value when
// given, else the largest need any registered instance declares (Triton's
// rule), so every instance can always run alone.
//
// Among waiting instances whose needs fit, the one with the smallest
// "pass" is served first; each grant advances the instance's pass by its
// priority (0 counts as 1), so an instance of priority 2 gets half the
// chances of one of priority 1 under contention (stride scheduling). Ties
// go to the earlier waiter.
//
// This machine has one device (the CPU), so per-device and global
// resources are two separate pools of the same names.
//
// Thread safety: all methods are thread-safe. Acquire blocks.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"

namespace nereid::core {

struct ResourceNeed {
  std::string name;
  bool global = false;
  uint32_t count = 0;
};

// Parses one `--rate-limit-resource NAME:COUNT[:DEVICE]` into `*capacities`.
// DEVICE may only be 0 (the CPU, the one device here).
Status ParseRateLimitResource(const std::string& spec,
                              std::map<std::string, uint32_t>* capacities);

class RateLimiter {
 public:
  // `enabled` false (--rate-limit=off): Acquire never waits. `capacities`:
  // explicit --rate-limit-resource values, keyed by resource name (they
  // apply to the per-device and the global pool of that name).
  RateLimiter(bool enabled, std::map<std::string, uint32_t> capacities);

  class Client;
  // Releases the resources when destroyed.
  class Grant {
   public:
    Grant() = default;
    Grant(Grant&& other) noexcept : client_(std::exchange(other.client_, nullptr)) {}
    Grant& operator=(Grant&& other) noexcept;
    ~Grant() { Release(); }
    void Release();
    bool held() const { return client_ != nullptr; }

   private:
    friend class RateLimiter;
    explicit Grant(Client* c) : client_(c) {}
    Client* client_ = nullptr;
  };

  // One model instance's registration; unregisters when destroyed. Must
  // not be destroyed while it holds a Grant.
  class Client {
   public:
    ~Client();
    // Blocks until the instance may execute.
    Grant Acquire();
    // Non-blocking: a grant if the resources are free now and no waiter
    // that fits comes first; an empty Grant otherwise.
    Grant TryAcquire();
    const std::string& name() const { return name_; }

   private:
    friend class RateLimiter;
    Client(RateLimiter* limiter, std::string name, std::vector<ResourceNeed> needs,
           uint32_t priority)
        : limiter_(limiter), name_(std::move(name)), needs_(std::move(needs)),
          priority_(priority == 0 ? 1 : priority) {}
    RateLimiter* limiter_;
    std::string name_;
    std::vector<ResourceNeed> needs_;
    uint64_t priority_;
    uint64_t pass_ = 0;  // guarded by limiter_->mu_
  };

  // Registers an instance. InvalidArgument when a need exceeds the explicit
  // capacity of its resource (the instance could never run). Needs of the
  // same resource are summed.
  StatusOr<std::unique_ptr<Client>> Register(const std::string& instance_name,
                                             std::vector<ResourceNeed> needs, uint32_t priority);

  bool enabled() const { return enabled_; }
  // Current capacity and use of a resource pool (for tests and logs).
  uint32_t Capacity(const std::string& name, bool global) const;
  uint32_t InUse(const std::string& name, bool global) const;
  size_t waiting() const;

 private:
  static std::string Key(const std::string& name, bool global) {
    return (global ? "global:" : "device:") + name;
  }
  bool FitsLocked(const Client& c) const;
  // The waiter to serve next among those that fit, or null.
  Client* BestFittingWaiterLocked() const;
  void TakeLocked(Client& c);
  void ReleaseGrant(Client* c);
  void Unregister(Client* c);
  uint32_t CapacityLocked(const std::string& key) const;

  const bool enabled_;
  const std::map<std::string, uint32_t> explicit_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, uint32_t> in_use_;          // guarded by mu_
  std::list<Client*> clients_;                       // guarded by mu_
  std::list<Client*> waiters_;                       // guarded by mu_, arrival order
  uint64_t min_pass_ = 0;                            // guarded by mu_
};

}  // namespace nereid::core
