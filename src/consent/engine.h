// The consent engine: decides whether a request may touch a patient's resource, from the
// patient's FHIR Consents (consent/policy.h) and the deployment's base policy, and describes as
// data what a search must filter out. Used by the FHIR API (src/api/access.h, in a later step),
// and later by IoMT, synthetic data and federated learning (research use).
//
// Model (src/consent/README.md has the full text and examples):
// - Only active Consents count. patient-privacy Consents decide ordinary requests; research
//   Consents decide requests whose purpose is research (HRESCH and its specialisations).
// - A provision applies when every criterion it states matches (period: "now"; actor, action,
//   purpose: the request; class, code, securityLabel, dataPeriod, data: the resource). A nested
//   provision is an exception to its parent and is considered only where the parent applies.
//   Within one Consent the most specific applying provision decides: the deepest applying
//   provision on each path; among applying siblings, deny wins. A root without a type decides
//   nothing by itself. A Consent whose root does not apply (e.g. out of its period) is ignored.
// - Across Consents, deny overrides permit.
// - When no Consent decides, the base policy does: kOptIn denies, kOptOut permits, kDanish
//   permits treatment (purpose TREAT or ETREAT) by practitioners and by the deployment's own
//   services (UserKind::kSystem) and denies everything else.
//   Research purposes have a base policy of their own (ResearchPolicy): opt-in by default (they
//   need a research Consent that permits), opt-out when the deployment or the extraction asks
//   for it (permitted unless a research Consent denies).
// - The patient is always permitted their own data (UserKind::kPatientSelf).
// - Break-the-glass: a practitioner with purpose ETREAT and a non-empty reason is permitted
//   even where a Consent or the base policy denies; the Decision is flagged (break_glass) and
//   must be audited and shown to the patient. ETREAT without a reason is denied outright.
//
// Compiling (Engine::Compile) does not depend on the time: periods are checked at decision
// time, so a compiled policy stays right as Consents expire or start; it changes only when the
// patient's Consents change (api/consent_gate.h recompiles on a changed Consent stamp).
//
// Thread-safety: Engine and PatientPolicy are immutable after construction; Decide and Filter
// are const and safe to call from many threads on shared objects.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "consent/policy.h"
#include "core/status.h"

