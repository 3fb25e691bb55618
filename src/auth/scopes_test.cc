#include "auth/scopes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sund::auth {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;

constexpr char kVitalSigns[] =
    "http://terminology.hl7.org/CodeSystem/observation-category|vital-signs";

// The one resource scope a string parses to (fails the test when there is not exactly one).
ResourceScope One(std::string_view text) {
  ScopeSet s = ParseScopes(text);
  EXPECT_EQ(s.resources.size(), 1u) << text;
  EXPECT_THAT(s.other, IsEmpty()) << text;
  return s.resources.empty() ? ResourceScope{} : s.resources[0];
}

// Verifies: REQ-AUTH-075
TEST(ParseScopesTest, V2Forms) {
  ResourceScope rs = One("patient/Observation.rs");
  EXPECT_EQ(rs.context, ScopeContext::kPatient);
  EXPECT_EQ(rs.type, "Observation");
  EXPECT_EQ(rs.perms, 2u | 16u);
  EXPECT_FALSE(rs.v1);
  EXPECT_THAT(rs.query, IsEmpty());
  EXPECT_EQ(rs.text, "patient/Observation.rs");

  ResourceScope all = One("user/*.cruds");
  EXPECT_EQ(all.context, ScopeContext::kUser);
  EXPECT_EQ(all.type, "*");
  EXPECT_EQ(all.perms, 31u);

  ResourceScope c = One("system/Patient.c");
  EXPECT_EQ(c.context, ScopeContext::kSystem);
  EXPECT_EQ(c.perms, 1u);

  EXPECT_EQ(One("patient/*.rs").type, "*");
  EXPECT_EQ(One("patient/Observation.cd").perms, 1u | 8u);
  EXPECT_EQ(One("patient/Observation.us").perms, 4u | 16u);
  EXPECT_EQ(One("patient/Observation.d").perms, 8u);
}

// Verifies: REQ-AUTH-076
TEST(ParseScopesTest, V1ReadIsReadAndSearch) {
  ResourceScope r = One("patient/Observation.read");
  EXPECT_TRUE(r.v1);
  EXPECT_EQ(r.perms, 2u | 16u);
  EXPECT_EQ(r.perms, One("patient/Observation.rs").perms);
}

// Verifies: REQ-AUTH-076
TEST(ParseScopesTest, V1WriteIsCreateUpdateDelete) {
  ResourceScope w = One("user/Observation.write");
  EXPECT_TRUE(w.v1);
  EXPECT_EQ(w.perms, 1u | 4u | 8u);
  EXPECT_FALSE(w.perms & kRead);
  EXPECT_FALSE(w.perms & kSearch);
}

// Verifies: REQ-AUTH-076
TEST(ParseScopesTest, V1StarIsEverything) {
  ResourceScope s = One("patient/*.*");
  EXPECT_TRUE(s.v1);
  EXPECT_EQ(s.type, "*");
  EXPECT_EQ(s.perms, 31u);
}

// Verifies: REQ-AUTH-077, REQ-AUTH-081
TEST(ParseScopesTest, MalformedScopesGoToOtherAndAreNeverGranted) {
  const std::vector<std::string> bad = {
      "patient/Observation.sr",                        // letters out of order
      "patient/Observation.rr",                        // repeated letter
      "patient/Observation.rsc",                       // c after s
      "patient/Observation.x",                         // unknown letter
      "patient/Observation.",                          // no permissions
      "patient/Observation",                           // no suffix
      "patient/observation.rs",                        // not a FHIR type name
      "patient/O.rs",                                  // too short for a type name
      "patient/Obs3rvation.rs",                        // digit in type
      "Patient/Observation.rs",                        // prefix is case-sensitive
      "practitioner/Observation.rs",                   // unknown context
      "patient/Observation.READ",                      // v1 suffix is case-sensitive
      "patient/Observation.read?category=laboratory",  // granular query on a v1 scope
      "patient/Observation.rs?",                       // empty query
      "patient/Observation.rs?category",               // no '='
      "patient/Observation.rs?=laboratory",            // empty name
      "patient/Observation.rs?category=",              // empty value
      "patient/Observation.rs?category=a&&code=b",     // empty pair
      "patient/Observation.rs?category=%zz",           // bad escape
      "patient/Observation.rs?category=%4",            // truncated escape
      "patient/Observation.r.s",
  };
  for (const std::string& text : bad) {
    ScopeSet s = ParseScopes(text);
    EXPECT_THAT(s.resources, IsEmpty()) << text;
    EXPECT_THAT(s.other, ElementsAre(text));
    // Even when "allowed" lists the very same text, nothing is granted.
    ScopeSet granted = Narrow(s, ParseScopes(text + " patient/*.cruds user/*.cruds"));
    EXPECT_THAT(granted.resources, IsEmpty()) << text;
    EXPECT_THAT(granted.other, IsEmpty()) << text;
    EXPECT_FALSE(Allows(s, ScopeContext::kPatient, "Observation", kRead)) << text;
  }
}

