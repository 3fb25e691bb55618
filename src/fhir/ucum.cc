#include "fhir/ucum.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

#include "core/json.h"
#include "fhir/embedded_data.h"

namespace sund::fhir {
namespace {

// Base-unit code -> exponent, sorted by code; never holds a zero exponent.
using Dims = std::map<std::string, int, std::less<>>;

struct Ratio {
  double factor = 1;
  Dims dims;

  // *this *= other^power
  void Multiply(const Ratio& other, int power) {
    factor *= std::pow(other.factor, power);
    for (const auto& [code, exp] : other.dims) {
      int& e = dims[code];
      e += exp * power;
      if (e == 0) dims.erase(code);
    }
  }
};

// Conversion functions of UCUM's special (non-ratio) units, by the names the essence file uses.
enum class Function {
  kNone,
  kCel,
  kDegF,
  kDegRe,
  kTanTimes100,
  k100Tan,
  kHpX,
  kHpC,
  kHpM,
  kHpQ,
  kPH,
  kLn,
  kLg,
  kLgTimes2,
  kLd,
  kSqrt,
  kUnknown
};

Function ParseFunction(std::string_view name) {
  static constexpr std::pair<std::string_view, Function> kNames[] = {
      {"Cel", Function::kCel},
      {"degF", Function::kDegF},
      {"degRe", Function::kDegRe},
      {"tanTimes100", Function::kTanTimes100},
      {"100tan", Function::k100Tan},
      {"hpX", Function::kHpX},
      {"hpC", Function::kHpC},
      {"hpM", Function::kHpM},
      {"hpQ", Function::kHpQ},
      {"pH", Function::kPH},
      {"ln", Function::kLn},
      {"lg", Function::kLg},
      {"lgTimes2", Function::kLgTimes2},
      {"ld", Function::kLd},
      {"sqrt", Function::kSqrt},
  };
  for (const auto& [n, f] : kNames) {
    if (n == name) return f;
  }
  return Function::kUnknown;
}

// A value on the special unit's scale -> a multiple of its scale unit (the function's "unit" in
// the table, e.g. 1 K for Cel, 5/9 K for degF, 1 deg for the prism diopter).
double ApplyFunction(Function f, double x) {
  constexpr double kDegPerRad = 180.0 / std::numbers::pi;
  switch (f) {
    case Function::kCel:
      return x + 273.15;
    case Function::kDegF:
      return x + 459.67;
    case Function::kDegRe:
      return x + 273.15 * 4.0 / 5.0;
    case Function::kTanTimes100:
    case Function::k100Tan:
      return std::atan(x / 100.0) * kDegPerRad;
    case Function::kHpX:
      return std::pow(10.0, -x);
    case Function::kHpC:
      return std::pow(100.0, -x);
    case Function::kHpM:
      return std::pow(1000.0, -x);
    case Function::kHpQ:
      return std::pow(50000.0, -x);
    case Function::kPH:
      return std::pow(10.0, -x);
    case Function::kLn:
      return std::exp(x);
    case Function::kLg:
      return std::pow(10.0, x);
    case Function::kLgTimes2:
      return std::pow(10.0, x / 2.0);
    case Function::kLd:
      return std::pow(2.0, x);
    case Function::kSqrt:
      return x * x;
    case Function::kNone:
    case Function::kUnknown:
      break;
  }
  return std::nan("");
}

struct Atom {
  bool metric = false;
  bool arbitrary = false;
  Function function = Function::kNone;  // kNone for ratio units
  double def_factor = 1;
  std::string def_unit;
  enum class State { kPending, kResolved, kFailed } state = State::kPending;
  Ratio ratio;  // 1 of this unit in base units (special units: their scale unit)
};

std::string Quote(std::string_view unit) {
  constexpr std::size_t kMax = 64;
  std::string out = "'";
  out.append(unit.substr(0, kMax));
  if (unit.size() > kMax) out.append("...");
  out.append("'");
  return out;
}

std::string DimsToString(const Dims& dims) {
  if (dims.empty()) return "1";
  std::string out;
  for (const auto& [code, exp] : dims) {
    if (!out.empty()) out.push_back('.');
    out.append(code);
    if (exp != 1) out.append(std::to_string(exp));
  }
  return out;
}

}  // namespace

struct Ucum::Table {
  std::vector<std::pair<std::string, double>> prefixes;  // longest code first
  std::map<std::string, Atom, std::less<>> atoms;
};

namespace {

// The result of parsing one expression.
struct Expr {
  Ratio ratio;
  const Atom* special = nullptr;  // set when the expression is one special unit
  double special_prefix = 1;
};

// Recursive-descent parser of the UCUM grammar (case-sensitive codes):
//   term      := '/' component | term '.' component | term '/' component | component
//   component := '(' term ')' | annotation | simple [annotation] | digits [annotation]
//   simple    := [prefix] atom [['+'|'-'] digits]
// While the table loads, atoms whose definition is not yet resolved make the parse "blocked".
class Parser {
 public:
  Parser(const Ucum::Table& table, std::string_view text) : table_(table), text_(text) {}

