// Secure aggregation for federated learning: the coordinator learns the sum of the nodes'
// update vectors and nothing else about any one node's update, and the round still completes
// when nodes drop out. This is the semi-honest (honest-but-curious) protocol of K. Bonawitz et
// al., "Practical Secure Aggregation for Privacy-Preserving Machine Learning", CCS 2017
// (https://eprint.iacr.org/2017/281), written as two state machines without networking:
// SecAggClient runs on each node, SecAggServer in the coordinator, and the messages between them
// (secagg_messages.h) are plain structs with a byte form that any transport can carry.
//
// Inputs are vectors over Z_{2^64} (fixed_point.h encodes parameters into it). Per round, node
// u makes two X25519 key pairs, c_u (to encrypt shares to other nodes) and s_u (to agree mask
// seeds), and a random self-mask seed b_u. It sends
//     y_u = x_u + PRG(b_u) + sum_{v in U2, v > u} PRG(s_uv) - sum_{v in U2, v < u} PRG(s_uv)
// where s_uv = HKDF(X25519(s_u, s_v), session, round, min(u,v), max(u,v)) and PRG is AES-256-CTR.
// The pairwise masks cancel in the sum over U2. Before masking, u splits its s private key and
// b_u into t-of-|U1| Shamir shares (shamir.h) and sends one of each to every other node, AES-GCM
// encrypted under HKDF(X25519(c_u, c_v), ...) so that the coordinator only relays ciphertexts.
// When the coordinator knows who sent a masked input (U3) and who did not (U2 \ U3), every
// surviving node returns, for each node, exactly one kind of share: of the s key of a dropped
// node (so the coordinator can remove that node's pairwise masks from the survivors' inputs) or
// of the b seed of a surviving node (so it can remove the self masks). The coordinator never
// receives both kinds for one node, and each client answers the unmasking request once.
//
// Steps and messages (U1 ⊇ U2 ⊇ U3 are the nodes still present at each step):
//   0. client.AdvertiseKeys()       -> AdvertiseKeysMsg   server.AddKeys; CloseKeys() -> KeyListMsg
//   1. client.ShareKeys(KeyList)    -> ShareKeysMsg       server.AddShares; CloseShares() ->
//                                                         one SharesRelayMsg per node of U2
//   2. client.MaskedInput(relay, x) -> MaskedInputMsg     server.AddMaskedInput;
//                                                         CloseMaskedInputs() -> UnmaskRequestMsg
//   3. client.Unmasking(request)    -> UnmaskResponseMsg  server.AddUnmaskResponse; Finish() -> sum
// The coordinator decides when a step closes (all nodes heard from, or a deadline); a node
// heard from after its step closed counts as dropped. Every step needs at least the threshold
// t of nodes, and the round takes at most 2t - 1 nodes (a majority threshold: two disjoint groups
// of answering nodes cannot both reach t, so even a coordinator that sent different unmasking
// requests to different nodes could not collect both kinds of share for one node). Rounds use at
// most 255 nodes (Shamir over GF(2^8)).
//
// Threat model and what is left to the transport: the coordinator and the nodes are assumed to
// follow the protocol (no malicious-model consistency round or signatures from the paper's
// active-adversary variant); the transport must authenticate every node (mutual TLS) and check
// that a message's sender field is the authenticated peer, and must give every node the same
// KeyListMsg. A node's input must respect the codec's bound; the coordinator cannot check it.
// Thread-safety: each object is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "fl/secagg_messages.h"

namespace sund::fl {

struct SecAggConfig {
  std::string session;              // the training task's id (1..256 bytes), bound into all keys
  std::uint64_t round = 0;          // the round number; every message carries it
  std::uint32_t threshold = 0;      // t: the fewest nodes every step needs, at least 2
  std::uint64_t vector_length = 0;  // ring elements per input, 1..kMaxSecAggVectorLength
};

// InvalidArgument when a field of `config` is outside the ranges above.
Status ValidateSecAggConfig(const SecAggConfig& config);

// The threshold for a round of `nodes` nodes: a majority, floor(nodes / 2) + 1 (and at least 2).
// The round then tolerates floor((nodes - 1) / 2) drop-outs.
std::uint32_t MajorityThreshold(std::size_t nodes);

// One node's side of one round. Every method is one protocol step and must be called in order;
// a call out of order is PreconditionFailed. A step that rejects its input (wrong round, a
// message that breaks the protocol, a ciphertext that does not authenticate) aborts the round
// for this client: later calls are PreconditionFailed.
class SecAggClient {
 public:
  // InvalidArgument for an invalid config or id 0.
  static Result<SecAggClient> Create(SecAggConfig config, NodeId id);
  ~SecAggClient();
  SecAggClient(SecAggClient&&) noexcept;
  SecAggClient& operator=(SecAggClient&&) noexcept;

