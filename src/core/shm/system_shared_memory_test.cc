#include "core/shm/system_shared_memory.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "core/shm/shm_tensors.h"

namespace nereid::core {
namespace {

using ::testing::HasSubstr;

// A POSIX shared memory object of `size` bytes, removed at the end.
class ShmObject {
 public:
  explicit ShmObject(size_t size) {
    key_ = "/nereid_test_" + std::to_string(getpid()) + "_" + std::to_string(counter_++);
    int fd = shm_open(key_.c_str(), O_CREAT | O_RDWR | O_EXCL, 0600);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(ftruncate(fd, static_cast<off_t>(size)), 0);
    base_ = static_cast<char*>(mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    size_ = size;
    close(fd);
  }
  ~ShmObject() {
    munmap(base_, size_);
    shm_unlink(key_.c_str());
  }
  const std::string& key() const { return key_; }
  char* data() { return base_; }

 private:
  static inline std::atomic<int> counter_{0};
  std::string key_;
  char* base_ = nullptr;
  size_t size_ = 0;
};

TEST(SystemSharedMemoryTest, DisabledRefusesEverything) {
  SystemSharedMemoryRegistry reg(false);
  ShmObject obj(64);
  Status st = reg.Register("r", obj.key(), 0, 64);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("--allow-client-shm"));
  EXPECT_FALSE(reg.Regions("").ok());
  EXPECT_FALSE(reg.Get("r", 0, 1).ok());
  EXPECT_FALSE(reg.Unregister("r").ok());
}

TEST(SystemSharedMemoryTest, RegisterReadWriteStatusUnregister) {
  SystemSharedMemoryRegistry reg(true);
  ShmObject obj(8192);
  std::strcpy(obj.data() + 5000, "hello");
  // Offset not page aligned: the registry maps from the page below.
  ASSERT_TRUE(reg.Register("r", obj.key().substr(1), 5000, 100).ok());
  auto buf = reg.Get("r", 0, 6);
  ASSERT_TRUE(buf.ok()) << buf.status().message();
  EXPECT_STREQ(buf->data, "hello");
  buf->data[0] = 'J';  // visible through the other mapping
  EXPECT_EQ(obj.data()[5000], 'J');
  auto regions = reg.Regions("");
  ASSERT_TRUE(regions.ok());
  ASSERT_EQ(regions->size(), 1u);
  EXPECT_EQ((*regions)[0].offset, 5000u);
  EXPECT_EQ((*regions)[0].byte_size, 100u);
  EXPECT_EQ(reg.Regions("nope").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(reg.Unregister("r").ok());
  EXPECT_TRUE(reg.Unregister("r").ok());  // unknown names are fine
  EXPECT_EQ(reg.Get("r", 0, 1).status().code(), StatusCode::kNotFound);
  // The holder taken before unregistering still keeps the bytes mapped.
  EXPECT_EQ(buf->data[1], 'e');
}

TEST(SystemSharedMemoryTest, BoundsAndBadKeys) {
  SystemSharedMemoryRegistry reg(true);
  ShmObject obj(100);
  EXPECT_EQ(reg.Register("a", obj.key(), 50, 51).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reg.Register("a", obj.key(), 101, 1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reg.Register("a", obj.key(), 0, 0).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reg.Register("a", "/nereid_no_such_key_xyz", 0, 1).code(), StatusCode::kNotFound);
  EXPECT_EQ(reg.Register("a", "a/b", 0, 1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reg.Register("", obj.key(), 0, 1).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(reg.Register("a", obj.key(), 50, 50).ok());
  EXPECT_EQ(reg.Register("a", obj.key(), 0, 10).code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(reg.Get("a", 0, 50).ok());
  EXPECT_TRUE(reg.Get("a", 50, 0).ok());
  EXPECT_EQ(reg.Get("a", 1, 50).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reg.Get("a", 51, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reg.Get("a", ~uint64_t{0}, 2).status().code(), StatusCode::kInvalidArgument);
}

TEST(SystemSharedMemoryTest, ConcurrentRegisterGetUnregister) {
  SystemSharedMemoryRegistry reg(true);
  ShmObject obj(4096);
  std::atomic<int> registered{0}, duplicates{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        std::string name = "r" + std::to_string(i % 8);
        Status st = reg.Register(name, obj.key(), 0, 4096);
        if (st.ok()) ++registered;
        if (st.code() == StatusCode::kAlreadyExists) ++duplicates;
        auto buf = reg.Get(name, t, 1);
        if (buf.ok()) buf->data[0] = static_cast<char>(t);
        if (i % 3 == t % 3) {
          EXPECT_TRUE(reg.Unregister(name).ok());
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(registered + duplicates, 800);
  EXPECT_GT(registered.load(), 0);
  EXPECT_TRUE(reg.UnregisterAll().ok());
  EXPECT_TRUE(reg.Regions("")->empty());
}

TEST(ShmTensorsTest, BindsInputsAndWritesOutputs) {
  SystemSharedMemoryRegistry reg(true);
  ShmObject obj(64);
  float in[2] = {1.5f, -2.0f};
  std::memcpy(obj.data(), in, sizeof(in));
  ASSERT_TRUE(reg.Register("io", obj.key(), 0, 64).ok());
  InferenceRequest req;
  RequestInput input;
  input.name = "x";
  input.parameters["shared_memory_region"] = std::string("io");
  input.parameters["shared_memory_byte_size"] = int64_t{8};
  req.inputs.push_back(input);
  RequestedOutput out;
  out.name = "y";
  out.parameters["shared_memory_region"] = std::string("io");
  out.parameters["shared_memory_byte_size"] = int64_t{8};
  out.parameters["shared_memory_offset"] = int64_t{32};
  req.requested_outputs.push_back(out);
  ASSERT_TRUE(BindShmInputs(reg, &req).ok());
  EXPECT_EQ(req.inputs[0].tensor.byte_size, 8u);
  auto outs = BindShmOutputs(reg, req);
  ASSERT_TRUE(outs.ok());
  ASSERT_EQ(outs->size(), 1u);
  ASSERT_TRUE(reg.Unregister("io").ok());  // in-flight users keep it mapped
  InferenceResponse resp;
  resp.outputs.push_back({"y", Tensor::CopyOf(req.inputs[0].tensor)});
  ASSERT_TRUE(WriteShmOutputs(*outs, &resp).ok());
  EXPECT_TRUE(resp.outputs[0].in_shared_memory);
  EXPECT_EQ(std::memcmp(obj.data() + 32, in, 8), 0);

  // Too small for the output; missing byte size; unknown region.
  (*outs)[0].buffer.byte_size = 4;
  EXPECT_EQ(WriteShmOutputs(*outs, &resp).code(), StatusCode::kInvalidArgument);
  InferenceRequest bad;
  bad.inputs.push_back(input);
  bad.inputs[0].parameters.erase("shared_memory_byte_size");
  EXPECT_THAT(BindShmInputs(reg, &bad).message(), HasSubstr("shared_memory_byte_size"));
  bad.inputs[0].parameters["shared_memory_byte_size"] = int64_t{8};
  EXPECT_EQ(BindShmInputs(reg, &bad).code(), StatusCode::kNotFound);
  req.inputs[0].tensor = {};  // views into the unregistered region end here
}

}  // namespace
}  // namespace nereid::core
