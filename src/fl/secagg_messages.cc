#include "fl/secagg_messages.h"

#include "fl/internal/wire.h"

namespace sund::fl {
namespace {

using internal::ByteReader;
using internal::ByteWriter;

constexpr std::size_t kKeyBytes = 32;

enum class Type : std::uint8_t {
  kAdvertiseKeys = 1,
  kKeyList = 2,
  kShareKeys = 3,
  kSharesRelay = 4,
  kMaskedInput = 5,
  kUnmaskRequest = 6,
  kUnmaskResponse = 7,
};

ByteWriter Header(Type type, std::uint64_t round) {
  ByteWriter w;
  w.U8(kSecAggWireVersion);
  w.U8(static_cast<std::uint8_t>(type));
  w.U64(round);
  return w;
}

// Reads the header; InvalidArgument for another version or type.
Status ReadHeader(ByteReader& r, Type type, std::uint64_t& round, const char* name) {
  std::uint8_t version = r.U8();
  std::uint8_t got = r.U8();
  round = r.U64();
  if (!r.ok()) return InvalidArgument(std::string("secagg ") + name + ": truncated");
  if (version != kSecAggWireVersion) {
    return InvalidArgument(std::string("secagg ") + name + ": unknown version");
  }
  if (got != static_cast<std::uint8_t>(type)) {
    return InvalidArgument(std::string("secagg ") + name + ": another message type");
  }
  return Status::Ok();
}

Status Finish(const ByteReader& r, const char* name) {
  if (!r.ok()) return InvalidArgument(std::string("secagg ") + name + ": malformed or truncated");
  if (!r.AtEnd()) return InvalidArgument(std::string("secagg ") + name + ": trailing bytes");
  return Status::Ok();
}

void WriteShares(ByteWriter& w, const std::vector<EncryptedShare>& shares) {
  w.U32(static_cast<std::uint32_t>(shares.size()));
  for (const EncryptedShare& s : shares) {
    w.U32(s.peer);
    w.Bytes(s.ciphertext);
  }
}

std::vector<EncryptedShare> ReadShares(ByteReader& r) {
  std::uint32_t n = r.Count(8, kMaxSecAggNodes);
  std::vector<EncryptedShare> out;
  out.reserve(n);
  for (std::uint32_t i = 0; i < n && r.ok(); ++i) {
    EncryptedShare s;
    s.peer = r.U32();
    s.ciphertext = std::string(r.Bytes(kMaxSecAggCiphertextBytes));
    out.push_back(std::move(s));
  }
  return out;
}

void WriteIds(ByteWriter& w, const std::vector<NodeId>& ids) {
  w.U32(static_cast<std::uint32_t>(ids.size()));
  for (NodeId id : ids) w.U32(id);
}

std::vector<NodeId> ReadIds(ByteReader& r) {
  std::uint32_t n = r.Count(4, kMaxSecAggNodes);
  std::vector<NodeId> out;
  out.reserve(n);
  for (std::uint32_t i = 0; i < n && r.ok(); ++i) out.push_back(r.U32());
  return out;
}

}  // namespace

std::string AdvertiseKeysMsg::Serialize() const {
  ByteWriter w = Header(Type::kAdvertiseKeys, round);
  w.U32(sender);
  w.Raw(c_public);
  w.Raw(s_public);
  return w.Take();
}

Result<AdvertiseKeysMsg> AdvertiseKeysMsg::Parse(std::string_view bytes) {
  ByteReader r(bytes);
  AdvertiseKeysMsg m;
  SUND_RETURN_IF_ERROR(ReadHeader(r, Type::kAdvertiseKeys, m.round, "AdvertiseKeys"));
  m.sender = r.U32();
  m.c_public = std::string(r.Raw(kKeyBytes));
  m.s_public = std::string(r.Raw(kKeyBytes));
  SUND_RETURN_IF_ERROR(Finish(r, "AdvertiseKeys"));
  return m;
}

std::string KeyListMsg::Serialize() const {
  ByteWriter w = Header(Type::kKeyList, round);
  w.U32(static_cast<std::uint32_t>(nodes.size()));
  for (const NodeKeys& k : nodes) {
    w.U32(k.id);
    w.Raw(k.c_public);
    w.Raw(k.s_public);
  }
  return w.Take();
}

Result<KeyListMsg> KeyListMsg::Parse(std::string_view bytes) {
  ByteReader r(bytes);
  KeyListMsg m;
  SUND_RETURN_IF_ERROR(ReadHeader(r, Type::kKeyList, m.round, "KeyList"));
  std::uint32_t n = r.Count(4 + 2 * kKeyBytes, kMaxSecAggNodes);
  m.nodes.reserve(n);
  for (std::uint32_t i = 0; i < n && r.ok(); ++i) {
    NodeKeys k;
    k.id = r.U32();
    k.c_public = std::string(r.Raw(kKeyBytes));
    k.s_public = std::string(r.Raw(kKeyBytes));
    m.nodes.push_back(std::move(k));
  }
  SUND_RETURN_IF_ERROR(Finish(r, "KeyList"));
  return m;
}

std::string ShareKeysMsg::Serialize() const {
  ByteWriter w = Header(Type::kShareKeys, round);
  w.U32(sender);
  WriteShares(w, shares);
  return w.Take();
}

Result<ShareKeysMsg> ShareKeysMsg::Parse(std::string_view bytes) {
  ByteReader r(bytes);
  ShareKeysMsg m;
  SUND_RETURN_IF_ERROR(ReadHeader(r, Type::kShareKeys, m.round, "ShareKeys"));
  m.sender = r.U32();
  m.shares = ReadShares(r);
  SUND_RETURN_IF_ERROR(Finish(r, "ShareKeys"));
  return m;
}

std::string SharesRelayMsg::Serialize() const {
  ByteWriter w = Header(Type::kSharesRelay, round);
  w.U32(recipient);
  WriteShares(w, shares);
  return w.Take();
}

Result<SharesRelayMsg> SharesRelayMsg::Parse(std::string_view bytes) {
  ByteReader r(bytes);
  SharesRelayMsg m;
  SUND_RETURN_IF_ERROR(ReadHeader(r, Type::kSharesRelay, m.round, "SharesRelay"));
  m.recipient = r.U32();
  m.shares = ReadShares(r);
  SUND_RETURN_IF_ERROR(Finish(r, "SharesRelay"));
  return m;
}

std::string MaskedInputMsg::Serialize() const {
  ByteWriter w = Header(Type::kMaskedInput, round);
  w.Reserve(22 + 8 * masked.size());
  w.U32(sender);
  w.U64(masked.size());
  for (std::uint64_t v : masked) w.U64(v);
  return w.Take();
}

Result<MaskedInputMsg> MaskedInputMsg::Parse(std::string_view bytes) {
  ByteReader r(bytes);
  MaskedInputMsg m;
  SUND_RETURN_IF_ERROR(ReadHeader(r, Type::kMaskedInput, m.round, "MaskedInput"));
  m.sender = r.U32();
  std::uint64_t n = r.U64();
  if (!r.ok() || n > kMaxSecAggVectorLength || n != r.remaining() / 8 || r.remaining() % 8 != 0) {
    return InvalidArgument("secagg MaskedInput: the length does not match the count");
  }
  m.masked.resize(n);
  for (std::uint64_t i = 0; i < n; ++i) m.masked[i] = r.U64();
  SUND_RETURN_IF_ERROR(Finish(r, "MaskedInput"));
  return m;
}

std::string UnmaskRequestMsg::Serialize() const {
  ByteWriter w = Header(Type::kUnmaskRequest, round);
  WriteIds(w, survivors);
  WriteIds(w, dropped);
  return w.Take();
}

Result<UnmaskRequestMsg> UnmaskRequestMsg::Parse(std::string_view bytes) {
  ByteReader r(bytes);
  UnmaskRequestMsg m;
  SUND_RETURN_IF_ERROR(ReadHeader(r, Type::kUnmaskRequest, m.round, "UnmaskRequest"));
  m.survivors = ReadIds(r);
  m.dropped = ReadIds(r);
  SUND_RETURN_IF_ERROR(Finish(r, "UnmaskRequest"));
  return m;
}

std::string UnmaskResponseMsg::Serialize() const {
  ByteWriter w = Header(Type::kUnmaskResponse, round);
  w.U32(sender);
  w.U32(static_cast<std::uint32_t>(shares.size()));
  for (const RevealedShare& s : shares) {
    w.U32(s.owner);
    w.U8(static_cast<std::uint8_t>(s.kind));
    w.Bytes(s.share);
  }
  return w.Take();
}

Result<UnmaskResponseMsg> UnmaskResponseMsg::Parse(std::string_view bytes) {
  ByteReader r(bytes);
  UnmaskResponseMsg m;
  SUND_RETURN_IF_ERROR(ReadHeader(r, Type::kUnmaskResponse, m.round, "UnmaskResponse"));
  m.sender = r.U32();
  std::uint32_t n = r.Count(9, kMaxSecAggNodes);
  m.shares.reserve(n);
  for (std::uint32_t i = 0; i < n && r.ok(); ++i) {
    RevealedShare s;
    s.owner = r.U32();
    std::uint8_t kind = r.U8();
    if (kind != static_cast<std::uint8_t>(ShareKind::kMaskKey) &&
        kind != static_cast<std::uint8_t>(ShareKind::kSelfMaskSeed)) {
      r.Fail();
    }
    s.kind = static_cast<ShareKind>(kind);
    s.share = std::string(r.Bytes(kMaxSecAggShareBytes));
    m.shares.push_back(std::move(s));
  }
  SUND_RETURN_IF_ERROR(Finish(r, "UnmaskResponse"));
  return m;
}

}  // namespace sund::fl
