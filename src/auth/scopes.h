// SMART on FHIR scopes: parsing, the canonical text form, what the server grants (Narrow), the
// refresh-time escalation check (IsSubset), the per-request access rules the FHIR API enforces,
// and the plain-language lines of the consent screen.
//
// Implements SMART App Launch 2.2 "Scopes and Launch Context"
// (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html): v2 scopes
// `patient/Observation.rs`, `user/*.cruds`, granular `patient/Observation.rs?category=...`, v1
// scopes `patient/Observation.read|write|*`, launch context (`launch`, `launch/patient`,
// `launch/encounter`) and identity (`openid`, `fhirUser`, `profile`) and `offline_access` /
// `online_access`; and Sund's `sund/synth` (synthetic data for research).
//
// Meaning of a granular query: it is a FHIR search query string; a resource is covered when it
// matches every parameter of it (FHIR search's AND across parameters). Two queries are the same
// when they hold the same (name, value) pairs in any order.
//
// Used by the authorization endpoints (auth) and by the FHIR API (api) on every request.
// Thread-safety: plain values and pure functions; safe to use from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sund::auth {

// The prefix of a resource scope: whose data it reaches. `patient/` is the launched or chosen
// patient's data, `user/` whatever the signed-in user may see, `system/` a backend service.
enum class ScopeContext { kPatient, kUser, kSystem };

// SMART v2 permission letters as a bitmask (a plain enum, not enum class, so that the values
// combine with | and &). Interactions map to them as: create -> kCreate; read, vread and
// instance history -> kRead; update and patch -> kUpdate; delete -> kDelete; search (GET or
// POST _search) and type history -> kSearch.
enum Perm : unsigned {
  kCreate = 1,
  kRead = 2,
  kUpdate = 4,
  kDelete = 8,
  kSearch = 16,
};
inline constexpr unsigned kAllPerms = kCreate | kRead | kUpdate | kDelete | kSearch;
// What the v1 suffixes stand for: `.read` = r+s, `.write` = c+u+d, `.*` = c+r+u+d+s.
inline constexpr unsigned kV1Read = kRead | kSearch;
inline constexpr unsigned kV1Write = kCreate | kUpdate | kDelete;

// Granular restriction: FHIR search parameters (name, value), percent-decoded, in order.
using ScopeQuery = std::vector<std::pair<std::string, std::string>>;

// One resource scope, e.g. `patient/Observation.rs?category=...|vital-signs`.
struct ResourceScope {
  ScopeContext context = ScopeContext::kPatient;
  std::string type;    // a FHIR resource type name, or "*" for every type (including future ones)
  unsigned perms = 0;  // Perm bits, never 0 in a parsed or granted scope
  ScopeQuery query;    // empty: no granular restriction
  bool v1 = false;     // written in the v1 form (.read/.write/.*); never true with a query
  std::string text;    // the scope as written (for granted scopes: its canonical form)
};

// A parsed `scope` parameter or token claim.
struct ScopeSet {
  std::vector<ResourceScope> resources;
  bool openid = false;
  bool fhir_user = false;
  bool profile = false;
  bool offline_access = false;
  bool online_access = false;
  bool launch = false;  // EHR launch (`launch`)
  bool launch_patient = false;
  bool launch_encounter = false;
  // Sund's own `sund/synth`: may order differentially private synthetic data (synth/jobs.h).
  // Granted like the flags above; an administrator registers it for a research app.
  bool synth = false;
  // Scopes not recognised, kept as written: unknown names and malformed resource scopes alike.
  // Narrow never grants them and DescribeScopes never shows them.
  std::vector<std::string> other;
};

// Parses a space-separated scope string. Never fails: any run of spaces (and tabs, CR, LF)
// separates scopes; exact repeats are kept once; every token that is not a well-formed scope
// goes to `other`. A resource scope is well formed when it is
// `(patient|user|system)/TYPE.PERMS[?QUERY]` with TYPE "*" or [A-Z][A-Za-z]+ and PERMS either
// a v1 suffix (read, write, *; then no QUERY) or one or more of the letters c r u d s, each at
// most once and in that order. QUERY is `name=value` pairs joined by '&', split at the first
// '='; names and values are percent-decoded ('+' stays '+'); an empty pair, an empty name or
// value, a pair without '=' or a bad %-escape make the scope malformed. Names are case-sensitive.
ScopeSet ParseScopes(std::string_view space_separated);

