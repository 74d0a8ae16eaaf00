#include "core/scheduler/rate_limiter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

namespace nereid::core {
namespace {

std::unique_ptr<RateLimiter::Client> Reg(RateLimiter& rl, const std::string& name, uint32_t count,
                                         uint32_t priority = 1, bool global = false) {
  auto c = rl.Register(name, {{"R", global, count}}, priority);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return std::move(c).value();
}

TEST(RateLimiterTest, OffNeverWaits) {
  RateLimiter rl(false, {});
  auto a = Reg(rl, "a", 5);
  auto g1 = a->TryAcquire();
  auto g2 = a->TryAcquire();
  EXPECT_TRUE(g1.held());
  EXPECT_TRUE(g2.held());
}

TEST(RateLimiterTest, CapacityIsTheLargestNeedUnlessGiven) {
  RateLimiter rl(true, {});
  auto a = Reg(rl, "a", 2);
  auto b = Reg(rl, "b", 3);
  EXPECT_EQ(rl.Capacity("R", false), 3u);
  EXPECT_EQ(rl.Capacity("R", true), 0u);  // the global pool is separate
  auto ga = a->TryAcquire();
  ASSERT_TRUE(ga.held());
  EXPECT_EQ(rl.InUse("R", false), 2u);
  EXPECT_FALSE(b->TryAcquire().held());  // 2 + 3 > 3
  ga.Release();
  EXPECT_EQ(rl.InUse("R", false), 0u);
  auto gb = b->TryAcquire();
  EXPECT_TRUE(gb.held());
  gb.Release();

  RateLimiter explicit_cap(true, {{"R", 5}});
  auto x = Reg(explicit_cap, "x", 2);
  auto y = Reg(explicit_cap, "y", 3);
  auto gx = x->TryAcquire();
  auto gy = y->TryAcquire();
  EXPECT_TRUE(gx.held());
  EXPECT_TRUE(gy.held());  // 2 + 3 <= 5: both run
}

TEST(RateLimiterTest, NeedAboveTheExplicitCapacityIsRefused) {
  RateLimiter rl(true, {{"R", 2}});
  auto c = rl.Register("big", {{"R", false, 3}}, 1);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("--rate-limit-resource"), std::string::npos);
  EXPECT_FALSE(rl.Register("anon", {{"", false, 1}}, 1).ok());
}

TEST(RateLimiterTest, InstancesWithoutNeedsAlwaysRun) {
  RateLimiter rl(true, {});
  auto hog = Reg(rl, "hog", 1);
  auto free_client = rl.Register("free", {}, 1);
  ASSERT_TRUE(free_client.ok());
  auto g = hog->TryAcquire();
  ASSERT_TRUE(g.held());
  EXPECT_TRUE((*free_client)->TryAcquire().held());
}

TEST(RateLimiterTest, ConcurrencyNeverExceedsTheResource) {
  RateLimiter rl(true, {{"R", 2}});
  std::vector<std::unique_ptr<RateLimiter::Client>> clients;
  for (int i = 0; i < 6; ++i) clients.push_back(Reg(rl, "c" + std::to_string(i), 1, 1 + i % 3));
  std::atomic<int> running{0}, max_running{0}, grants{0};
  std::vector<std::thread> threads;
  for (auto& c : clients) {
    threads.emplace_back([&, c = c.get()] {
      for (int k = 0; k < 200; ++k) {
        auto g = c->Acquire();
        int now = running.fetch_add(1) + 1;
        int prev = max_running.load();
        while (now > prev && !max_running.compare_exchange_weak(prev, now)) {
        }
        ++grants;
        running.fetch_sub(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(grants.load(), 1200);
  EXPECT_LE(max_running.load(), 2);
  EXPECT_EQ(rl.InUse("R", false), 0u);
  EXPECT_EQ(rl.waiting(), 0u);
}

// With `holder` keeping the only unit, `x` and `y` both queue; releasing it
// lets the queue decide. Returns the order in which they were served.
std::string ServeOrder(RateLimiter& rl, RateLimiter::Client* holder, RateLimiter::Client* x,
                       RateLimiter::Client* y) {
  auto hold = holder->TryAcquire();
  EXPECT_TRUE(hold.held());
  std::string served;
  std::mutex mu;
  auto run = [&](RateLimiter::Client* c, char tag) {
    auto g = c->Acquire();
    std::lock_guard<std::mutex> l(mu);
    served += tag;
  };
  std::thread tx(run, x, 'x');
  while (rl.waiting() < 1) std::this_thread::yield();
  std::thread ty(run, y, 'y');
  while (rl.waiting() < 2) std::this_thread::yield();
  hold.Release();
  tx.join();
  ty.join();
  return served;
}

TEST(RateLimiterTest, LowerPassIsServedFirstAndPriorityAdvancesThePass) {
  RateLimiter rl(true, {{"R", 1}});
  auto holder = Reg(rl, "holder", 1);
  auto fast = Reg(rl, "fast", 1, /*priority=*/1);
  auto slow = Reg(rl, "slow", 1, /*priority=*/2);
  // Equal passes: arrival order.
  EXPECT_EQ(ServeOrder(rl, holder.get(), slow.get(), fast.get()), "xy");
  // Each grant advanced slow by 2 and fast by 1: fast is behind now and is
  // served first although it queued second.
  EXPECT_EQ(ServeOrder(rl, holder.get(), slow.get(), fast.get()), "yx");
  // Three uncontended grants put fast ahead of slow; slow goes first.
  for (int i = 0; i < 3; ++i) fast->TryAcquire().Release();
  EXPECT_EQ(ServeOrder(rl, holder.get(), fast.get(), slow.get()), "yx");
}

TEST(RateLimiterTest, ParsesResourceFlags) {
  std::map<std::string, uint32_t> caps;
  EXPECT_TRUE(ParseRateLimitResource("R1:4", &caps).ok());
  EXPECT_TRUE(ParseRateLimitResource("R2:0:0", &caps).ok());
  EXPECT_EQ(caps["R1"], 4u);
  EXPECT_EQ(caps["R2"], 0u);
  for (const char* bad : {"R1", "R1:", ":4", "R1:x", "R1:-1", "R1:4:1", "R1:4:0:9",
                          "R1:99999999999"}) {
    Status st = ParseRateLimitResource(bad, &caps);
    EXPECT_FALSE(st.ok()) << bad;
    EXPECT_NE(st.message().find("--rate-limit-resource"), std::string::npos) << bad;
  }
}

}  // namespace
}  // namespace nereid::core
