// The messages of secure aggregation (secagg.h) as plain structs with a byte form, so that the
// federated-learning transport can carry them as opaque payloads. Parse never trusts its input:
// truncated, oversized or malformed bytes give InvalidArgument, never a crash or an allocation
// larger than the input implies. Parse checks structure only; SecAggClient and SecAggServer
// check meaning (who may send what, in which step).
//
// Byte form (all integers little-endian):
//
//   message      := version:u8 (= 1) type:u8 round:u64 body
//   body, type 1 := AdvertiseKeys: sender:u32 c_public:32 bytes s_public:32 bytes
//   body, type 2 := KeyList:       count:u32 (id:u32 c_public:32 bytes s_public:32 bytes){count}
//   body, type 3 := ShareKeys:     sender:u32 count:u32 (recipient:u32 ciphertext){count}
//   body, type 4 := SharesRelay:   recipient:u32 count:u32 (sender:u32 ciphertext){count}
//   body, type 5 := MaskedInput:   sender:u32 count:u64 (element:u64){count}
//   body, type 6 := UnmaskRequest: count:u32 (survivor:u32){count} count:u32 (dropped:u32){count}
//   body, type 7 := UnmaskResponse: sender:u32 count:u32 (owner:u32 kind:u8 share){count}
//   ciphertext   := length:u32 (<= 1024) bytes      share := length:u32 (<= 64) bytes
//
// Nothing may follow the body. Thread-safety: values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sund::fl {

using NodeId = std::uint32_t;

inline constexpr std::uint8_t kSecAggWireVersion = 1;
// The most nodes in one round: Shamir shares live in GF(2^8) (shamir.h).
inline constexpr std::size_t kMaxSecAggNodes = 255;
// The longest input vector (2^27 elements, 1 GiB on the wire).
inline constexpr std::uint64_t kMaxSecAggVectorLength = std::uint64_t{1} << 27;
inline constexpr std::size_t kMaxSecAggCiphertextBytes = 1024;
inline constexpr std::size_t kMaxSecAggShareBytes = 64;

// Step 0, node -> coordinator: the node's two fresh public keys for this round.
struct AdvertiseKeysMsg {
  std::uint64_t round = 0;
  NodeId sender = 0;
  std::string c_public;  // 32 bytes, X25519: the key for node-to-node encryption of shares
  std::string s_public;  // 32 bytes, X25519: the key for pairwise mask seeds

  std::string Serialize() const;
  static Result<AdvertiseKeysMsg> Parse(std::string_view bytes);
};

struct NodeKeys {
  NodeId id = 0;
  std::string c_public;
  std::string s_public;
};

// End of step 0, coordinator -> every node that advertised (the same message for all): the
// nodes U1 of the round, in ascending id order.
struct KeyListMsg {
  std::uint64_t round = 0;
  std::vector<NodeKeys> nodes;

  std::string Serialize() const;
  static Result<KeyListMsg> Parse(std::string_view bytes);
};

// One node-to-node ciphertext; `peer` is the recipient in ShareKeysMsg and the sender in
// SharesRelayMsg.
struct EncryptedShare {
  NodeId peer = 0;
  std::string ciphertext;
};

// Step 1, node -> coordinator: for every other node of U1, the node's Shamir shares of its mask
// key and self-mask seed, encrypted to that node.
struct ShareKeysMsg {
  std::uint64_t round = 0;
  NodeId sender = 0;
  std::vector<EncryptedShare> shares;

  std::string Serialize() const;
  static Result<ShareKeysMsg> Parse(std::string_view bytes);
};

// End of step 1, coordinator -> each node of U2 (the nodes that sent ShareKeysMsg): the
// ciphertexts the other nodes of U2 addressed to it.
struct SharesRelayMsg {
  std::uint64_t round = 0;
  NodeId recipient = 0;
  std::vector<EncryptedShare> shares;

  std::string Serialize() const;
  static Result<SharesRelayMsg> Parse(std::string_view bytes);
};

// Step 2, node -> coordinator: the node's input plus its masks, mod 2^64.
struct MaskedInputMsg {
  std::uint64_t round = 0;
  NodeId sender = 0;
  std::vector<std::uint64_t> masked;

  std::string Serialize() const;
  static Result<MaskedInputMsg> Parse(std::string_view bytes);
};

// End of step 2, coordinator -> every node of U3 (the same message for all): the nodes whose
// masked input arrived (U3) and those of U2 whose input did not (U2 \ U3), each ascending.
struct UnmaskRequestMsg {
  std::uint64_t round = 0;
  std::vector<NodeId> survivors;
  std::vector<NodeId> dropped;

  std::string Serialize() const;
  static Result<UnmaskRequestMsg> Parse(std::string_view bytes);
};

enum class ShareKind : std::uint8_t {
  kMaskKey = 1,       // a share of a dropped node's s private key
  kSelfMaskSeed = 2,  // a share of a surviving node's self-mask seed b
};

struct RevealedShare {
  NodeId owner = 0;  // the node whose secret this is a share of
  ShareKind kind = ShareKind::kMaskKey;
  std::string share;  // the share's value y; its point x is the sender's place in U1, plus 1
};

// Step 3, node -> coordinator: the shares the coordinator needs to unmask the sum.
struct UnmaskResponseMsg {
  std::uint64_t round = 0;
  NodeId sender = 0;
  std::vector<RevealedShare> shares;

  std::string Serialize() const;
  static Result<UnmaskResponseMsg> Parse(std::string_view bytes);
};

}  // namespace sund::fl
