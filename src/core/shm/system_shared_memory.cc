#include "core/shm/system_shared_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace nereid::core {

// One mapping. mmap needs a page-aligned file offset, so the mapping starts
// at the page holding `offset` and `data` points `offset` bytes in.
struct SystemSharedMemoryRegistry::Region {
  ShmRegionInfo info;
  void* base = nullptr;
  size_t length = 0;
  char* data = nullptr;
  ~Region() {
    if (base) munmap(base, length);
  }
};

namespace {

std::string Errno() { return std::strerror(errno); }

// Closes a file descriptor on every path.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace

Status SystemSharedMemoryRegistry::CheckEnabled() const {
  if (enabled_) return Status::Ok();
  return FailedPrecondition(
      "client shared memory is disabled on this server; start it with --allow-client-shm=true");
}

Status SystemSharedMemoryRegistry::Register(const std::string& name, const std::string& key,
                                            uint64_t offset, uint64_t byte_size) {
  RETURN_IF_ERROR(CheckEnabled());
  if (name.empty()) return InvalidArgument("shared memory region name must not be empty");
  std::string object = key.empty() || key[0] == '/' ? key : "/" + key;
  if (object.size() < 2 || object.find('/', 1) != std::string::npos || object.size() > 255) {
    return InvalidArgument("shared memory key '" + key +
                           "' is not a valid POSIX shared memory name");
  }
  if (byte_size == 0) {
    return InvalidArgument("shared memory region '" + name + "': byte_size must be positive");
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (regions_.count(name)) {
      return AlreadyExists("shared memory region '" + name + "' is already registered");
    }
  }
  Fd fd;
  fd.fd = shm_open(object.c_str(), O_RDWR, 0);
  if (fd.fd < 0) {
    if (errno == ENOENT) {
      return NotFound("shared memory key '" + key + "' does not exist");
    }
    return InvalidArgument("cannot open shared memory key '" + key + "': " + Errno());
  }
  struct stat st;
  if (fstat(fd.fd, &st) != 0) {
    return Internal("cannot stat shared memory key '" + key + "': " + Errno());
  }
  uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (offset > file_size || byte_size > file_size - offset) {
    return InvalidArgument("shared memory region '" + name + "': offset " +
                           std::to_string(offset) + " + byte_size " + std::to_string(byte_size) +
                           " is past the end of key '" + key + "' (" +
                           std::to_string(file_size) + " bytes)");
  }
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  uint64_t map_offset = offset / page * page;
  auto region = std::make_shared<Region>();
  region->info = ShmRegionInfo{name, key, offset, byte_size};
  region->length = static_cast<size_t>(offset - map_offset + byte_size);
  void* base = mmap(nullptr, region->length, PROT_READ | PROT_WRITE, MAP_SHARED, fd.fd,
                    static_cast<off_t>(map_offset));
  if (base == MAP_FAILED) {
    return Internal("cannot map shared memory key '" + key + "': " + Errno());
  }
  region->base = base;
  region->data = static_cast<char*>(base) + (offset - map_offset);
  std::lock_guard<std::mutex> lock(mu_);
  // Another thread may have registered the name while this one mapped.
  if (!regions_.emplace(name, std::move(region)).second) {
    return AlreadyExists("shared memory region '" + name + "' is already registered");
  }
  return Status::Ok();
}

Status SystemSharedMemoryRegistry::Unregister(const std::string& name) {
  RETURN_IF_ERROR(CheckEnabled());
  std::shared_ptr<Region> dropped;  // unmapped outside the lock
  std::lock_guard<std::mutex> lock(mu_);
  auto it = regions_.find(name);
  if (it != regions_.end()) {
    dropped = std::move(it->second);
    regions_.erase(it);
  }
  return Status::Ok();
}

Status SystemSharedMemoryRegistry::UnregisterAll() {
  RETURN_IF_ERROR(CheckEnabled());
  std::map<std::string, std::shared_ptr<Region>> dropped;
  std::lock_guard<std::mutex> lock(mu_);
  dropped.swap(regions_);
  return Status::Ok();
}

StatusOr<std::vector<ShmRegionInfo>> SystemSharedMemoryRegistry::Regions(
    const std::string& name) const {
  RETURN_IF_ERROR(CheckEnabled());
  std::vector<ShmRegionInfo> out;
  std::lock_guard<std::mutex> lock(mu_);
  if (!name.empty()) {
    auto it = regions_.find(name);
    if (it == regions_.end()) {
      return NotFound("shared memory region '" + name + "' is not registered");
    }
    out.push_back(it->second->info);
    return out;
  }
  for (const auto& [n, r] : regions_) out.push_back(r->info);
  return out;
}

StatusOr<ShmBuffer> SystemSharedMemoryRegistry::Get(const std::string& name, uint64_t offset,
                                                    uint64_t byte_size) const {
  RETURN_IF_ERROR(CheckEnabled());
  std::shared_ptr<Region> region;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = regions_.find(name);
    if (it == regions_.end()) {
      return NotFound("shared memory region '" + name + "' is not registered");
    }
    region = it->second;
  }
  const uint64_t size = region->info.byte_size;
  if (offset > size || byte_size > size - offset) {
    return InvalidArgument("shared memory region '" + name + "': offset " +
                           std::to_string(offset) + " + byte_size " + std::to_string(byte_size) +
                           " is past the end of the region (" + std::to_string(size) +
                           " bytes)");
  }
  ShmBuffer buf;
  buf.data = region->data + offset;
  buf.byte_size = static_cast<size_t>(byte_size);
  buf.holder = std::move(region);
  return buf;
}

}  // namespace nereid::core
