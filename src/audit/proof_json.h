// JSON documents for auditors and citizens' apps that check the audit log from outside: a signed
// checkpoint (tree head), an inclusion proof (a record is in the tree) and a consistency proof (a
// later tree extends an earlier one). The API module serves them; a verifier needs only these
// documents, the log's public JWK (AuditLog::PublicJwk) and RFC 9162's verification algorithms.
//
// Encodings (src/audit/README.md, "Proofs as JSON"): hashes (root, leaf hash, path entries) in
// standard base64 with padding (RFC 4648 section 4), the same form as the root in the signed
// checkpoint text; the signature in base64url without padding (RFC 4648 section 5), the JWS
// form of ES256's 64-byte R||S; sizes, sequence numbers and times as JSON integers (times in
// microseconds since the Unix epoch). Thread-safety: pure functions; safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include "audit/log.h"

namespace sund::audit {

// The name of the signed text's format: its first line (log.h, CheckpointText).
inline constexpr std::string_view kCheckpointFormat = "sund-audit-checkpoint";

// {"format":"sund-audit-checkpoint","alg":"ES256","size":N,"root":B64,"time":US,
//  "signature":B64URL,"kid":KID}. The signature covers CheckpointText(size, root, time).
std::string CheckpointJson(const Checkpoint& checkpoint);

// {"seq":N,"tree_size":N,"leaf_hash":B64,"path":[B64,...]}: PATH(seq, D[0:tree_size]), lowest
// sibling first (RFC 6962 section 2.1.1).
std::string InclusionJson(const Inclusion& inclusion);

// {"size1":N,"size2":N,"path":[B64,...]}: PROOF(size1, D[0:size2]) (RFC 6962 section 2.1.2).
std::string ConsistencyJson(const Consistency& consistency);

}  // namespace sund::audit