  Result<Expr> Parse() {
    if (text_.empty()) return InvalidArgument("empty UCUM unit");
    Expr expr;
    SUND_RETURN_IF_ERROR(ParseTerm(expr.ratio, 0));
    if (pos_ != text_.size()) return Error("unexpected character");
    if (special_ != nullptr) {
      if (components_ != 1 || inverted_) {
        return Error("a special unit (such as Cel or [pH]) cannot be part of a larger expression");
      }
      expr.special = special_;
      expr.special_prefix = special_prefix_;
    }
    return expr;
  }

  bool blocked() const { return blocked_; }

 private:
  static constexpr int kMaxDepth = 16;

  Status Error(std::string_view what) const {
    return InvalidArgument("invalid UCUM unit " + Quote(text_) + ": " + std::string(what));
  }
  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return AtEnd() ? '\0' : text_[pos_]; }

  Status ParseTerm(Ratio& acc, int depth) {
    if (depth > kMaxDepth) return Error("too deeply nested");
    int power = 1;
    if (Peek() == '/') {
      ++pos_;
      power = -1;
      inverted_ = true;
    }
    while (true) {
      SUND_RETURN_IF_ERROR(ParseComponent(acc, power, depth));
      char c = Peek();
      if (c != '.' && c != '/') return Status::Ok();
      ++pos_;
      power = c == '/' ? -1 : 1;
      if (power < 0) inverted_ = true;
    }
  }

  Status ParseComponent(Ratio& acc, int power, int depth) {
    ++components_;
    char c = Peek();
    if (c == '(') {
      ++pos_;
      Ratio inner;
      SUND_RETURN_IF_ERROR(ParseTerm(inner, depth + 1));
      if (Peek() != ')') return Error("missing ')'");
      ++pos_;
      acc.Multiply(inner, power);
      return Status::Ok();
    }
    if (c == '{') return SkipAnnotation();
    std::string_view symbol;
    SUND_RETURN_IF_ERROR(ReadSymbol(symbol));
    if (Peek() == '{') SUND_RETURN_IF_ERROR(SkipAnnotation());

    if (symbol.find_first_not_of("0123456789") == std::string_view::npos) {
      // An integer factor.
      const std::string digits(symbol);
      Ratio factor;
      factor.factor = std::strtod(digits.c_str(), nullptr);
      acc.Multiply(factor, power);
      return Status::Ok();
    }

    // Split off a trailing exponent: "m2", "s-1", "10*-3".
    std::size_t end = symbol.size();
    while (end > 0 && symbol[end - 1] >= '0' && symbol[end - 1] <= '9') --end;
    int exponent = 1;
    bool has_exponent = false;
    std::string_view atom_text = symbol;
    if (end < symbol.size()) {
      std::size_t digits_start = end;
      int sign = 1;
      if (end > 0 && (symbol[end - 1] == '-' || symbol[end - 1] == '+')) {
        sign = symbol[end - 1] == '-' ? -1 : 1;
        --end;
      }
      if (end == 0) return Error("exponent without a unit");
      std::string_view digits = symbol.substr(digits_start);
      if (digits.size() > 3) return Error("exponent too large");
      exponent = sign * std::atoi(std::string(digits).c_str());
      if (exponent == 0) return Error("zero exponent");
      has_exponent = true;
      atom_text = symbol.substr(0, end);
    }

    double prefix = 1;
    const Atom* atom = nullptr;
    SUND_RETURN_IF_ERROR(Lookup(atom_text, atom, prefix));
    if (atom->function != Function::kNone) {
      if (has_exponent) return Error("a special unit cannot take an exponent");
      special_ = atom;
      special_prefix_ = prefix;
      return Status::Ok();  // its value is converted by Canonicalize
    }
    Ratio unit;
    unit.factor = prefix;
    unit.Multiply(atom->ratio, 1);
    acc.Multiply(unit, power * exponent);
    return Status::Ok();
  }

