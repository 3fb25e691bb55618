// Record: one audit event as the API and the authorization server hand it to the audit log,
// shaped after IHE Basic Audit Log Patterns (BALP) and FHIR R4 AuditEvent: who (actor), what
// (action, patients, resources, query), when, from where, outcome, why (purpose of use, consent
// basis) and a correlation id. StoredRecord is a record read back from the log.
//
// The log splits a record in two (README.md, "Record format"): the accountable part (time,
// actor, action, outcome, purpose, consent basis, source, correlation id) goes into the Merkle
// leaf in clear; the personal part (patient ids, resource references, query, detail) goes into a
// separate, deletable row and enters the leaf only as keyed hashes. Thread-safety: values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sund::audit {

enum class Action : std::uint8_t {
  kRead,
  kVread,
  kSearch,
  kCreate,
  kUpdate,
  kPatch,
  kDelete,
  kHistory,
  kOperation,    // $everything, $export ...
  kTransaction,  // a batch or transaction Bundle
  kLogin,        // a person signs in to the authorization server
  kLogout,
  kToken,          // a token is issued, refreshed, introspected or revoked
  kConsentChange,  // a Consent is created, changed or revoked (app grants included)
  kBreakGlass,     // an emergency override of a patient's block
  kExport,         // bulk data export
};

// "read", "vread", "search", "create", "update", "patch", "delete", "history", "operation",
// "transaction", "login", "logout", "token", "consent-change", "break-glass", "export".
std::string_view ActionName(Action action);
std::optional<Action> ParseAction(std::string_view name);

struct Actor {
  std::string user_id;       // "Practitioner/123", a user name, or "" for a system client
  std::string role;          // "practitioner", "citizen", "admin", "system" ...
  std::string organization;  // "Organization/9" or ""
  std::string client_id;     // the OAuth client (app) that made the request, or ""
};

struct Record {
  std::int64_t time_us = 0;  // when the event happened, microseconds since the Unix epoch
  Actor actor;
  Action action = Action::kRead;
  int outcome = 0;  // HTTP status of the answer (200, 403, 503 ...)
  // Personal part: kept in clear only until the retention period ends.
  std::vector<std::string> patient_ids;  // logical ids of the Patients concerned ("123")
  std::vector<std::string> resources;    // references read or written ("Observation/4/_history/1")
  std::string query;                     // the search or operation query string
  std::string detail;                    // free text, e.g. the stated break-the-glass reason
  // Accountable part.
  std::string purpose;                     // v3 ActReason: "TREAT", "ETREAT", "HRESCH" ...
  std::vector<std::string> consent_basis;  // the Consents that decided ("Consent/7")
  std::string source;                      // the client's network address
  std::string correlation_id;              // the request id, shared by related records
};

// A record read back from the log.
struct StoredRecord {
  std::int64_t seq = 0;        // leaf index in the Merkle tree, from 0
  std::int64_t logged_us = 0;  // when the log appended it (non-decreasing with seq)
  // Personal fields are empty once retention has deleted them (personal_deleted is then true).
  Record record;
  bool personal_deleted = false;
};

}  // namespace sund::audit
