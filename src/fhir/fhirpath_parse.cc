// FHIRPath lexer and precedence-climbing parser (grammar: http://hl7.org/fhirpath/N1/grammar.html).

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <string>
#include <utility>

#include "fhir/internal/fhirpath_ast.h"

namespace sund::fhir::fhirpath_internal {

namespace {

enum class Tok : std::uint8_t {
  kEnd,
  kIdent,
  kDelimitedIdent,
  kString,
  kNumber,
  kDateTime,
  kSymbol,
  kDollar,
  kPercent
};

struct Token {
  Tok kind = Tok::kEnd;
  std::string text;  // identifier / decoded string / number text / date text / symbol
  int position = 0;
};

constexpr int kMaxDepth = 200;  // nesting limit: deep input cannot exhaust the stack

bool IsIdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsIdentChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

Status SyntaxError(int pos, std::string_view what) {
  return InvalidArgument("FHIRPath syntax error at " + std::to_string(pos) + ": " +
                         std::string(what));
}

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  Result<std::vector<Token>> Run() {
    std::vector<Token> out;
    while (true) {
      SUND_RETURN_IF_ERROR(SkipSpace());
      Token t;
      t.position = static_cast<int>(i_);
      if (i_ >= s_.size()) {
        out.push_back(t);
        return out;
      }
      char c = s_[i_];
      if (IsIdentStart(c)) {
        std::size_t b = i_;
        while (i_ < s_.size() && IsIdentChar(s_[i_])) ++i_;
        t.kind = Tok::kIdent;
        t.text = std::string(s_.substr(b, i_ - b));
      } else if (c == '`') {
        t.kind = Tok::kDelimitedIdent;
        SUND_ASSIGN_OR_RETURN(t.text, Quoted('`'));
      } else if (c == '\'') {
        t.kind = Tok::kString;
        SUND_ASSIGN_OR_RETURN(t.text, Quoted('\''));
      } else if (c == '"') {
        // Not in N1, but some published expressions use double-quoted strings.
        t.kind = Tok::kString;
        SUND_ASSIGN_OR_RETURN(t.text, Quoted('"'));
      } else if (IsDigit(c)) {
        std::size_t b = i_;
        while (i_ < s_.size() && IsDigit(s_[i_])) ++i_;
        if (i_ + 1 < s_.size() && s_[i_] == '.' && IsDigit(s_[i_ + 1])) {
          ++i_;
          while (i_ < s_.size() && IsDigit(s_[i_])) ++i_;
        }
        t.kind = Tok::kNumber;
        t.text = std::string(s_.substr(b, i_ - b));
      } else if (c == '@') {
        ++i_;
        std::size_t b = i_;
        while (i_ < s_.size() &&
               (IsDigit(s_[i_]) || s_[i_] == '-' || s_[i_] == ':' || s_[i_] == 'T' ||
                s_[i_] == '.' || s_[i_] == '+' || s_[i_] == 'Z')) {
          // A '.' or '-' ends the literal unless a digit follows ("@2020.toString()").
          if ((s_[i_] == '.' || s_[i_] == '+' || s_[i_] == '-') &&
              (i_ + 1 >= s_.size() || !IsDigit(s_[i_ + 1]))) {
            break;
          }
          ++i_;
        }
        t.kind = Tok::kDateTime;
        t.text = std::string(s_.substr(b, i_ - b));
        if (t.text.empty()) return SyntaxError(t.position, "empty date/time literal");
      } else if (c == '$') {
        ++i_;
        std::size_t b = i_;
        while (i_ < s_.size() && IsIdentChar(s_[i_])) ++i_;
        t.kind = Tok::kDollar;
        t.text = std::string(s_.substr(b, i_ - b));
      } else if (c == '%') {
        ++i_;
        t.kind = Tok::kPercent;
        if (i_ < s_.size() && (s_[i_] == '`' || s_[i_] == '\'' || s_[i_] == '"')) {
          SUND_ASSIGN_OR_RETURN(t.text, Quoted(s_[i_]));
        } else {
          std::size_t b = i_;
          while (i_ < s_.size() && (IsIdentChar(s_[i_]) || s_[i_] == '-')) ++i_;
          t.text = std::string(s_.substr(b, i_ - b));
        }
        if (t.text.empty()) return SyntaxError(t.position, "empty variable name");
      } else {
        static constexpr std::string_view kTwo[] = {"<=", ">=", "!=", "!~"};
        t.kind = Tok::kSymbol;
        for (std::string_view two : kTwo) {
          if (s_.substr(i_, 2) == two) t.text = std::string(two);
        }
        if (t.text.empty()) {
          if (std::string_view(".[](),+-*/&|<>=~{}").find(c) == std::string_view::npos) {
            return SyntaxError(t.position, std::string("unexpected character '") + c + "'");
          }
          t.text = std::string(1, c);
        }
        i_ += t.text.size();
      }
      out.push_back(std::move(t));
    }
  }