// Verifies: REQ-AUTH-078
TEST(ParseScopesTest, GranularQueryIsSplitAndPercentDecoded) {
  ResourceScope vs = One(std::string("patient/Observation.rs?category=") + kVitalSigns);
  EXPECT_EQ(vs.perms, 2u | 16u);
  EXPECT_FALSE(vs.v1);
  EXPECT_THAT(vs.query, ElementsAre(Pair("category", kVitalSigns)));

  ResourceScope enc =
      One("patient/Observation.rs?code=http%3A%2F%2Floinc.org%7C8867-4&status=final&"
          "note=a%20b+c&x%3Dy=1=2");
  EXPECT_THAT(enc.query,
              ElementsAre(Pair("code", "http://loinc.org|8867-4"), Pair("status", "final"),
                          Pair("note", "a b+c"), Pair("x=y", "1=2")));
}

// Verifies: REQ-AUTH-079
TEST(ParseScopesTest, FlagsAndRepeatedWhitespace) {
  ScopeSet s = ParseScopes(
      "  openid   fhirUser launch/patient\toffline_access launch launch/encounter profile "
      "online_access  patient/*.rs   launch/practitioner foo foo patient/*.rs ");
  EXPECT_TRUE(s.openid);
  EXPECT_TRUE(s.fhir_user);
  EXPECT_TRUE(s.launch_patient);
  EXPECT_TRUE(s.offline_access);
  EXPECT_TRUE(s.launch);
  EXPECT_TRUE(s.launch_encounter);
  EXPECT_TRUE(s.profile);
  EXPECT_TRUE(s.online_access);
  ASSERT_EQ(s.resources.size(), 1u);
  EXPECT_EQ(s.resources[0].type, "*");
  EXPECT_THAT(s.other, ElementsAre("launch/practitioner", "foo"));

  ScopeSet none = ParseScopes("patient/*.rs");
  EXPECT_FALSE(none.openid || none.fhir_user || none.profile || none.offline_access ||
               none.online_access || none.launch || none.launch_patient || none.launch_encounter);
  EXPECT_THAT(ParseScopes("").resources, IsEmpty());
  EXPECT_THAT(ParseScopes("   ").other, IsEmpty());
}

// Verifies: REQ-AUTH-080
TEST(ToStringTest, CanonicalForm) {
  ScopeSet s = ParseScopes(
      "patient/Observation.read offline_access user/*.cruds foo openid "
      "patient/Observation.rs?code=http%3A%2F%2Floinc.org%7C8867-4 launch/patient "
      "patient/*.write system/Patient.*");
  EXPECT_EQ(ToString(s),
            "launch/patient openid offline_access patient/Observation.read user/*.cruds "
            "patient/Observation.rs?code=http://loinc.org|8867-4 patient/*.write "
            "system/Patient.* foo");
}

// Verifies: REQ-AUTH-080
TEST(ToStringTest, V2LettersInOrderAndV1OnlyWhenExpressible) {
  ResourceScope s;
  s.context = ScopeContext::kUser;
  s.type = "Condition";
  s.perms = kSearch | kCreate | kDelete;
  EXPECT_EQ(ToString(s), "user/Condition.cds");
  s.v1 = true;  // no v1 suffix means c+d+s
  EXPECT_EQ(ToString(s), "user/Condition.cds");
  s.perms = kRead | kSearch;
  EXPECT_EQ(ToString(s), "user/Condition.read");
  s.v1 = false;
  EXPECT_EQ(ToString(s), "user/Condition.rs");
}

