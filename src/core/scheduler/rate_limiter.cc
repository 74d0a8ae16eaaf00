#include "core/scheduler/rate_limiter.h"

#include <algorithm>

namespace nereid::core {

namespace {

bool ParseUint(const std::string& text, uint64_t max, uint64_t* out) {
  if (text.empty() || text.size() > 10) return false;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > max) return false;
  *out = v;
  return true;
}

}  // namespace

Status ParseRateLimitResource(const std::string& spec,
                              std::map<std::string, uint32_t>* capacities) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    size_t colon = spec.find(':', start);
    parts.push_back(spec.substr(start, colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  const std::string usage = "--rate-limit-resource '" + spec + "': expected NAME:COUNT[:DEVICE]";
  if (parts.size() < 2 || parts.size() > 3 || parts[0].empty()) return InvalidArgument(usage);
  uint64_t count = 0, device = 0;
  if (!ParseUint(parts[1], UINT32_MAX, &count)) {
    return InvalidArgument(usage + "; COUNT must be a non-negative integer");
  }
  if (parts.size() == 3) {
    if (!ParseUint(parts[2], UINT32_MAX, &device)) {
      return InvalidArgument(usage + "; DEVICE must be a non-negative integer");
    }
    if (device != 0) {
      return InvalidArgument(usage + "; device " + parts[2] +
                             " does not exist (this server has one device, the CPU: 0)");
    }
  }
  (*capacities)[parts[0]] = static_cast<uint32_t>(count);
  return Status::Ok();
}

RateLimiter::RateLimiter(bool enabled, std::map<std::string, uint32_t> capacities)
    : enabled_(enabled), explicit_(std::move(capacities)) {}

RateLimiter::Grant& RateLimiter::Grant::operator=(Grant&& other) noexcept {
  if (this != &other) {
    Release();
    client_ = std::exchange(other.client_, nullptr);
  }
  return *this;
}

void RateLimiter::Grant::Release() {
  if (client_) client_->limiter_->ReleaseGrant(std::exchange(client_, nullptr));
}

StatusOr<std::unique_ptr<RateLimiter::Client>> RateLimiter::Register(
    const std::string& instance_name, std::vector<ResourceNeed> needs, uint32_t priority) {
  // Merge repeated names of the same pool.
  std::map<std::string, ResourceNeed> merged;
  for (const ResourceNeed& n : needs) {
    if (n.name.empty()) {
      return InvalidArgument("instance '" + instance_name + "': a rate limiter resource has no name");
    }
    auto [it, fresh] = merged.emplace(Key(n.name, n.global), n);
    if (!fresh) it->second.count += n.count;
  }
  std::vector<ResourceNeed> flat;
  for (auto& [key, n] : merged) {
    if (n.count == 0) continue;
    auto cap = explicit_.find(n.name);
    if (enabled_ && cap != explicit_.end() && n.count > cap->second) {
      return InvalidArgument("instance '" + instance_name + "' needs " + std::to_string(n.count) +
                             " of rate limiter resource '" + n.name + "' but --rate-limit-resource "
                             "makes only " + std::to_string(cap->second) + " available");
    }
    flat.push_back(n);
  }
  std::unique_ptr<Client> c(new Client(this, instance_name, std::move(flat), priority));
  std::lock_guard<std::mutex> lock(mu_);
  c->pass_ = min_pass_;  // a newcomer neither starves others nor is starved
  clients_.push_back(c.get());
  cv_.notify_all();  // capacities may have grown
  return c;
}

void RateLimiter::Unregister(Client* c) {
  std::lock_guard<std::mutex> lock(mu_);
  clients_.remove(c);
  cv_.notify_all();
}

RateLimiter::Client::~Client() { limiter_->Unregister(this); }

uint32_t RateLimiter::CapacityLocked(const std::string& key) const {
  const std::string name = key.substr(key.find(':') + 1);
  if (auto it = explicit_.find(name); it != explicit_.end()) return it->second;
  uint32_t cap = 0;
  for (const Client* c : clients_) {
    for (const ResourceNeed& n : c->needs_) {
      if (Key(n.name, n.global) == key) cap = std::max(cap, n.count);
    }
  }
  return cap;
}

bool RateLimiter::FitsLocked(const Client& c) const {
  for (const ResourceNeed& n : c.needs_) {
    const std::string key = Key(n.name, n.global);
    auto used = in_use_.find(key);
    const uint32_t in_use = used == in_use_.end() ? 0 : used->second;
    if (in_use + n.count > CapacityLocked(key)) return false;
  }
  return true;
}

RateLimiter::Client* RateLimiter::BestFittingWaiterLocked() const {
  Client* best = nullptr;
  for (Client* w : waiters_) {  // arrival order: ties go to the earlier one
    if (FitsLocked(*w) && (!best || w->pass_ < best->pass_)) best = w;
  }
  return best;
}

void RateLimiter::TakeLocked(Client& c) {
  for (const ResourceNeed& n : c.needs_) in_use_[Key(n.name, n.global)] += n.count;
  min_pass_ = std::max(min_pass_, c.pass_);
  c.pass_ += c.priority_;
}

RateLimiter::Grant RateLimiter::Client::TryAcquire() {
  if (!limiter_->enabled_) return Grant(this);
  std::lock_guard<std::mutex> lock(limiter_->mu_);
  if (!limiter_->FitsLocked(*this)) return Grant();
  for (Client* w : limiter_->waiters_) {
    if (w != this && limiter_->FitsLocked(*w) && w->pass_ <= pass_) return Grant();
  }
  limiter_->TakeLocked(*this);
  return Grant(this);
}

RateLimiter::Grant RateLimiter::Client::Acquire() {
  if (!limiter_->enabled_) return Grant(this);
  std::unique_lock<std::mutex> lock(limiter_->mu_);
  auto& waiters = limiter_->waiters_;
  auto me = waiters.insert(waiters.end(), this);
  limiter_->cv_.wait(lock, [&] { return limiter_->BestFittingWaiterLocked() == this; });
  waiters.erase(me);
  limiter_->TakeLocked(*this);
  // Others may fit in what is left.
  limiter_->cv_.notify_all();
  return Grant(this);
}

void RateLimiter::ReleaseGrant(Client* c) {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mu_);
  for (const ResourceNeed& n : c->needs_) in_use_[Key(n.name, n.global)] -= n.count;
  cv_.notify_all();
}

uint32_t RateLimiter::Capacity(const std::string& name, bool global) const {
  std::lock_guard<std::mutex> lock(mu_);
  return CapacityLocked(Key(name, global));
}

uint32_t RateLimiter::InUse(const std::string& name, bool global) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = in_use_.find(Key(name, global));
  return it == in_use_.end() ? 0 : it->second;
}

size_t RateLimiter::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiters_.size();
}

}  // namespace nereid::core
