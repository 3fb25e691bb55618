#include "fl/secagg.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <map>
#include <set>

#include "core/crypto.h"
#include "fl/internal/secagg_crypto.h"
#include "fl/internal/wire.h"
#include "fl/shamir.h"

namespace sund::fl {
namespace {

using internal::kSeedBytes;
using internal::kX25519Bytes;
using internal::SecretString;

constexpr std::string_view kSalt = "sund-secagg-v1";
constexpr std::size_t kMaxSessionBytes = 256;
// The plaintext of one node-to-node ciphertext: sender:u32 recipient:u32 x:u8 s-share b-share.
constexpr std::size_t kSharePlainBytes = 4 + 4 + 1 + kX25519Bytes + kSeedBytes;
constexpr std::size_t kShareCipherBytes =
    internal::kAeadNonceBytes + kSharePlainBytes + internal::kAeadTagBytes;

Status PermissionDenied(std::string m) { return {StatusCode::kPermissionDenied, std::move(m)}; }
Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
Status TooLarge(std::string m) { return {StatusCode::kTooLarge, std::move(m)}; }

// The context of a key derived for the pair {a, b}: the same for both nodes.
std::string PairInfo(std::string_view label, const SecAggConfig& config, NodeId a, NodeId b) {
  internal::ByteWriter w;
  w.Bytes(label);
  w.Bytes(config.session);
  w.U64(config.round);
  w.U32(std::min(a, b));
  w.U32(std::max(a, b));
  return w.Take();
}

// The seed of the pairwise mask between this node (with private key `s_private`) and the node
// with public key `peer_s_public`.
Result<SecretString> MaskSeed(const SecAggConfig& config, std::string_view s_private,
                              std::string_view peer_s_public, NodeId a, NodeId b) {
  SUND_ASSIGN_OR_RETURN(SecretString shared, internal::X25519Agree(s_private, peer_s_public));
  return internal::Hkdf(shared.view(), kSalt, PairInfo("mask", config, a, b), kSeedBytes);
}

Result<SecretString> ChannelKey(const SecAggConfig& config, std::string_view c_private,
                                std::string_view peer_c_public, NodeId a, NodeId b) {
  SUND_ASSIGN_OR_RETURN(SecretString shared, internal::X25519Agree(c_private, peer_c_public));
  return internal::Hkdf(shared.view(), kSalt, PairInfo("channel", config, a, b), kSeedBytes);
}

// Associated data of the ciphertext from `sender` to `recipient` (direction matters).
std::string ShareAad(const SecAggConfig& config, NodeId sender, NodeId recipient) {
  internal::ByteWriter w;
  w.Bytes("share");
  w.Bytes(config.session);
  w.U64(config.round);
  w.U32(sender);
  w.U32(recipient);
  return w.Take();
}

void Wipe(std::vector<ShamirShare>& shares) {
  for (ShamirShare& s : shares) OPENSSL_cleanse(s.y.data(), s.y.size());
}

bool StrictlyAscending(const std::vector<NodeId>& ids) {
  for (std::size_t i = 1; i < ids.size(); ++i) {
    if (ids[i - 1] >= ids[i]) return false;
  }
  return true;
}

}  // namespace

Status ValidateSecAggConfig(const SecAggConfig& config) {
  if (config.session.empty() || config.session.size() > kMaxSessionBytes) {
    return InvalidArgument("secagg: the session id must have 1 to 256 bytes");
  }
  if (config.threshold < 2 || config.threshold > (kMaxSecAggNodes + 1) / 2) {
    return InvalidArgument("secagg: the threshold must be in 2..128");
  }
  if (config.vector_length == 0 || config.vector_length > kMaxSecAggVectorLength) {
    return InvalidArgument("secagg: the vector length must be in 1..2^27");
  }
  return Status::Ok();
}

std::uint32_t MajorityThreshold(std::size_t nodes) {
  return static_cast<std::uint32_t>(std::max<std::size_t>(2, nodes / 2 + 1));
}

// ---------------------------------------------------------------------------------------------
// Client

struct SecAggClient::State {
  enum class Step { kAdvertise, kShareKeys, kMaskedInput, kUnmasking, kDone, kAborted };

