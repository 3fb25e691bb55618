#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include "audit/merkle.h"

#include <openssl/evp.h>

#include <bit>
#include <utility>

namespace sund::audit::merkle {

namespace {

// One SHA-256 over the concatenation of `parts`. The digest is fetched once and each thread
// keeps its own context, so the millions of hashes of a verification run skip OpenSSL's
// per-call lookups.
template <std::size_t N>
Hash Sha256Parts(const std::array<std::string_view, N>& parts) {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  SUND_CHECK(md != nullptr);
  struct CtxHolder {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~CtxHolder() { EVP_MD_CTX_free(ctx); }
  };
  thread_local CtxHolder holder;
  SUND_CHECK(holder.ctx != nullptr);
  Hash out;
  unsigned int len = 0;
  bool ok = EVP_DigestInit_ex2(holder.ctx, md, nullptr) == 1;
  for (std::string_view p : parts) ok = ok && EVP_DigestUpdate(holder.ctx, p.data(), p.size()) == 1;
  ok = ok && EVP_DigestFinal_ex(holder.ctx, out.data(), &len) == 1;
  SUND_CHECK(ok && len == kHashSize);
  return out;
}

constexpr char kLeafPrefix[1] = {0x00};
constexpr char kNodePrefix[1] = {0x01};

// PATH(m, D[begin:begin+n]) appended to `out` (RFC 6962 section 2.1.1).
Status Path(NodeReader& reader, std::uint64_t m, std::uint64_t begin, std::uint64_t n,
            std::vector<Hash>& out) {
  if (n <= 1) return Status::Ok();
  std::uint64_t k = SplitPoint(n);
  if (m < k) {
    SUND_RETURN_IF_ERROR(Path(reader, m, begin, k, out));
    SUND_ASSIGN_OR_RETURN(Hash right, RangeRoot(reader, begin + k, begin + n));
    out.push_back(right);
  } else {
    SUND_RETURN_IF_ERROR(Path(reader, m - k, begin + k, n - k, out));
    SUND_ASSIGN_OR_RETURN(Hash left, RangeRoot(reader, begin, begin + k));
    out.push_back(left);
  }
  return Status::Ok();
}

// SUBPROOF(m, D[begin:begin+n], b) appended to `out` (RFC 6962 section 2.1.2).
Status SubProof(NodeReader& reader, std::uint64_t m, std::uint64_t begin, std::uint64_t n, bool b,
                std::vector<Hash>& out) {
  if (m == n) {
    if (!b) {
      SUND_ASSIGN_OR_RETURN(Hash h, RangeRoot(reader, begin, begin + n));
      out.push_back(h);
    }
    return Status::Ok();
  }
  std::uint64_t k = SplitPoint(n);
  if (m <= k) {
    SUND_RETURN_IF_ERROR(SubProof(reader, m, begin, k, b, out));
    SUND_ASSIGN_OR_RETURN(Hash right, RangeRoot(reader, begin + k, begin + n));
    out.push_back(right);
  } else {
    SUND_RETURN_IF_ERROR(SubProof(reader, m - k, begin + k, n - k, false, out));
    SUND_ASSIGN_OR_RETURN(Hash left, RangeRoot(reader, begin, begin + k));
    out.push_back(left);
  }
  return Status::Ok();
}

}  // namespace

Hash HashLeaf(std::string_view data) {
  return Sha256Parts<2>({std::string_view(kLeafPrefix, 1), data});
}

Hash HashChildren(const Hash& left, const Hash& right) {
  return Sha256Parts<3>({std::string_view(kNodePrefix, 1), Bytes(left), Bytes(right)});
}

Hash EmptyRoot() { return Sha256Parts<1>({std::string_view()}); }

std::optional<Hash> FromBytes(std::string_view bytes) {
  if (bytes.size() != kHashSize) return std::nullopt;
  Hash h;
  for (std::size_t i = 0; i < kHashSize; ++i) h[i] = static_cast<std::uint8_t>(bytes[i]);
  return h;
}

std::string ToHex(const Hash& h) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(kHashSize * 2, '0');
  for (std::size_t i = 0; i < kHashSize; ++i) {
    out[2 * i] = kDigits[h[i] >> 4];
    out[2 * i + 1] = kDigits[h[i] & 15];
  }
  return out;
}