 private:
  Status SkipSpace() {
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (std::isspace(static_cast<unsigned char>(c))) {
        ++i_;
      } else if (c == '/' && i_ + 1 < s_.size() && s_[i_ + 1] == '/') {
        while (i_ < s_.size() && s_[i_] != '\n') ++i_;
      } else if (c == '/' && i_ + 1 < s_.size() && s_[i_ + 1] == '*') {
        std::size_t end = s_.find("*/", i_ + 2);
        if (end == std::string_view::npos) {
          return SyntaxError(static_cast<int>(i_), "unterminated comment");
        }
        i_ = end + 2;
      } else {
        break;
      }
    }
    return Status::Ok();
  }

  static void AppendUtf8(std::string* out, std::uint32_t cp) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  Result<std::string> Quoted(char quote) {
    int start = static_cast<int>(i_);
    ++i_;
    std::string out;
    while (i_ < s_.size() && s_[i_] != quote) {
      char c = s_[i_++];
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (i_ >= s_.size()) break;
      char e = s_[i_++];
      switch (e) {
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'u': {
          if (i_ + 4 > s_.size()) return SyntaxError(static_cast<int>(i_), "bad \\u escape");
          std::string hex(s_.substr(i_, 4));
          char* end = nullptr;
          unsigned long cp = std::strtoul(hex.c_str(), &end, 16);
          if (end != hex.c_str() + 4) return SyntaxError(static_cast<int>(i_), "bad \\u escape");
          AppendUtf8(&out, static_cast<std::uint32_t>(cp));
          i_ += 4;
          break;
        }
        default:
          out.push_back(e);
          break;  // \' \" \` \\ \/
      }
    }
    if (i_ >= s_.size()) return SyntaxError(start, "unterminated string or identifier");
    ++i_;
    return out;
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

bool IsCalendarUnit(std::string_view s) {
  static constexpr std::string_view kUnits[] = {
      "year", "years", "month",  "months",  "week",   "weeks",   "day",         "days",
      "hour", "hours", "minute", "minutes", "second", "seconds", "millisecond", "milliseconds"};
  for (std::string_view u : kUnits) {
    if (u == s) return true;
  }
  return false;
}

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

  Result<std::unique_ptr<Node>> Whole() {
    SUND_ASSIGN_OR_RETURN(auto n, Expr(0));
    if (Peek().kind != Tok::kEnd) {
      return SyntaxError(Peek().position, "unexpected '" + Peek().text + "'");
    }
    return n;
  }

 private:
  const Token& Peek(std::size_t ahead = 0) const {
    std::size_t i = std::min(pos_ + ahead, t_.size() - 1);
    return t_[i];
  }
  bool IsSym(std::string_view s, std::size_t ahead = 0) const {
    return Peek(ahead).kind == Tok::kSymbol && Peek(ahead).text == s;
  }
  bool IsWord(std::string_view s) const { return Peek().kind == Tok::kIdent && Peek().text == s; }
  Status Expect(std::string_view sym) {
    if (!IsSym(sym)) {
      return SyntaxError(
          Peek().position,
          "expected '" + std::string(sym) + "'" +
              (Peek().kind == Tok::kEnd ? " before end" : " at '" + Peek().text + "'"));
    }
    ++pos_;
    return Status::Ok();
  }

  // Binary operator at the current token and its precedence (higher binds tighter); 0 if none.
  int BinaryPrecedence(std::string* op) const {
    const Token& t = Peek();
    if (t.kind == Tok::kIdent) {
      static constexpr std::pair<std::string_view, int> kWords[] = {
          {"implies", 1},  {"or", 2}, {"xor", 2}, {"and", 3},  {"in", 4},
          {"contains", 4}, {"is", 8}, {"as", 8},  {"div", 10}, {"mod", 10}};
      for (const auto& [w, p] : kWords) {
        if (t.text == w) {
          *op = t.text;
          return p;
        }
      }
      return 0;
    }
    if (t.kind != Tok::kSymbol) return 0;
    static constexpr std::pair<std::string_view, int> kSyms[] = {
        {"=", 5},  {"~", 5}, {"!=", 5}, {"!~", 5}, {"<", 6}, {">", 6},  {"<=", 6},
        {">=", 6}, {"|", 7}, {"+", 9},  {"-", 9},  {"&", 9}, {"*", 10}, {"/", 10}};
    for (const auto& [s, p] : kSyms) {
      if (t.text == s) {
        *op = t.text;
        return p;
      }
    }
    return 0;
  }

  Result<std::unique_ptr<Node>> Expr(int min_prec) {
    if (++depth_ > kMaxDepth) return SyntaxError(Peek().position, "expression nested too deeply");
    SUND_ASSIGN_OR_RETURN(auto left, Unary());
    while (true) {
      std::string op;
      int prec = BinaryPrecedence(&op);
      if (prec == 0 || prec <= min_prec) break;
      int position = Peek().position;
      ++pos_;
      auto n = std::make_unique<Node>();
      n->position = position;
      n->text = op;
      n->target = std::move(left);
      if (op == "is" || op == "as") {
        n->kind = NodeKind::kTypeOp;
        SUND_ASSIGN_OR_RETURN(std::string type, TypeSpecifier());
        auto spec = std::make_unique<Node>();
        spec->kind = NodeKind::kMember;
        spec->text = std::move(type);
        n->right = std::move(spec);
      } else {
        n->kind = NodeKind::kBinary;
        SUND_ASSIGN_OR_RETURN(n->right, Expr(prec));
      }
      left = std::move(n);
    }
    --depth_;
    return left;
  }

  Result<std::string> TypeSpecifier() {
    std::string name;
    while (true) {
      const Token& t = Peek();
      if (t.kind != Tok::kIdent && t.kind != Tok::kDelimitedIdent) {
        return SyntaxError(t.position, "expected a type name");
      }
      name += t.text;
      ++pos_;
      if (IsSym(".") && (Peek(1).kind == Tok::kIdent || Peek(1).kind == Tok::kDelimitedIdent)) {
        name += '.';
        ++pos_;
        continue;
      }
      return name;
    }
  }

  Result<std::unique_ptr<Node>> Unary() {
    if (IsSym("+") || IsSym("-")) {
      int position = Peek().position;
      std::string op = Peek().text;
      ++pos_;
      if (++depth_ > kMaxDepth) return SyntaxError(position, "expression nested too deeply");
      SUND_ASSIGN_OR_RETURN(auto operand, Unary());
      --depth_;
      // Fold negative numeric literals.
      if (op == "-" && operand->target == nullptr &&
          (operand->kind == NodeKind::kInteger || operand->kind == NodeKind::kDecimal ||
           operand->kind == NodeKind::kQuantity)) {
        operand->integer = -operand->integer;
        operand->number = -operand->number;
        return operand;
      }
      auto n = std::make_unique<Node>();
      n->kind = NodeKind::kUnary;
      n->text = op;
      n->position = position;
      n->target = std::move(operand);
      return n;
    }
    return Postfix();
  }

  Result<std::unique_ptr<Node>> Postfix() {
    SUND_ASSIGN_OR_RETURN(auto node, Term());
    while (true) {
      if (IsSym(".")) {
        ++pos_;
        SUND_ASSIGN_OR_RETURN(auto inv, Invocation());
        inv->target = std::move(node);
        node = std::move(inv);
      } else if (IsSym("[")) {
        int position = Peek().position;
        ++pos_;
        auto n = std::make_unique<Node>();
        n->kind = NodeKind::kIndexer;
        n->position = position;
        n->target = std::move(node);
        SUND_ASSIGN_OR_RETURN(n->right, Expr(0));
        SUND_RETURN_IF_ERROR(Expect("]"));
        node = std::move(n);
      } else {
        return node;
      }
    }
  }

  // identifier | function call | $this | $index | $total
  Result<std::unique_ptr<Node>> Invocation() {
    const Token t = Peek();
    auto n = std::make_unique<Node>();
    n->position = t.position;
    if (t.kind == Tok::kDollar) {
      ++pos_;
      if (t.text == "this") {
        n->kind = NodeKind::kThis;
      } else if (t.text == "index") {
        n->kind = NodeKind::kIndex;
      } else if (t.text == "total") {
        n->kind = NodeKind::kTotal;
      } else {
        return SyntaxError(t.position, "unknown $" + t.text);
      }
      return n;
    }
    if (t.kind != Tok::kIdent && t.kind != Tok::kDelimitedIdent) {
      return SyntaxError(t.position, t.kind == Tok::kEnd ? "unexpected end of expression"
                                                         : "expected a name at '" + t.text + "'");
    }
    ++pos_;
    n->text = t.text;
    if (t.kind == Tok::kIdent && IsSym("(")) {
      ++pos_;
      n->kind = NodeKind::kFunction;
      if (!IsSym(")")) {
        while (true) {
          SUND_ASSIGN_OR_RETURN(auto arg, Expr(0));
          n->args.push_back(std::move(arg));
          if (IsSym(",")) {
            ++pos_;
            continue;
          }
          break;
        }
      }
      SUND_RETURN_IF_ERROR(Expect(")"));
      return n;
    }
    n->kind = NodeKind::kMember;
    return n;
  }

  Result<std::unique_ptr<Node>> Term() {
    const Token t = Peek();
    auto n = std::make_unique<Node>();
    n->position = t.position;
    switch (t.kind) {
      case Tok::kEnd:
        return SyntaxError(t.position, "unexpected end of expression");
      case Tok::kString:
        ++pos_;
        n->kind = NodeKind::kString;
        n->text = t.text;
        return n;
      case Tok::kNumber: {
        ++pos_;
        bool decimal = t.text.find('.') != std::string::npos;
        n->kind = decimal ? NodeKind::kDecimal : NodeKind::kInteger;
        n->text = t.text;
        n->number = std::strtod(t.text.c_str(), nullptr);
        if (!decimal) {
          errno = 0;
          n->integer = std::strtoll(t.text.c_str(), nullptr, 10);
          if (errno == ERANGE || t.text.size() > 18) {
            // Integers are 32-bit in FHIRPath; larger literals are kept as decimals.
            if (n->number > 2147483647.0) n->kind = NodeKind::kDecimal;
          }
        }
        // A quantity: number followed by a unit string or a calendar duration word.
        if (Peek().kind == Tok::kString) {
          n->kind = NodeKind::kQuantity;
          n->text = Peek().text;
          ++pos_;
        } else if (Peek().kind == Tok::kIdent && IsCalendarUnit(Peek().text)) {
          n->kind = NodeKind::kQuantity;
          n->text = Peek().text;
          ++pos_;
        }
        return n;
      }
      case Tok::kDateTime: {
        ++pos_;
        std::string text = t.text;
        if (!text.empty() && text[0] == 'T') {
          n->kind = NodeKind::kTime;
          text = text.substr(1);
        } else if (text.find('T') != std::string::npos) {
          n->kind = NodeKind::kDateTime;
          if (text.back() == 'T') text.pop_back();  // @2015T: a DateTime with year precision
        } else {
          n->kind = NodeKind::kDate;
        }
        if (text.empty() || !IsDigit(text[0])) return SyntaxError(t.position, "bad date/time");
        n->text = text;
        return n;
      }
      case Tok::kPercent:
        ++pos_;
        n->kind = NodeKind::kVariable;
        n->text = t.text;
        return n;
      case Tok::kDollar:
      case Tok::kIdent:
      case Tok::kDelimitedIdent:
        if (t.kind == Tok::kIdent && (t.text == "true" || t.text == "false")) {
          ++pos_;
          n->kind = NodeKind::kBoolean;
          n->boolean = t.text == "true";
          return n;
        }
        return Invocation();
      case Tok::kSymbol:
        if (t.text == "(") {
          ++pos_;
          SUND_ASSIGN_OR_RETURN(auto inner, Expr(0));
          SUND_RETURN_IF_ERROR(Expect(")"));
          return inner;
        }
        if (t.text == "{") {
          ++pos_;
          SUND_RETURN_IF_ERROR(Expect("}"));
          n->kind = NodeKind::kEmpty;
          return n;
        }
        return SyntaxError(t.position, "unexpected '" + t.text + "'");
    }
    return SyntaxError(t.position, "unexpected token");
  }

  std::vector<Token> t_;
  std::size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

Result<std::unique_ptr<Node>> Parse(std::string_view expression) {
  SUND_ASSIGN_OR_RETURN(auto tokens, Lexer(expression).Run());
  Parser parser(std::move(tokens));
  return parser.Whole();
}

std::string TypeNameOf(const Node& node) {
  if (node.kind != NodeKind::kMember) return {};
  if (node.target == nullptr) return node.text;
  std::string prefix = TypeNameOf(*node.target);
  if (prefix.empty()) return {};
  return prefix + "." + node.text;
}

}  // namespace sund::fhir::fhirpath_internal
