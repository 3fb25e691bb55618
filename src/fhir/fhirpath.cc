// FHIRPath evaluation (see fhirpath.h). Semantics: http://hl7.org/fhirpath/N1/ with the FHIR
// type model of R4 (http://hl7.org/fhir/R4/fhirpath.html).

#include "fhir/fhirpath.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <limits>
#include <regex>
#include <unordered_set>

#include "fhir/internal/fhirpath_ast.h"
#include "fhir/internal/fhirpath_values.h"
#include "fhir/model.h"

namespace sund::fhir {

using fhirpath_internal::DateTimeValue;
using fhirpath_internal::Node;
using fhirpath_internal::NodeKind;
using fhirpath_internal::SystemValue;
using Collection = std::vector<PathValue>;
using K = SystemValue::Kind;

namespace {

constexpr int kMaxEvalDepth = 400;
constexpr std::size_t kMaxItems = 1 << 20;  // result-size guard (repeat, descendants)

Status EvalError(const Node& n, std::string what) {
  return InvalidArgument("FHIRPath evaluation error at " + std::to_string(n.position) + ": " +
                         std::move(what));
}

PathValue Computed(std::string type, decltype(PathValue::value) v) {
  PathValue p;
  p.type = std::move(type);
  p.value = std::move(v);
  return p;
}
PathValue Bool(bool b) { return Computed("System.Boolean", b); }
PathValue Int(std::int64_t i) { return Computed("System.Integer", i); }
PathValue Dec(double d) { return Computed("System.Decimal", d); }
PathValue Str(std::string s) { return Computed("System.String", std::move(s)); }

std::string Capitalized(std::string_view t) {
  std::string s(t);
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

bool IsUpper(std::string_view s) {
  return !s.empty() && std::isupper(static_cast<unsigned char>(s[0]));
}

const char* kSystemTypes[] = {"Boolean", "String",   "Integer", "Decimal",
                              "Date",    "DateTime", "Time",    "Quantity"};

bool IsSystemTypeName(std::string_view s) {
  return std::find(std::begin(kSystemTypes), std::end(kSystemTypes), s) != std::end(kSystemTypes);
}

// The type of a JSON value found under an element whose model type is `declared`.
std::string ActualType(const rapidjson::Value* node, std::string_view declared) {
  if (node != nullptr && node->IsObject() &&
      (declared == "Resource" || declared.empty() || declared == "DomainResource")) {
    std::string_view rt = json::GetString(*node, "resourceType");
    if (!rt.empty()) return std::string(rt);
  }
  if (!declared.empty()) return std::string(declared);
  if (node == nullptr) return "";
  if (node->IsString()) return "string";
  if (node->IsBool()) return "boolean";
  if (node->IsInt64()) return "integer";
  if (node->IsNumber()) return "decimal";
  return "";
}

// Adds the items of member `key` (and its "_key" sibling) of `obj`, typed `declared`.
void AddMember(const rapidjson::Value& obj, std::string_view key, std::string_view declared,
               Collection* out) {
  const rapidjson::Value* v = json::Find(obj, key);
  std::string ext_key = "_" + std::string(key);
  const rapidjson::Value* ext = json::Find(obj, ext_key);
  if (v == nullptr && ext == nullptr) return;
  auto add = [&](const rapidjson::Value* node, const rapidjson::Value* e) {
    if (node != nullptr && node->IsNull()) node = nullptr;
    if (e != nullptr && !e->IsObject()) e = nullptr;
    if (node == nullptr && e == nullptr) return;
    PathValue p;
    p.node = node;
    p.extension_node = e;
    p.type = ActualType(node, declared);
    out->push_back(std::move(p));
  };
  if ((v != nullptr && v->IsArray()) || (v == nullptr && ext->IsArray())) {
    std::size_t n = v != nullptr && v->IsArray() ? v->Size() : 0;
    std::size_t m = ext != nullptr && ext->IsArray() ? ext->Size() : 0;
    for (std::size_t i = 0; i < std::max(n, m); ++i) {
      add(i < n ? &(*v)[static_cast<rapidjson::SizeType>(i)] : nullptr,
          i < m ? &(*ext)[static_cast<rapidjson::SizeType>(i)] : nullptr);
    }
    return;
  }
  add(v, ext);
}

struct Frame {
  const PathValue* this_item = nullptr;
  std::int64_t index = -1;
  const Collection* total = nullptr;
};

class Evaluator {
 public:
  Evaluator(const rapidjson::Value& resource, const EvaluateOptions& options,
            const Collection& context)
      : model_(Model::R4()), resource_(resource), options_(options), context_(context) {}

  Result<Collection> Eval(const Node& n, const Collection& focus, const Frame& frame) {
    if (++depth_ > kMaxEvalDepth) return EvalError(n, "expression too deep");
    auto r = EvalInner(n, focus, frame);
    --depth_;
    return r;
  }

 private:
  Result<Collection> EvalInner(const Node& n, const Collection& focus, const Frame& frame) {
    switch (n.kind) {
      case NodeKind::kEmpty:
        return Collection{};
      case NodeKind::kBoolean:
        return Collection{Bool(n.boolean)};
      case NodeKind::kString:
        return Collection{Str(n.text)};
      case NodeKind::kInteger:
        return Collection{Int(n.integer)};
      case NodeKind::kDecimal:
        return Collection{Dec(n.number)};
      case NodeKind::kDate:
      case NodeKind::kDateTime:
      case NodeKind::kTime: {
        bool time = n.kind == NodeKind::kTime;
        auto dt = fhirpath_internal::ParseDateTime(n.text, time);
        if (!dt) return EvalError(n, "malformed date/time literal");
        const char* type = time                        ? "System.Time"
                           : n.kind == NodeKind::kDate ? "System.Date"
                                                       : "System.DateTime";
        return Collection{Computed(type, fhirpath_internal::FormatDateTime(*dt))};
      }
      case NodeKind::kQuantity:
        return Collection{Computed("System.Quantity", PathQuantity{n.number, n.text})};
      case NodeKind::kThis:
        if (frame.this_item != nullptr) return Collection{*frame.this_item};
        return focus;
      case NodeKind::kIndex:
        if (frame.index < 0) return Collection{};
        return Collection{Int(frame.index)};
      case NodeKind::kTotal:
        if (frame.total == nullptr) return Collection{};
        return *frame.total;
      case NodeKind::kVariable:
        return Variable(n);
      case NodeKind::kMember: {
        Collection input;
        if (n.target != nullptr) {
          SUND_ASSIGN_OR_RETURN(input, Eval(*n.target, focus, frame));
        } else {
          input = focus;
        }
        return Member(n, input, n.target == nullptr);
      }
      case NodeKind::kFunction: {
        Collection input;
        if (n.target != nullptr) {
          SUND_ASSIGN_OR_RETURN(input, Eval(*n.target, focus, frame));
        } else {
          input = focus;
        }
        return Function(n, input, focus, frame);
      }
      case NodeKind::kIndexer: {
        SUND_ASSIGN_OR_RETURN(Collection input, Eval(*n.target, focus, frame));
        SUND_ASSIGN_OR_RETURN(Collection idx, Eval(*n.right, focus, frame));
        SUND_ASSIGN_OR_RETURN(auto i, IntegerArg(n, idx));
        if (!i || *i < 0 || static_cast<std::size_t>(*i) >= input.size()) return Collection{};
        return Collection{input[static_cast<std::size_t>(*i)]};
      }
      case NodeKind::kUnary: {
        SUND_ASSIGN_OR_RETURN(Collection v, Eval(*n.target, focus, frame));
        if (v.empty()) return v;
        if (v.size() > 1) return EvalError(n, "unary operator on several items");
        SystemValue s = fhirpath_internal::ToSystem(v[0]);
        bool neg = n.text == "-";
        if (s.kind == K::kInteger) return Collection{Int(neg ? -s.integer : s.integer)};
        if (s.kind == K::kDecimal) return Collection{Dec(neg ? -s.decimal : s.decimal)};
        if (s.kind == K::kQuantity) {
          if (neg) s.quantity.value = -s.quantity.value;
          return Collection{Computed("System.Quantity", s.quantity)};
        }
        return EvalError(n, "unary " + n.text + " needs a number");
      }
      case NodeKind::kTypeOp: {
        SUND_ASSIGN_OR_RETURN(Collection v, Eval(*n.target, focus, frame));
        return TypeOperation(n, n.text, n.right->text, v);
      }
      case NodeKind::kBinary:
        return Binary(n, focus, frame);
    }
    return EvalError(n, "unsupported expression");
  }

  // ---- navigation ----

  Result<Collection> Member(const Node& n, const Collection& input, bool first_in_path) {
    Collection out;
    const std::string& name = n.text;
    // An element unknown to every item's type is an error (a misspelt path); in a mixed
    // collection (descendants()) the items that lack it contribute nothing.
    std::optional<Status> unknown;
    bool any_known = false;
    for (const PathValue& item : input) {
      Status st = Navigate(n, item, name, first_in_path, &out);
      if (st.ok()) {
        any_known = true;
      } else if (!unknown) {
        unknown = st;
      }
      if (out.size() > kMaxItems) return EvalError(n, "result too large");
    }
    if (unknown && !any_known) return *unknown;
    return out;
  }

  Status Navigate(const Node& n, const PathValue& item, std::string_view name, bool first_in_path,
                  Collection* out) {
    const rapidjson::Value* node = item.node;
    if (node == nullptr || !node->IsObject()) {
      // A primitive: only its id and extensions, from the "_name" sibling.
      if (item.extension_node != nullptr && (name == "extension" || name == "id")) {
        AddMember(*item.extension_node, name, name == "id" ? "string" : "Extension", out);
        return Status::Ok();
      }
      if (node == nullptr && IsUpper(name) && IsTypeName(name) && IsA(item, name)) {
        out->push_back(item);  // resolve() placeholder filtered by type name
      }
      return Status::Ok();
    }
    const TypeDef* type = model_.FindType(item.type);
    const ElementDef* e = type != nullptr ? model_.FindElement(item.type, name) : nullptr;
    if (e != nullptr) {
      if (e->is_choice) {
        for (const std::string& t : e->types)
          AddMember(*node, std::string(name) + Capitalized(t), t, out);
      } else if (!e->types.empty()) {
        AddMember(*node, name, e->types[0], out);
      }
      return Status::Ok();
    }
    if (IsUpper(name) && IsTypeName(name)) {
      // A type name as path step: `Patient.name` on a Patient (or `Resource.id`).
      if (IsA(item, name)) out->push_back(item);
      return Status::Ok();
    }
    if (type == nullptr) {
      AddMember(*node, name, "", out);  // untyped data: follow the JSON
      return Status::Ok();
    }
    return EvalError(n, "unknown element '" + std::string(name) + "' on type " + item.type);
  }

  bool IsTypeName(std::string_view name) const { return model_.FindType(name) != nullptr; }

  bool IsA(const PathValue& item, std::string_view type) const {
    return !item.type.empty() && model_.IsA(item.type, type);
  }

  // children(): the items of every element present in an object.
  void Children(const PathValue& item, Collection* out) {
    const rapidjson::Value* node = item.node;
    if (node == nullptr || !node->IsObject()) {
      if (item.extension_node != nullptr) {
        AddMember(*item.extension_node, "extension", "Extension", out);
        AddMember(*item.extension_node, "id", "string", out);
      }
      return;
    }
    const TypeDef* type = model_.FindType(item.type);
    for (auto it = node->MemberBegin(); it != node->MemberEnd(); ++it) {
      std::string_view key(it->name.GetString(), it->name.GetStringLength());
      if (key == "resourceType") continue;
      if (!key.empty() && key[0] == '_') {
        if (json::Find(*node, key.substr(1)) != nullptr) continue;  // handled with its value
        key = key.substr(1);
      }
      if (type == nullptr) {
        AddMember(*node, key, "", out);
        continue;
      }
      if (const ElementDef* e = model_.FindElement(item.type, key); e != nullptr) {
        if (!e->is_choice && !e->types.empty()) AddMember(*node, key, e->types[0], out);
        continue;
      }
      bool found = false;
      for (const ElementDef& e : type->elements) {
        if (!e.is_choice || key.size() <= e.name.size() || key.substr(0, e.name.size()) != e.name) {
          continue;
        }
        for (const std::string& t : e.types) {
          if (key.substr(e.name.size()) == Capitalized(t)) {
            AddMember(*node, key, t, out);
            found = true;
            break;
          }
        }
        if (found) break;
      }
      if (!found) AddMember(*node, key, "", out);
    }
  }

  // ---- variables ----

  Result<Collection> Variable(const Node& n) {
    const std::string& v = n.text;
    if (v == "resource" || v == "rootResource") {
      PathValue p;
      p.node = &resource_;
      p.type = ActualType(&resource_, "Resource");
      return Collection{p};
    }
    if (v == "context") return context_;
    if (v == "ucum") return Collection{Str("http://unitsofmeasure.org")};
    if (v == "sct") return Collection{Str("http://snomed.info/sct")};
    if (v == "loinc") return Collection{Str("http://loinc.org")};
    auto it = options_.variables.find(v);
    if (it != options_.variables.end()) return it->second;
    if (v.rfind("vs-", 0) == 0)
      return Collection{Str("http://hl7.org/fhir/ValueSet/" + v.substr(3))};
    if (v.rfind("ext-", 0) == 0) {
      return Collection{Str("http://hl7.org/fhir/StructureDefinition/" + v.substr(4))};
    }
    return EvalError(n, "unknown variable %" + v);
  }

  // ---- helpers ----

  static Result<std::optional<bool>> Boolean(const Node& n, const Collection& c) {
    if (c.empty()) return std::optional<bool>();
    if (c.size() > 1)
      return EvalError(n, "expected a single boolean, got " + std::to_string(c.size()) + " items");
    SystemValue s = fhirpath_internal::ToSystem(c[0]);
    if (s.kind == K::kBoolean) return std::optional<bool>(s.boolean);
    return std::optional<bool>(true);  // singleton evaluation: a single non-boolean item
  }

  static Result<std::optional<std::int64_t>> IntegerArg(const Node& n, const Collection& c) {
    if (c.empty()) return std::optional<std::int64_t>();
    if (c.size() > 1) return EvalError(n, "expected a single integer");
    SystemValue s = fhirpath_internal::ToSystem(c[0]);
    if (s.kind != K::kInteger) return EvalError(n, "expected an integer");
    return std::optional<std::int64_t>(s.integer);
  }

  // A single string input or argument; nullopt when empty.
  static Result<std::optional<std::string>> StringOf(const Node& n, const Collection& c) {
    if (c.empty()) return std::optional<std::string>();
    if (c.size() > 1) return EvalError(n, n.text + "() expects a single string");
    SystemValue s = fhirpath_internal::ToSystem(c[0]);
    if (s.kind != K::kString) return EvalError(n, n.text + "() expects a string");
    return std::optional<std::string>(s.string);
  }

  Result<Collection> Arg(const Node& n, std::size_t i, const Collection& focus,
                         const Frame& frame) {
    return Eval(*n.args[i], focus, frame);
  }

  static bool Contains(const Collection& c, const PathValue& v) {
    for (const PathValue& x : c) {
      auto eq = fhirpath_internal::ItemEquals(x, v);
      if (eq.has_value() && *eq) return true;
    }
    return false;
  }

  static Collection Distinct(const Collection& c) {
    Collection out;
    for (const PathValue& v : c) {
      if (!Contains(out, v)) out.push_back(v);
    }
    return out;
  }

  // ---- types ----

  Result<bool> MatchesType(const Node& n, const PathValue& item, std::string_view type) {
    std::string_view name = type;
    bool system = false, fhir = false;
    if (name.rfind("System.", 0) == 0) {
      name.remove_prefix(7);
      system = true;
    } else if (name.rfind("FHIR.", 0) == 0) {
      name.remove_prefix(5);
      fhir = true;
    }
    bool is_fhir_type = model_.FindType(name) != nullptr;
    if (!system && is_fhir_type) {
      if (item.type.rfind("System.", 0) == 0) return false;
      const TypeDef* t = model_.FindType(item.type);
      if (t != nullptr && t->kind == TypeKind::kPrimitive) return item.type == name;
      return IsA(item, name);
    }
    if (system && !IsSystemTypeName(name)) return false;
    if (!fhir && IsSystemTypeName(name)) {
      return item.type == "System." + std::string(name);
    }
    return EvalError(n, "unknown type " + std::string(type));
  }

  Result<Collection> TypeOperation(const Node& n, std::string_view op, std::string_view type,
                                   const Collection& input) {
    if (type.empty())
      return EvalError(n, op == "ofType" ? "ofType() needs a type name" : "missing type name");
    if (op == "is") {
      if (input.empty()) return Collection{};
      if (input.size() > 1) return EvalError(n, "'is' on several items");
      SUND_ASSIGN_OR_RETURN(bool m, MatchesType(n, input[0], type));
      return Collection{Bool(m)};
    }
    // as / ofType: keep the items of that type (as on several items is lenient, as R4's
    // search-parameter expressions need).
    Collection out;
    for (const PathValue& v : input) {
      SUND_ASSIGN_OR_RETURN(bool m, MatchesType(n, v, type));
      if (m) out.push_back(v);
    }
    return out;
  }

  // ---- operators ----

  Result<Collection> Binary(const Node& n, const Collection& focus, const Frame& frame) {
    const std::string& op = n.text;
    SUND_ASSIGN_OR_RETURN(Collection l, Eval(*n.target, focus, frame));
    if (op == "and" || op == "or" || op == "xor" || op == "implies") {
      SUND_ASSIGN_OR_RETURN(auto a, Boolean(n, l));
      // Short-circuit where the answer is already known.
      if (op == "and" && a.has_value() && !*a) return Collection{Bool(false)};
      if (op == "or" && a.has_value() && *a) return Collection{Bool(true)};
      if (op == "implies" && a.has_value() && !*a) return Collection{Bool(true)};
      SUND_ASSIGN_OR_RETURN(Collection r, Eval(*n.right, focus, frame));
      SUND_ASSIGN_OR_RETURN(auto b, Boolean(n, r));
      if (op == "and") {
        if (b.has_value() && !*b) return Collection{Bool(false)};
        if (a.has_value() && b.has_value()) return Collection{Bool(true)};
        return Collection{};
      }
      if (op == "or") {
        if (b.has_value() && *b) return Collection{Bool(true)};
        if (a.has_value() && b.has_value()) return Collection{Bool(false)};
        return Collection{};
      }
      if (op == "xor") {
        if (!a.has_value() || !b.has_value()) return Collection{};
        return Collection{Bool(*a != *b)};
      }
      // implies, a is true or empty
      if (b.has_value() && *b) return Collection{Bool(true)};
      if (a.has_value() && b.has_value()) return Collection{Bool(false)};
      return Collection{};
    }
    SUND_ASSIGN_OR_RETURN(Collection r, Eval(*n.right, focus, frame));
    if (op == "|") {
      l.insert(l.end(), r.begin(), r.end());
      return Distinct(l);
    }
    if (op == "=" || op == "!=") {
      if (l.empty() || r.empty()) return Collection{};
      if (l.size() != r.size()) return Collection{Bool(op == "!=")};
      for (std::size_t i = 0; i < l.size(); ++i) {
        auto eq = fhirpath_internal::ItemEquals(l[i], r[i]);
        if (!eq.has_value()) return Collection{};
        if (!*eq) return Collection{Bool(op == "!=")};
      }
      return Collection{Bool(op == "=")};
    }
    if (op == "~" || op == "!~") {
      bool eq = l.size() == r.size();
      for (std::size_t i = 0; eq && i < l.size(); ++i) {
        bool any = false;
        for (const PathValue& x : r) any = any || fhirpath_internal::ItemEquivalent(l[i], x);
        eq = any;
      }
      return Collection{Bool(op == "~" ? eq : !eq)};
    }
    if (op == "in" || op == "contains") {
      const Collection& needle = op == "in" ? l : r;
      const Collection& hay = op == "in" ? r : l;
      if (needle.empty()) return Collection{};
      if (needle.size() > 1) return EvalError(n, "'" + op + "' needs a single item");
      return Collection{Bool(Contains(hay, needle[0]))};
    }
    if (op == "&") {
      std::string s;
      for (const Collection* c : {&l, &r}) {
        if (c->empty()) continue;
        if (c->size() > 1) return EvalError(n, "'&' on several items");
        auto str = PathValueToString((*c)[0]);
        if (str) s += *str;
      }
      return Collection{Str(std::move(s))};
    }
    if (l.empty() || r.empty()) return Collection{};
    if (l.size() > 1 || r.size() > 1) return EvalError(n, "'" + op + "' needs single items");
    if (op == "<" || op == ">" || op == "<=" || op == ">=") {
      SUND_ASSIGN_OR_RETURN(auto c, fhirpath_internal::ItemCompare(l[0], r[0]));
      if (!c.has_value()) return Collection{};
      bool res = op == "<" ? *c < 0 : op == ">" ? *c > 0 : op == "<=" ? *c <= 0 : *c >= 0;
      return Collection{Bool(res)};
    }
    return Arithmetic(n, op, fhirpath_internal::ToSystem(l[0]), fhirpath_internal::ToSystem(r[0]));
  }

  Result<Collection> Arithmetic(const Node& n, const std::string& op, const SystemValue& a,
                                const SystemValue& b) {
    bool a_num = a.kind == K::kInteger || a.kind == K::kDecimal;
    bool b_num = b.kind == K::kInteger || b.kind == K::kDecimal;
    if (a_num && b_num) {
      double x = a.kind == K::kInteger ? static_cast<double>(a.integer) : a.decimal;
      double y = b.kind == K::kInteger ? static_cast<double>(b.integer) : b.decimal;
      bool ints = a.kind == K::kInteger && b.kind == K::kInteger;
      // An Integer result that does not fit 64 bits is empty, as a division by zero is
      // (found by tests/fuzz/fuzz_fhirpath; issue #11).
      std::int64_t r = 0;
      if (op == "+") {
        if (!ints) return Collection{Dec(x + y)};
        if (__builtin_add_overflow(a.integer, b.integer, &r)) return Collection{};
        return Collection{Int(r)};
      }
      if (op == "-") {
        if (!ints) return Collection{Dec(x - y)};
        if (__builtin_sub_overflow(a.integer, b.integer, &r)) return Collection{};
        return Collection{Int(r)};
      }
      if (op == "*") {
        if (!ints) return Collection{Dec(x * y)};
        if (__builtin_mul_overflow(a.integer, b.integer, &r)) return Collection{};
        return Collection{Int(r)};
      }
      if (op == "/") {
        if (y == 0) return Collection{};
        return Collection{Dec(x / y)};
      }
      const bool int_min_by_minus_one =
          ints && a.integer == std::numeric_limits<std::int64_t>::min() && b.integer == -1;
      if (op == "div") {
        if (y == 0 || int_min_by_minus_one) return Collection{};
        if (ints) return Collection{Int(a.integer / b.integer)};
        double q = std::trunc(x / y);
        if (!(q >= -9.2e18 && q <= 9.2e18)) return Collection{};  // NaN or beyond Integer
        return Collection{Int(static_cast<std::int64_t>(q))};
      }
      if (op == "mod") {
        if (y == 0) return Collection{};
        if (int_min_by_minus_one) return Collection{Int(0)};
        if (ints) return Collection{Int(a.integer % b.integer)};
        return Collection{Dec(std::fmod(x, y))};
      }
    }
    if (a.kind == K::kString && b.kind == K::kString && op == "+") {
      return Collection{Str(a.string + b.string)};
    }
    bool a_date = a.kind == K::kDate || a.kind == K::kDateTime || a.kind == K::kTime;
    if (a_date && b.kind == K::kQuantity && (op == "+" || op == "-")) {
      auto dt = fhirpath_internal::ParseDateTime(a.string, a.kind == K::kTime);
      if (!dt) return EvalError(n, "malformed date/time");
      double amount = op == "-" ? -b.quantity.value : b.quantity.value;
      auto res = fhirpath_internal::AddDuration(*dt, amount, b.quantity.unit);
      if (!res) return EvalError(n, "cannot add '" + b.quantity.unit + "' to a date");
      const char* type = a.kind == K::kDate   ? "System.Date"
                         : a.kind == K::kTime ? "System.Time"
                                              : "System.DateTime";
      return Collection{Computed(type, fhirpath_internal::FormatDateTime(*res))};
    }
    if (a.kind == K::kQuantity && b.kind == K::kQuantity && (op == "+" || op == "-")) {
      auto conv = fhirpath_internal::ConvertQuantity(b.quantity, a.quantity.unit);
      if (!conv) return Collection{};
      PathQuantity q{op == "+" ? a.quantity.value + *conv : a.quantity.value - *conv,
                     a.quantity.unit};
      return Collection{Computed("System.Quantity", q)};
    }
    if (a.kind == K::kQuantity && b_num && (op == "*" || op == "/")) {
      double y = b.kind == K::kInteger ? static_cast<double>(b.integer) : b.decimal;
      if (op == "/" && y == 0) return Collection{};
      PathQuantity q{op == "*" ? a.quantity.value * y : a.quantity.value / y, a.quantity.unit};
      return Collection{Computed("System.Quantity", q)};
    }
    return EvalError(n, "operator '" + op + "' does not apply to these operands");
  }

  // ---- functions ----

  Status Arity(const Node& n, std::size_t min, std::size_t max) {
    if (n.args.size() < min || n.args.size() > max) {
      return EvalError(n, n.text + "() takes " + std::to_string(min) +
                              (max != min ? " to " + std::to_string(max) : "") + " arguments");
    }
    return Status::Ok();
  }

  // Evaluates a lambda argument for each input item with $this/$index set.
  Result<std::vector<Collection>> PerItem(const Node& arg, const Collection& input) {
    std::vector<Collection> out;
    out.reserve(input.size());
    for (std::size_t i = 0; i < input.size(); ++i) {
      Frame f;
      f.this_item = &input[i];
      f.index = static_cast<std::int64_t>(i);
      SUND_ASSIGN_OR_RETURN(Collection r, Eval(arg, Collection{input[i]}, f));
      out.push_back(std::move(r));
    }
    return out;
  }

  Result<Collection> Where(const Node& n, const Node& criteria, const Collection& input) {
    SUND_ASSIGN_OR_RETURN(auto results, PerItem(criteria, input));
    Collection out;
    for (std::size_t i = 0; i < input.size(); ++i) {
      SUND_ASSIGN_OR_RETURN(auto b, Boolean(n, results[i]));
      if (b.has_value() && *b) out.push_back(input[i]);
    }
    return out;
  }

  Result<Collection> Function(const Node& n, const Collection& input, const Collection& focus,
                              const Frame& frame) {
    const std::string& f = n.text;
    // Existence
    if (f == "empty") {
      SUND_RETURN_IF_ERROR(Arity(n, 0, 0));
      return Collection{Bool(input.empty())};
    }
    if (f == "exists") {
      SUND_RETURN_IF_ERROR(Arity(n, 0, 1));
      if (n.args.empty()) return Collection{Bool(!input.empty())};
      SUND_ASSIGN_OR_RETURN(Collection w, Where(n, *n.args[0], input));
      return Collection{Bool(!w.empty())};
    }
    if (f == "all") {
      SUND_RETURN_IF_ERROR(Arity(n, 1, 1));
      SUND_ASSIGN_OR_RETURN(auto results, PerItem(*n.args[0], input));
      for (const Collection& r : results) {
        SUND_ASSIGN_OR_RETURN(auto b, Boolean(n, r));
        if (!b.has_value() || !*b) return Collection{Bool(false)};
      }
      return Collection{Bool(true)};
    }
    if (f == "allTrue" || f == "anyTrue" || f == "allFalse" || f == "anyFalse") {
      SUND_RETURN_IF_ERROR(Arity(n, 0, 0));
      bool want = f == "allTrue" || f == "anyTrue";
      bool all = f.rfind("all", 0) == 0;
      bool result = all;
      for (const PathValue& v : input) {
        SystemValue s = fhirpath_internal::ToSystem(v);
        if (s.kind != K::kBoolean) return EvalError(n, f + "() needs booleans");
        bool match = s.boolean == want;
        if (all && !match) result = false;
        if (!all && match) result = true;
      }
      return Collection{Bool(result)};
    }
    if (f == "subsetOf" || f == "supersetOf") {
      SUND_RETURN_IF_ERROR(Arity(n, 1, 1));
      SUND_ASSIGN_OR_RETURN(Collection other, Arg(n, 0, focus, frame));
      const Collection& small = f == "subsetOf" ? input : other;
      const Collection& big = f == "subsetOf" ? other : input;
      for (const PathValue& v : small) {
        if (!Contains(big, v)) return Collection{Bool(false)};
      }
      return Collection{Bool(true)};
    }
    if (f == "isDistinct") {
      SUND_RETURN_IF_ERROR(Arity(n, 0, 0));
      return Collection{Bool(Distinct(input).size() == input.size())};
    }
    if (f == "distinct") {
      SUND_RETURN_IF_ERROR(Arity(n, 0, 0));
      return Distinct(input);
    }
    if (f == "count") {
      SUND_RETURN_IF_ERROR(Arity(n, 0, 0));
      return Collection{Int(static_cast<std::int64_t>(input.size()))};
    }
    // Filtering and projection
    if (f == "where") {
      SUND_RETURN_IF_ERROR(Arity(n, 1, 1));
      return Where(n, *n.args[0], input);
    }
    if (f == "select") {
      SUND_RETURN_IF_ERROR(Arity(n, 1, 1));
      SUND_ASSIGN_OR_RETURN(auto results, PerItem(*n.args[0], input));
      Collection out;
      for (Collection& r : results) out.insert(out.end(), r.begin(), r.end());
      return out;
    }
    if (f == "repeat") {
      SUND_RETURN_IF_ERROR(Arity(n, 1, 1));
      Collection out, pending = input;
      while (!pending.empty()) {
        SUND_ASSIGN_OR_RETURN(auto results, PerItem(*n.args[0], pending));
        pending.clear();
        for (Collection& r : results) {
          for (PathValue& v : r) {
            bool seen = false;
            for (const PathValue& o : out) {
              if ((v.node != nullptr && v.node == o.node) ||
                  (v.node == nullptr &&
                   fhirpath_internal::ItemEquals(v, o) == std::optional<bool>(true))) {
                seen = true;
                break;
              }
            }
            if (seen) continue;
            out.push_back(v);
            pending.push_back(std::move(v));
          }
        }
        if (out.size() > kMaxItems) return EvalError(n, "repeat() result too large");
      }
      return out;
    }
    if (f == "ofType" || f == "as" || f == "is") {
      SUND_RETURN_IF_ERROR(Arity(n, 1, 1));
      return TypeOperation(n, f, fhirpath_internal::TypeNameOf(*n.args[0]), input);
    }
    if (f == "aggregate") {
      SUND_RETURN_IF_ERROR(Arity(n, 1, 2));
      Collection total;
      if (n.args.size() == 2) {
        SUND_ASSIGN_OR_RETURN(total, Arg(n, 1, focus, frame));
      }
      for (std::size_t i = 0; i < input.size(); ++i) {
        Frame fr;
        fr.this_item = &input[i];
        fr.index = static_cast<std::int64_t>(i);
        fr.total = &total;
        SUND_ASSIGN_OR_RETURN(Collection next, Eval(*n.args[0], Collection{input[i]}, fr));
        total = std::move(next);
      }
      return total;
    }
    // Subsetting
    if (f == "single") {
      SUND_RETURN_IF_ERROR(Arity(n, 0, 0));
      if (input.size() > 1) return EvalError(n, "single() on several items");
      return input;
    }
    if (f == "first" || f == "last") {
      SUND_RETURN_IF_ERROR(Arity(n, 0, 0));
      if (input.empty()) return input;
      return Collection{f == "first" ? input.front() : input.back()};
    }
    if (f == "tail") {
      SUND_RETURN_IF_ERROR(Arity(n, 0, 0));
      if (input.empty()) return input;
      return Collection(input.begin() + 1, input.end());
    }
    if (f == "skip" || f == "take") {
      SUND_RETURN_IF_ERROR(Arity(n, 1, 1));
      SUND_ASSIGN_OR_RETURN(Collection a, Arg(n, 0, focus, frame));
      SUND_ASSIGN_OR_RETURN(auto k, IntegerArg(n, a));
      std::int64_t num = k.value_or(0);
      std::size_t cut = static_cast<std::size_t>(
          std::clamp<std::int64_t>(num, 0, static_cast<std::int64_t>(input.size())));
      if (f == "skip") return Collection(input.begin() + cut, input.end());
      return Collection(input.begin(), input.begin() + cut);
    }
    if (f == "intersect" || f == "exclude" || f == "union" || f == "combine") {
      SUND_RETURN_IF_ERROR(Arity(n, 1, 1));
      SUND_ASSIGN_OR_RETURN(Collection other, Arg(n, 0, focus, frame));
      Collection out;
      if (f == "union" || f == "combine") {
        out = input;
        out.insert(out.end(), other.begin(), other.end());
        return f == "union" ? Distinct(out) : out;
      }
      for (const PathValue& v : input) {
        bool in = Contains(other, v);
        if (f == "exclude" ? !in : (in && !Contains(out, v))) out.push_back(v);
      }
      return out;
    }
    if (f == "iif") {
      SUND_RETURN_IF_ERROR(Arity(n, 2, 3));
      if (n.target != nullptr && input.size() > 1) return EvalError(n, "iif() on several items");
      Frame fr = frame;
      const Collection& scope = n.target != nullptr ? input : focus;
      if (n.target != nullptr && input.size() == 1) fr.this_item = &input[0];
      SUND_ASSIGN_OR_RETURN(Collection c, Eval(*n.args[0], scope, fr));
      if (c.size() > 1) return EvalError(n, "iif() criterion is not a single boolean");
      if (c.size() == 1 && fhirpath_internal::ToSystem(c[0]).kind != K::kBoolean) {
        return EvalError(n, "iif() criterion is not a boolean");
      }
      bool cond = c.size() == 1 && fhirpath_internal::ToSystem(c[0]).boolean;
      if (cond) return Eval(*n.args[1], scope, fr);
      if (n.args.size() == 3) return Eval(*n.args[2], scope, fr);
      return Collection{};
    }
    if (f == "not") {
      SUND_RETURN_IF_ERROR(Arity(n, 0, 0));
      SUND_ASSIGN_OR_RETURN(auto b, Boolean(n, input));
      if (!b.has_value()) return Collection{};
      return Collection{Bool(!*b)};
    }
    if (f == "trace") {
      SUND_RETURN_IF_ERROR(Arity(n, 1, 2));
      return input;
    }
    if (f == "children" || f == "descendants") {
      SUND_RETURN_IF_ERROR(Arity(n, 0, 0));
      Collection out;
      Collection level = input;
      while (!level.empty()) {
        Collection next;
        for (const PathValue& v : level) Children(v, &next);
        out.insert(out.end(), next.begin(), next.end());
        if (f == "children") break;
        if (out.size() > kMaxItems) return EvalError(n, "descendants() result too large");
        level = std::move(next);
      }
      return out;
    }
    if (f == "extension") {
      SUND_RETURN_IF_ERROR(Arity(n, 1, 1));
      SUND_ASSIGN_OR_RETURN(Collection a, Arg(n, 0, focus, frame));
      SUND_ASSIGN_OR_RETURN(auto url, StringOf(n, a));
      Collection exts, out;
      for (const PathValue& v : input)
        SUND_RETURN_IF_ERROR(Navigate(n, v, "extension", false, &exts));
      if (!url) return out;
      for (const PathValue& e : exts) {
        if (e.node != nullptr && json::GetString(*e.node, "url") == *url) out.push_back(e);
      }
      return out;
    }
    if (f == "hasValue") {
      SUND_RETURN_IF_ERROR(Arity(n, 0, 0));
      return Collection{Bool(input.size() == 1 && input[0].node != nullptr &&
                             !input[0].node->IsObject() && !input[0].node->IsArray())};
    }
    if (f == "getValue") {
      SUND_RETURN_IF_ERROR(Arity(n, 0, 0));
      if (input.size() == 1 && input[0].node != nullptr && !input[0].node->IsObject()) return input;
      return Collection{};
    }
    if (f == "resolve") {
      SUND_RETURN_IF_ERROR(Arity(n, 0, 0));
      Collection out;
      for (const PathValue& v : input) Resolve(v, &out);
      return out;
    }
    if (f == "memberOf" || f == "conformsTo" || f == "subsumes" || f == "subsumedBy") {
      return Collection{};  // terminology and profiles are not available at this level
    }
    if (f == "htmlChecks") return Collection{Bool(true)};
    if (f == "today" || f == "now" || f == "timeOfDay") {
      SUND_RETURN_IF_ERROR(Arity(n, 0, 0));
      return Now(n, f);
    }
    // Conversions
    if (f.rfind("to", 0) == 0 || f.rfind("convertsTo", 0) == 0) {
      bool check = f.rfind("convertsTo", 0) == 0;
      std::string target = check ? f.substr(10) : f.substr(2);
      if (target == "Boolean" || target == "Integer" || target == "Decimal" || target == "String" ||
          target == "Quantity" || target == "Date" || target == "DateTime" || target == "Time") {
        SUND_RETURN_IF_ERROR(Arity(n, 0, 1));
        if (input.empty()) return Collection{};
        if (input.size() > 1) return EvalError(n, f + "() on several items");
        std::optional<PathValue> converted = Convert(input[0], target);
        if (check) return Collection{Bool(converted.has_value())};
        if (!converted) return Collection{};
        return Collection{*converted};
      }
    }
    // Strings
    if (f == "startsWith" || f == "endsWith" || f == "contains" || f == "indexOf" ||
        f == "matches" || f == "replaceMatches" || f == "replace" || f == "substring" ||
        f == "upper" || f == "lower" || f == "length" || f == "toChars") {
      return StringFunction(n, input, focus, frame);
    }
    // Math
    if (f == "abs" || f == "ceiling" || f == "floor" || f == "exp" || f == "ln" || f == "sqrt" ||
        f == "truncate" || f == "round" || f == "log" || f == "power") {
      return MathFunction(n, input, focus, frame);
    }
    return EvalError(n, "unknown function " + f + "()");
  }

  void Resolve(const PathValue& v, Collection* out) {
    std::string ref;
    if (v.node != nullptr && v.node->IsObject()) {
      ref = std::string(json::GetString(*v.node, "reference"));
    } else if (v.node != nullptr && v.node->IsString()) {
      ref = std::string(json::View(*v.node));
    } else if (const std::string* s = std::get_if<std::string>(&v.value)) {
      ref = *s;
    }
    if (ref.empty()) return;
    if (ref[0] == '#') {
      const rapidjson::Value* contained = json::Find(resource_, "contained");
      if (contained == nullptr || !contained->IsArray()) return;
      for (const auto& c : contained->GetArray()) {
        if (json::GetString(c, "id") == std::string_view(ref).substr(1)) {
          PathValue p;
          p.node = &c;
          p.type = ActualType(&c, "Resource");
          out->push_back(std::move(p));
          return;
        }
      }
      return;
    }
    // [base/]Type/id[/_history/vid]: the type is the segment before the id.
    std::string_view r = ref;
    std::size_t hist = r.find("/_history/");
    if (hist != std::string_view::npos) r = r.substr(0, hist);
    std::size_t q = r.find_first_of("?#");
    if (q != std::string_view::npos) r = r.substr(0, q);
    std::size_t last = r.rfind('/');
    if (last == std::string_view::npos || last == 0) return;
    std::size_t prev = r.rfind('/', last - 1);
    std::string_view type = r.substr(prev == std::string_view::npos ? 0 : prev + 1,
                                     last - (prev == std::string_view::npos ? 0 : prev + 1));
    if (!model_.IsResourceType(type)) return;
    PathValue p;
    p.type = std::string(type);
    p.value = ref;
    out->push_back(std::move(p));
  }

  Result<Collection> Now(const Node& n, const std::string& f) {
    std::string now;
    if (options_.now.has_value()) {
      now = *options_.now;
    } else {
      std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
      std::tm tm{};
      gmtime_r(&t, &tm);
      char buf[40];
      std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S+00:00", &tm);
      now = buf;
    }
    auto dt = fhirpath_internal::ParseDateTime(now, false);
    if (!dt) return EvalError(n, "bad 'now' option");
    if (f == "now")
      return Collection{Computed("System.DateTime", fhirpath_internal::FormatDateTime(*dt))};
    if (f == "today") {
      dt->precision = std::min(dt->precision, static_cast<int>(DateTimeValue::kDay));
      dt->has_tz = false;
      return Collection{Computed("System.Date", fhirpath_internal::FormatDateTime(*dt))};
    }
    dt->time_only = true;
    dt->has_tz = false;
    return Collection{Computed("System.Time", fhirpath_internal::FormatDateTime(*dt))};
  }

  std::optional<PathValue> Convert(const PathValue& v, const std::string& target) {
    SystemValue s = fhirpath_internal::ToSystem(v);
    if (target == "String") {
      auto str = PathValueToString(v);
      if (!str || s.kind == K::kObject) return std::nullopt;
      return Str(*str);
    }
    if (target == "Boolean") {
      if (s.kind == K::kBoolean) return Bool(s.boolean);
      if (s.kind == K::kInteger && (s.integer == 0 || s.integer == 1)) return Bool(s.integer == 1);
      if (s.kind == K::kDecimal && (s.decimal == 0 || s.decimal == 1)) return Bool(s.decimal == 1);
      if (s.kind == K::kString) {
        std::string l = s.string;
        for (char& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (l == "true" || l == "t" || l == "yes" || l == "y" || l == "1" || l == "1.0")
          return Bool(true);
        if (l == "false" || l == "f" || l == "no" || l == "n" || l == "0" || l == "0.0")
          return Bool(false);
      }
      return std::nullopt;
    }
    if (target == "Integer") {
      if (s.kind == K::kInteger) return Int(s.integer);
      if (s.kind == K::kBoolean) return Int(s.boolean ? 1 : 0);
      if (s.kind == K::kString) {
        static const std::regex kInt("[+-]?[0-9]+");
        if (!std::regex_match(s.string, kInt)) return std::nullopt;
        return Int(std::strtoll(s.string.c_str(), nullptr, 10));
      }
      return std::nullopt;
    }
    if (target == "Decimal") {
      if (s.kind == K::kDecimal) return Dec(s.decimal);
      if (s.kind == K::kInteger) return Dec(static_cast<double>(s.integer));
      if (s.kind == K::kBoolean) return Dec(s.boolean ? 1.0 : 0.0);
      if (s.kind == K::kString) {
        static const std::regex kDec("[+-]?[0-9]+(\\.[0-9]+)?");
        if (!std::regex_match(s.string, kDec)) return std::nullopt;
        return Dec(std::strtod(s.string.c_str(), nullptr));
      }
      return std::nullopt;
    }
    if (target == "Quantity") {
      if (s.kind == K::kQuantity) return Computed("System.Quantity", s.quantity);
      if (s.kind == K::kInteger)
        return Computed("System.Quantity", PathQuantity{static_cast<double>(s.integer), "1"});
      if (s.kind == K::kDecimal) return Computed("System.Quantity", PathQuantity{s.decimal, "1"});
      if (s.kind == K::kBoolean)
        return Computed("System.Quantity", PathQuantity{s.boolean ? 1.0 : 0.0, "1"});
      if (s.kind == K::kString) {
        static const std::regex kQty(
            "\\s*([+-]?[0-9]+(\\.[0-9]+)?)\\s*('([^']*)'|(years?|months?|weeks?|days?|hours?|"
            "minutes?|seconds?|milliseconds?))?\\s*");
        std::smatch m;
        if (!std::regex_match(s.string, m, kQty)) return std::nullopt;
        std::string unit = m[4].matched ? m[4].str() : m[5].matched ? m[5].str() : "1";
        return Computed("System.Quantity",
                        PathQuantity{std::strtod(m[1].str().c_str(), nullptr), unit});
      }
      return std::nullopt;
    }
    if (target == "Date" || target == "DateTime" || target == "Time") {
      bool time = target == "Time";
      if (s.kind != K::kString && s.kind != K::kDate && s.kind != K::kDateTime &&
          s.kind != K::kTime) {
        return std::nullopt;
      }
      if (time != (s.kind == K::kTime) && s.kind != K::kString) return std::nullopt;
      auto dt = fhirpath_internal::ParseDateTime(s.string, time);
      if (!dt) return std::nullopt;
      if (target == "Date") {
        dt->precision = std::min(dt->precision, static_cast<int>(DateTimeValue::kDay));
        dt->has_tz = false;
      }
      return Computed("System." + target, fhirpath_internal::FormatDateTime(*dt));
    }
    return std::nullopt;
  }

  Result<Collection> StringFunction(const Node& n, const Collection& input, const Collection& focus,
                                    const Frame& frame) {
    const std::string& f = n.text;
    std::size_t nargs = f == "replace" || f == "replaceMatches"                             ? 2
                        : f == "substring"                                                  ? 1
                        : (f == "upper" || f == "lower" || f == "length" || f == "toChars") ? 0
                                                                                            : 1;
    SUND_RETURN_IF_ERROR(Arity(n, nargs, f == "substring" ? 2 : nargs));
    SUND_ASSIGN_OR_RETURN(auto s, StringOf(n, input));
    std::vector<Collection> args;
    for (std::size_t i = 0; i < n.args.size(); ++i) {
      SUND_ASSIGN_OR_RETURN(Collection a, Arg(n, i, focus, frame));
      args.push_back(std::move(a));
    }
    if (!s) return Collection{};
    const std::string& str = *s;
    if (f == "upper" || f == "lower") {
      std::string out = str;
      for (char& c : out) {
        c = static_cast<char>(f == "upper" ? std::toupper(static_cast<unsigned char>(c))
                                           : std::tolower(static_cast<unsigned char>(c)));
      }
      return Collection{Str(out)};
    }
    if (f == "length") return Collection{Int(static_cast<std::int64_t>(str.size()))};
    if (f == "toChars") {
      Collection out;
      for (char c : str) out.push_back(Str(std::string(1, c)));
      return out;
    }
    if (f == "substring") {
      SUND_ASSIGN_OR_RETURN(auto start, IntegerArg(n, args[0]));
      if (!start || *start < 0 || *start >= static_cast<std::int64_t>(str.size()))
        return Collection{};
      std::size_t len = std::string::npos;
      if (args.size() == 2) {
        SUND_ASSIGN_OR_RETURN(auto l, IntegerArg(n, args[1]));
        if (l) len = static_cast<std::size_t>(std::max<std::int64_t>(0, *l));
      }
      return Collection{Str(str.substr(static_cast<std::size_t>(*start), len))};
    }
    std::vector<std::string> sargs;
    for (const Collection& a : args) {
      SUND_ASSIGN_OR_RETURN(auto v, StringOf(n, a));
      if (!v) return Collection{};
      sargs.push_back(*v);
    }
    if (f == "startsWith") return Collection{Bool(str.rfind(sargs[0], 0) == 0)};
    if (f == "endsWith") {
      return Collection{
          Bool(str.size() >= sargs[0].size() &&
               str.compare(str.size() - sargs[0].size(), sargs[0].size(), sargs[0]) == 0)};
    }
    if (f == "contains") return Collection{Bool(str.find(sargs[0]) != std::string::npos)};
    if (f == "indexOf") {
      std::size_t pos = str.find(sargs[0]);
      return Collection{Int(pos == std::string::npos ? -1 : static_cast<std::int64_t>(pos))};
    }
    if (f == "replace") {
      if (sargs[0].empty()) {
        std::string out = sargs[1];
        for (char c : str) {
          out += c;
          out += sargs[1];
        }
        return Collection{Str(out)};
      }
      std::string out;
      std::size_t i = 0;
      while (true) {
        std::size_t p = str.find(sargs[0], i);
        if (p == std::string::npos) break;
        out += str.substr(i, p - i) + sargs[1];
        i = p + sargs[0].size();
      }
      out += str.substr(i);
      return Collection{Str(out)};
    }
    // matches / replaceMatches: ECMAScript regular expressions.
    if (f == "replaceMatches" && sargs[0].empty()) return Collection{Str(str)};
    try {
      std::regex re(SingleLine(sargs[0]), std::regex::ECMAScript);
      if (f == "matches") return Collection{Bool(std::regex_search(str, re))};
      return Collection{Str(std::regex_replace(str, re, sargs[1]))};
    } catch (const std::regex_error&) {
      return EvalError(n, "invalid regular expression");
    }
  }

  // FHIRPath regular expressions use single-line mode: '.' also matches a newline.
  static std::string SingleLine(const std::string& re) {
    std::string out;
    bool in_class = false;
    for (std::size_t i = 0; i < re.size(); ++i) {
      char c = re[i];
      if (c == '\\' && i + 1 < re.size()) {
        out += c;
        out += re[++i];
        continue;
      }
      if (c == '[') in_class = true;
      if (c == ']') in_class = false;
      if (c == '.' && !in_class) {
        out += "[\\s\\S]";
      } else {
        out += c;
      }
    }
    return out;
  }

  Result<Collection> MathFunction(const Node& n, const Collection& input, const Collection& focus,
                                  const Frame& frame) {
    const std::string& f = n.text;
    std::size_t min_args = (f == "log" || f == "power") ? 1 : 0;
    SUND_RETURN_IF_ERROR(Arity(n, min_args, f == "round" ? 1 : min_args));
    if (input.empty()) return Collection{};
    if (input.size() > 1) return EvalError(n, f + "() on several items");
    SystemValue s = fhirpath_internal::ToSystem(input[0]);
    if (s.kind == K::kQuantity && f == "abs") {
      s.quantity.value = std::fabs(s.quantity.value);
      return Collection{Computed("System.Quantity", s.quantity)};
    }
    if (s.kind != K::kInteger && s.kind != K::kDecimal)
      return EvalError(n, f + "() needs a number");
    bool is_int = s.kind == K::kInteger;
    double x = is_int ? static_cast<double>(s.integer) : s.decimal;
    std::optional<double> arg;
    if (!n.args.empty()) {
      SUND_ASSIGN_OR_RETURN(Collection a, Arg(n, 0, focus, frame));
      if (a.empty()) return Collection{};
      SystemValue av = fhirpath_internal::ToSystem(a[0]);
      if (av.kind == K::kInteger) {
        arg = static_cast<double>(av.integer);
      } else if (av.kind == K::kDecimal) {
        arg = av.decimal;
      } else {
        return EvalError(n, f + "() needs a numeric argument");
      }
      if (f == "power" && is_int && av.kind == K::kInteger) {
        double p = std::pow(x, *arg);
        if (*arg < 0) return Collection{Dec(p)};
        return Collection{Int(static_cast<std::int64_t>(p))};
      }
    }
    auto result = [&](double d) -> Result<Collection> {
      if (std::isnan(d) || std::isinf(d)) return Collection{};
      return Collection{Dec(d)};
    };
    if (f == "abs")
      return is_int ? Collection{Int(std::llabs(s.integer))} : Collection{Dec(std::fabs(x))};
    if (f == "ceiling") return Collection{Int(static_cast<std::int64_t>(std::ceil(x)))};
    if (f == "floor") return Collection{Int(static_cast<std::int64_t>(std::floor(x)))};
    if (f == "truncate") return Collection{Int(static_cast<std::int64_t>(std::trunc(x)))};
    if (f == "exp") return result(std::exp(x));
    if (f == "ln") return result(std::log(x));
    if (f == "log") return result(std::log(x) / std::log(*arg));
    if (f == "sqrt") return result(std::sqrt(x));
    if (f == "power") return result(std::pow(x, *arg));
    // round([precision])
    int places = arg ? static_cast<int>(*arg) : 0;
    if (places < 0) return EvalError(n, "round() precision must not be negative");
    double scale = std::pow(10.0, places);
    return Collection{Dec(std::round(x * scale) / scale)};
  }

  const Model& model_;
  const rapidjson::Value& resource_;
  const EvaluateOptions& options_;
  const Collection& context_;
  int depth_ = 0;
};

}  // namespace

std::optional<std::string> PathValueToString(const PathValue& v) {
  SystemValue s = fhirpath_internal::ToSystem(v);
  switch (s.kind) {
    case K::kBoolean:
      return std::string(s.boolean ? "true" : "false");
    case K::kInteger:
      return std::to_string(s.integer);
    case K::kDecimal:
      return fhirpath_internal::FormatDecimal(s.decimal);
    case K::kString:
    case K::kDate:
    case K::kDateTime:
    case K::kTime:
      return s.string;
    case K::kQuantity: {
      std::string u = s.quantity.unit;
      static constexpr std::string_view kWords[] = {
          "year", "years", "month",  "months",  "week",   "weeks",   "day",         "days",
          "hour", "hours", "minute", "minutes", "second", "seconds", "millisecond", "milliseconds"};
      bool word = std::find(std::begin(kWords), std::end(kWords), u) != std::end(kWords);
      return fhirpath_internal::FormatDecimal(s.quantity.value) + " " + (word ? u : "'" + u + "'");
    }
    default:
      return std::nullopt;
  }
}

Result<FhirPath> FhirPath::Compile(std::string_view expression) {
  SUND_ASSIGN_OR_RETURN(std::unique_ptr<Node> root, fhirpath_internal::Parse(expression));
  return FhirPath(std::shared_ptr<const Node>(std::move(root)), std::string(expression));
}

Result<std::vector<PathValue>> FhirPath::Evaluate(const rapidjson::Value& resource) const {
  return Evaluate(resource, EvaluateOptions{});
}

Result<std::vector<PathValue>> FhirPath::Evaluate(const rapidjson::Value& resource,
                                                  const EvaluateOptions& options) const {
  if (!resource.IsObject()) return InvalidArgument("FHIRPath: the context is not a JSON object");
  PathValue root;
  root.node = &resource;
  root.type = ActualType(&resource, "Resource");
  return EvaluateOn(Collection{root}, resource, options);
}

Result<std::vector<PathValue>> FhirPath::EvaluateOn(const std::vector<PathValue>& focus,
                                                    const rapidjson::Value& resource,
                                                    const EvaluateOptions& options) const {
  if (root_ == nullptr) return InvalidArgument("FHIRPath: expression not compiled");
  Evaluator ev(resource, options, focus);
  return ev.Eval(*root_, focus, Frame{});
}

}  // namespace sund::fhir