// Verifies: REQ-AUTH-078, REQ-AUTH-080
TEST(ToStringTest, RoundTripsThroughParse) {
  const std::vector<std::string> inputs = {
      "launch openid fhirUser profile patient/*.rs offline_access",
      "user/Observation.cruds?category=a%26b&code=x%3Dy%25z&note=two%20words%2Bplus",
      "patient/Observation.write patient/Condition.*  system/Encounter.cu unknown/thing",
      std::string("patient/Observation.rs?category=") + kVitalSigns + " launch/encounter",
      "patient/Observation.rs?v=%C3%A6%0A",
  };
  for (const std::string& in : inputs) {
    ScopeSet first = ParseScopes(in);
    std::string canonical = ToString(first);
    ScopeSet second = ParseScopes(canonical);
    EXPECT_EQ(ToString(second), canonical) << in;
    ASSERT_EQ(second.resources.size(), first.resources.size()) << in;
    for (size_t i = 0; i < first.resources.size(); ++i) {
      EXPECT_EQ(second.resources[i].query, first.resources[i].query) << in;
      EXPECT_EQ(second.resources[i].perms, first.resources[i].perms) << in;
      EXPECT_EQ(second.resources[i].v1, first.resources[i].v1) << in;
      EXPECT_EQ(second.resources[i].type, first.resources[i].type) << in;
    }
    EXPECT_EQ(second.other, first.other) << in;
  }
  EXPECT_THAT(
      ParseScopes(inputs[1]).resources[0].query,
      ElementsAre(Pair("category", "a&b"), Pair("code", "x=y%z"), Pair("note", "two words+plus")));
}

std::vector<std::string> Texts(const ScopeSet& s) {
  std::vector<std::string> out;
  for (const ResourceScope& r : s.resources) out.push_back(ToString(r));
  return out;
}

// Verifies: REQ-AUTH-081
TEST(NarrowTest, WildcardRequestNarrowedBySpecificTypes) {
  ScopeSet got = Narrow(ParseScopes("patient/*.rs"),
                        ParseScopes("patient/Observation.rs patient/Condition.r user/*.cruds"));
  EXPECT_THAT(Texts(got), ElementsAre("patient/Observation.rs", "patient/Condition.r"));
}

// Verifies: REQ-AUTH-081
TEST(NarrowTest, SpecificRequestUnderWildcardAllowed) {
  ScopeSet got = Narrow(ParseScopes("patient/Observation.cruds patient/Condition.rs"),
                        ParseScopes("patient/*.rs"));
  EXPECT_THAT(Texts(got), ElementsAre("patient/Observation.rs", "patient/Condition.rs"));
}

// Verifies: REQ-AUTH-081
TEST(NarrowTest, PermissionsIntersectedAndEmptyDropped) {
  ScopeSet got = Narrow(ParseScopes("patient/Observation.cru patient/Condition.c user/Patient.rs"),
                        ParseScopes("patient/Observation.rus patient/Condition.rs patient/*.d "
                                    "patient/Patient.rs"));
  EXPECT_THAT(Texts(got), ElementsAre("patient/Observation.ru"));
}

// Verifies: REQ-AUTH-081
TEST(NarrowTest, MergesAndDropsCoveredPieces) {
  // *.rs against *.r, *.s and Observation.rs: the wildcard pieces merge to *.rs, which covers
  // Observation.rs.
  ScopeSet got = Narrow(ParseScopes("patient/*.rs"),
                        ParseScopes("patient/*.r patient/Observation.rs patient/*.s"));
  EXPECT_THAT(Texts(got), ElementsAre("patient/*.rs"));
}

// Verifies: REQ-AUTH-083
TEST(NarrowTest, V1StaysV1WhenExpressible) {
  EXPECT_THAT(Texts(Narrow(ParseScopes("patient/Observation.*"), ParseScopes("patient/*.rs"))),
              ElementsAre("patient/Observation.read"));
  EXPECT_THAT(
      Texts(Narrow(ParseScopes("patient/Observation.write"), ParseScopes("patient/*.cruds"))),
      ElementsAre("patient/Observation.write"));
  ScopeSet cu = Narrow(ParseScopes("patient/Observation.write"), ParseScopes("patient/*.cu"));
  EXPECT_THAT(Texts(cu), ElementsAre("patient/Observation.cu"));
  EXPECT_FALSE(cu.resources.at(0).v1);
  EXPECT_TRUE(Narrow(ParseScopes("patient/Observation.read"), ParseScopes("patient/*.cruds"))
                  .resources.at(0)
                  .v1);
  EXPECT_THAT(Texts(Narrow(ParseScopes("patient/Observation.rs"), ParseScopes("patient/*.*"))),
              ElementsAre("patient/Observation.rs"));
}

