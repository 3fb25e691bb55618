#include "fl/shamir.h"

#include <openssl/crypto.h>

#include "core/crypto.h"

namespace sund::fl {
namespace {

// Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1, in constant time.
std::uint8_t GfMul(std::uint8_t a, std::uint8_t b) {
  std::uint8_t p = 0;
  for (int i = 0; i < 8; ++i) {
    p ^= static_cast<std::uint8_t>(-(b & 1) & a);
    auto carry = static_cast<std::uint8_t>(-(a >> 7));
    a = static_cast<std::uint8_t>((a << 1) ^ (0x1B & carry));
    b >>= 1;
  }
  return p;
}

// a^254 = a^-1 for a != 0 (and 0 for 0), by a fixed chain of squarings and multiplications.
std::uint8_t GfInv(std::uint8_t a) {
  std::uint8_t result = 1;
  std::uint8_t power = a;        // a^(2^i)
  for (int i = 1; i < 8; ++i) {  // 254 = 0b11111110
    power = GfMul(power, power);
    result = GfMul(result, power);
  }
  return result;
}

}  // namespace

std::string ShamirShare::Serialize() const {
  std::string out;
  out.reserve(1 + y.size());
  out.push_back(static_cast<char>(x));
  out += y;
  return out;
}

Result<ShamirShare> ShamirShare::Parse(std::string_view bytes) {
  if (bytes.size() < 2) return InvalidArgument("shamir share: truncated");
  if (bytes.size() - 1 > kMaxShamirSecretBytes) return InvalidArgument("shamir share: too long");
  ShamirShare share;
  share.x = static_cast<std::uint8_t>(bytes[0]);
  if (share.x == 0) return InvalidArgument("shamir share: the point x is 0");
  share.y = std::string(bytes.substr(1));
  return share;
}

Result<std::vector<ShamirShare>> ShamirSplit(std::string_view secret, int threshold, int count) {
  if (threshold < 1 || count < threshold || count > kMaxShamirShares) {
    return InvalidArgument("shamir: need 1 <= threshold <= count <= 255");
  }
  if (secret.empty() || secret.size() > kMaxShamirSecretBytes) {
    return InvalidArgument("shamir: the secret must have 1 to 4096 bytes");
  }
  const std::size_t len = secret.size();
  const auto degree = static_cast<std::size_t>(threshold - 1);
  // coeffs[k * len + j]: coefficient of x^(k+1) in the polynomial of byte j.
  std::string coeffs = crypto::RandomBytes(degree * len);
  std::vector<ShamirShare> shares(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    auto x = static_cast<std::uint8_t>(i + 1);
    ShamirShare& share = shares[static_cast<std::size_t>(i)];
    share.x = x;
    share.y.resize(len);
    for (std::size_t j = 0; j < len; ++j) {
      std::uint8_t acc = 0;  // Horner from the top coefficient down to the secret byte
      for (std::size_t k = degree; k > 0; --k) {
        acc = GfMul(acc, x) ^ static_cast<std::uint8_t>(coeffs[(k - 1) * len + j]);
      }
      acc = GfMul(acc, x) ^ static_cast<std::uint8_t>(secret[j]);
      share.y[j] = static_cast<char>(acc);
    }
  }
  OPENSSL_cleanse(coeffs.data(), coeffs.size());
  return shares;
}

Result<std::string> ShamirCombine(std::span<const ShamirShare> shares) {
  if (shares.empty()) return InvalidArgument("shamir: no shares");
  if (shares.size() > kMaxShamirShares) return InvalidArgument("shamir: more than 255 shares");
  const std::size_t len = shares[0].y.size();
  if (len == 0) return InvalidArgument("shamir: an empty share");
  bool seen[256] = {};
  for (const ShamirShare& s : shares) {
    if (s.x == 0) return InvalidArgument("shamir: a share at x = 0");
    if (seen[s.x]) return InvalidArgument("shamir: two shares at the same x");
    seen[s.x] = true;
    if (s.y.size() != len) return InvalidArgument("shamir: shares of different lengths");
  }
  std::string secret(len, '\0');
  for (std::size_t i = 0; i < shares.size(); ++i) {
    // Lagrange basis polynomial i at 0: prod over j != i of x_j / (x_j - x_i); minus is xor.
    std::uint8_t num = 1, den = 1;
    for (std::size_t j = 0; j < shares.size(); ++j) {
      if (j == i) continue;
      num = GfMul(num, shares[j].x);
      den = GfMul(den, shares[j].x ^ shares[i].x);
    }
    std::uint8_t basis = GfMul(num, GfInv(den));
    for (std::size_t b = 0; b < len; ++b) {
      secret[b] = static_cast<char>(static_cast<std::uint8_t>(secret[b]) ^
                                    GfMul(basis, static_cast<std::uint8_t>(shares[i].y[b])));
    }
  }
  return secret;
}

}  // namespace sund::fl