  // Reads up to the next operator, parenthesis or annotation outside square brackets.
  Status ReadSymbol(std::string_view& out) {
    const std::size_t start = pos_;
    int brackets = 0;
    while (!AtEnd()) {
      char c = text_[pos_];
      if (c < 0x21 || c > 0x7e) return Error("character not allowed in a unit");
      if (brackets == 0 && (c == '.' || c == '/' || c == '(' || c == ')' || c == '{' || c == '}')) {
        break;
      }
      if (c == '[') ++brackets;
      if (c == ']') {
        if (brackets == 0) return Error("unbalanced ']'");
        --brackets;
      }
      ++pos_;
    }
    if (brackets != 0) return Error("missing ']'");
    if (pos_ == start) return Error("expected a unit");
    out = text_.substr(start, pos_ - start);
    return Status::Ok();
  }

  Status SkipAnnotation() {
    ++pos_;  // '{'
    while (!AtEnd() && text_[pos_] != '}') {
      char c = text_[pos_];
      if (c < 0x20 || c > 0x7e || c == '{') return Error("character not allowed in annotation");
      ++pos_;
    }
    if (AtEnd()) return Error("missing '}'");
    ++pos_;
    return Status::Ok();
  }

  // An atom as written, or a prefix followed by a metric atom.
  Status Lookup(std::string_view text, const Atom*& atom, double& prefix) {
    auto it = table_.atoms.find(text);
    if (it == table_.atoms.end()) {
      for (const auto& [code, factor] : table_.prefixes) {
        if (text.size() <= code.size() || text.substr(0, code.size()) != code) continue;
        auto p = table_.atoms.find(text.substr(code.size()));
        if (p != table_.atoms.end() && p->second.metric) {
          it = p;
          prefix = factor;
          break;
        }
      }
    }
    if (it == table_.atoms.end()) return Error("unknown unit " + Quote(text));
    if (it->second.state == Atom::State::kPending) {
      blocked_ = true;
      return Error("definition not resolved yet");
    }
    if (it->second.state == Atom::State::kFailed) {
      return Error("unit " + Quote(it->first) + " has no usable definition");
    }
    atom = &it->second;
    return Status::Ok();
  }

  const Ucum::Table& table_;
  std::string_view text_;
  std::size_t pos_ = 0;
  int components_ = 0;
  bool inverted_ = false;
  const Atom* special_ = nullptr;
  double special_prefix_ = 1;
  bool blocked_ = false;
};

double NumberOr(const rapidjson::Value& obj, const char* name, double fallback) {
  const rapidjson::Value* v = json::Find(obj, name);
  return v != nullptr && v->IsNumber() ? v->GetDouble() : fallback;
}

bool BoolMember(const rapidjson::Value& obj, const char* name) {
  const rapidjson::Value* v = json::Find(obj, name);
  return v != nullptr && v->IsTrue();
}

}  // namespace

