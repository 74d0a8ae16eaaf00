// ByteWriter / ByteReader: the little-endian primitives plan files are made
// of (runtime/plan_file.h documents the layout built from them).
//
// The reader never trusts what it reads: every read is bounds-checked, a
// count is accepted only when the bytes left could hold that many elements,
// and the first failure is sticky (later reads return zeros) so decoders
// check ok() once per record instead of after every field. A truncated or
// malformed payload therefore yields an error naming the section and the
// offset, never an out-of-bounds read or a huge allocation.
//
// Thread safety: values; one thread per object.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/data_type.h"
#include "common/status.h"

namespace nereid::engine {

// Plan files are written and read in the host's byte order, which must be
// little-endian (the format says so); a big-endian port needs byte swaps here.
static_assert(std::endian::native == std::endian::little, "plan files are little-endian");

class ByteWriter {
 public:
  void U8(uint8_t v) { bytes_.push_back(static_cast<char>(v)); }
  void U32(uint32_t v) { Raw(&v, sizeof(v)); }
  void U64(uint64_t v) { Raw(&v, sizeof(v)); }
  void I32(int32_t v) { Raw(&v, sizeof(v)); }
  void I64(int64_t v) { Raw(&v, sizeof(v)); }
  void F32(float v) { Raw(&v, sizeof(v)); }
  void F64(double v) { Raw(&v, sizeof(v)); }
  void Str(std::string_view s) {
    U64(s.size());
    bytes_.append(s.data(), s.size());
  }
  // u32 rank, then the dims.
  void Dims(const Shape& shape) {
    U32(static_cast<uint32_t>(shape.size()));
    for (int64_t d : shape) I64(d);
  }
  void Raw(const void* data, size_t size) { bytes_.append(static_cast<const char*>(data), size); }
  // Zero bytes up to the next multiple of `alignment`.
  void Align(size_t alignment) {
    bytes_.resize((bytes_.size() + alignment - 1) / alignment * alignment, '\0');
  }
  void Reserve(size_t size) { bytes_.reserve(size); }
  size_t size() const { return bytes_.size(); }
  std::string& bytes() { return bytes_; }

 private:
  std::string bytes_;
};

class ByteReader {
 public:
  // `what` names the payload in errors ("plan section GRPH").
  ByteReader(std::string_view bytes, std::string what) : bytes_(bytes), what_(std::move(what)) {}

  uint8_t U8();
  uint32_t U32();
  uint64_t U64();
  int32_t I32();
  int64_t I64();
  float F32();
  double F64();
  std::string Str();
  // A rank (at most 64) and that many dims, each >= `min_dim` (-1 allows
  // unknown dims, 0 requires concrete ones).
  Shape Dims(int64_t min_dim = -1);
  // A u32 element count, accepted when the bytes left hold `count` x
  // `min_element_bytes`.
  uint32_t Count(size_t min_element_bytes);
  // `size` raw bytes (a view into the payload).
  std::string_view Raw(uint64_t size);
  // A DataType byte that names a real type (kInvalid allowed when `allow_invalid`).
  DataType Type(bool allow_invalid);

  // Marks the payload malformed (for checks the decoder makes itself).
  void Fail(std::string_view why);

  bool ok() const { return error_.empty(); }
  bool at_end() const { return pos_ == bytes_.size(); }
  size_t remaining() const { return bytes_.size() - pos_; }
  // InvalidArgument("<what> is malformed: <first failure> (at byte N)").
  Status status() const;

 private:
  bool Take(void* out, size_t size, const char* field);

  std::string_view bytes_;
  std::string what_;
  size_t pos_ = 0;
  std::string error_;
  size_t error_pos_ = 0;
};

}  // namespace nereid::engine
