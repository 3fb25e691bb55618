// Read-only views of stored audit records: a FHIR R4 AuditEvent per record, shaped after IHE
// Basic Audit Log Patterns (BALP, https://profiles.ihe.net/ITI/BALP/), a searchset Bundle of
// them (for `AuditEvent?patient=`), and the citizen's "Min log" / "My log" HTML page. The API
// module serves them; this file only renders. The code choices (event types, subtypes, actions,
// roles, extensions) are listed in src/audit/README.md, "FHIR view".
//
// All JSON is written with RapidJSON's Writer, so every string is escaped; the HTML page escapes
// every string it is given and contains no script. Personal fields (patients, resources, query,
// detail) are rendered as stored: once retention has deleted them (personal_deleted), the views
// say so instead. Thread-safety: pure functions of their arguments; safe from any thread.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "audit/record.h"

namespace sund::audit {

// The AuditEvent of one stored record, as compact JSON. Its id is the record's sequence number
// in decimal ("42"), which is also its leaf index for inclusion proofs. `base_url` is the FHIR
// base ("https://sund.example/fhir", no trailing slash needed); it names the server agent and
// source.site, and may be empty.
std::string AuditEventJson(const StoredRecord& r, std::string_view base_url);

// A searchset Bundle of `records` in the given order, each entry with fullUrl
// "<base_url>/AuditEvent/<seq>" (omitted when base_url is empty) and search.mode "match". Links:
// "self" is `self_url`; "next" is `next_url`, only when it is not empty.
std::string AuditEventBundleJson(const std::vector<StoredRecord>& records,
                                 std::string_view base_url, std::string_view self_url,
                                 std::string_view next_url);

// The citizen's log page: a complete HTML5 document in Danish (`lang` "da", also the default for
// any other value) or English ("en"), with one table row per record (when, who, which app, what,
// why, outcome; times in UTC). Emergency access (action break-glass, or purpose ETREAT) rows carry
// class "emergency", the word "NØDADGANG" / "EMERGENCY ACCESS" and the stated reason. A link to
// `next_url` (older records) is shown when it is a relative or http(s) URL. No script; the only
// CSS is MyLogStyle() in one <style> element. `names` (may be empty) gives readable names for
// the actors' references ("Practitioner/7" -> "Dr. Hansen"), organisations and app client ids;
// each is shown above the reference or id.
using DisplayNames = std::map<std::string, std::string, std::less<>>;
std::string MyLogHtml(const std::vector<StoredRecord>& records, std::string_view lang,
                      std::string_view next_url, const DisplayNames& names = {});

// The exact text of the page's <style> element (constant), so the caller can send
// "Content-Security-Policy: style-src 'sha256-<base64 of SHA-256 of this text>'".
std::string_view MyLogStyle();

}  // namespace sund::audit
