#include "common/tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace nereid {
namespace {

thread_local TensorAllocator* current_allocator = nullptr;

}  // namespace

ScopedTensorAllocator::ScopedTensorAllocator(TensorAllocator* allocator)
    : previous_(current_allocator) {
  current_allocator = allocator;
}

ScopedTensorAllocator::~ScopedTensorAllocator() { current_allocator = previous_; }

Tensor Tensor::Allocate(DataType dtype, Shape shape, size_t byte_size) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.byte_size_ = byte_size;
  if (current_allocator != nullptr) {
    std::shared_ptr<void> storage = current_allocator->Allocate(byte_size);
    if (storage != nullptr) {
      t.data_ = static_cast<char*>(storage.get());
      t.owner_ = std::move(storage);
      return t;
    }
  }
  size_t rounded = ((byte_size + 63) / 64) * 64;
  if (rounded == 0) rounded = 64;
  void* p = std::aligned_alloc(64, rounded);
  if (p == nullptr) throw std::bad_alloc();
  t.data_ = static_cast<char*>(p);
  t.owner_ = std::shared_ptr<const void>(p, [](const void* q) { std::free(const_cast<void*>(q)); });
  return t;
}

Tensor Tensor::AllocateDense(DataType dtype, Shape shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  size_t bytes = static_cast<size_t>(n) * DataTypeByteSize(dtype);
  return Allocate(dtype, std::move(shape), bytes);
}

Tensor Tensor::Wrap(DataType dtype, Shape shape, const char* data, size_t byte_size,
                    std::shared_ptr<const void> owner) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.data_ = const_cast<char*>(data);
  t.byte_size_ = byte_size;
  t.owner_ = std::move(owner);
  return t;
}

Tensor Tensor::CopyOf(const TensorView& view) {
  Tensor t = Allocate(view.dtype, view.shape, view.byte_size);
  if (view.byte_size) std::memcpy(t.data_, view.data, view.byte_size);
  return t;
}

}  // namespace nereid
