#include "consent/policy.h"

#include <string>
#include <utility>

#include "core/json_preserve.h"
#include "core/time.h"
#include "fhir/model.h"
#include "fhir/resource.h"

namespace sund::consent {
namespace {

using rapidjson::Value;

Status WrongType(const std::string& path, std::string_view want) {
  return InvalidArgument(path + " must be " + std::string(want));
}

Status Bad(const std::string& path, std::string_view why) {
  return Unprocessable(path + ": " + std::string(why));
}

// A JSON string that is really a string (not a number kept as a marked string by
// core/json_preserve.h).
bool IsText(const Value& v) { return v.IsString() && !json::IsPreservedNumber(v); }

std::string_view Text(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

// Optional string member: nullopt when absent; kInvalidArgument when not a string.
Result<std::optional<std::string_view>> OptString(const Value& obj, const char* name,
                                                  const std::string& path) {
  const Value* v = json::Find(obj, name);
  if (v == nullptr) return std::optional<std::string_view>();
  if (!IsText(*v)) return WrongType(path + "." + name, "a string");
  return std::optional<std::string_view>(Text(*v));
}

// Iterates an optional array member; kInvalidArgument when present but not an array.
template <typename F>
Status ForEach(const Value& obj, const char* name, const std::string& path, F&& f) {
  const Value* v = json::Find(obj, name);
  if (v == nullptr) return Status::Ok();
  if (!v->IsArray()) return WrongType(path + "." + name, "an array");
  for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
    SUND_RETURN_IF_ERROR(f((*v)[i], path + "." + name + "[" + std::to_string(i) + "]"));
  }
  return Status::Ok();
}

Result<Coding> ReadCoding(const Value& v, const std::string& path) {
  if (!v.IsObject()) return WrongType(path, "a Coding object");
  Coding c;
  SUND_ASSIGN_OR_RETURN(auto system, OptString(v, "system", path));
  SUND_ASSIGN_OR_RETURN(auto code, OptString(v, "code", path));
  if (!code || code->empty()) return Bad(path, "a Coding needs a code");
  if (system) c.system = std::string(*system);
  c.code = std::string(*code);
  return c;
}

// Appends the codings of a CodeableConcept; a concept without codings is refused (text alone
// cannot be matched).
Status ReadConcept(const Value& v, const std::string& path, std::vector<Coding>& out) {
  if (!v.IsObject()) return WrongType(path, "a CodeableConcept object");
  const Value* codings = json::Find(v, "coding");
  if (codings == nullptr) return Bad(path, "a CodeableConcept needs at least one coding");
  std::size_t before = out.size();
  SUND_RETURN_IF_ERROR(ForEach(v, "coding", path, [&](const Value& c, const std::string& p) {
    SUND_ASSIGN_OR_RETURN(Coding coding, ReadCoding(c, p));
    out.push_back(std::move(coding));
    return Status::Ok();
  }));
  if (out.size() == before) return Bad(path, "a CodeableConcept needs at least one coding");
  return Status::Ok();
}

Result<std::optional<Period>> ReadPeriod(const Value& obj, const char* name,
                                         const std::string& parent) {
  const Value* v = json::Find(obj, name);
  if (v == nullptr) return std::optional<Period>();
  std::string path = parent + "." + name;
  if (!v->IsObject()) return WrongType(path, "a Period object");
  Period p;
  SUND_ASSIGN_OR_RETURN(auto start, OptString(*v, "start", path));
  SUND_ASSIGN_OR_RETURN(auto end, OptString(*v, "end", path));
  if (start) {
    auto r = ParseFhirDate(*start);
    if (!r.ok()) return Bad(path + ".start", "not a valid FHIR dateTime");
    p.lo_ms = r->lo_ms;
  }
  if (end) {
    auto r = ParseFhirDate(*end);
    if (!r.ok()) return Bad(path + ".end", "not a valid FHIR dateTime");
    p.hi_ms = r->hi_ms;
  }
  if (p.lo_ms > p.hi_ms) return Bad(path, "start is after end");
  return std::optional<Period>(p);
}

// A relative literal reference "Type/id" (optionally "/_history/N"), split into its parts.
// Absolute URLs, contained ("#x") and urn:uuid references are refused: they cannot be matched
// against this server's resources with certainty.
Status SplitRelativeReference(std::string_view ref, const std::string& path, std::string& type,
                              std::string& id) {
  std::string_view r = ref;
  if (std::size_t h = r.find("/_history/"); h != std::string_view::npos) r = r.substr(0, h);
  std::size_t slash = r.find('/');
  if (slash == std::string_view::npos || r.find('/', slash + 1) != std::string_view::npos ||
      r.find(':') != std::string_view::npos) {
    return Bad(path, "must be a relative reference Type/id");
  }
  std::string_view t = r.substr(0, slash);
  std::string_view i = r.substr(slash + 1);
  if (!fhir::Model::R4().IsResourceType(t)) return Bad(path, "unknown resource type");
  if (!fhir::IsValidId(i)) return Bad(path, "invalid resource id");
  type = std::string(t);
  id = std::string(i);
  return Status::Ok();
}

Result<Actor> ReadActor(const Value& v, const std::string& path) {
  if (!v.IsObject()) return WrongType(path, "an object");
  Actor a;
  if (const Value* role = json::Find(v, "role"); role != nullptr) {
    SUND_RETURN_IF_ERROR(ReadConcept(*role, path + ".role", a.role));
  }
  const Value* ref = json::Find(v, "reference");
  std::string rpath = path + ".reference";
  if (ref == nullptr) return Bad(rpath, "an actor needs a reference");
  if (!ref->IsObject()) return WrongType(rpath, "a Reference object");
  SUND_ASSIGN_OR_RETURN(auto literal, OptString(*ref, "reference", rpath));
  if (literal) {
    std::string type;
    SUND_RETURN_IF_ERROR(SplitRelativeReference(*literal, rpath + ".reference", type, a.id));
    if (type == "Practitioner") {
      a.kind = ActorKind::kPractitioner;
    } else if (type == "PractitionerRole") {
      a.kind = ActorKind::kPractitionerRole;
    } else if (type == "Organization") {
      a.kind = ActorKind::kOrganization;
    } else if (type == "CareTeam") {
      a.kind = ActorKind::kCareTeam;
    } else if (type == "Device") {
      a.kind = ActorKind::kDevice;
    } else if (type == "Patient") {
      a.kind = ActorKind::kPatient;
    } else if (type == "RelatedPerson") {
      a.kind = ActorKind::kRelatedPerson;
    } else {
      return Bad(rpath + ".reference",
                 "actors must be Practitioner, PractitionerRole, Organization, CareTeam, "
                 "Device, Patient or RelatedPerson (Group is not supported)");
    }
    return a;
  }
  const Value* ident = json::Find(*ref, "identifier");
  if (ident == nullptr) {
    return Bad(rpath, "needs a reference or a urn:sund:client-id identifier");
  }
  std::string ipath = rpath + ".identifier";
  if (!ident->IsObject()) return WrongType(ipath, "an Identifier object");
  SUND_ASSIGN_OR_RETURN(auto system, OptString(*ident, "system", ipath));
  SUND_ASSIGN_OR_RETURN(auto value, OptString(*ident, "value", ipath));
  if (!system || *system != kClientIdSystem) {
    return Bad(ipath, "only identifiers of system urn:sund:client-id (an app) are supported");
  }
  if (!value || value->empty()) return Bad(ipath, "the client id (value) is missing");
  a.kind = ActorKind::kClient;
  a.id = std::string(*value);
  return a;
}

Result<DataItem> ReadData(const Value& v, const std::string& path) {
  if (!v.IsObject()) return WrongType(path, "an object");
  DataItem d;
  SUND_ASSIGN_OR_RETURN(auto meaning, OptString(v, "meaning", path));
  if (!meaning) return Bad(path + ".meaning", "is required");
  if (*meaning == "instance") {
    d.meaning = DataMeaning::kInstance;
  } else if (*meaning == "related") {
    d.meaning = DataMeaning::kRelated;
  } else if (*meaning == "dependents") {
    d.meaning = DataMeaning::kDependents;
  } else if (*meaning == "authoredby") {
    d.meaning = DataMeaning::kAuthoredBy;
  } else {
    return Bad(path + ".meaning", "must be instance, related, dependents or authoredby");
  }
  const Value* ref = json::Find(v, "reference");
  std::string rpath = path + ".reference";
  if (ref == nullptr) return Bad(rpath, "is required");
  if (!ref->IsObject()) return WrongType(rpath, "a Reference object");
  SUND_ASSIGN_OR_RETURN(auto literal, OptString(*ref, "reference", rpath));
  if (!literal) return Bad(rpath, "needs a relative reference Type/id");
  SUND_RETURN_IF_ERROR(SplitRelativeReference(*literal, rpath + ".reference", d.type, d.id));
  return d;
}

struct TreeState {
  int nodes = 0;
};

Status ReadProvision(const Value& v, const std::string& path, int depth,
                     std::optional<Effect> parent_type, TreeState& state, Provision& p) {
  if (!v.IsObject()) return WrongType(path, "an object");
  if (depth > kMaxProvisionDepth) return Bad(path, "provisions nest too deeply");
  if (++state.nodes > kMaxProvisionsPerConsent) return Bad(path, "too many provisions");

  SUND_ASSIGN_OR_RETURN(auto type, OptString(v, "type", path));
  if (type) {
    if (*type == "deny") {
      p.type = Effect::kDeny;
    } else if (*type == "permit") {
      p.type = Effect::kPermit;
    } else {
      return Bad(path + ".type", "must be deny or permit");
    }
  } else if (depth > 1) {
    // A nested provision is an exception to its parent: without a type it takes the opposite
    // of the parent's.
    if (!parent_type) return Bad(path + ".type", "is required under a root without a type");
    p.type = *parent_type == Effect::kDeny ? Effect::kPermit : Effect::kDeny;
  }

  SUND_ASSIGN_OR_RETURN(p.period, ReadPeriod(v, "period", path));
  SUND_ASSIGN_OR_RETURN(p.data_period, ReadPeriod(v, "dataPeriod", path));

  SUND_RETURN_IF_ERROR(ForEach(v, "actor", path, [&](const Value& a, const std::string& ap) {
    SUND_ASSIGN_OR_RETURN(Actor actor, ReadActor(a, ap));
    p.actors.push_back(std::move(actor));
    return Status::Ok();
  }));

  SUND_RETURN_IF_ERROR(ForEach(v, "action", path, [&](const Value& a, const std::string& ap) {
    std::vector<Coding> codings;
    SUND_RETURN_IF_ERROR(ReadConcept(a, ap, codings));
    bool known = false;
    for (const Coding& c : codings) {
      if (c.system != kConsentActionSystem) continue;
      std::optional<Action> act = ActionFromCode(c.code);
      if (!act) return Bad(ap, "unknown consentaction code");
      p.actions |= static_cast<std::uint8_t>(*act);
      known = true;
    }
    if (!known) return Bad(ap, "needs a code from " + std::string(kConsentActionSystem));
    return Status::Ok();
  }));

  SUND_RETURN_IF_ERROR(
      ForEach(v, "securityLabel", path, [&](const Value& c, const std::string& cp) {
        SUND_ASSIGN_OR_RETURN(Coding coding, ReadCoding(c, cp));
        p.security_labels.push_back(std::move(coding));
        return Status::Ok();
      }));
  SUND_RETURN_IF_ERROR(ForEach(v, "purpose", path, [&](const Value& c, const std::string& cp) {
    SUND_ASSIGN_OR_RETURN(Coding coding, ReadCoding(c, cp));
    p.purposes.push_back(std::move(coding));
    return Status::Ok();
  }));
  SUND_RETURN_IF_ERROR(ForEach(v, "class", path, [&](const Value& c, const std::string& cp) {
    SUND_ASSIGN_OR_RETURN(Coding coding, ReadCoding(c, cp));
    if (coding.system == kResourceTypesSystem && !fhir::Model::R4().IsResourceType(coding.code)) {
      return Bad(cp, "unknown resource type");
    }
    p.classes.push_back(std::move(coding));
    return Status::Ok();
  }));
  SUND_RETURN_IF_ERROR(ForEach(v, "code", path, [&](const Value& c, const std::string& cp) {
    return ReadConcept(c, cp, p.codes);
  }));
  SUND_RETURN_IF_ERROR(ForEach(v, "data", path, [&](const Value& d, const std::string& dp) {
    SUND_ASSIGN_OR_RETURN(DataItem item, ReadData(d, dp));
    p.data.push_back(std::move(item));
    return Status::Ok();
  }));

  return ForEach(v, "provision", path, [&](const Value& c, const std::string& cp) {
    Provision child;
    SUND_RETURN_IF_ERROR(ReadProvision(c, cp, depth + 1, p.type, state, child));
    p.provisions.push_back(std::move(child));
    return Status::Ok();
  });
}

}  // namespace

std::optional<Action> ActionFromCode(std::string_view code) {
  if (code == "access") return Action::kAccess;
  if (code == "collect") return Action::kCollect;
  if (code == "use") return Action::kUse;
  if (code == "disclose") return Action::kDisclose;
  if (code == "correct") return Action::kCorrect;
  return std::nullopt;
}

std::string_view ActionName(Action a) {
  switch (a) {
    case Action::kAccess:
      return "access";
    case Action::kCollect:
      return "collect";
    case Action::kUse:
      return "use";
    case Action::kDisclose:
      return "disclose";
    case Action::kCorrect:
      return "correct";
  }
  return "?";
}

std::string_view ConsentStatusName(ConsentStatus s) {
  switch (s) {
    case ConsentStatus::kDraft:
      return "draft";
    case ConsentStatus::kProposed:
      return "proposed";
    case ConsentStatus::kActive:
      return "active";
    case ConsentStatus::kRejected:
      return "rejected";
    case ConsentStatus::kInactive:
      return "inactive";
    case ConsentStatus::kEnteredInError:
      return "entered-in-error";
  }
  return "?";
}

std::string_view ConsentScopeName(ConsentScope s) {
  switch (s) {
    case ConsentScope::kPatientPrivacy:
      return "patient-privacy";
    case ConsentScope::kResearch:
      return "research";
    case ConsentScope::kTreatment:
      return "treatment";
    case ConsentScope::kAdr:
      return "adr";
    case ConsentScope::kOther:
      return "other";
  }
  return "?";
}

Result<Consent> ParseConsent(const Value& resource) {
  const std::string root = "Consent";
  if (!resource.IsObject()) return InvalidArgument("a Consent must be a JSON object");
  if (json::GetString(resource, "resourceType") != "Consent") {
    return InvalidArgument("resourceType must be Consent");
  }
  Consent c;
  SUND_ASSIGN_OR_RETURN(auto id, OptString(resource, "id", root));
  if (id) {
    if (!fhir::IsValidId(*id)) return Bad("Consent.id", "invalid resource id");
    c.id = std::string(*id);
  }
  if (const Value* meta = json::Find(resource, "meta"); meta != nullptr) {
    if (!meta->IsObject()) return WrongType("Consent.meta", "an object");
    SUND_ASSIGN_OR_RETURN(auto vid, OptString(*meta, "versionId", "Consent.meta"));
    if (vid) c.version_id = std::string(*vid);
  }

  SUND_ASSIGN_OR_RETURN(auto status, OptString(resource, "status", root));
  if (!status) return Bad("Consent.status", "is required");
  if (*status == "draft") {
    c.status = ConsentStatus::kDraft;
  } else if (*status == "proposed") {
    c.status = ConsentStatus::kProposed;
  } else if (*status == "active") {
    c.status = ConsentStatus::kActive;
  } else if (*status == "rejected") {
    c.status = ConsentStatus::kRejected;
  } else if (*status == "inactive") {
    c.status = ConsentStatus::kInactive;
  } else if (*status == "entered-in-error") {
    c.status = ConsentStatus::kEnteredInError;
  } else {
    return Bad("Consent.status", "unknown status code");
  }

  const Value* scope = json::Find(resource, "scope");
  if (scope == nullptr) return Bad("Consent.scope", "is required");
  std::vector<Coding> scope_codings;
  SUND_RETURN_IF_ERROR(ReadConcept(*scope, "Consent.scope", scope_codings));
  for (const Coding& sc : scope_codings) {
    if (sc.system != kConsentScopeSystem) continue;
    if (sc.code == "patient-privacy") {
      c.scope = ConsentScope::kPatientPrivacy;
    } else if (sc.code == "research") {
      c.scope = ConsentScope::kResearch;
    } else if (sc.code == "treatment") {
      c.scope = ConsentScope::kTreatment;
    } else if (sc.code == "adr") {
      c.scope = ConsentScope::kAdr;
    } else {
      return Bad("Consent.scope", "unknown consentscope code");
    }
    break;
  }

  const Value* patient = json::Find(resource, "patient");
  if (patient == nullptr) return Bad("Consent.patient", "is required");
  if (!patient->IsObject()) return WrongType("Consent.patient", "a Reference object");
  SUND_ASSIGN_OR_RETURN(auto pref, OptString(*patient, "reference", "Consent.patient"));
  if (!pref) return Bad("Consent.patient", "needs a reference Patient/id");
  std::string ptype;
  SUND_RETURN_IF_ERROR(
      SplitRelativeReference(*pref, "Consent.patient.reference", ptype, c.patient_id));
  if (ptype != "Patient") return Bad("Consent.patient.reference", "must refer to a Patient");

  SUND_ASSIGN_OR_RETURN(auto dt, OptString(resource, "dateTime", root));
  if (dt) {
    auto r = ParseFhirDate(*dt);
    if (!r.ok()) return Bad("Consent.dateTime", "not a valid FHIR dateTime");
    c.date_time_ms = r->lo_ms;
  }

  if (const Value* prov = json::Find(resource, "provision"); prov != nullptr) {
    TreeState state;
    Provision p;
    SUND_RETURN_IF_ERROR(ReadProvision(*prov, "Consent.provision", 1, std::nullopt, state, p));
    c.provision = std::move(p);
  } else if (c.status == ConsentStatus::kActive &&
             (c.scope == ConsentScope::kPatientPrivacy || c.scope == ConsentScope::kResearch)) {
    return Bad("Consent.provision",
               "an active patient-privacy or research Consent needs a provision (policyRule "
               "is not interpreted)");
  }
  return c;
}

Result<Consent> ParseConsentJson(std::string_view text) {
  SUND_ASSIGN_OR_RETURN(rapidjson::Document doc, fhir::ParseJson(text));
  return ParseConsent(doc);
}

}  // namespace sund::consent