  NodeId id() const;

  // Step 0: makes this round's key pairs. Internal if OpenSSL fails.
  Result<AdvertiseKeysMsg> AdvertiseKeys();
  // Step 1: checks the key list (this round; ids ascending, non-zero and distinct; this node's own
  // keys in it; all public keys distinct; t <= |U1| <= min(2t - 1, 255)), draws b, and encrypts
  // shares of the s key and of b to every other node. InvalidArgument when a check fails.
  Result<ShareKeysMsg> ShareKeys(const KeyListMsg& keys);
  // Step 2: decrypts the shares addressed to this node (U2 is their senders and this node) and
  // masks `input`. InvalidArgument when the relay is for another round or node, names a sender
  // outside U1 or twice, leaves fewer than t nodes, or `input` does not have vector_length
  // elements; Unauthenticated when a ciphertext does not open.
  Result<MaskedInputMsg> MaskedInput(const SharesRelayMsg& relay,
                                     std::span<const std::uint64_t> input);
  // Step 3: the shares the coordinator needs: of the s key of each node in `dropped` and of the
  // b seed of each node in `survivors` (this node included). PermissionDenied, revealing nothing,
  // unless survivors and dropped are disjoint, together are exactly U2, survivors hold this node
  // and at least t nodes, and this is the first unmasking request of the round.
  Result<UnmaskResponseMsg> Unmasking(const UnmaskRequestMsg& request);

 private:
  struct State;
  explicit SecAggClient(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// What the coordinator gets out of a round.
struct SecAggResult {
  std::vector<std::uint64_t> sum;    // the sum mod 2^64 of the contributors' inputs
  std::vector<NodeId> contributors;  // U3, ascending: the nodes whose inputs are in the sum
  std::vector<NodeId> dropped;       // U2 \ U3: nodes whose masks were removed without input
};

// The coordinator's side of one round. Add* take the messages of the open step; Close* end a
// step and return what to send next. Errors: PreconditionFailed for a message or call in the
// wrong step (a late message: its sender counts as dropped); InvalidArgument for a message of
// another round, from a node outside the step's set, or that breaks the protocol; Conflict for a
// second message from one node; TooLarge when a node asks to join a full round (2t - 1 nodes);
// Unavailable when a step closes with fewer than t nodes, which fails the round (every later
// call is PreconditionFailed).
class SecAggServer {
 public:
  // InvalidArgument for an invalid config.
  static Result<SecAggServer> Create(SecAggConfig config);
  ~SecAggServer();
  SecAggServer(SecAggServer&&) noexcept;
  SecAggServer& operator=(SecAggServer&&) noexcept;

  Status AddKeys(const AdvertiseKeysMsg& msg);
  // U1: the nodes that advertised keys, ascending; the same message goes to every one of them.
  Result<KeyListMsg> CloseKeys();

  Status AddShares(const ShareKeysMsg& msg);
  // U2: one relay per node that shared its keys (ascending by recipient).
  Result<std::vector<SharesRelayMsg>> CloseShares();

  Status AddMaskedInput(const MaskedInputMsg& msg);
  // U3: the request that goes to every node of U3.
  Result<UnmaskRequestMsg> CloseMaskedInputs();

  Status AddUnmaskResponse(const UnmaskResponseMsg& msg);
  // Reconstructs the dropped nodes' s keys and the survivors' b seeds from the shares of at least
  // t responders, and removes every mask. Unavailable with fewer than t responders;
  // Unprocessable when the shares are inconsistent (a reconstructed s key does not match its
  // advertised public key, or two groups of t shares disagree).
  Result<SecAggResult> Finish();

 private:
  struct State;
  explicit SecAggServer(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace sund::fl