// Verifies: REQ-AUTH-082
TEST(NarrowTest, GranularQueries) {
  const std::string vs = std::string("?category=") + kVitalSigns;
  // Allowed granular narrows an unrestricted request.
  EXPECT_THAT(Texts(Narrow(ParseScopes("patient/Observation.rs"),
                           ParseScopes("patient/Observation.rs" + vs))),
              ElementsAre("patient/Observation.rs" + vs));
  // A v1 request narrowed to a query becomes v2.
  EXPECT_THAT(
      Texts(Narrow(ParseScopes("patient/*.read"), ParseScopes("patient/Observation.rs" + vs))),
      ElementsAre("patient/Observation.rs" + vs));
  // Requested granular kept under an unrestricted or identical allowed scope.
  EXPECT_THAT(Texts(Narrow(ParseScopes("patient/Observation.rs" + vs), ParseScopes("patient/*.r"))),
              ElementsAre("patient/Observation.r" + vs));
  EXPECT_THAT(Texts(Narrow(ParseScopes("patient/Observation.rs" + vs),
                           ParseScopes("patient/Observation.rs" + vs))),
              ElementsAre("patient/Observation.rs" + vs));
  // Same pairs in another order count as the same query.
  EXPECT_EQ(Narrow(ParseScopes("patient/Observation.rs?a=1&b=2"),
                   ParseScopes("patient/Observation.rs?b=2&a=1"))
                .resources.size(),
            1u);
  // A narrower requested query under a wider allowed one is kept.
  EXPECT_THAT(Texts(Narrow(ParseScopes("patient/Observation.rs?a=1&b=2"),
                           ParseScopes("patient/Observation.rs?a=1"))),
              ElementsAre("patient/Observation.rs?a=1&b=2"));
  // Different queries: nothing.
  EXPECT_THAT(Narrow(ParseScopes("patient/Observation.rs?category=laboratory"),
                     ParseScopes("patient/Observation.rs" + vs))
                  .resources,
              IsEmpty());
}

// Verifies: REQ-AUTH-081
TEST(NarrowTest, ContextsNeverMix) {
  EXPECT_THAT(Narrow(ParseScopes("user/Observation.rs"), ParseScopes("patient/*.cruds")).resources,
              IsEmpty());
  EXPECT_THAT(
      Narrow(ParseScopes("patient/Observation.rs"), ParseScopes("system/*.cruds")).resources,
      IsEmpty());
}

// Verifies: REQ-AUTH-081
TEST(NarrowTest, FlagsNeedBothSides) {
  ScopeSet got =
      Narrow(ParseScopes("openid fhirUser launch/patient offline_access profile launch"),
             ParseScopes("openid fhirUser launch/patient online_access launch/encounter launch"));
  EXPECT_EQ(ToString(got), "launch launch/patient openid fhirUser");
  for (const char* flag : {"openid", "fhirUser", "profile", "offline_access", "online_access",
                           "sund/synth", "launch", "launch/patient", "launch/encounter"}) {
    EXPECT_EQ(ToString(Narrow(ParseScopes(flag), ParseScopes(flag))), flag);
    EXPECT_EQ(ToString(Narrow(ParseScopes(flag), ParseScopes("patient/*.cruds"))), "") << flag;
    EXPECT_EQ(ToString(Narrow(ParseScopes("patient/*.rs"), ParseScopes(flag))), "") << flag;
  }
}

// --- Property checks against an independent model -----------------------------------------
//
// A point is one concrete access: context, type, one permission, and the search-parameter
// values the resource has. A scope covers a point when context and permission match, its type
// is the point's or "*", and every pair of its query is among the resource's values.
struct Point {
  ScopeContext ctx;
  std::string type;
  unsigned perm;
  ScopeQuery values;
};

