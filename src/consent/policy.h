// Consent policies: FHIR R4 Consent resources (JSON) read into the plain values the consent
// engine (consent/engine.h) compiles and evaluates.
//
// Spec: FHIR R4 Consent (https://hl7.org/fhir/R4/consent.html), code systems consentscope,
// consentaction, consent-provision-type, consent-data-meaning, v3-ActReason (purpose) and
// resource-types (class). What is read, and how each element is interpreted, is listed in
// src/consent/README.md ("What a Consent may say"). Reading is strict where leniency would
// weaken a patient's restriction: an action, class, actor or reference this server cannot
// interpret rejects the Consent instead of being skipped (a skipped criterion would widen a
// deny or silently drop it).
//
// Apps as actors: a SMART app is named either as a Device (`{"reference": "Device/ID"}`) or by
// its OAuth client id as an identifier-only reference:
//   {"identifier": {"system": "urn:sund:client-id", "value": "CLIENT_ID"}}
//
// Thread-safety: plain values and pure functions; safe to use from any thread.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace sund::consent {

inline constexpr std::string_view kConsentScopeSystem =
    "http://terminology.hl7.org/CodeSystem/consentscope";
inline constexpr std::string_view kConsentActionSystem =
    "http://terminology.hl7.org/CodeSystem/consentaction";
inline constexpr std::string_view kActReasonSystem =
    "http://terminology.hl7.org/CodeSystem/v3-ActReason";
inline constexpr std::string_view kResourceTypesSystem = "http://hl7.org/fhir/resource-types";
// Identifier system of an app actor named by its OAuth client id.
inline constexpr std::string_view kClientIdSystem = "urn:sund:client-id";

// Limits that keep a hostile Consent from costing unbounded time per decision.
inline constexpr int kMaxProvisionDepth = 8;          // root = depth 1
inline constexpr int kMaxProvisionsPerConsent = 256;  // nodes in the whole tree

enum class ConsentStatus : std::uint8_t {
  kDraft,
  kProposed,
  kActive,
  kRejected,
  kInactive,
  kEnteredInError
};

// Consent.scope. Decisions use kPatientPrivacy; research use (Engine::Decide with a research
// purpose, AllowsResearch) uses kResearch; the others are read and kept but decide nothing.
enum class ConsentScope : std::uint8_t { kPatientPrivacy, kResearch, kTreatment, kAdr, kOther };

enum class Effect : std::uint8_t { kDeny, kPermit };

// Consent.provision.action codes (consentaction) as bits; a provision's mask of 0 means "any".
enum class Action : std::uint8_t {
  kAccess = 1,
  kCollect = 2,
  kUse = 4,
  kDisclose = 8,
  kCorrect = 16,
};

// Consent.provision.data.meaning (consent-data-meaning).
enum class DataMeaning : std::uint8_t {
  kInstance,    // the resource itself
  kRelated,     // the resource and the resources it refers to
  kDependents,  // the resource and the resources that refer to it
  kAuthoredBy,  // resources authored by the referenced actor
};

struct Coding {
  std::string system;  // "" when the Coding had none: then it matches on the code alone
  std::string code;
  bool operator==(const Coding&) const = default;
};

// An inclusive millisecond range (core/time.h DateRange semantics); open ends are the extremes.
struct Period {
  std::int64_t lo_ms = std::numeric_limits<std::int64_t>::min();
  std::int64_t hi_ms = std::numeric_limits<std::int64_t>::max();
  bool Contains(std::int64_t t_ms) const { return lo_ms <= t_ms && t_ms <= hi_ms; }
  bool Overlaps(std::int64_t lo, std::int64_t hi) const { return lo <= hi_ms && lo_ms <= hi; }
  bool operator==(const Period&) const = default;
};

enum class ActorKind : std::uint8_t {
  kPractitioner,
  kPractitionerRole,
  kOrganization,
  kCareTeam,
  kDevice,  // an app or a medical device registered as a Device
  kPatient,
  kRelatedPerson,
  kClient,  // an app named by its OAuth client id (kClientIdSystem)
};

struct Actor {
  ActorKind kind = ActorKind::kPractitioner;
  std::string id;            // the resource id, or the client id for kClient
  std::vector<Coding> role;  // Consent.provision.actor.role, kept for display; not matched
  bool operator==(const Actor&) const = default;
};

// A data[] entry: `meaning` applied to the resource type/id.
struct DataItem {
  DataMeaning meaning = DataMeaning::kInstance;
  std::string type;
  std::string id;
  bool operator==(const DataItem&) const = default;
};

// One Consent.provision. A criterion left empty does not constrain; a non-empty list matches
// when any of its entries matches; the provision applies when every criterion matches.
struct Provision {
  std::optional<Effect> type;    // absent: see Consent.provision rules in the README
  std::optional<Period> period;  // when the rule is in force (checked against "now")
  std::vector<Actor> actors;
  std::uint8_t actions = 0;             // Action bits; 0 = any action
  std::vector<Coding> security_labels;  // labels the resource carries in meta.security
  std::vector<Coding> purposes;         // purpose of use of the request (v3-ActReason)
  std::vector<Coding> classes;          // resource types (kResourceTypesSystem) and other codings
  std::vector<Coding> codes;            // every coding of every code CodeableConcept
  std::optional<Period> data_period;    // the resource's clinically relevant time must overlap
  std::vector<DataItem> data;
  std::vector<Provision> provisions;  // nested exceptions, in document order
};

struct Consent {
  std::string id;          // "" for a Consent that was never stored
  std::string version_id;  // meta.versionId, "" when absent
  ConsentStatus status = ConsentStatus::kDraft;
  ConsentScope scope = ConsentScope::kOther;
  std::string patient_id;                    // from Consent.patient ("Patient/ID")
  std::optional<std::int64_t> date_time_ms;  // Consent.dateTime (start of its range)
  std::optional<Provision> provision;        // the root provision
};

// Reads a Consent resource. Errors:
// - kInvalidArgument: not an object, resourceType is not "Consent", or an element has the wrong
//   JSON type (a string where an object is expected, an array where a string is ...);
// - kUnprocessable: a required element is missing (status, scope, patient; provision for an
//   active patient-privacy or research Consent), an unknown code (status, provision type,
//   action, data meaning, a resource-types class), an invalid date or a period whose start is
//   after its end, an actor or data reference that is not a relative "Type/id" of a supported
//   type (or a urn:sund:client-id identifier for actors), a nested provision without a type
//   under a root without one, or a tree over kMaxProvisionDepth / kMaxProvisionsPerConsent.
// Messages name the element path and never echo values from the resource.
Result<Consent> ParseConsent(const rapidjson::Value& resource);
// The same from JSON text (kInvalidArgument for malformed JSON).
Result<Consent> ParseConsentJson(std::string_view json);

std::string_view ConsentStatusName(ConsentStatus s);  // "active", "entered-in-error" ...
std::string_view ConsentScopeName(ConsentScope s);    // "patient-privacy", "research" ...
std::string_view ActionName(Action a);                // "access" ...
// The Action of a consentaction code; nullopt when unknown.
std::optional<Action> ActionFromCode(std::string_view code);

}  // namespace sund::consent
