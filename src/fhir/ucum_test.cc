#include "fhir/ucum.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fhir/embedded_data.h"

namespace sund::fhir {
namespace {

constexpr double kRelTol = 1e-12;

bool Near(double a, double b, double rel = kRelTol) {
  return std::fabs(a - b) <= rel * std::max(std::fabs(a), std::fabs(b));
}

CanonicalQuantity Canon(double value, std::string_view unit) {
  auto r = Ucum::Get().Canonicalize(value, unit);
  EXPECT_TRUE(r.ok()) << unit << ": " << r.status().ToString();
  return r.ok() ? *r : CanonicalQuantity{std::nan(""), "?"};
}

// Checks one conversion; failures name the unit expression.
void ExpectCanon(double value, std::string_view unit, double want_value,
                 std::string_view want_unit) {
  CanonicalQuantity q = Canon(value, unit);
  EXPECT_EQ(q.unit, want_unit) << unit;
  EXPECT_TRUE(Near(q.value, want_value)) << unit << ": " << q.value << " want " << want_value;
}

// Verifies: REQ-FHIR-047
TEST(UcumTest, EmbeddedTableKeepsTheNotice) {
  std::string_view table = embedded::UcumTable();
  EXPECT_NE(table.find("\"notice\""), std::string_view::npos);
  EXPECT_NE(table.find("Regenstrief Institute"), std::string_view::npos);
}

// Verifies: REQ-FHIR-040
TEST(UcumTest, BaseAndPrefixedUnits) {
  ExpectCanon(1, "g", 1, "g");
  ExpectCanon(1, "mg", 1e-3, "g");
  ExpectCanon(2.5, "kg", 2500, "g");
  ExpectCanon(1, "ug", 1e-6, "g");
  ExpectCanon(1, "cm", 0.01, "m");
  ExpectCanon(1, "dam", 10, "m");           // two-letter prefix
  ExpectCanon(1, "KiBy", 1024 * 8, "1");    // binary prefix on byte (8 bit)
  ExpectCanon(1, "cd", 1, "cd");            // candela, not centi-day
  ExpectCanon(1, "Pa", 1000, "g.m-1.s-2");  // pascal, not peta-year
  ExpectCanon(1, "min", 60, "s");
  ExpectCanon(1, "h", 3600, "s");
}

// Verifies: REQ-FHIR-041
TEST(UcumTest, ClinicalConversions) {
  // 1 mg/dL = 10 mg/L = 10 g/m3.
  CanonicalQuantity a = Canon(1, "mg/dL");
  CanonicalQuantity b = Canon(10, "mg/L");
  EXPECT_EQ(a.unit, "g.m-3");
  EXPECT_EQ(a.unit, b.unit);
  EXPECT_TRUE(Near(a.value, b.value));
  EXPECT_TRUE(Near(a.value, 10));
  ExpectCanon(1, "mg/dl", 10, "g.m-3");  // l and L are the same litre
  // mol is a number (6.0221367e23) in UCUM.
  ExpectCanon(1, "mmol/L", 6.0221367e23, "m-3");
  ExpectCanon(5.5, "mmol/L", 5.5 * 6.0221367e23, "m-3");
  ExpectCanon(1, "[lb_av]", 453.59237, "g");
  ExpectCanon(1, "[oz_av]", 453.59237 / 16, "g");
  ExpectCanon(70, "kg", 70000, "g");
  ExpectCanon(24.5, "kg/m2", 24500, "g.m-2");
  ExpectCanon(95, "%", 0.95, "1");
  ExpectCanon(72, "{beats}/min", 72.0 / 60, "s-1");
  ExpectCanon(72, "/min", 72.0 / 60, "s-1");
  ExpectCanon(1, "mm[Hg]", 133.322 * 1000, "g.m-1.s-2");
  ExpectCanon(120, "mm[Hg]", 120 * 133.322 * 1000, "g.m-1.s-2");
  ExpectCanon(1, "10*3/uL", 1e3 / 1e-9, "m-3");
  ExpectCanon(1, "10^9/L", 1e9 / 1e-3, "m-3");
  ExpectCanon(1, "[in_i]", 0.0254, "m");
  ExpectCanon(1, "mL/min/{1.73_m2}", 1e-6 / 60, "m3.s-1");
  ExpectCanon(1, "g{total}", 1, "g");
  ExpectCanon(3, "{score}", 3, "1");
  ExpectCanon(60, "1/min", 1, "s-1");
  ExpectCanon(2, "{#}/[HPF]", 2, "1");
}

// Verifies: REQ-FHIR-042
TEST(UcumTest, ExpressionSyntax) {
  ExpectCanon(1, "m.s-2", 1, "m.s-2");
  ExpectCanon(1, "s-2.m", 1, "m.s-2");  // order of the canonical string is fixed
  ExpectCanon(1, "m/s/s", 1, "m.s-2");  // '/' binds to the next component only
  ExpectCanon(1, "m/s.s", 1, "m");
  ExpectCanon(1, "m/(s.s)", 1, "m.s-2");
  ExpectCanon(1, "/s", 1, "s-1");
  ExpectCanon(1, "m+2", 1, "m2");
  ExpectCanon(1, "4.[pi]", 4 * 3.141592653589793, "1");
  ExpectCanon(1, "100.g", 100, "g");
  ExpectCanon(1, "10*-3", 1e-3, "1");
  ExpectCanon(1, "m/m", 1, "1");
  ExpectCanon(1, "1", 1, "1");
  ExpectCanon(1, "[IU]/L", 1e3, "[iU].m-3");  // arbitrary units are their own dimension
  ExpectCanon(1, "[iU]/mL", 1e6, "[iU].m-3");
}

// Verifies: REQ-FHIR-043
TEST(UcumTest, SpecialUnits) {
  ExpectCanon(37, "Cel", 310.15, "K");
  ExpectCanon(0, "Cel", 273.15, "K");
  ExpectCanon(98.6, "[degF]", 310.15, "K");
  ExpectCanon(32, "[degF]", 273.15, "K");
  ExpectCanon(80, "[degRe]", 373.15, "K");
  ExpectCanon(1, "[degR]", 5.0 / 9, "K");  // Rankine is a ratio unit
  ExpectCanon(7, "[pH]", 1e-7 * 6.0221367e23 / 1e-3, "m-3");
  ExpectCanon(20, "dB", 100, "1");  // prefix on a special unit
  ExpectCanon(1, "Np", std::exp(1.0), "1");
  ExpectCanon(100, "[p'diop]", std::atan(1.0), "rad");
  ExpectCanon(2, "[hp'_X]", 1e-2, "1");
  ExpectCanon(3, "bit_s", 8, "1");
  ExpectCanon(0, "B[10.nV]", 1e-8 * 1000, "C-1.g.m2.s-2");  // 10 nV; V = kg.m2/(s2.C)
  ExpectCanon(2, "B[V]", 10 * 1000, "C-1.g.m2.s-2");
}

// Verifies: REQ-FHIR-044
TEST(UcumTest, Errors) {
  const Ucum& ucum = Ucum::Get();
  const char* bad[] = {
      "",          "foo",
      "m/",        "/",
      "(m",        "m)",
      "m]",        "[m",
      "{abc",      "m 2",
      "m..s",      "k[lb_av]",
      "Cel/h",     "[degF]2",
      "mCel.m",    "(Cel)",
      "/Cel",      "m0",
      "m1234",     "2-",
      "g\xc2\xb5", "((((((((((((((((((((m))))))))))))))))))))",
      "kK{",       "{a{b}}",
  };
  for (const char* unit : bad) {
    auto r = ucum.Canonicalize(1, unit);
    EXPECT_FALSE(r.ok()) << "'" << unit << "' -> " << (r.ok() ? r->unit : "");
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << unit;
    }
  }
  EXPECT_FALSE(ucum.Canonicalize(std::nan(""), "g").ok());
  EXPECT_FALSE(ucum.Canonicalize(INFINITY, "g").ok());
  EXPECT_FALSE(ucum.Canonicalize(1e300, "Tg.Tg").ok());  // overflows after conversion
}

// Verifies: REQ-FHIR-045
TEST(UcumTest, ConcurrentUse) {
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&ok, t] {
      for (int i = 0; i < 200; ++i) {
        auto r = Ucum::Get().Canonicalize(i, "mg/dL");
        if (r.ok() && r->unit == "g.m-3") ++ok[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int n : ok) EXPECT_EQ(n, 200);
}

// The value of attribute `name` in `tag` (the text of one XML start tag), or "".
std::string Attr(std::string_view tag, std::string_view name) {
  std::size_t pos = 0;
  const std::string key = std::string(name) + "=\"";
  while ((pos = tag.find(key, pos)) != std::string_view::npos) {
    if (pos > 0 && std::isspace(static_cast<unsigned char>(tag[pos - 1]))) {
      std::size_t start = pos + key.size();
      std::size_t end = tag.find('"', start);
      if (end == std::string_view::npos) return "";
      return std::string(tag.substr(start, end - start));
    }
    pos += key.size();
  }
  return "";
}

// Every unit of the UCUM essence file: each canonicalises, and (ratio units) its canonical value
// is its definition's value times the canonical value of its definition's unit.
// Verifies: REQ-FHIR-046
TEST(UcumTest, EveryUnitOfTheEssenceTable) {
  const char* dir = std::getenv("SUND_TEST_DATA");
  if (dir == nullptr) GTEST_SKIP() << "SUND_TEST_DATA is not set";
  const std::string path = std::string(dir) + "/fhir-test-cases/ucum-essence.xml";
  std::ifstream in(path);
  if (!in) GTEST_SKIP() << path << " is missing";
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string xml = buf.str();

  const Ucum& ucum = Ucum::Get();
  int units = 0, checked = 0, arbitrary = 0, special = 0;
  std::size_t pos = 0;
  while ((pos = xml.find("<unit ", pos)) != std::string::npos) {
    const std::size_t tag_end = xml.find('>', pos);
    const std::size_t end = xml.find("</unit>", pos);
    ASSERT_NE(tag_end, std::string::npos);
    ASSERT_NE(end, std::string::npos);
    const std::string_view unit_tag(xml.data() + pos, tag_end - pos);
    const std::size_t value_pos = xml.find("<value", pos);
    ASSERT_LT(value_pos, end);
    const std::string_view value_tag(xml.data() + value_pos, xml.find('>', value_pos) - value_pos);
    pos = end;
    ++units;

    const std::string code = Attr(unit_tag, "Code");
    SCOPED_TRACE(code);
    auto canon = ucum.Canonicalize(1, code);
    ASSERT_TRUE(canon.ok()) << canon.status().ToString();
    if (Attr(unit_tag, "isSpecial") == "yes") {
      ++special;
      continue;
    }
    const std::string def_unit = Attr(value_tag, "Unit");
    const double def_value = std::strtod(Attr(value_tag, "value").c_str(), nullptr);
    if (Attr(unit_tag, "isArbitrary") == "yes" && def_unit == "1") {
      ++arbitrary;
      EXPECT_EQ(canon->unit, code);
      continue;
    }
    auto def = ucum.Canonicalize(def_value, def_unit);
    ASSERT_TRUE(def.ok()) << def.status().ToString();
    EXPECT_EQ(canon->unit, def->unit);
    EXPECT_TRUE(Near(canon->value, def->value, 1e-12)) << canon->value << " vs " << def->value;
    ++checked;
  }
  EXPECT_EQ(units, 303);
  std::printf(
      "[ ucum ] %d units: %d checked against their definitions, %d arbitrary, "
      "%d special\n",
      units, checked, arbitrary, special);
}

}  // namespace
}  // namespace sund::fhir