bool Covers(const ScopeSet& s, const Point& p) {
  for (const ResourceScope& r : s.resources) {
    if (r.context != p.ctx || !(r.perms & p.perm) || (r.type != "*" && r.type != p.type)) continue;
    bool all = true;
    for (const auto& pair : r.query) {
      bool found = false;
      for (const auto& v : p.values) found = found || v == pair;
      all = all && found;
    }
    if (all) return true;
  }
  return false;
}

std::vector<Point> AllPoints() {
  std::vector<Point> points;
  const std::vector<ScopeQuery> values = {
      {}, {{"category", "vs"}}, {{"category", "lab"}}, {{"category", "vs"}, {"code", "x"}}};
  for (ScopeContext ctx : {ScopeContext::kPatient, ScopeContext::kUser}) {
    // "Future" stands for a type that no specific scope in the pool names.
    for (const char* type : {"Observation", "Condition", "Future"}) {
      for (unsigned perm = 1; perm <= kSearch; perm <<= 1) {
        for (const ScopeQuery& v : values) points.push_back({ctx, type, perm, v});
      }
    }
  }
  return points;
}

std::vector<std::string> SmallSubsets(const std::vector<std::string>& pool) {
  std::vector<std::string> out = {""};
  for (size_t i = 0; i < pool.size(); ++i) {
    out.push_back(pool[i]);
    for (size_t j = i + 1; j < pool.size(); ++j) out.push_back(pool[i] + " " + pool[j]);
  }
  return out;
}

bool HasQuery(const ScopeSet& s) {
  for (const ResourceScope& r : s.resources) {
    if (!r.query.empty()) return true;
  }
  return false;
}