std::optional<Hash> FromHex(std::string_view hex) {
  if (hex.size() != kHashSize * 2) return std::nullopt;
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Hash h;
  for (std::size_t i = 0; i < kHashSize; ++i) {
    int hi = digit(hex[2 * i]);
    int lo = digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    h[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return h;
}

std::uint64_t SplitPoint(std::uint64_t n) {
  SUND_CHECK(n >= 2);
  return std::bit_floor(n - 1);
}

Hash RootOfLeafHashes(std::span<const Hash> leaf_hashes) {
  CompactRange range;
  for (const Hash& h : leaf_hashes) range.Append(h);
  return range.Root();
}

Result<Hash> LeafHashReader::Node(int level, std::uint64_t index) {
  if (level < 0 || level >= 63) return InvalidArgument("merkle node level out of range");
  std::uint64_t width = std::uint64_t{1} << level;
  if (index > (leaves_.size() / width) || (index + 1) * width > leaves_.size()) {
    return InvalidArgument("merkle node outside the tree");
  }
  return RootOfLeafHashes(leaves_.subspan(index * width, width));
}

Result<Hash> RangeRoot(NodeReader& reader, std::uint64_t begin, std::uint64_t end) {
  if (end <= begin) return InvalidArgument("empty merkle range");
  std::uint64_t len = end - begin;
  if (begin % std::bit_ceil(len) != 0) return InvalidArgument("unaligned merkle range");
  // The range splits into perfect subtrees of decreasing size, one per set bit of its length;
  // MTH folds them from the right.
  std::vector<Hash> parts;
  std::uint64_t at = begin;
  for (int level = 63; level >= 0; --level) {
    std::uint64_t width = std::uint64_t{1} << level;
    if ((len & width) == 0) continue;
    SUND_ASSIGN_OR_RETURN(Hash h, reader.Node(level, at >> level));
    parts.push_back(h);
    at += width;
  }
  Hash acc = parts.back();
  for (std::size_t i = parts.size() - 1; i-- > 0;) acc = HashChildren(parts[i], acc);
  return acc;
}

Result<Hash> Root(NodeReader& reader, std::uint64_t size) {
  if (size == 0) return EmptyRoot();
  return RangeRoot(reader, 0, size);
}

Result<std::vector<Hash>> InclusionProof(NodeReader& reader, std::uint64_t index,
                                         std::uint64_t size) {
  if (index >= size) return InvalidArgument("leaf index outside the tree");
  std::vector<Hash> out;
  SUND_RETURN_IF_ERROR(Path(reader, index, 0, size, out));
  return out;
}

Result<std::vector<Hash>> ConsistencyProof(NodeReader& reader, std::uint64_t size1,
                                           std::uint64_t size2) {
  if (size1 > size2) return InvalidArgument("first tree size larger than the second");
  std::vector<Hash> out;
  if (size1 == 0 || size1 == size2) return out;
  SUND_RETURN_IF_ERROR(SubProof(reader, size1, 0, size2, true, out));
  return out;
}

std::optional<Hash> RootFromInclusionProof(std::uint64_t index, std::uint64_t size,
                                           const Hash& leaf_hash, std::span<const Hash> proof) {
  if (index >= size) return std::nullopt;
  std::uint64_t fn = index;
  std::uint64_t sn = size - 1;
  Hash r = leaf_hash;
  for (const Hash& p : proof) {
    if (sn == 0) return std::nullopt;
    if ((fn & 1) != 0 || fn == sn) {
      r = HashChildren(p, r);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = HashChildren(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return std::nullopt;
  return r;
}

bool VerifyInclusion(std::uint64_t index, std::uint64_t size, const Hash& leaf_hash,
                     std::span<const Hash> proof, const Hash& root) {
  std::optional<Hash> r = RootFromInclusionProof(index, size, leaf_hash, proof);
  return r.has_value() && *r == root;
}

bool VerifyConsistency(std::uint64_t size1, std::uint64_t size2, std::span<const Hash> proof,
                       const Hash& root1, const Hash& root2) {
  if (size1 > size2) return false;
  if (size1 == size2) return proof.empty() && root1 == root2;
  if (size1 == 0) return proof.empty();
  if (proof.empty()) return false;
  // RFC 9162 section 2.1.4.2. When size1 is a power of two its root is a node of the larger
  // tree and the proof leaves it out: start from root1 instead.
  std::vector<Hash> path;
  path.reserve(proof.size() + 1);
  if (std::has_single_bit(size1)) path.push_back(root1);
  path.insert(path.end(), proof.begin(), proof.end());
  std::uint64_t fn = size1 - 1;
  std::uint64_t sn = size2 - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = path[0];
  Hash sr = path[0];
  for (std::size_t i = 1; i < path.size(); ++i) {
    const Hash& c = path[i];
    if (sn == 0) return false;
    if ((fn & 1) != 0 || fn == sn) {
      fr = HashChildren(c, fr);
      sr = HashChildren(c, sr);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = HashChildren(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && fr == root1 && sr == root2;
}

Result<CompactRange> CompactRange::FromHashes(std::uint64_t size, std::vector<Hash> hashes) {
  if (hashes.size() != static_cast<std::size_t>(std::popcount(size))) {
    return InvalidArgument("compact range needs one hash per set bit of its size");
  }
  CompactRange r;
  r.size_ = size;
  r.hashes_ = std::move(hashes);
  return r;
}

void CompactRange::Append(const Hash& leaf_hash, std::vector<Completed>* completed) {
  hashes_.push_back(leaf_hash);
  ++size_;
  // Each trailing zero bit of the new size is a pair of equal-sized subtrees to merge.
  int merges = std::countr_zero(size_);
  for (int level = 1; level <= merges; ++level) {
    Hash right = hashes_.back();
    hashes_.pop_back();
    Hash merged = HashChildren(hashes_.back(), right);
    hashes_.back() = merged;
    if (completed != nullptr) {
      completed->push_back(Completed{level, (size_ >> level) - 1, merged});
    }
  }
}

Hash CompactRange::Root() const {
  if (hashes_.empty()) return EmptyRoot();
  Hash acc = hashes_.back();
  for (std::size_t i = hashes_.size() - 1; i-- > 0;) acc = HashChildren(hashes_[i], acc);
  return acc;
}

}  // namespace sund::audit::merkle
