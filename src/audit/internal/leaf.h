// The audit log's canonical leaf serialisation and the keyed hashes of personal data (private
// to src/audit; the format is documented in ../README.md, "Leaf serialisation").
//
// A leaf is compact JSON with members in a fixed order, written by one writer, so equal records
// give equal bytes; verification hashes the stored bytes and never re-serialises. Patient ids and
// the personal block enter it only as HMAC-SHA256 under the log's secret salt. Thread-safety:
// free functions, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "audit/merkle.h"
#include "audit/record.h"
#include "core/crypto.h"
#include "core/status.h"

namespace sund::audit::internal {

inline constexpr int kLeafVersion = 1;

// HMAC-SHA256(salt, patient_id): what the leaf and the patient index hold for a patient id.
merkle::Hash PatientHash(const crypto::HmacSha256Key& salt, std::string_view patient_id);
// HMAC-SHA256(salt, personal): the leaf's commitment to the clear personal block.
merkle::Hash PersonalDigest(const crypto::HmacSha256Key& salt, std::string_view personal);

// A record made ready for appending, before it has a sequence number: the work done outside
// the log's writer lock.
struct PreparedLeaf {
  std::string body;                          // the leaf's members after "logged", with '}'
  std::string personal;                      // the clear personal block (JSON)
  std::vector<merkle::Hash> patient_hashes;  // sorted, distinct
};
PreparedLeaf Prepare(const Record& record, const crypto::HmacSha256Key& salt);
// The leaf bytes for a prepared record at `seq`, appended at `logged_us`.
std::string LeafBytes(std::int64_t seq, std::int64_t logged_us, const PreparedLeaf& prepared);

// What a leaf says. `record` holds the accountable fields only.
struct ParsedLeaf {
  std::int64_t seq = 0;
  std::int64_t logged_us = 0;
  Record record;
  std::vector<merkle::Hash> patient_hashes;
  merkle::Hash personal_digest{};
};
// InvalidArgument when `bytes` is not a version-1 leaf (wrong JSON, a member missing or of the
// wrong type, an unknown action, a malformed hash).
Result<ParsedLeaf> ParseLeaf(std::string_view bytes);
// Fills the personal fields of `record` from a personal block; InvalidArgument when malformed.
Status ParsePersonal(std::string_view bytes, Record& record);

}  // namespace sund::audit::internal
