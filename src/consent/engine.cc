#include "consent/engine.h"

#include <algorithm>
#include <deque>
#include <string>
#include <utility>

#include "consent/facts.h"
#include "core/json.h"

namespace sund::consent {
namespace {

using internal::CompiledConsent;
using internal::Node;

constexpr std::string_view kTreat = "TREAT";
constexpr std::string_view kEmergencyTreat = "ETREAT";

// The few v3-ActReason specialisations the engine knows: child -> parent.
struct PurposeParent {
  std::string_view child;
  std::string_view parent;
};
constexpr PurposeParent kPurposeParents[] = {
    {"ETREAT", "TREAT"},         {"BIORCH", "HRESCH"},       {"CLINTRCH", "HRESCH"},
    {"CLINTRCHNPC", "CLINTRCH"}, {"CLINTRCHPC", "CLINTRCH"}, {"PRECLINTRCH", "HRESCH"},
    {"DSRCH", "HRESCH"},         {"POARCH", "HRESCH"},       {"TRANSRCH", "HRESCH"},
};

std::string_view ParentPurpose(std::string_view code) {
  for (const PurposeParent& p : kPurposeParents) {
    if (p.child == code) return p.parent;
  }
  return {};
}

// True when `code` is `ancestor` or a specialisation of it.
bool PurposeIsA(std::string_view code, std::string_view ancestor) {
  for (int i = 0; i < 4 && !code.empty(); ++i) {
    if (code == ancestor) return true;
    code = ParentPurpose(code);
  }
  return false;
}

bool CodingMatches(const Coding& want, const CodingView& have) {
  return want.code == have.code && (want.system.empty() || want.system == have.system);
}

bool AnyCoding(const std::vector<Coding>& want, const std::vector<CodingView>& have) {
  for (const Coding& w : want) {
    for (const CodingView& h : have) {
      if (CodingMatches(w, h)) return true;
    }
  }
  return false;
}

// `ref` == type + "/" + id, without building the string.
bool IsRef(std::string_view ref, std::string_view type, std::string_view id) {
  return ref.size() == type.size() + 1 + id.size() && ref[type.size()] == '/' &&
         ref.substr(0, type.size()) == type && ref.substr(type.size() + 1) == id;
}

bool DataMatches(const DataCondition& d, const ResourceFacts& r) {
  bool self = r.type == d.type && r.id == d.id;
  switch (d.meaning) {
    case DataMeaning::kInstance:
      return self;
    case DataMeaning::kRelated:
      return self || std::any_of(d.related.begin(), d.related.end(),
                                 [&](const std::string& s) { return IsRef(s, r.type, r.id); });
    case DataMeaning::kDependents:
      return self ||
             std::find(r.references.begin(), r.references.end(), d.ref) != r.references.end();
    case DataMeaning::kAuthoredBy:
      return std::find(r.authors.begin(), r.authors.end(), d.ref) != r.authors.end();
  }
  return false;
}

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool ActorMatches(const Actor& a, const Request& q) {
  switch (a.kind) {
    case ActorKind::kPractitioner:
      return a.id == q.practitioner;
    case ActorKind::kPractitionerRole:
      return a.id == q.practitioner_role;
    case ActorKind::kOrganization:
      return Contains(q.organizations, a.id);
    case ActorKind::kCareTeam:
      return Contains(q.care_teams, a.id);
    case ActorKind::kDevice:
      return a.id == q.device;
    case ActorKind::kClient:
      return a.id == q.client_id;
    case ActorKind::kPatient:
      return q.user == UserKind::kPatientSelf && a.id == q.patient;
    case ActorKind::kRelatedPerson:
      return a.id == q.related_person;
  }
  return false;
}

bool PurposeMatches(const Coding& p, std::string_view request_purpose) {
  if (!p.system.empty() && p.system != kActReasonSystem) return false;
  return PurposeIsA(request_purpose, p.code);
}

// The criteria of a provision that depend on the request only.
bool RequestMatches(const Node& n, const Request& q) {
  if (!n.period.Contains(q.now_ms)) return false;
  if (n.actions != 0 && (n.actions & static_cast<std::uint8_t>(q.action)) == 0) return false;
  if (!n.purposes.empty() &&
      std::none_of(n.purposes.begin(), n.purposes.end(),
                   [&](const Coding& p) { return PurposeMatches(p, q.purpose); })) {
    return false;
  }
  if (!n.actors.empty() && std::none_of(n.actors.begin(), n.actors.end(),
                                        [&](const Actor& a) { return ActorMatches(a, q); })) {
    return false;
  }
  return true;
}

struct Hit {
  Effect effect;
  std::uint32_t node;
};

// The most specific applying provision under node `i` (see engine.h), or nullopt.
std::optional<Hit> Evaluate(const std::vector<Node>& nodes, std::uint32_t i, const Request& q,
                            const ResourceFacts& r) {
  const Node& n = nodes[i];
  if (!RequestMatches(n, q) || !n.criteria.Matches(r)) return std::nullopt;
  std::optional<Hit> best;
  for (std::uint32_t c = n.first_child; c < n.first_child + n.child_count; ++c) {
    std::optional<Hit> h = Evaluate(nodes, c, q, r);
    if (!h) continue;
    if (h->effect == Effect::kDeny) return h;
    if (!best) best = h;
  }
  if (best) return best;
  if (n.effect) return Hit{*n.effect, i};
  return std::nullopt;
}

Basis MakeBasis(const CompiledConsent& c, const Node& n, Effect e) {
  return Basis{c.id, c.version_id, n.path, e};
}

bool TrimmedEmpty(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

bool IsEmergency(const Request& q) { return q.purpose == kEmergencyTreat; }

bool CanBreakGlass(const Request& q) {
  return q.user == UserKind::kPractitioner && IsEmergency(q) && !TrimmedEmpty(q.break_glass_reason);
}

bool BasePermits(BasePolicy base, const Request& q) {
  switch (base) {
    case BasePolicy::kOptIn:
      return false;
    case BasePolicy::kOptOut:
      return true;
    case BasePolicy::kDanish:
      // The deployment's own services (system/ scopes, registered by its administrator) act
      // for the data controller, as its clinicians do.
      return (q.user == UserKind::kPractitioner || q.user == UserKind::kSystem) &&
             PurposeIsA(q.purpose, kTreat);
  }
  return false;
}

std::string_view BaseReason(BasePolicy base, bool permit) {
  switch (base) {
    case BasePolicy::kOptIn:
      return "opt-in base policy: no Consent permits";
    case BasePolicy::kOptOut:
      return "opt-out base policy: no Consent denies";
    case BasePolicy::kDanish:
      return permit ? "Danish base policy: treatment by a practitioner or the deployment's own "
                      "service, no Consent denies"
                    : "Danish base policy: not treatment by a practitioner or the deployment's "
                      "own service, no Consent permits";
  }
  return "";
}

constexpr std::string_view kSelfReason = "the patient's own data";
constexpr std::string_view kNoReasonReason = "break-the-glass (ETREAT) requires a stated reason";
constexpr std::string_view kResearchNone = "research needs a research Consent that permits";
constexpr std::string_view kResearchOptOut = "opt-out research policy: no research Consent denies";

bool IsSelf(const PatientPolicy& p, const Request& q) {
  return q.user == UserKind::kPatientSelf && !q.patient.empty() && q.patient == p.patient_id();
}

Status CompileTree(const Provision& root, const std::string& consent_id,
                   const RelatedResolver& resolver, std::vector<Node>& nodes,
                   std::uint32_t& root_index) {
  struct Pending {
    const Provision* p;
    std::uint32_t index;
    int depth;
  };
  auto make = [&](const Provision& p, std::optional<Effect> parent, bool is_root,
                  std::string path) -> Result<Node> {
    Node n;
    if (p.type) {
      n.effect = p.type;
    } else if (!is_root) {
      if (!parent) {
        return InvalidArgument("Consent/" + consent_id + ": " + path +
                               " has no type under a root without one");
      }
      n.effect = *parent == Effect::kDeny ? Effect::kPermit : Effect::kDeny;
    }
    if (p.period) n.period = *p.period;
    n.actions = p.actions;
    n.actors = p.actors;
    n.purposes = p.purposes;
    for (const Coding& c : p.classes) {
      if (c.system == kResourceTypesSystem) {
        n.criteria.types.push_back(c.code);
      } else {
        n.criteria.classes.push_back(c);
      }
    }
    n.criteria.codes = p.codes;
    n.criteria.security_labels = p.security_labels;
    n.criteria.data_period = p.data_period;
    for (const DataItem& d : p.data) {
      DataCondition dc{d.meaning, d.type, d.id, d.type + "/" + d.id, {}};
      if (d.meaning == DataMeaning::kRelated && resolver) dc.related = resolver(d.type, d.id);
      n.criteria.data.push_back(std::move(dc));
    }
    n.path = std::move(path);
    return n;
  };

  std::size_t first = nodes.size();
  root_index = static_cast<std::uint32_t>(first);
  SUND_ASSIGN_OR_RETURN(Node r, make(root, std::nullopt, true, "Consent.provision"));
  nodes.push_back(std::move(r));
  std::deque<Pending> queue{{&root, root_index, 1}};
  while (!queue.empty()) {
    Pending cur = queue.front();
    queue.pop_front();
    if (cur.p->provisions.empty()) continue;
    if (cur.depth >= kMaxProvisionDepth) {
      return InvalidArgument("Consent/" + consent_id + ": provisions nest too deeply");
    }
    if (nodes.size() - first + cur.p->provisions.size() >
        static_cast<std::size_t>(kMaxProvisionsPerConsent)) {
      return InvalidArgument("Consent/" + consent_id + ": too many provisions");
    }
    auto first_child = static_cast<std::uint32_t>(nodes.size());
    nodes[cur.index].first_child = first_child;
    nodes[cur.index].child_count = static_cast<std::uint32_t>(cur.p->provisions.size());
    std::optional<Effect> parent_effect = nodes[cur.index].effect;
    std::string parent_path = nodes[cur.index].path;
    for (std::size_t k = 0; k < cur.p->provisions.size(); ++k) {
      const Provision& child = cur.p->provisions[k];
      SUND_ASSIGN_OR_RETURN(Node n, make(child, parent_effect, false,
                                         parent_path + ".provision[" + std::to_string(k) + "]"));
      nodes.push_back(std::move(n));
      queue.push_back({&child, first_child + static_cast<std::uint32_t>(k), cur.depth + 1});
    }
  }
  return Status::Ok();
}

// Search-filter construction: the clauses under node `i` (see SearchFilter and README).
void CollectClauses(const std::vector<Node>& nodes, std::uint32_t i, const CompiledConsent& c,
                    const Request& q, std::vector<Criteria>& prefix, SearchFilter& f) {
  const Node& n = nodes[i];
  if (!RequestMatches(n, q)) return;
  bool pushed = !n.criteria.empty();
  if (pushed) prefix.push_back(n.criteria);
  std::vector<Criteria> none;
  bool child_always_applies = false;
  for (std::uint32_t k = n.first_child; k < n.first_child + n.child_count; ++k) {
    if (!RequestMatches(nodes[k], q)) continue;
    if (nodes[k].criteria.empty()) child_always_applies = true;
    none.push_back(nodes[k].criteria);
    CollectClauses(nodes, k, c, q, prefix, f);
  }
  if (n.effect && !child_always_applies) {
    Clause cl{prefix, std::move(none), MakeBasis(c, n, *n.effect)};
    (*n.effect == Effect::kDeny ? f.deny : f.permit).push_back(std::move(cl));
  }
  if (pushed) prefix.pop_back();
}

}  // namespace

std::string_view BasePolicyName(BasePolicy b) {
  switch (b) {
    case BasePolicy::kOptIn:
      return "opt-in";
    case BasePolicy::kOptOut:
      return "opt-out";
    case BasePolicy::kDanish:
      return "danish";
  }
  return "?";
}

std::string_view ResearchPolicyName(ResearchPolicy r) {
  return r == ResearchPolicy::kOptOut ? "opt-out" : "opt-in";
}

std::optional<ResearchPolicy> ParseResearchPolicy(std::string_view name) {
  if (name == "opt-in") return ResearchPolicy::kOptIn;
  if (name == "opt-out") return ResearchPolicy::kOptOut;
  return std::nullopt;
}

bool IsResearchPurpose(std::string_view purpose) { return PurposeIsA(purpose, "HRESCH"); }

bool Criteria::Matches(const ResourceFacts& r) const {
  if (!types.empty() || !classes.empty()) {
    bool ok = std::find(types.begin(), types.end(), r.type) != types.end();
    for (std::size_t k = 0; !ok && k < classes.size(); ++k) {
      const Coding& c = classes[k];
      if (c.system.empty() && c.code == r.type) ok = true;
      for (const CodingView& h : r.classes) {
        if (CodingMatches(c, h)) ok = true;
      }
    }
    if (!ok) return false;
  }
  if (!codes.empty() && !AnyCoding(codes, r.codes)) return false;
  if (!security_labels.empty() && !AnyCoding(security_labels, r.security)) return false;
  if (data_period && (!r.date || !data_period->Overlaps(r.date->lo_ms, r.date->hi_ms))) {
    return false;
  }
  if (!data.empty() && std::none_of(data.begin(), data.end(),
                                    [&](const DataCondition& d) { return DataMatches(d, r); })) {
    return false;
  }
  return true;
}

bool Clause::Matches(const ResourceFacts& r) const {
  for (const Criteria& c : all) {
    if (!c.Matches(r)) return false;
  }
  for (const Criteria& c : none) {
    if (c.Matches(r)) return false;
  }
  return true;
}

bool SearchFilter::RuleAllows(const ResourceFacts& r) const {
  for (const Clause& c : deny) {
    if (c.Matches(r)) return false;
  }
  if (base_permit) return true;
  return std::any_of(permit.begin(), permit.end(), [&](const Clause& c) { return c.Matches(r); });
}

bool SearchFilter::Visible(const ResourceFacts& r) const {
  switch (mode) {
    case Mode::kAll:
      return true;
    case Mode::kNone:
      return false;
    case Mode::kClauses:
      return RuleAllows(r);
  }
  return false;
}

bool SearchFilter::Overridden(const ResourceFacts& r) const {
  return break_glass && mode == Mode::kAll && !RuleAllows(r);
}

std::string Decision::Explain() const {
  std::string s = permitted() ? "permit" : "deny";
  if (break_glass) s += " (break-the-glass)";
  s += ": ";
  s += reason;
  for (const Basis& b : basis) {
    s += "; ";
    s += b.effect == Effect::kDeny ? "deny" : "permit";
    s += " by Consent/" + b.consent_id;
    if (!b.version_id.empty()) s += " (version " + b.version_id + ")";
    s += " at " + b.provision;
  }
  return s;
}

Result<PatientPolicy> Engine::Compile(std::string_view patient_id,
                                      const std::vector<Consent>& consents,
                                      const RelatedResolver& resolver) {
  PatientPolicy p;
  p.patient_id_ = std::string(patient_id);
  for (const Consent& c : consents) {
    if (c.patient_id != patient_id) {
      return InvalidArgument("Consent/" + c.id + " belongs to another patient");
    }
    bool used_scope =
        c.scope == ConsentScope::kPatientPrivacy || c.scope == ConsentScope::kResearch;
    if (c.status != ConsentStatus::kActive || !used_scope || !c.provision) {
      ++p.ignored_;
      continue;
    }
    CompiledConsent cc{c.id, c.version_id, 0};
    SUND_RETURN_IF_ERROR(CompileTree(*c.provision, c.id, resolver, p.nodes_, cc.root));
    (c.scope == ConsentScope::kResearch ? p.research_ : p.privacy_).push_back(std::move(cc));
  }
  return p;
}

Decision Engine::Decide(const PatientPolicy& policy, const Request& q,
                        const ResourceFacts& r) const {
  Decision d;
  if (IsSelf(policy, q)) {
    d.effect = Effect::kPermit;
    d.decided_by = DecidedBy::kPatientSelf;
    d.reason = kSelfReason;
    return d;
  }
  const bool research = IsResearchPurpose(q.purpose);
  if (IsEmergency(q) && TrimmedEmpty(q.break_glass_reason)) {
    d.decided_by = DecidedBy::kRequest;
    d.reason = kNoReasonReason;
    return d;
  }
  const auto& consents = research ? policy.research_ : policy.privacy_;
  std::vector<Basis> permits;
  for (const CompiledConsent& c : consents) {
    std::optional<Hit> h = Evaluate(policy.nodes_, c.root, q, r);
    if (!h) continue;
    const Node& n = policy.nodes_[h->node];
    if (h->effect == Effect::kDeny) {
      d.basis.push_back(MakeBasis(c, n, Effect::kDeny));
    } else if (d.basis.empty()) {
      permits.push_back(MakeBasis(c, n, Effect::kPermit));
    }
  }
  if (!d.basis.empty()) {
    d.decided_by = DecidedBy::kConsent;
    if (!research && CanBreakGlass(q)) {
      d.effect = Effect::kPermit;
      d.break_glass = true;
      d.reason = "break-the-glass: emergency treatment overrides the patient's Consent";
    } else {
      d.effect = Effect::kDeny;
      d.reason = "a Consent denies (deny overrides permit)";
    }
    return d;
  }
  if (!permits.empty()) {
    d.decided_by = DecidedBy::kConsent;
    d.effect = Effect::kPermit;
    d.basis = std::move(permits);
    d.reason = research ? "a research Consent permits" : "a Consent permits";
    return d;
  }
  d.decided_by = DecidedBy::kBasePolicy;
  if (research) {
    if (research_ == ResearchPolicy::kOptOut) {
      d.effect = Effect::kPermit;
      d.reason = kResearchOptOut;
    } else {
      d.effect = Effect::kDeny;
      d.reason = kResearchNone;
    }
    return d;
  }
  if (BasePermits(base_, q)) {
    d.effect = Effect::kPermit;
    d.reason = BaseReason(base_, true);
  } else if (CanBreakGlass(q)) {
    d.effect = Effect::kPermit;
    d.break_glass = true;
    d.reason = "break-the-glass: emergency treatment overrides the base policy";
  } else {
    d.effect = Effect::kDeny;
    d.reason = BaseReason(base_, false);
  }
  return d;
}

SearchFilter Engine::Filter(const PatientPolicy& policy, const Request& q) const {
  SearchFilter f;
  if (IsSelf(policy, q)) {
    f.mode = SearchFilter::Mode::kAll;
    f.reason = kSelfReason;
    return f;
  }
  if (IsEmergency(q) && TrimmedEmpty(q.break_glass_reason)) {
    f.mode = SearchFilter::Mode::kNone;
    f.reason = kNoReasonReason;
    return f;
  }
  const bool research = IsResearchPurpose(q.purpose);
  const auto& consents = research ? policy.research_ : policy.privacy_;
  f.base_permit = research ? research_ == ResearchPolicy::kOptOut : BasePermits(base_, q);
  std::vector<Criteria> prefix;
  for (const CompiledConsent& c : consents) {
    CollectClauses(policy.nodes_, c.root, c, q, prefix, f);
  }
  auto unconditional = [](const Clause& c) { return c.unconditional(); };
  SearchFilter::Mode normal = SearchFilter::Mode::kClauses;
  if (std::any_of(f.deny.begin(), f.deny.end(), unconditional)) {
    normal = SearchFilter::Mode::kNone;
  } else if (f.deny.empty() &&
             (f.base_permit || std::any_of(f.permit.begin(), f.permit.end(), unconditional))) {
    normal = SearchFilter::Mode::kAll;
  } else if (f.deny.empty() && f.permit.empty() && !f.base_permit) {
    normal = SearchFilter::Mode::kNone;
  }
  if (!research && CanBreakGlass(q) && normal != SearchFilter::Mode::kAll) {
    f.mode = SearchFilter::Mode::kAll;
    f.break_glass = true;
    f.reason = "break-the-glass: emergency treatment overrides what would be filtered";
    return f;
  }
  f.mode = normal;
  if (normal == SearchFilter::Mode::kAll) {
    f.reason = "nothing is filtered";
  } else if (normal == SearchFilter::Mode::kNone) {
    f.reason =
        research && research_ == ResearchPolicy::kOptIn ? kResearchNone : "nothing is visible";
  } else {
    f.reason = "filtered by the patient's Consents";
  }
  return f;
}

bool AllowsResearch(const PatientPolicy& policy, std::int64_t now_ms) {
  bool permit = false;
  for (const CompiledConsent& c : policy.research_) {
    const Node& root = policy.nodes_[c.root];
    if (!root.period.Contains(now_ms) || !root.effect) continue;
    if (*root.effect == Effect::kDeny) return false;
    permit = true;
  }
  return permit;
}

bool Engine::AllowsResearch(const PatientPolicy& policy, std::int64_t now_ms) const {
  if (research_ == ResearchPolicy::kOptIn) return consent::AllowsResearch(policy, now_ms);
  for (const CompiledConsent& c : policy.research_) {
    const Node& root = policy.nodes_[c.root];
    if (root.period.Contains(now_ms) && root.effect && *root.effect == Effect::kDeny) return false;
  }
  return true;
}

Result<bool> AllowsCollection(const Engine& engine, const PatientPolicy& policy,
                              std::string_view resource, std::string_view device_id,
                              std::int64_t now_ms) {
  rapidjson::Document doc;
  doc.Parse(resource.data(), resource.size());
  if (doc.HasParseError() || !doc.IsObject()) return InvalidArgument("not a FHIR JSON object");
  Request request;
  request.user = UserKind::kSystem;
  request.device = std::string(device_id);
  request.action = Action::kCollect;
  request.now_ms = now_ms;
  ResourceFacts facts = ExtractFacts(doc);
  facts.type = json::GetString(doc, "resourceType");
  return engine.Decide(policy, request, facts).permitted();
}

}  // namespace sund::consent