// The canonical text of one resource scope: v1 scopes in the v1 form (`.read`, `.write`, `.*`;
// a v1 scope whose perms no v1 suffix expresses is written in v2 letters), v2 letters in the
// order c r u d s, query values percent-encoded where needed ('%', '&', '=', '+', '#', space,
// controls and non-ASCII bytes) so that ParseScopes reads them back unchanged.
std::string ToString(const ResourceScope& scope);

// The canonical scope string: `launch launch/patient launch/encounter openid fhirUser profile
// offline_access online_access sund/synth` (those present, in that order), then the resource scopes
// in order, then `other` as written. ParseScopes(ToString(s)) gives s back (up to `text`).
std::string ToString(const ScopeSet& scopes);

// What the server grants when a client requests `requested` and `allowed` is the most it may
// have (the client's registered scopes, narrowed by the user's choices). Each requested resource
// scope is intersected with every allowed scope of the same context:
//  - type: "*" with "*" is "*"; "*" with a type T, or T with "*" or with T, is T; else nothing;
//  - perms are intersected; a result with no perms is dropped;
//  - query: none with none is none; if one side's pairs are all among the other's, the result
//    has the longer (narrower) query, so an allowed granular scope narrows an unrestricted request
//    and a requested query is kept under an unrestricted or identical allowed one; queries
//    neither of which contains the other give nothing (conservative).
// The results for one requested scope are merged (same type and query: perms OR-ed) and those
// covered by another are left out; a result stays in the v1 form when its request was v1, it has
// no query and its perms are a v1 suffix's. Flags are granted when both sides have them; `other`
// is never granted. The result grants nothing that `requested` or `allowed` does not grant.
ScopeSet Narrow(const ScopeSet& requested, const ScopeSet& allowed);

// Whether everything `a` grants, `b` grants too (refresh requests must not escalate). Per
// resource scope of `a` and per permission bit: some scope of `b` in the same context with that
// bit, of the same type or "*" (a "*" in `a` needs a "*" in `b`: types added later), and without
// a query or with a query whose pairs are all among the `a` scope's. Conservative: a union of
// several granular scopes of `b` that would together cover an `a` scope does not count. Each flag
// of `a` must be set in `b`, and each `other` entry of `a` must be in `b`'s `other`.
bool IsSubset(const ScopeSet& a, const ScopeSet& b);

// --- Access checks for the FHIR API -------------------------------------------------------
//
// Usage for an interaction with permission p on resource type T, for a token of context ctx:
//   auto queries = QueriesFor(scopes, ctx, T, p);
//   if (!queries) -> 403;
//   if (!queries->empty()) -> the resource (read, update, delete: the stored one; create, update:
//     the new content; search: every result, added to the SQL as an OR of the queries) must
//     match at least one of *queries.
// A system-wide request without a type (e.g. search over all types) should pass T = "*", which
// matches only wildcard scopes.

// A granular scope's contribution to an AccessRule.
struct GranularGrant {
  unsigned perms = 0;
  ScopeQuery query;  // never empty
};

// All scopes of one context that match one resource type, merged.
struct AccessRule {
  unsigned perms = 0;                   // OR of the perms of every matching scope, granular or not
  unsigned unrestricted = 0;            // OR of the perms of matching scopes without a query
  std::vector<GranularGrant> granular;  // matching scopes with a query, in scope order
};

// Merges the resource scopes of `ctx` whose type is `type` or "*".
AccessRule RulesFor(const ScopeSet& scopes, ScopeContext ctx, std::string_view type);

// Whether some scope grants `p` on `type` in `ctx` (possibly restricted by a query).
bool Allows(const AccessRule& rule, Perm p);
bool Allows(const ScopeSet& scopes, ScopeContext ctx, std::string_view type, Perm p);

// The granular restrictions for permission `p`: nullopt when `p` is not granted at all; an
// empty vector when some scope grants `p` without a query (unrestricted); otherwise the
// alternative queries (without repeats), of which the resource must match at least one.
std::optional<std::vector<ScopeQuery>> QueriesFor(const AccessRule& rule, Perm p);
std::optional<std::vector<ScopeQuery>> QueriesFor(const ScopeSet& scopes, ScopeContext ctx,
                                                  std::string_view type, Perm p);

// Plain-language lines for the consent screen, in Danish for lang "da" and in English for
// anything else: one line for identity (openid, fhirUser or profile), one per resource scope
// (what may be done to which data, whose, and any granular restriction; wildcards say that types
// added later are included), then launch context and offline/online access. Repeated lines are
// given once. `other` is not shown (it is never granted). Lines are plain text and may quote
// a granular query's values as the client wrote them: escape them when rendering HTML.
std::vector<std::string> DescribeScopes(const ScopeSet& scopes, std::string_view lang);

}  // namespace sund::auth
