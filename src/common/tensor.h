// Tensor and TensorView.
//
// TensorView is a non-owning description of tensor bytes (for example a slice
// of a received HTTP body); whoever creates it guarantees the bytes outlive
// it. Tensor owns (or co-owns, through `owner`) its bytes and can hand out
// views. BYTES tensors hold Triton's serialized form (see data_type.h).
//
// Thread safety: values; concurrent const access is safe.
//
// Tensor::Allocate normally takes its bytes from the heap. A TensorAllocator
// installed on a thread (ScopedTensorAllocator) is consulted first by the
// Allocate calls made on that thread only; the engine's runtime uses this to
// place intermediates in a planned arena (engine/runtime/memory_plan.h).
// Other threads (e.g. OpenMP workers) are unaffected and use the heap.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "common/data_type.h"

namespace nereid {

struct TensorView {
  DataType dtype = DataType::kInvalid;
  Shape shape;
  const char* data = nullptr;
  size_t byte_size = 0;
};

// A source of tensor storage other than the heap (see the file comment).
class TensorAllocator {
 public:
  virtual ~TensorAllocator() = default;
  // Storage for `byte_size` bytes (the size Tensor::Allocate was asked for),
  // 64-byte aligned and at least max(byte_size, 64) bytes long: get() is the
  // data, and the last reference's deleter gives it back. Null: use the
  // heap. May throw std::bad_alloc. Called only on the installing thread.
  virtual std::shared_ptr<void> Allocate(size_t byte_size) = 0;
};

// Installs `allocator` for Tensor::Allocate calls on the calling thread for
// the lifetime of this object (null: none), then restores the previous one.
// Not movable; create and destroy on the same thread.
class ScopedTensorAllocator {
 public:
  explicit ScopedTensorAllocator(TensorAllocator* allocator);
  ~ScopedTensorAllocator();
  ScopedTensorAllocator(const ScopedTensorAllocator&) = delete;
  ScopedTensorAllocator& operator=(const ScopedTensorAllocator&) = delete;

 private:
  TensorAllocator* previous_;
};

class Tensor {
 public:
  Tensor() = default;

  // Allocates `byte_size` uninitialized bytes, 64-byte aligned, from the
  // calling thread's TensorAllocator if one is installed, else the heap.
  static Tensor Allocate(DataType dtype, Shape shape, size_t byte_size);
  // Allocates dense storage for `shape` (not for kBytes).
  static Tensor AllocateDense(DataType dtype, Shape shape);
  // Wraps existing bytes kept alive by `owner` (may be null when the caller
  // guarantees lifetime some other way).
  static Tensor Wrap(DataType dtype, Shape shape, const char* data, size_t byte_size,
                     std::shared_ptr<const void> owner);
  // Copies a view into new storage.
  static Tensor CopyOf(const TensorView& view);

  DataType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  void set_shape(Shape shape) { shape_ = std::move(shape); }
  size_t byte_size() const { return byte_size_; }
  const char* data() const { return data_; }
  // Writable only for tensors made by Allocate*/CopyOf.
  char* mutable_data() { return data_; }
  template <typename T>
  const T* data_as() const { return reinterpret_cast<const T*>(data_); }
  template <typename T>
  T* mutable_data_as() { return reinterpret_cast<T*>(data_); }

  TensorView view() const { return TensorView{dtype_, shape_, data_, byte_size_}; }
  const std::shared_ptr<const void>& owner() const { return owner_; }

 private:
  DataType dtype_ = DataType::kInvalid;
  Shape shape_;
  char* data_ = nullptr;
  size_t byte_size_ = 0;
  std::shared_ptr<const void> owner_;
};

}  // namespace nereid
