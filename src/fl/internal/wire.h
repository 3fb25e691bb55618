// Little-endian byte writing and bounds-checked reading for the secure-aggregation messages
// (secagg_messages.h). Reads past the end never happen: a short buffer makes ok() false and
// every later read return zeros. Private to src/fl. Thread-safety: one thread per object.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sund::fl::internal {

class ByteWriter {
 public:
  void U8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  }
  void U64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  }
  void Raw(std::string_view b) { out_.append(b); }
  // A u32 length, then the bytes.
  void Bytes(std::string_view b) {
    U32(static_cast<std::uint32_t>(b.size()));
    out_.append(b);
  }
  void Reserve(std::size_t n) { out_.reserve(n); }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}

  bool ok() const { return ok_; }
  std::size_t remaining() const { return in_.size() - pos_; }
  bool AtEnd() const { return ok_ && pos_ == in_.size(); }

  std::uint8_t U8() { return static_cast<std::uint8_t>(Little(1)); }
  std::uint32_t U32() { return static_cast<std::uint32_t>(Little(4)); }
  std::uint64_t U64() { return Little(8); }
  // Exactly n bytes.
  std::string_view Raw(std::size_t n) {
    if (!ok_ || remaining() < n) {
      ok_ = false;
      return {};
    }
    std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  // A u32 length of at most `max`, then the bytes.
  std::string_view Bytes(std::size_t max) {
    std::uint32_t n = U32();
    if (n > max) ok_ = false;
    return Raw(n);
  }
  // A u32 count of items that take at least `min_item_bytes` each (> 0) and at most `max`:
  // hostile counts fail here, before anyone reserves memory for them.
  std::uint32_t Count(std::size_t min_item_bytes, std::size_t max) {
    std::uint32_t n = U32();
    if (n > max || n > remaining() / min_item_bytes) {
      ok_ = false;
      return 0;
    }
    return n;
  }
  void Fail() { ok_ = false; }

 private:
  std::uint64_t Little(int bytes) {
    if (!ok_ || remaining() < static_cast<std::size_t>(bytes)) {
      ok_ = false;
      return 0;
    }
    std::uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) {
      v = v << 8 | static_cast<unsigned char>(in_[pos_ + static_cast<std::size_t>(i)]);
    }
    pos_ += static_cast<std::size_t>(bytes);
    return v;
  }

  std::string_view in_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace sund::fl::internal