namespace sund::consent {

enum class BasePolicy : std::uint8_t { kOptIn, kOptOut, kDanish };
std::string_view BasePolicyName(BasePolicy b);  // "opt-in", "opt-out", "danish"

// The base policy for research purposes (HRESCH and its specialisations) when no research
// Consent decides, independent of BasePolicy: kOptIn (the default) denies, kOptOut permits.
// Research Consents decide the same way under both (deny overrides permit; nested exceptions).
enum class ResearchPolicy : std::uint8_t { kOptIn, kOptOut };
std::string_view ResearchPolicyName(ResearchPolicy r);  // "opt-in", "opt-out"
// The policy named "opt-in" or "opt-out"; nullopt otherwise.
std::optional<ResearchPolicy> ParseResearchPolicy(std::string_view name);

// Who asks.
enum class UserKind : std::uint8_t {
  kPatientSelf,    // the patient (`Request::patient`), e.g. a citizen or their app
  kPractitioner,   // a clinician (EHR user, user/ scopes)
  kRelatedPerson,  // someone acting for the patient
  kSystem,         // a backend service or an app acting on its own (system/ scopes)
};

// One request as the engine sees it. Actor ids are plain resource ids ("123", not
// "Practitioner/123"); empty means "not known / not acting as one". The API builds this once per
// HTTP request and reuses it for every resource.
struct Request {
  UserKind user = UserKind::kPractitioner;
  std::string patient;         // kPatientSelf: the Patient id the user is
  std::string related_person;  // RelatedPerson id
  std::string practitioner;    // Practitioner id
  std::string practitioner_role;
  std::vector<std::string> organizations;  // Organization ids the user acts for
  std::vector<std::string> care_teams;     // CareTeam ids the user is a member of
  std::string device;                      // Device id of the app or device
  std::string client_id;                   // OAuth client id of the app
  Action action = Action::kAccess;
  std::string purpose = "TREAT";   // a v3-ActReason code (kActReasonSystem)
  std::string break_glass_reason;  // required with ETREAT; audited, shown to the patient
  std::int64_t now_ms = 0;         // the time of the request (ms since the Unix epoch, UTC)
};

struct CodingView {
  std::string_view system;
  std::string_view code;
};

// What the engine needs to know about one resource. Views: the caller keeps the text alive
// (consent/facts.h fills this from a resource's JSON). The resource is assumed to belong to the
// policy's patient (the caller checks the compartment).
struct ResourceFacts {
  std::string_view type;  // "Observation"
  std::string_view id;
  std::vector<CodingView> codes;             // Condition.code, Observation.code, vaccineCode ...
  std::vector<CodingView> classes;           // further class codings, e.g. Observation.category
  std::vector<CodingView> security;          // meta.security
  std::optional<Period> date;                // the clinically relevant time (for dataPeriod)
  std::vector<std::string_view> references;  // "Type/id" of every reference it holds
  std::vector<std::string_view> authors;     // "Type/id" of recorder, asserter, author ...
};

// A Consent provision that took part in a decision.
struct Basis {
  std::string consent_id;
  std::string version_id;
  std::string provision;  // "Consent.provision.provision[1]"
  Effect effect = Effect::kDeny;
  bool operator==(const Basis&) const = default;
};

enum class DecidedBy : std::uint8_t {
  kPatientSelf,  // the patient's own data
  kConsent,      // Consent provisions (in `basis`)
  kBasePolicy,   // no Consent applied
  kRequest,      // the request itself is refused (ETREAT without a reason)
};

struct Decision {
  Effect effect = Effect::kDeny;
  DecidedBy decided_by = DecidedBy::kBasePolicy;
  // Permitted only because of break-the-glass; `basis` then lists the overridden denies (empty
  // when it overrode the base policy).
  bool break_glass = false;
  // kConsent: every Consent provision that denied (for a deny or an override) or permitted.
  std::vector<Basis> basis;
  std::string_view reason;  // a fixed phrase (static storage)
  bool permitted() const { return effect == Effect::kPermit; }
  // "deny: denied by Consent/c1 (version 2) at Consent.provision; rule: ..." (ids only).
  std::string Explain() const;
};

// --- Search filter: what a later step compiles into SQL. -----------------------------------

// A data[] condition. Matches a resource when:
// kInstance:   the resource is type/id;
// kRelated:    the resource is type/id or one of `related` (what type/id refers to, resolved at
//              Compile time; empty when no resolver was given);
// kDependents: the resource is type/id or holds a reference to `ref`;
// kAuthoredBy: one of the resource's authors is `ref`.
struct DataCondition {
  DataMeaning meaning = DataMeaning::kInstance;
  std::string type;
  std::string id;
  std::string ref;  // "type/id"
  std::vector<std::string> related;
  bool operator==(const DataCondition&) const = default;
};

// The resource-side criteria of one provision: a conjunction of the non-empty groups, each
// group a disjunction. Empty (all groups empty): matches every resource.
// - class: `types` (resource types) or `classes` (a coding of ResourceFacts::classes by system
//   and code; a coding without system matches a class code or the resource type by code);
// - codes: a coding of ResourceFacts::codes (system and code; no system: code only);
// - security_labels: a coding of ResourceFacts::security (same rule);
// - data: one DataCondition;
// - data_period: overlaps ResourceFacts::date (a resource without a date does not match).
struct Criteria {
  std::vector<std::string> types;
  std::vector<Coding> classes;
  std::vector<Coding> codes;
  std::vector<Coding> security_labels;
  std::vector<DataCondition> data;
  std::optional<Period> data_period;
  bool empty() const {
    return types.empty() && classes.empty() && codes.empty() && security_labels.empty() &&
           data.empty() && !data_period;
  }
  bool Matches(const ResourceFacts& r) const;
  bool operator==(const Criteria&) const = default;
};

// Matches when every Criteria of `all` matches and none of `none` does.
struct Clause {
  std::vector<Criteria> all;
  std::vector<Criteria> none;
  Basis source;  // the provision whose effect this clause carries
  bool Matches(const ResourceFacts& r) const;
  bool unconditional() const { return all.empty() && none.empty(); }
};

// What a request may see of one patient's resources, as data. With mode kClauses a resource is
// visible exactly when
//     no clause of `deny` matches  AND  (base_permit OR some clause of `permit` matches)
// which is what Decide answers for it. kAll: everything is visible; kNone: nothing is.
// With break_glass (mode kAll), the clauses keep the ordinary rule: a resource for which it
// is false is visible only because of break-the-glass (Overridden) and must be audited so.
struct SearchFilter {
  enum class Mode : std::uint8_t { kAll, kNone, kClauses };
  Mode mode = Mode::kNone;
  bool base_permit = false;
  std::vector<Clause> deny;
  std::vector<Clause> permit;
  bool break_glass = false;
  std::string_view reason;  // a fixed phrase (static storage)

