// SystemSharedMemoryRegistry: the regions of POSIX shared memory that
// clients registered (Triton's system shared memory extension), by name.
//
// A region is (name -> key, offset, byte_size): the POSIX object `key`
// (shm_open) mapped read-write from `offset` for `byte_size` bytes. Register
// maps it once; requests then read inputs from and write outputs into the
// mapping without further system calls. Get() hands out the bytes together
// with a holder: the mapping is unmapped only when the region is unregistered
// (or the registry destroyed) AND no holder is left, so an in-flight request
// keeps the region it uses mapped until it finishes.
//
// A registry built with enabled = false (--allow-client-shm=false, the
// default) answers every call with a FailedPrecondition error that says how
// to enable it.
//
// Thread safety: every method is thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"

namespace nereid::core {

struct ShmRegionInfo {
  std::string name;
  std::string key;
  uint64_t offset = 0;
  uint64_t byte_size = 0;
};

// Bytes inside a registered region. `data` stays valid (and mapped) while
// `holder` lives.
struct ShmBuffer {
  char* data = nullptr;
  size_t byte_size = 0;
  std::shared_ptr<const void> holder;
};

class SystemSharedMemoryRegistry {
 public:
  explicit SystemSharedMemoryRegistry(bool enabled) : enabled_(enabled) {}
  SystemSharedMemoryRegistry(const SystemSharedMemoryRegistry&) = delete;
  SystemSharedMemoryRegistry& operator=(const SystemSharedMemoryRegistry&) = delete;

  bool enabled() const { return enabled_; }

  // Maps `byte_size` bytes of the POSIX shared memory object `key` (with or
  // without the leading '/') from `offset`. Errors: AlreadyExists for a
  // name in use, NotFound for a key that does not exist, InvalidArgument
  // for an empty name/key, byte_size 0, or offset + byte_size past the end
  // of the object.
  Status Register(const std::string& name, const std::string& key, uint64_t offset,
                  uint64_t byte_size);

  // Forgets `name` (OK when it is not registered, as Triton). The mapping
  // goes away once the last in-flight user drops its holder.
  Status Unregister(const std::string& name);
  Status UnregisterAll();

  // Every region (name empty) or one; NotFound for an unknown name.
  StatusOr<std::vector<ShmRegionInfo>> Regions(const std::string& name) const;

  // `byte_size` bytes at `offset` inside region `name`. NotFound for an
  // unknown region; InvalidArgument when offset + byte_size passes the end
  // of the region.
  StatusOr<ShmBuffer> Get(const std::string& name, uint64_t offset, uint64_t byte_size) const;

 private:
  struct Region;
  Status CheckEnabled() const;

  const bool enabled_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Region>> regions_;  // guarded by mu_
};

}  // namespace nereid::core