  struct Received {
    SecretString s_share;  // of the sender's s private key
    SecretString b_share;  // of the sender's self-mask seed
  };

  SecAggConfig config;
  NodeId id = 0;
  Step step = Step::kAdvertise;
  internal::X25519KeyPair c;
  internal::X25519KeyPair s;
  SecretString b;
  std::vector<NodeKeys> nodes;  // U1, ascending
  std::uint8_t x = 0;           // this node's Shamir point: its place in U1, plus 1
  SecretString own_b_share;
  std::map<NodeId, Received> received;  // from U2 \ {id}
  std::vector<NodeId> u2;               // ascending

  Status Abort(Status status) {
    step = Step::kAborted;
    c.private_key.Wipe();
    s.private_key.Wipe();
    b.Wipe();
    own_b_share.Wipe();
    received.clear();
    return status;
  }

  const NodeKeys* Find(NodeId v) const {
    auto it = std::lower_bound(nodes.begin(), nodes.end(), v,
                               [](const NodeKeys& k, NodeId id) { return k.id < id; });
    return it != nodes.end() && it->id == v ? &*it : nullptr;
  }
};

SecAggClient::SecAggClient(std::unique_ptr<State> state) : state_(std::move(state)) {}
SecAggClient::~SecAggClient() = default;
SecAggClient::SecAggClient(SecAggClient&&) noexcept = default;
SecAggClient& SecAggClient::operator=(SecAggClient&&) noexcept = default;

Result<SecAggClient> SecAggClient::Create(SecAggConfig config, NodeId id) {
  SUND_RETURN_IF_ERROR(ValidateSecAggConfig(config));
  if (id == 0) return InvalidArgument("secagg: node id 0 is reserved");
  auto state = std::make_unique<State>();
  state->config = std::move(config);
  state->id = id;
  return SecAggClient(std::move(state));
}

NodeId SecAggClient::id() const { return state_->id; }

Result<AdvertiseKeysMsg> SecAggClient::AdvertiseKeys() {
  State& st = *state_;
  if (st.step != State::Step::kAdvertise) {
    return PreconditionFailed("secagg client: keys are advertised once, first");
  }
  auto c = internal::GenerateX25519();
  if (!c.ok()) return st.Abort(c.status());
  auto s = internal::GenerateX25519();
  if (!s.ok()) return st.Abort(s.status());
  st.c = std::move(*c);
  st.s = std::move(*s);
  st.step = State::Step::kShareKeys;
  AdvertiseKeysMsg msg;
  msg.round = st.config.round;
  msg.sender = st.id;
  msg.c_public = st.c.public_key;
  msg.s_public = st.s.public_key;
  return msg;
}

Result<ShareKeysMsg> SecAggClient::ShareKeys(const KeyListMsg& keys) {
  State& st = *state_;
  if (st.step != State::Step::kShareKeys) {
    return PreconditionFailed("secagg client: ShareKeys comes after AdvertiseKeys, once");
  }
  const SecAggConfig& cfg = st.config;
  if (keys.round != cfg.round)
    return st.Abort(InvalidArgument("secagg: a key list of another round"));
  const std::size_t n = keys.nodes.size();
  if (n < cfg.threshold) return st.Abort(InvalidArgument("secagg: fewer nodes than the threshold"));
  if (n > kMaxSecAggNodes || n > 2 * std::size_t{cfg.threshold} - 1) {
    return st.Abort(InvalidArgument("secagg: more nodes than a majority threshold allows"));
  }
  std::set<std::string> distinct;
  int self = -1;
  for (std::size_t i = 0; i < n; ++i) {
    const NodeKeys& k = keys.nodes[i];
    if (k.id == 0 || (i > 0 && keys.nodes[i - 1].id >= k.id)) {
      return st.Abort(InvalidArgument("secagg: key list ids must be non-zero and ascending"));
    }
    if (k.c_public.size() != kX25519Bytes || k.s_public.size() != kX25519Bytes) {
      return st.Abort(InvalidArgument("secagg: a public key of the wrong length"));
    }
    if (!distinct.insert(k.c_public).second || !distinct.insert(k.s_public).second) {
      return st.Abort(InvalidArgument("secagg: a public key appears twice in the key list"));
    }
    if (k.id == st.id) {
      if (k.c_public != st.c.public_key || k.s_public != st.s.public_key) {
        return st.Abort(InvalidArgument("secagg: the key list has other keys for this node"));
      }
      self = static_cast<int>(i);
    }
  }
  if (self < 0) return st.Abort(InvalidArgument("secagg: this node is not in the key list"));
  st.nodes = keys.nodes;
  st.x = static_cast<std::uint8_t>(self + 1);
  st.b = SecretString(crypto::RandomBytes(kSeedBytes));

  const int t = static_cast<int>(cfg.threshold);
  auto s_shares = ShamirSplit(st.s.private_key.view(), t, static_cast<int>(n));
  auto b_shares = ShamirSplit(st.b.view(), t, static_cast<int>(n));
  if (!s_shares.ok()) return st.Abort(s_shares.status());
  if (!b_shares.ok()) return st.Abort(b_shares.status());
  ShareKeysMsg msg;
  msg.round = cfg.round;
  msg.sender = st.id;
  Status status;
  for (std::size_t i = 0; i < n && status.ok(); ++i) {
    const NodeKeys& peer = st.nodes[i];
    if (peer.id == st.id) {
      st.own_b_share = SecretString((*b_shares)[i].y);
      continue;
    }
    auto key = ChannelKey(cfg, st.c.private_key.view(), peer.c_public, st.id, peer.id);
    if (!key.ok()) {
      status = key.status();
      break;
    }
    internal::ByteWriter w;
    w.U32(st.id);
    w.U32(peer.id);
    w.U8(static_cast<std::uint8_t>(i + 1));
    w.Raw((*s_shares)[i].y);
    w.Raw((*b_shares)[i].y);
    std::string plain = w.Take();
    auto sealed = internal::AeadSeal(key->view(), ShareAad(cfg, st.id, peer.id), plain);
    OPENSSL_cleanse(plain.data(), plain.size());
    if (!sealed.ok()) {
      status = sealed.status();
      break;
    }
    msg.shares.push_back({peer.id, std::move(*sealed)});
  }
  Wipe(*s_shares);
  Wipe(*b_shares);
  if (!status.ok()) return st.Abort(status);
  st.step = State::Step::kMaskedInput;
  return msg;
}

Result<MaskedInputMsg> SecAggClient::MaskedInput(const SharesRelayMsg& relay,
                                                 std::span<const std::uint64_t> input) {
  State& st = *state_;
  if (st.step != State::Step::kMaskedInput) {
    return PreconditionFailed("secagg client: MaskedInput comes after ShareKeys, once");
  }
  const SecAggConfig& cfg = st.config;
  if (relay.round != cfg.round || relay.recipient != st.id) {
    return st.Abort(InvalidArgument("secagg: a share relay for another round or node"));
  }
  if (input.size() != cfg.vector_length) {
    return st.Abort(InvalidArgument("secagg: the input does not have the round's length"));
  }
  for (const EncryptedShare& e : relay.shares) {
    const NodeKeys* peer = st.Find(e.peer);
    if (peer == nullptr || e.peer == st.id) {
      return st.Abort(InvalidArgument("secagg: a relayed share from a node outside the round"));
    }
    if (st.received.count(e.peer) != 0) {
      return st.Abort(InvalidArgument("secagg: two relayed shares from one node"));
    }
    auto key = ChannelKey(cfg, st.c.private_key.view(), peer->c_public, st.id, e.peer);
    if (!key.ok()) return st.Abort(key.status());
    auto plain = internal::AeadOpen(key->view(), ShareAad(cfg, e.peer, st.id), e.ciphertext);
    if (!plain.ok()) return st.Abort(plain.status());
    internal::ByteReader r(plain->view());
    NodeId from = r.U32();
    NodeId to = r.U32();
    std::uint8_t x = r.U8();
    std::string_view s_share = r.Raw(kX25519Bytes);
    std::string_view b_share = r.Raw(kSeedBytes);
    if (!r.AtEnd() || from != e.peer || to != st.id || x != st.x) {
      return st.Abort(InvalidArgument("secagg: a relayed share that does not fit its envelope"));
    }
    State::Received& got = st.received[e.peer];
    got.s_share = SecretString(std::string(s_share));
    got.b_share = SecretString(std::string(b_share));
  }
  st.u2.clear();
  for (const auto& [v, unused] : st.received) st.u2.push_back(v);
  st.u2.insert(std::lower_bound(st.u2.begin(), st.u2.end(), st.id), st.id);
  if (st.u2.size() < cfg.threshold) {
    return st.Abort(InvalidArgument("secagg: fewer nodes shared keys than the threshold"));
  }

  MaskedInputMsg msg;
  msg.round = cfg.round;
  msg.sender = st.id;
  msg.masked.assign(input.begin(), input.end());
  Status status = internal::AddMask(st.b.view(), msg.masked, /*subtract=*/false);
  for (NodeId v : st.u2) {
    if (v == st.id || !status.ok()) continue;
    auto seed = MaskSeed(cfg, st.s.private_key.view(), st.Find(v)->s_public, st.id, v);
    status = seed.ok() ? internal::AddMask(seed->view(), msg.masked, /*subtract=*/v < st.id)
                       : seed.status();
  }
  if (!status.ok()) return st.Abort(status);
  // Neither the keys nor b are needed any more; the shares held for others are.
  st.c.private_key.Wipe();
  st.s.private_key.Wipe();
  st.b.Wipe();
  st.step = State::Step::kUnmasking;
  return msg;
}

Result<UnmaskResponseMsg> SecAggClient::Unmasking(const UnmaskRequestMsg& request) {
  State& st = *state_;
  if (st.step == State::Step::kDone) {
    return PermissionDenied("secagg client: the unmasking request was answered already");
  }
  if (st.step != State::Step::kUnmasking) {
    return PreconditionFailed("secagg client: Unmasking comes after MaskedInput");
  }
  const SecAggConfig& cfg = st.config;
  if (request.round != cfg.round) {
    return st.Abort(PermissionDenied("secagg: an unmasking request of another round"));
  }
  if (!StrictlyAscending(request.survivors) || !StrictlyAscending(request.dropped)) {
    return st.Abort(PermissionDenied("secagg: unmasking lists must be ascending without repeats"));
  }
  std::vector<NodeId> all;
  std::merge(request.survivors.begin(), request.survivors.end(), request.dropped.begin(),
             request.dropped.end(), std::back_inserter(all));
  if (all != st.u2) {  // also catches a node in both lists
    return st.Abort(PermissionDenied(
        "secagg: survivors and dropped nodes must be disjoint and together the nodes that shared "
        "keys"));
  }
  if (!std::binary_search(request.survivors.begin(), request.survivors.end(), st.id)) {
    return st.Abort(PermissionDenied("secagg: an unmasking request that counts this node dropped"));
  }
  if (request.survivors.size() < cfg.threshold) {
    return st.Abort(PermissionDenied("secagg: fewer survivors than the threshold"));
  }
  UnmaskResponseMsg msg;
  msg.round = cfg.round;
  msg.sender = st.id;
  for (NodeId v : st.u2) {
    bool survived = std::binary_search(request.survivors.begin(), request.survivors.end(), v);
    RevealedShare share;
    share.owner = v;
    if (v == st.id) {
      share.kind = ShareKind::kSelfMaskSeed;
      share.share = std::string(st.own_b_share.view());
    } else if (survived) {
      share.kind = ShareKind::kSelfMaskSeed;
      share.share = std::string(st.received[v].b_share.view());
    } else {
      share.kind = ShareKind::kMaskKey;
      share.share = std::string(st.received[v].s_share.view());
    }
    msg.shares.push_back(std::move(share));
  }
  st.received.clear();
  st.own_b_share.Wipe();
  st.step = State::Step::kDone;
  return msg;
}

// ---------------------------------------------------------------------------------------------
// Server

struct SecAggServer::State {
  enum class Step { kKeys, kShares, kMaskedInput, kUnmask, kDone, kFailed };