  bool Visible(const ResourceFacts& r) const;
  bool Overridden(const ResourceFacts& r) const;
  // The ordinary rule (clauses and base), ignoring mode and break-the-glass.
  bool RuleAllows(const ResourceFacts& r) const;
};

// --- Compiled policy. ------------------------------------------------------------------------

namespace internal {

struct Node {
  std::optional<Effect> effect;  // nullopt only for an untyped root
  Period period;                 // unbounded when the provision has none
  std::uint8_t actions = 0;
  std::vector<Actor> actors;
  std::vector<Coding> purposes;
  Criteria criteria;
  std::uint32_t first_child = 0;
  std::uint32_t child_count = 0;
  std::string path;
};

struct CompiledConsent {
  std::string id;
  std::string version_id;
  std::uint32_t root = 0;  // index into PatientPolicy nodes
};

}  // namespace internal

// The active patient-privacy and research Consents of one patient, compiled for evaluation.
class PatientPolicy {
 public:
  PatientPolicy() = default;
  const std::string& patient_id() const { return patient_id_; }
  std::size_t privacy_consents() const { return privacy_.size(); }
  std::size_t research_consents() const { return research_.size(); }
  // Consents given to Compile that decide nothing: not active, or of another scope.
  std::size_t ignored_consents() const { return ignored_; }

 private:
  friend class Engine;
  friend bool AllowsResearch(const PatientPolicy& policy, std::int64_t now_ms);
  std::string patient_id_;
  std::vector<internal::CompiledConsent> privacy_;
  std::vector<internal::CompiledConsent> research_;
  std::vector<internal::Node> nodes_;
  std::size_t ignored_ = 0;
};

// What a data[] reference with meaning "related" refers to: the "Type/id" references held by
// the resource type/id (e.g. a List's entries). Called by Compile only.
using RelatedResolver =
    std::function<std::vector<std::string>(std::string_view type, std::string_view id)>;

class Engine {
 public:
  explicit Engine(BasePolicy base, ResearchPolicy research = ResearchPolicy::kOptIn)
      : base_(base), research_(research) {}
  BasePolicy base() const { return base_; }
  ResearchPolicy research() const { return research_; }

  // Compiles the Consents of patient `patient_id` (all of them, any status: only active
  // patient-privacy and research ones are kept). `resolver` expands data[] references with
  // meaning "related"; without one they match the referenced resource only. Errors:
  // kInvalidArgument when a Consent belongs to another patient, or its provision tree breaks
  // the rules ParseConsent enforces (depth, size, an untyped nested provision under an untyped
  // root).
  static Result<PatientPolicy> Compile(std::string_view patient_id,
                                       const std::vector<Consent>& consents,
                                       const RelatedResolver& resolver = nullptr);

  // The decision for one resource of the policy's patient. Never fails.
  Decision Decide(const PatientPolicy& policy, const Request& request,
                  const ResourceFacts& resource) const;

  // What `request` may see of the policy's patient, for searches (see SearchFilter).
  SearchFilter Filter(const PatientPolicy& policy, const Request& request) const;

  // The patient-level research answer under this engine's ResearchPolicy, at `now_ms`:
  // kOptIn: the free AllowsResearch below; kOptOut: true unless an active research Consent in
  // its period has a root of type deny. As with AllowsResearch, finer rules inside research
  // Consents apply per resource through Decide with a research purpose.
  bool AllowsResearch(const PatientPolicy& policy, std::int64_t now_ms) const;

 private:
  BasePolicy base_;
  ResearchPolicy research_;
};

// Whether the policy's Consents permit a system collecting `resource` (FHIR JSON object) from
// the device with logical id `device_id` (home monitoring: a Consent denying the action
// `collect`, for everything or some classes or devices). InvalidArgument when `resource` is not
// JSON.
Result<bool> AllowsCollection(const Engine& engine, const PatientPolicy& policy,
                              std::string_view resource, std::string_view device_id,
                              std::int64_t now_ms);

// Whether the patient has opted into research at `now_ms` (the kOptIn answer; see
// Engine::AllowsResearch for both research policies): an active research Consent whose
// root provision is in its period and of type permit exists, and no such Consent has a root of
// type deny. Finer research rules (classes, codes, actors inside) are applied per resource by
// Decide with a research purpose (e.g. HRESCH).
bool AllowsResearch(const PatientPolicy& policy, std::int64_t now_ms);

// True for HRESCH and the v3-ActReason codes under it (CLINTRCH, BIORCH ...).
bool IsResearchPurpose(std::string_view purpose);

}  // namespace sund::consent