Ucum::Ucum() : table_(std::make_unique<Table>()) {
  const std::string_view text = embedded::UcumTable();
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseFullPrecisionFlag>(text.data(), text.size());
  SUND_CHECK(!doc.HasParseError() && doc.IsObject());
  const rapidjson::Value* prefixes = json::Find(doc, "prefixes");
  const rapidjson::Value* base_units = json::Find(doc, "base_units");
  const rapidjson::Value* units = json::Find(doc, "units");
  SUND_CHECK(prefixes != nullptr && prefixes->IsObject());
  SUND_CHECK(base_units != nullptr && base_units->IsArray());
  SUND_CHECK(units != nullptr && units->IsArray());

  for (auto it = prefixes->MemberBegin(); it != prefixes->MemberEnd(); ++it) {
    SUND_CHECK(it->value.IsNumber());
    table_->prefixes.emplace_back(std::string(json::View(it->name)), it->value.GetDouble());
  }
  std::stable_sort(table_->prefixes.begin(), table_->prefixes.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });

  for (const auto& b : base_units->GetArray()) {
    std::string code(json::GetString(b, "code"));
    SUND_CHECK(!code.empty());
    Atom atom;
    atom.metric = true;
    atom.state = Atom::State::kResolved;
    atom.ratio.dims[code] = 1;
    table_->atoms.emplace(std::move(code), std::move(atom));
  }
  std::vector<std::string> pending;
  for (const auto& u : units->GetArray()) {
    std::string code(json::GetString(u, "code"));
    SUND_CHECK(!code.empty());
    Atom atom;
    atom.metric = BoolMember(u, "metric");
    atom.arbitrary = BoolMember(u, "arbitrary");
    if (BoolMember(u, "special")) atom.function = ParseFunction(json::GetString(u, "function"));
    atom.def_factor = NumberOr(u, "factor", 1);
    atom.def_unit = std::string(json::GetString(u, "unit"));
    if (atom.arbitrary && atom.def_unit == "1") {
      // An arbitrary unit is its own dimension: commensurable only with itself.
      atom.state = Atom::State::kResolved;
      atom.ratio.dims[code] = 1;
    } else if (atom.function == Function::kUnknown) {
      atom.state = Atom::State::kFailed;
    } else {
      pending.push_back(code);
    }
    table_->atoms.emplace(std::move(code), std::move(atom));
  }

  // Resolve definitions in dependency order: each pass resolves the units whose definitions use
  // resolved units only; what is left when a pass makes no progress is circular.
  bool progress = true;
  while (!pending.empty() && progress) {
    progress = false;
    std::vector<std::string> still;
    for (const std::string& code : pending) {
      Atom& atom = table_->atoms.find(code)->second;
      Ratio scale;
      if (atom.def_unit == "1") {
        scale.factor = 1;
      } else {
        Parser parser(*table_, atom.def_unit);
        auto expr = parser.Parse();
        if (!expr.ok()) {
          if (parser.blocked()) {
            still.push_back(code);
          } else {
            atom.state = Atom::State::kFailed;
          }
          continue;
        }
        if (expr->special != nullptr) {
          atom.state = Atom::State::kFailed;
          continue;
        }
        scale = expr->ratio;
      }
      atom.ratio.factor = atom.def_factor;
      atom.ratio.Multiply(scale, 1);
      atom.state = Atom::State::kResolved;
      progress = true;
    }
    pending = std::move(still);
  }
  for (const std::string& code : pending)
    table_->atoms.find(code)->second.state = Atom::State::kFailed;
}

Ucum::~Ucum() = default;

const Ucum& Ucum::Get() {
  static const Ucum* const ucum = new Ucum();  // never destroyed: safe during shutdown
  return *ucum;
}

Result<CanonicalQuantity> Ucum::Canonicalize(double value, std::string_view unit) const {
  if (!std::isfinite(value)) return InvalidArgument("quantity value is not a finite number");
  Parser parser(*table_, unit);
  SUND_ASSIGN_OR_RETURN(Expr expr, parser.Parse());
  CanonicalQuantity out;
  if (expr.special != nullptr) {
    out.value = ApplyFunction(expr.special->function, value * expr.special_prefix) *
                expr.special->ratio.factor;
    out.unit = DimsToString(expr.special->ratio.dims);
  } else {
    out.value = value * expr.ratio.factor;
    out.unit = DimsToString(expr.ratio.dims);
  }
  if (!std::isfinite(out.value)) {
    return InvalidArgument("quantity in " + Quote(unit) + " is out of range after conversion");
  }
  return out;
}

}  // namespace sund::fhir