  SecAggConfig config;
  Step step = Step::kKeys;
  std::map<NodeId, NodeKeys> u1;                                  // advertised keys
  std::map<NodeId, std::uint8_t> x;                               // Shamir point of each U1 node
  std::map<NodeId, std::vector<EncryptedShare>> u2;               // shares sent, by sender
  std::set<NodeId> u3;                                            // masked inputs received
  std::vector<std::uint64_t> sum;                                 // of the masked inputs
  std::vector<NodeId> survivors, dropped;                         // after CloseMaskedInputs
  std::map<NodeId, std::vector<ShamirShare>> s_shares, b_shares;  // by owner
  std::set<NodeId> responders;

  Status Fail(Status status) {
    step = Step::kFailed;
    for (auto& [owner, shares] : s_shares) Wipe(shares);
    for (auto& [owner, shares] : b_shares) Wipe(shares);
    return status;
  }
  Status Expect(Step want, std::uint64_t round, const char* what) const {
    if (step != want) {
      return PreconditionFailed(std::string("secagg server: not collecting ") + what + " now");
    }
    if (round != config.round) {
      return InvalidArgument(std::string("secagg server: ") + what + " of another round");
    }
    return Status::Ok();
  }
};

SecAggServer::SecAggServer(std::unique_ptr<State> state) : state_(std::move(state)) {}
SecAggServer::~SecAggServer() = default;
SecAggServer::SecAggServer(SecAggServer&&) noexcept = default;
SecAggServer& SecAggServer::operator=(SecAggServer&&) noexcept = default;

Result<SecAggServer> SecAggServer::Create(SecAggConfig config) {
  SUND_RETURN_IF_ERROR(ValidateSecAggConfig(config));
  auto state = std::make_unique<State>();
  state->config = std::move(config);
  return SecAggServer(std::move(state));
}

Status SecAggServer::AddKeys(const AdvertiseKeysMsg& msg) {
  State& st = *state_;
  SUND_RETURN_IF_ERROR(st.Expect(State::Step::kKeys, msg.round, "keys"));
  if (msg.sender == 0) return InvalidArgument("secagg server: node id 0 is reserved");
  if (msg.c_public.size() != kX25519Bytes || msg.s_public.size() != kX25519Bytes) {
    return InvalidArgument("secagg server: a public key of the wrong length");
  }
  if (st.u1.count(msg.sender) != 0) return Conflict("secagg server: keys advertised twice");
  for (const auto& [id, k] : st.u1) {
    if (k.c_public == msg.c_public || k.s_public == msg.s_public || k.c_public == msg.s_public ||
        k.s_public == msg.c_public || msg.c_public == msg.s_public) {
      return Conflict("secagg server: a public key that is already in the round");
    }
  }
  if (st.u1.size() >= 2 * std::size_t{st.config.threshold} - 1) {
    return TooLarge("secagg server: the round is full (2t - 1 nodes)");
  }
  st.u1[msg.sender] = NodeKeys{msg.sender, msg.c_public, msg.s_public};
  return Status::Ok();
}

Result<KeyListMsg> SecAggServer::CloseKeys() {
  State& st = *state_;
  if (st.step != State::Step::kKeys) return PreconditionFailed("secagg server: keys are closed");
  if (st.u1.size() < st.config.threshold) {
    return st.Fail(Unavailable("secagg server: fewer nodes advertised keys than the threshold"));
  }
  KeyListMsg msg;
  msg.round = st.config.round;
  for (const auto& [id, k] : st.u1) {
    st.x[id] = static_cast<std::uint8_t>(msg.nodes.size() + 1);
    msg.nodes.push_back(k);
  }
  st.step = State::Step::kShares;
  return msg;
}

Status SecAggServer::AddShares(const ShareKeysMsg& msg) {
  State& st = *state_;
  SUND_RETURN_IF_ERROR(st.Expect(State::Step::kShares, msg.round, "shares"));
  if (st.u1.count(msg.sender) == 0) {
    return InvalidArgument("secagg server: shares from a node that did not advertise keys");
  }
  if (st.u2.count(msg.sender) != 0) return Conflict("secagg server: shares sent twice");
  if (msg.shares.size() != st.u1.size() - 1) {
    return InvalidArgument("secagg server: shares must go to every other node of the round");
  }
  std::set<NodeId> to;
  for (const EncryptedShare& e : msg.shares) {
    if (e.peer == msg.sender || st.u1.count(e.peer) == 0 || !to.insert(e.peer).second) {
      return InvalidArgument("secagg server: shares must go to every other node of the round");
    }
    if (e.ciphertext.size() != kShareCipherBytes) {
      return InvalidArgument("secagg server: an encrypted share of the wrong length");
    }
  }
  st.u2[msg.sender] = msg.shares;
  return Status::Ok();
}

Result<std::vector<SharesRelayMsg>> SecAggServer::CloseShares() {
  State& st = *state_;
  if (st.step != State::Step::kShares) {
    return PreconditionFailed("secagg server: not collecting shares now");
  }
  if (st.u2.size() < st.config.threshold) {
    return st.Fail(Unavailable("secagg server: fewer nodes shared keys than the threshold"));
  }
  std::map<NodeId, SharesRelayMsg> relays;
  for (const auto& [v, unused] : st.u2) {
    SharesRelayMsg& r = relays[v];
    r.round = st.config.round;
    r.recipient = v;
  }
  for (auto& [sender, shares] : st.u2) {
    for (EncryptedShare& e : shares) {
      auto it = relays.find(e.peer);
      if (it != relays.end()) it->second.shares.push_back({sender, std::move(e.ciphertext)});
    }
    shares.clear();
  }
  std::vector<SharesRelayMsg> out;
  out.reserve(relays.size());
  for (auto& [v, r] : relays) out.push_back(std::move(r));
  st.sum.assign(st.config.vector_length, 0);
  st.step = State::Step::kMaskedInput;
  return out;
}

Status SecAggServer::AddMaskedInput(const MaskedInputMsg& msg) {
  State& st = *state_;
  SUND_RETURN_IF_ERROR(st.Expect(State::Step::kMaskedInput, msg.round, "masked inputs"));
  if (st.u2.count(msg.sender) == 0) {
    return InvalidArgument("secagg server: a masked input from a node that did not share keys");
  }
  if (st.u3.count(msg.sender) != 0) return Conflict("secagg server: masked input sent twice");
  if (msg.masked.size() != st.config.vector_length) {
    return InvalidArgument("secagg server: a masked input of the wrong length");
  }
  for (std::size_t i = 0; i < st.sum.size(); ++i) st.sum[i] += msg.masked[i];
  st.u3.insert(msg.sender);
  return Status::Ok();
}

Result<UnmaskRequestMsg> SecAggServer::CloseMaskedInputs() {
  State& st = *state_;
  if (st.step != State::Step::kMaskedInput) {
    return PreconditionFailed("secagg server: not collecting masked inputs now");
  }
  if (st.u3.size() < st.config.threshold) {
    return st.Fail(Unavailable("secagg server: fewer masked inputs than the threshold"));
  }
  UnmaskRequestMsg msg;
  msg.round = st.config.round;
  for (const auto& [v, unused] : st.u2) {
    (st.u3.count(v) != 0 ? msg.survivors : msg.dropped).push_back(v);
  }
  st.survivors = msg.survivors;
  st.dropped = msg.dropped;
  st.step = State::Step::kUnmask;
  return msg;
}

Status SecAggServer::AddUnmaskResponse(const UnmaskResponseMsg& msg) {
  State& st = *state_;
  SUND_RETURN_IF_ERROR(st.Expect(State::Step::kUnmask, msg.round, "unmasking shares"));
  if (st.u3.count(msg.sender) == 0) {
    return InvalidArgument("secagg server: unmasking shares from a node that is not a survivor");
  }
  if (st.responders.count(msg.sender) != 0) return Conflict("secagg server: shares sent twice");
  if (msg.shares.size() != st.u2.size()) {
    return InvalidArgument("secagg server: one share per node that shared keys is expected");
  }
  std::set<NodeId> owners;
  for (const RevealedShare& s : msg.shares) {
    auto it = st.u2.find(s.owner);
    if (it == st.u2.end() || !owners.insert(s.owner).second) {
      return InvalidArgument("secagg server: one share per node that shared keys is expected");
    }
    bool survived = st.u3.count(s.owner) != 0;
    if (s.kind != (survived ? ShareKind::kSelfMaskSeed : ShareKind::kMaskKey)) {
      return InvalidArgument("secagg server: a share of the wrong kind");
    }
    if (s.share.size() != kSeedBytes)
      return InvalidArgument("secagg server: a share of the wrong length");
  }
  const std::uint8_t x = st.x.at(msg.sender);
  for (const RevealedShare& s : msg.shares) {
    auto& to = s.kind == ShareKind::kSelfMaskSeed ? st.b_shares : st.s_shares;
    to[s.owner].push_back(ShamirShare{x, s.share});
  }
  st.responders.insert(msg.sender);
  return Status::Ok();
}

namespace {

// The secret from the first t shares, checked against the last t when there are more.
Result<SecretString> Reconstruct(std::vector<ShamirShare>& shares, std::size_t t) {
  std::span<const ShamirShare> all(shares);
  SUND_ASSIGN_OR_RETURN(std::string secret, ShamirCombine(all.first(t)));
  SecretString out(std::move(secret));
  if (shares.size() > t) {
    SUND_ASSIGN_OR_RETURN(std::string again, ShamirCombine(all.last(t)));
    SecretString check(std::move(again));
    if (!crypto::ConstantTimeEquals(out.view(), check.view())) {
      return Unprocessable("secagg server: the unmasking shares are inconsistent");
    }
  }
  return out;
}

}  // namespace

Result<SecAggResult> SecAggServer::Finish() {
  State& st = *state_;
  if (st.step != State::Step::kUnmask) {
    return PreconditionFailed("secagg server: Finish comes after CloseMaskedInputs, once");
  }
  const SecAggConfig& cfg = st.config;
  if (st.responders.size() < cfg.threshold) {
    return st.Fail(Unavailable("secagg server: fewer unmasking answers than the threshold"));
  }
  for (NodeId u : st.survivors) {
    auto b = Reconstruct(st.b_shares[u], cfg.threshold);
    if (!b.ok()) return st.Fail(b.status());
    Status s = internal::AddMask(b->view(), st.sum, /*subtract=*/true);
    if (!s.ok()) return st.Fail(s);
  }
  for (NodeId d : st.dropped) {
    auto key = Reconstruct(st.s_shares[d], cfg.threshold);
    if (!key.ok()) return st.Fail(key.status());
    auto pub = internal::X25519PublicKey(key->view());
    if (!pub.ok()) return st.Fail(pub.status());
    if (*pub != st.u1.at(d).s_public) {
      return st.Fail(Unprocessable("secagg server: a reconstructed key does not match its node"));
    }
    // Survivor u added +PRG(s_ud) when d > u and -PRG(s_ud) when d < u: take it back out.
    for (NodeId u : st.survivors) {
      auto seed = MaskSeed(cfg, key->view(), st.u1.at(u).s_public, d, u);
      if (!seed.ok()) return st.Fail(seed.status());
      Status s = internal::AddMask(seed->view(), st.sum, /*subtract=*/d > u);
      if (!s.ok()) return st.Fail(s);
    }
  }
  SecAggResult result;
  result.sum = std::move(st.sum);
  result.contributors = st.survivors;
  result.dropped = st.dropped;
  for (auto& [owner, shares] : st.s_shares) Wipe(shares);
  for (auto& [owner, shares] : st.b_shares) Wipe(shares);
  st.step = State::Step::kDone;
  return result;
}

}  // namespace sund::fl