// Verifies: REQ-AUTH-081, REQ-AUTH-084
TEST(NarrowPropertyTest, NeverWiderThanEitherSideAndExactWithoutQueries) {
  const std::vector<std::string> pool = {
      "patient/*.rs",
      "patient/*.cruds",
      "patient/Observation.rs",
      "patient/Observation.read",
      "patient/Observation.write",
      "patient/Condition.r",
      "patient/Observation.rs?category=vs",
      "patient/Observation.s?category=lab",
      "patient/*.rs?category=vs",
      "patient/Observation.cud?category=vs&code=x",
      "patient/Observation.rs?code=x",
      "user/Observation.rs",
      "user/*.cruds",
  };
  const std::vector<Point> points = AllPoints();
  const std::vector<std::string> sets = SmallSubsets(pool);
  int checked = 0;
  for (const std::string& req_text : sets) {
    ScopeSet req = ParseScopes(req_text);
    for (const std::string& allow_text : sets) {
      ScopeSet allow = ParseScopes(allow_text);
      ScopeSet got = Narrow(req, allow);
      const bool exact = !HasQuery(req) && !HasQuery(allow);
      for (const Point& p : points) {
        bool g = Covers(got, p);
        bool r = Covers(req, p);
        bool a = Covers(allow, p);
        ASSERT_TRUE(!g || (r && a))
            << "requested '" << req_text << "' allowed '" << allow_text << "' granted '"
            << ToString(got) << "' wider at " << p.type << "/" << p.perm;
        if (exact) {
          ASSERT_EQ(g, r && a) << "requested '" << req_text << "' allowed '" << allow_text
                               << "' granted '" << ToString(got) << "' at " << p.type << "/"
                               << p.perm;
        }
      }
      ASSERT_TRUE(IsSubset(got, req)) << req_text << " | " << allow_text;
      ASSERT_TRUE(IsSubset(got, allow)) << req_text << " | " << allow_text;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 92 * 92);
}

// Verifies: REQ-AUTH-084
TEST(IsSubsetPropertyTest, SoundAndExactWithoutQueries) {
  const std::vector<std::string> pool = {
      "patient/*.rs",
      "patient/*.c",
      "patient/Observation.rs",
      "patient/Observation.cruds",
      "patient/Condition.read",
      "patient/Condition.s",
      "patient/Observation.rs?category=vs",
      "patient/*.r?category=vs",
      "user/Observation.rs",
  };
  const std::vector<Point> points = AllPoints();
  const std::vector<std::string> sets = SmallSubsets(pool);
  for (const std::string& a_text : sets) {
    ScopeSet a = ParseScopes(a_text);
    for (const std::string& b_text : sets) {
      ScopeSet b = ParseScopes(b_text);
      bool model = true;
      for (const Point& p : points) model = model && (!Covers(a, p) || Covers(b, p));
      bool got = IsSubset(a, b);
      if (got) {
        ASSERT_TRUE(model) << a_text << " | " << b_text;
      }
      if (!HasQuery(a) && !HasQuery(b)) {
        ASSERT_EQ(got, model) << a_text << " | " << b_text;
      }
    }
  }
}

// Verifies: REQ-AUTH-084
TEST(IsSubsetTest, RefusesEscalation) {
  auto subset = [](std::string_view a, std::string_view b) {
    return IsSubset(ParseScopes(a), ParseScopes(b));
  };
  EXPECT_TRUE(subset("patient/Observation.rs", "patient/*.rs"));
  EXPECT_FALSE(subset("patient/*.rs", "patient/Observation.rs"));
  EXPECT_FALSE(subset("patient/*.rs", "patient/Observation.rs patient/Condition.rs"));
  EXPECT_FALSE(subset("user/Observation.rs", "patient/Observation.rs"));
  EXPECT_FALSE(subset("patient/Observation.rs", "user/Observation.rs"));
  EXPECT_FALSE(subset("system/Observation.r", "user/*.cruds"));
  EXPECT_FALSE(subset("patient/Observation.rs", "patient/Observation.r"));
  EXPECT_TRUE(subset("patient/Observation.r patient/Observation.s", "patient/Observation.rs"));
  EXPECT_TRUE(subset("patient/Observation.rs", "patient/Observation.r patient/*.s"));
  EXPECT_TRUE(subset("patient/Observation.read", "patient/Observation.rs"));
  EXPECT_TRUE(subset("patient/Observation.rs", "patient/Observation.read"));
  EXPECT_FALSE(subset("patient/Observation.write", "patient/Observation.read"));
  EXPECT_FALSE(subset("patient/Observation.c", "patient/Observation.read"));
  // Granular: dropping the query is an escalation; adding one is not.
  EXPECT_FALSE(subset("patient/Observation.rs", "patient/Observation.rs?category=vs"));
  EXPECT_TRUE(subset("patient/Observation.rs?category=vs", "patient/Observation.rs"));
  EXPECT_TRUE(
      subset("patient/Observation.rs?category=vs&code=x", "patient/Observation.rs?category=vs"));
  EXPECT_FALSE(subset("patient/Observation.rs?category=lab", "patient/Observation.rs?category=vs"));
  // Flags and unknown scopes.
  EXPECT_FALSE(subset("offline_access", "openid fhirUser"));
  EXPECT_FALSE(subset("launch/patient", "launch"));
  EXPECT_TRUE(subset("openid", "openid fhirUser offline_access"));
  EXPECT_FALSE(subset("foo", "patient/*.cruds"));
  EXPECT_TRUE(subset("", ""));
}

// Verifies: REQ-AUTH-085
TEST(AccessTest, RulesForMergesMatchingScopes) {
  ScopeSet s = ParseScopes(
      "patient/Observation.rs?category=vs patient/Observation.r?category=lab "
      "patient/Observation.c patient/*.s user/Condition.cruds patient/Condition.d");
  AccessRule obs = RulesFor(s, ScopeContext::kPatient, "Observation");
  EXPECT_EQ(obs.perms, unsigned{kRead | kSearch | kCreate});
  EXPECT_EQ(obs.unrestricted, unsigned{kCreate | kSearch});
  ASSERT_EQ(obs.granular.size(), 2u);
  EXPECT_EQ(obs.granular[0].perms, unsigned{kRead | kSearch});
  EXPECT_THAT(obs.granular[0].query, ElementsAre(Pair("category", "vs")));

  AccessRule cond = RulesFor(s, ScopeContext::kPatient, "Condition");
  EXPECT_EQ(cond.perms, unsigned{kSearch | kDelete});
  AccessRule user_cond = RulesFor(s, ScopeContext::kUser, "Condition");
  EXPECT_EQ(user_cond.perms, 31u);
  EXPECT_EQ(RulesFor(s, ScopeContext::kSystem, "Condition").perms, 0u);
  // A type-less request matches only wildcard scopes.
  EXPECT_EQ(RulesFor(s, ScopeContext::kPatient, "*").perms, unsigned{kSearch});
}

// Verifies: REQ-AUTH-076, REQ-AUTH-085
TEST(AccessTest, AllowsPerInteraction) {
  ScopeSet s = ParseScopes("patient/Observation.read user/Patient.write");
  EXPECT_TRUE(Allows(s, ScopeContext::kPatient, "Observation", kRead));
  EXPECT_TRUE(Allows(s, ScopeContext::kPatient, "Observation", kSearch));
  EXPECT_FALSE(Allows(s, ScopeContext::kPatient, "Observation", kCreate));
  EXPECT_FALSE(Allows(s, ScopeContext::kPatient, "Observation", kUpdate));
  EXPECT_FALSE(Allows(s, ScopeContext::kPatient, "Condition", kRead));
  EXPECT_FALSE(Allows(s, ScopeContext::kUser, "Observation", kRead));
  EXPECT_TRUE(Allows(s, ScopeContext::kUser, "Patient", kUpdate));
  EXPECT_FALSE(Allows(s, ScopeContext::kUser, "Patient", kRead));
  EXPECT_FALSE(Allows(ParseScopes("patient/*.rs"), ScopeContext::kPatient, "Observation", kDelete));
  EXPECT_TRUE(Allows(ParseScopes("patient/*.rs"), ScopeContext::kPatient, "Basic", kRead));
}

// Verifies: REQ-AUTH-086
TEST(AccessTest, QueriesForDistinguishesDeniedUnrestrictedAndRestricted) {
  ScopeSet s = ParseScopes(
      "patient/Observation.rs?category=vs patient/Observation.r?category=lab "
      "patient/Observation.rs?category=vs patient/Observation.r?category=vs "
      "patient/Observation.c patient/Observation.s?code=x");
  auto read = QueriesFor(s, ScopeContext::kPatient, "Observation", kRead);
  ASSERT_TRUE(read.has_value());
  EXPECT_THAT(*read, ElementsAre(ElementsAre(Pair("category", "vs")),
                                 ElementsAre(Pair("category", "lab"))));
  auto search = QueriesFor(s, ScopeContext::kPatient, "Observation", kSearch);
  ASSERT_TRUE(search.has_value());
  EXPECT_THAT(*search,
              ElementsAre(ElementsAre(Pair("category", "vs")), ElementsAre(Pair("code", "x"))));
  auto create = QueriesFor(s, ScopeContext::kPatient, "Observation", kCreate);
  ASSERT_TRUE(create.has_value());
  EXPECT_THAT(*create, IsEmpty());  // unrestricted
  EXPECT_FALSE(QueriesFor(s, ScopeContext::kPatient, "Observation", kDelete).has_value());
  EXPECT_FALSE(QueriesFor(s, ScopeContext::kUser, "Observation", kRead).has_value());
  EXPECT_FALSE(QueriesFor(s, ScopeContext::kPatient, "Condition", kRead).has_value());

  // An unrestricted scope for the same permission lifts the restriction.
  ScopeSet wide = ParseScopes("patient/Observation.rs?category=vs patient/*.r");
  auto wide_read = QueriesFor(wide, ScopeContext::kPatient, "Observation", kRead);
  ASSERT_TRUE(wide_read.has_value());
  EXPECT_THAT(*wide_read, IsEmpty());
  auto wide_search = QueriesFor(wide, ScopeContext::kPatient, "Observation", kSearch);
  ASSERT_TRUE(wide_search.has_value());
  EXPECT_EQ(wide_search->size(), 1u);
}

// Verifies: REQ-AUTH-087
TEST(DescribeScopesTest, EnglishLines) {
  ScopeSet s = ParseScopes(std::string("openid fhirUser patient/Observation.rs offline_access "
                                       "patient/*.rs patient/Observation.rs?category=") +
                           kVitalSigns +
                           " patient/Condition.rs?code=http://snomed.info/sct|44054006 "
                           "user/Observation.write patient/Basic.r foo");
  EXPECT_THAT(
      DescribeScopes(s, "en"),
      ElementsAre("Know who you are (your name and role)",
                  "Read and search your observations (measurements and test results)",
                  "Read and search all your health data, including types added later",
                  "Read and search your observations (measurements and test results), only "
                  "vital signs",
                  "Read and search your conditions (diagnoses and health problems), only entries "
                  "matching code = http://snomed.info/sct|44054006",
                  "Create, update and delete observations (measurements and test results) that "
                  "you have access to",
                  "Read your Basic records",
                  "Stay connected when you are not using the app (offline access, until you "
                  "revoke it)"));
}

// Verifies: REQ-AUTH-087
TEST(DescribeScopesTest, DanishLines) {
  ScopeSet s = ParseScopes(std::string("openid patient/Observation.rs patient/*.rs "
                                       "patient/Observation.rs?category=") +
                           kVitalSigns +
                           " patient/Observation.write patient/Observation.u patient/*.cruds "
                           "offline_access");
  EXPECT_THAT(
      DescribeScopes(s, "da"),
      ElementsAre("Vide, hvem du er (dit navn og din rolle)",
                  "Læse og søge i dine målinger og prøvesvar (Observation)",
                  "Læse og søge i alle dine sundhedsdata, også typer der tilføjes senere",
                  "Læse og søge i dine målinger og prøvesvar (Observation), kun vitale parametre",
                  "Oprette, ændre og slette dine målinger og prøvesvar (Observation)",
                  "Ændre dine målinger og prøvesvar (Observation)",
                  "Læse, oprette, ændre, slette og søge i alle dine sundhedsdata, også typer der "
                  "tilføjes senere",
                  "Forblive forbundet, når du ikke bruger appen (offline adgang, indtil du "
                  "tilbagekalder den)"));
}

// Verifies: REQ-AUTH-087
TEST(DescribeScopesTest, WildcardsMentionFutureTypesInEveryContext) {
  for (const char* text : {"patient/*.rs", "user/*.cruds", "system/*.read"}) {
    ScopeSet s = ParseScopes(text);
    auto en = DescribeScopes(s, "en");
    auto da = DescribeScopes(s, "da");
    ASSERT_EQ(en.size(), 1u) << text;
    ASSERT_EQ(da.size(), 1u) << text;
    EXPECT_THAT(en[0], HasSubstr("including types added later")) << text;
    EXPECT_THAT(da[0], HasSubstr("også typer der tilføjes senere")) << text;
  }
}

// Verifies: REQ-AUTH-087
TEST(DescribeScopesTest, CommonTypesHaveTheirOwnWords) {
  for (const char* type :
       {"Patient", "Observation", "Condition", "MedicationRequest", "MedicationStatement",
        "AllergyIntolerance", "Immunization", "Encounter", "Procedure", "DiagnosticReport",
        "DocumentReference", "CarePlan", "Consent", "Device", "Practitioner", "Organization"}) {
    for (const char* ctx : {"patient", "user", "system"}) {
      ScopeSet s = ParseScopes(std::string(ctx) + "/" + type + ".rs");
      auto en = DescribeScopes(s, "en");
      auto da = DescribeScopes(s, "da");
      ASSERT_EQ(en.size(), 1u);
      ASSERT_EQ(da.size(), 1u);
      EXPECT_THAT(en[0], ::testing::StartsWith("Read and search ")) << type;
      EXPECT_THAT(da[0], ::testing::StartsWith("Læse og søge i ")) << type;
      EXPECT_THAT(en[0], ::testing::Not(HasSubstr(" records"))) << type;
      EXPECT_THAT(da[0], ::testing::Not(HasSubstr("data af typen"))) << type;
    }
  }
}

// Verifies: REQ-AUTH-087
TEST(DescribeScopesTest, ContextFlagsAndOtherScopes) {
  ScopeSet s = ParseScopes("launch launch/patient launch/encounter online_access bogus/scope");
  auto en = DescribeScopes(s, "en");
  EXPECT_EQ(en.size(), 4u);
  EXPECT_THAT(en, ::testing::Contains("Know which patient's data you have chosen"));
  auto da = DescribeScopes(s, "da");
  EXPECT_EQ(da.size(), 4u);
  EXPECT_THAT(da, ::testing::Contains("Vide, hvilken patients data du har valgt"));
  EXPECT_THAT(DescribeScopes(ParseScopes("bogus"), "en"), IsEmpty());
}

}  // namespace
}  // namespace sund::auth
