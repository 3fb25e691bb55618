// RFC 6962 Merkle tree hashing for the audit log: leaf and node hashes, the tree head MTH(D[n]),
// inclusion proofs PATH(m, D[n]) and consistency proofs PROOF(m, D[n]) with their verification,
// and CompactRange, the O(log n) "frontier" of a growing tree that gives the current root after
// each append.
//
// Specs: RFC 6962 section 2.1 (hashes, MTH, PATH, PROOF; the split point k is the largest power
// of two smaller than n), RFC 9162 sections 2.1.3.2 and 2.1.4.2 (the verification algorithms).
// Leaves are indexed from 0. Proof generation reads perfect-subtree hashes through a NodeReader,
// so a log can serve proofs from stored interior nodes instead of holding every leaf hash in
// memory; LeafHashReader adapts a plain vector of leaf hashes. Thread-safety: free functions are
// thread-safe; a CompactRange or NodeReader belongs to one thread at a time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sund::audit::merkle {

inline constexpr std::size_t kHashSize = 32;
using Hash = std::array<std::uint8_t, kHashSize>;

// SHA-256(0x00 || data).
Hash HashLeaf(std::string_view data);
// SHA-256(0x01 || left || right).
Hash HashChildren(const Hash& left, const Hash& right);
// MTH({}) = SHA-256 of the empty string.
Hash EmptyRoot();

// The 32 bytes of `h` as a string_view (valid while `h` lives).
inline std::string_view Bytes(const Hash& h) {
  return {reinterpret_cast<const char*>(h.data()), h.size()};
}
// A Hash from exactly 32 bytes; nullopt for any other length.
std::optional<Hash> FromBytes(std::string_view bytes);
// Lower-case hex (64 characters).
std::string ToHex(const Hash& h);
// From 64 hex digits (either case); nullopt otherwise.
std::optional<Hash> FromHex(std::string_view hex);

// The largest power of two smaller than n; n must be at least 2.
std::uint64_t SplitPoint(std::uint64_t n);

// MTH over leaf hashes (not leaf data), in O(n) time and O(log n) memory.
Hash RootOfLeafHashes(std::span<const Hash> leaf_hashes);

// Where proof generation reads the tree: the hash of the perfect subtree at `level` (0 = leaves)
// and `index`, which covers leaves [index << level, (index + 1) << level). Proof functions only
// ask for subtrees inside the tree size they were given.
class NodeReader {
 public:
  virtual ~NodeReader() = default;
  virtual Result<Hash> Node(int level, std::uint64_t index) = 0;
};

// A NodeReader over an in-memory vector of leaf hashes; a node at level L costs 2^L - 1 hashes.
class LeafHashReader final : public NodeReader {
 public:
  explicit LeafHashReader(std::span<const Hash> leaf_hashes) : leaves_(leaf_hashes) {}
  Result<Hash> Node(int level, std::uint64_t index) override;

 private:
  std::span<const Hash> leaves_;
};

// MTH(D[begin:end]) for a range that is a node of some Merkle tree: `begin` a multiple of the
// smallest power of two that is at least end - begin. InvalidArgument for an empty or unaligned
// range; errors of `reader` are passed on.
Result<Hash> RangeRoot(NodeReader& reader, std::uint64_t begin, std::uint64_t end);
// MTH(D[0:size]); EmptyRoot() for size 0.
Result<Hash> Root(NodeReader& reader, std::uint64_t size);
// PATH(index, D[0:size]), lowest sibling first. InvalidArgument unless index < size.
Result<std::vector<Hash>> InclusionProof(NodeReader& reader, std::uint64_t index,
                                         std::uint64_t size);
// PROOF(size1, D[0:size2]); empty when size1 is 0 or equals size2. InvalidArgument when
// size1 > size2.
Result<std::vector<Hash>> ConsistencyProof(NodeReader& reader, std::uint64_t size1,
                                           std::uint64_t size2);

// The root that `proof` leads to for `leaf_hash` at `index` in a tree of `size` leaves (RFC 9162
// section 2.1.3.2); nullopt when index >= size or the proof has the wrong length.
std::optional<Hash> RootFromInclusionProof(std::uint64_t index, std::uint64_t size,
                                           const Hash& leaf_hash, std::span<const Hash> proof);
// True when `proof` shows that `leaf_hash` is leaf `index` of the tree of `size` leaves whose
// root is `root`.
bool VerifyInclusion(std::uint64_t index, std::uint64_t size, const Hash& leaf_hash,
                     std::span<const Hash> proof, const Hash& root);
// True when `proof` shows that the tree of size2 leaves with root2 extends the tree of size1
// leaves with root1 (RFC 9162 section 2.1.4.2). size1 == size2 needs an empty proof and equal
// roots; size1 == 0 needs an empty proof; size1 > size2 is false.
bool VerifyConsistency(std::uint64_t size1, std::uint64_t size2, std::span<const Hash> proof,
                       const Hash& root1, const Hash& root2);

// The right edge of a growing tree: for each set bit of size(), from the highest, the root of
// the perfect subtree that bit stands for. Appending costs amortised O(1) hashes; Root() costs
// O(log n).
class CompactRange {
 public:
  struct Completed {
    int level = 0;
    std::uint64_t index = 0;
    Hash hash{};
  };

  CompactRange() = default;
  // A range rebuilt from stored subtree roots: `hashes` must hold popcount(size) hashes,
  // largest subtree first. InvalidArgument otherwise.
  static Result<CompactRange> FromHashes(std::uint64_t size, std::vector<Hash> hashes);

  // Appends a leaf hash. When `completed` is not null, every perfect subtree above the leaf
  // level that this append completes is added to it, lowest first.
  void Append(const Hash& leaf_hash, std::vector<Completed>* completed = nullptr);
  // MTH of the leaves appended so far; EmptyRoot() when there are none.
  Hash Root() const;
  std::uint64_t size() const { return size_; }
  const std::vector<Hash>& hashes() const { return hashes_; }

 private:
  std::uint64_t size_ = 0;
  std::vector<Hash> hashes_;
};

}  // namespace sund::audit::merkle
