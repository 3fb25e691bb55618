#include "core/ids.h"

#include <openssl/rand.h>

#include <array>
#include <cstdint>
#include <cstring>

#include "core/status.h"

namespace sund {

std::string NewUuid() {
  // One RAND_bytes call per 64 ids: a call costs about as much as formatting the id (OpenSSL 3
  // takes locks and fetches the thread's generator each time). sund never forks, so no two
  // processes can share a buffer.
  thread_local std::array<std::uint8_t, 16 * 64> pool{};
  thread_local std::size_t used = pool.size();
  if (used == pool.size()) {
    if (RAND_bytes(pool.data(), static_cast<int>(pool.size())) != 1) {
      ::sund::internal::CheckFailed("RAND_bytes", __FILE__, __LINE__);
    }
    used = 0;
  }
  std::array<std::uint8_t, 16> b{};
  std::memcpy(b.data(), pool.data() + used, b.size());
  std::memset(pool.data() + used, 0, b.size());
  used += b.size();
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[b[i] >> 4];
    out += kHex[b[i] & 0x0f];
  }
  return out;
}

}  // namespace sund
