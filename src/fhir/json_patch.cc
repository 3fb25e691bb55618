#include "fhir/json_patch.h"

#include <cstddef>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/json_preserve.h"

namespace sund::fhir {
namespace {

using Pointer = std::vector<std::string>;

enum class OpKind { kAdd, kRemove, kReplace, kMove, kCopy, kTest };

struct Op {
  OpKind kind;
  std::string_view name;  // as spelled in the patch, for messages
  std::string path_text;
  Pointer path;
  std::string from_text;
  Pointer from;
  const rapidjson::Value* value = nullptr;
};

std::optional<OpKind> ParseOpKind(std::string_view op) {
  if (op == "add") return OpKind::kAdd;
  if (op == "remove") return OpKind::kRemove;
  if (op == "replace") return OpKind::kReplace;
  if (op == "move") return OpKind::kMove;
  if (op == "copy") return OpKind::kCopy;
  if (op == "test") return OpKind::kTest;
  return std::nullopt;
}

// RFC 6901: "" is the whole document; otherwise "/" token ("/" token)*, with ~0 -> "~" and
// ~1 -> "/" (in that order, so "~01" is "~1").
Result<Pointer> ParsePointer(std::string_view text) {
  Pointer tokens;
  if (text.empty()) return tokens;
  if (text.front() != '/') return InvalidArgument("JSON pointer must start with '/'");
  std::size_t pos = 1;
  while (true) {
    std::size_t end = text.find('/', pos);
    std::string_view raw =
        text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    std::string token;
    token.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '~') {
        token.push_back(raw[i]);
        continue;
      }
      if (i + 1 < raw.size() && raw[i + 1] == '0') {
        token.push_back('~');
      } else if (i + 1 < raw.size() && raw[i + 1] == '1') {
        token.push_back('/');
      } else {
        return InvalidArgument("JSON pointer has '~' not followed by '0' or '1'");
      }
      ++i;
    }
    tokens.push_back(std::move(token));
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return tokens;
}

// An array index per RFC 6901: "0" or digits without a leading zero. nullopt otherwise (and for
// values too large to be an index).
std::optional<std::size_t> ParseIndex(const std::string& token) {
  if (token.empty() || token.size() > 18) return std::nullopt;
  if (token.size() > 1 && token[0] == '0') return std::nullopt;
  std::size_t n = 0;
  for (char c : token) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::size_t>(c - '0');
  }
  return n;
}

// The value at the first `count` tokens of `path`, or nullptr when it does not exist.
rapidjson::Value* Resolve(rapidjson::Value& root, const Pointer& path, std::size_t count) {
  rapidjson::Value* v = &root;
  for (std::size_t i = 0; i < count; ++i) {
    const std::string& token = path[i];
    if (v->IsObject()) {
      auto it = v->FindMember(rapidjson::Value(rapidjson::StringRef(token.data(), token.size())));
      if (it == v->MemberEnd()) return nullptr;
      v = &it->value;
    } else if (v->IsArray()) {
      auto index = ParseIndex(token);
      if (!index || *index >= v->Size()) return nullptr;
      v = &(*v)[static_cast<rapidjson::SizeType>(*index)];
    } else {
      return nullptr;
    }
  }
  return v;
}

bool IsProperPrefix(const Pointer& prefix, const Pointer& path) {
  if (prefix.size() >= path.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (prefix[i] != path[i]) return false;
  }
  return true;
}

// A copy of `v` whose strings all live in `alloc` (RapidJSON's copy constructor keeps references
// to constant strings, such as those of an in-situ parse, which may not outlive the patch).
rapidjson::Value DeepCopy(const rapidjson::Value& v, rapidjson::Document::AllocatorType& alloc) {
  switch (v.GetType()) {
    case rapidjson::kStringType:
      return rapidjson::Value(v.GetString(), v.GetStringLength(), alloc);
    case rapidjson::kArrayType: {
      rapidjson::Value out(rapidjson::kArrayType);
      out.Reserve(v.Size(), alloc);
      for (const auto& e : v.GetArray()) out.PushBack(DeepCopy(e, alloc), alloc);
      return out;
    }
    case rapidjson::kObjectType: {
      rapidjson::Value out(rapidjson::kObjectType);
      for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
        out.AddMember(DeepCopy(it->name, alloc), DeepCopy(it->value, alloc), alloc);
      }
      return out;
    }
    default:
      return rapidjson::Value(v, alloc);  // null, booleans and numbers hold no pointers
  }
}

class Applier {
 public:
  explicit Applier(rapidjson::Document& work) : work_(work), alloc_(work.GetAllocator()) {}

  Status Apply(const Op& op) {
    switch (op.kind) {
      case OpKind::kAdd: {
        rapidjson::Value v = DeepCopy(*op.value, alloc_);
        return Add(op, op.path, v);
      }
      case OpKind::kRemove: {
        rapidjson::Value removed;
        return Remove(op, op.path, removed);
      }
      case OpKind::kReplace: {
        rapidjson::Value* target = Resolve(work_, op.path, op.path.size());
        if (target == nullptr) return NotThere(op, op.path_text);
        *target = DeepCopy(*op.value, alloc_);  // RapidJSON assignment moves
        return Status::Ok();
      }
      case OpKind::kMove: {
        if (IsProperPrefix(op.from, op.path)) {
          return Error(op, "cannot move a value into one of its own children");
        }
        rapidjson::Value moved;
        SUND_RETURN_IF_ERROR(Remove(op, op.from, moved));
        return Add(op, op.path, moved);
      }
      case OpKind::kCopy: {
        rapidjson::Value* source = Resolve(work_, op.from, op.from.size());
        if (source == nullptr) return NotThere(op, op.from_text);
        rapidjson::Value v = DeepCopy(*source, alloc_);
        return Add(op, op.path, v);
      }
      case OpKind::kTest: {
        rapidjson::Value* target = Resolve(work_, op.path, op.path.size());
        if (target == nullptr) return NotThere(op, op.path_text);
        if (!JsonDeepEqual(*target, *op.value)) return Error(op, "test failed: values differ");
        return Status::Ok();
      }
    }
    return Internal("json patch: unhandled operation");
  }

 private:
  // Inserts `v` (moved from) at `path`: replaces the document, sets an object member (replacing
  // an existing one), or inserts into an array at an index in [0, size] or "-" (the end).
  Status Add(const Op& op, const Pointer& path, rapidjson::Value& v) {
    if (path.empty()) {
      static_cast<rapidjson::Value&>(work_) = v;
      return Status::Ok();
    }
    rapidjson::Value* parent = Resolve(work_, path, path.size() - 1);
    if (parent == nullptr) return Error(op, "the parent of the target location does not exist");
    const std::string& last = path.back();
    if (parent->IsObject()) {
      auto it =
          parent->FindMember(rapidjson::Value(rapidjson::StringRef(last.data(), last.size())));
      if (it != parent->MemberEnd()) {
        it->value = v;
      } else {
        parent->AddMember(
            rapidjson::Value(last.data(), static_cast<rapidjson::SizeType>(last.size()), alloc_), v,
            alloc_);
      }
      return Status::Ok();
    }
    if (parent->IsArray()) {
      const rapidjson::SizeType size = parent->Size();
      if (last == "-") {
        parent->PushBack(v, alloc_);
        return Status::Ok();
      }
      auto index = ParseIndex(last);
      if (!index || *index > size) return Error(op, "array index out of range or not a number");
      parent->PushBack(v, alloc_);
      for (rapidjson::SizeType i = size; i > *index; --i) (*parent)[i].Swap((*parent)[i - 1]);
      return Status::Ok();
    }
    return Error(op, "the parent of the target location is not an object or array");
  }

  // Takes the value at `path` out of the document into `out`.
  Status Remove(const Op& op, const Pointer& path, rapidjson::Value& out) {
    if (path.empty()) return Error(op, "cannot remove the whole document");
    rapidjson::Value* parent = Resolve(work_, path, path.size() - 1);
    const std::string& last = path.back();
    if (parent != nullptr && parent->IsObject()) {
      auto it =
          parent->FindMember(rapidjson::Value(rapidjson::StringRef(last.data(), last.size())));
      if (it != parent->MemberEnd()) {
        out = it->value;
        parent->EraseMember(it);  // keeps the order of the remaining members
        return Status::Ok();
      }
    } else if (parent != nullptr && parent->IsArray()) {
      auto index = ParseIndex(last);
      if (index && *index < parent->Size()) {
        out = (*parent)[static_cast<rapidjson::SizeType>(*index)];
        parent->Erase(parent->Begin() + *index);
        return Status::Ok();
      }
    }
    return NotThere(op, op.kind == OpKind::kMove ? op.from_text : op.path_text);
  }

  static Status Error(const Op& op, std::string_view reason) {
    return Unprocessable("json patch operation " + std::string(op.name) + " at " +
                         (op.path_text.empty() ? std::string("(root)") : op.path_text) + ": " +
                         std::string(reason));
  }
  static Status NotThere(const Op& op, const std::string& where) {
    return Unprocessable("json patch operation " + std::string(op.name) + ": path " +
                         (where.empty() ? std::string("(root)") : where) + " does not exist");
  }

  rapidjson::Document& work_;
  rapidjson::Document::AllocatorType& alloc_;
};

Result<std::vector<Op>> ParsePatch(const rapidjson::Value& patch) {
  if (!patch.IsArray()) return InvalidArgument("json patch must be a JSON array of operations");
  std::vector<Op> ops;
  ops.reserve(patch.Size());
  for (rapidjson::SizeType i = 0; i < patch.Size(); ++i) {
    const rapidjson::Value& o = patch[i];
    const std::string where = "json patch operation " + std::to_string(i);
    if (!o.IsObject()) return InvalidArgument(where + " is not an object");
    const rapidjson::Value* op_v = json::Find(o, "op");
    if (op_v == nullptr || !op_v->IsString()) return InvalidArgument(where + " has no \"op\"");
    Op op;
    op.name = json::View(*op_v);
    auto kind = ParseOpKind(op.name);
    if (!kind) return InvalidArgument(where + " has an unknown \"op\"");
    op.kind = *kind;
    const rapidjson::Value* path_v = json::Find(o, "path");
    if (path_v == nullptr || !path_v->IsString()) {
      return InvalidArgument(where + " has no string \"path\"");
    }
    op.path_text = std::string(json::View(*path_v));
    auto path = ParsePointer(op.path_text);
    if (!path.ok()) return InvalidArgument(where + ": \"path\": " + path.status().message());
    op.path = std::move(path).value();
    if (op.kind == OpKind::kMove || op.kind == OpKind::kCopy) {
      const rapidjson::Value* from_v = json::Find(o, "from");
      if (from_v == nullptr || !from_v->IsString()) {
        return InvalidArgument(where + " has no string \"from\"");
      }
      op.from_text = std::string(json::View(*from_v));
      auto from = ParsePointer(op.from_text);
      if (!from.ok()) return InvalidArgument(where + ": \"from\": " + from.status().message());
      op.from = std::move(from).value();
    }
    if (op.kind == OpKind::kAdd || op.kind == OpKind::kReplace || op.kind == OpKind::kTest) {
      op.value = json::Find(o, "value");
      if (op.value == nullptr) return InvalidArgument(where + " has no \"value\"");
    }
    ops.push_back(std::move(op));
  }
  return ops;
}

bool NumbersEqual(const rapidjson::Value& a, const rapidjson::Value& b) {
  if (a.IsInt64() && b.IsInt64()) return a.GetInt64() == b.GetInt64();
  if (a.IsUint64() && b.IsUint64()) return a.GetUint64() == b.GetUint64();
  if (a.IsDouble() || b.IsDouble()) return a.GetDouble() == b.GetDouble();
  return false;  // one negative int64, one uint64 above INT64_MAX
}

}  // namespace

bool JsonDeepEqual(const rapidjson::Value& a, const rapidjson::Value& b) {
  if (a.IsNumber() && b.IsNumber()) return NumbersEqual(a, b);
  if (a.GetType() != b.GetType()) return false;
  switch (a.GetType()) {
    case rapidjson::kNullType:
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      return true;
    case rapidjson::kStringType: {
      // Numbers kept as written (core/json_preserve.h) compare by value: 1 == 1.0.
      std::string_view na, nb;
      if (json::IsPreservedNumber(a, &na) && json::IsPreservedNumber(b, &nb)) {
        return std::strtod(std::string(na).c_str(), nullptr) ==
               std::strtod(std::string(nb).c_str(), nullptr);
      }
    }
      return a.GetStringLength() == b.GetStringLength() &&
             std::memcmp(a.GetString(), b.GetString(), a.GetStringLength()) == 0;
    case rapidjson::kArrayType:
      if (a.Size() != b.Size()) return false;
      for (rapidjson::SizeType i = 0; i < a.Size(); ++i) {
        if (!JsonDeepEqual(a[i], b[i])) return false;
      }
      return true;
    case rapidjson::kObjectType:
      if (a.MemberCount() != b.MemberCount()) return false;
      for (auto it = a.MemberBegin(); it != a.MemberEnd(); ++it) {
        auto other = b.FindMember(it->name);
        if (other == b.MemberEnd() || !JsonDeepEqual(it->value, other->value)) return false;
      }
      return true;
    case rapidjson::kNumberType:
      return NumbersEqual(a, b);
  }
  return false;
}

Status ApplyJsonPatch(const rapidjson::Value& patch, rapidjson::Document& doc) {
  SUND_ASSIGN_OR_RETURN(std::vector<Op> ops, ParsePatch(patch));
  // Work on a copy and swap it in at the end: any failure leaves `doc` as it was.
  rapidjson::Document work;
  work.CopyFrom(doc, work.GetAllocator());
  Applier applier(work);
  for (const Op& op : ops) SUND_RETURN_IF_ERROR(applier.Apply(op));
  doc.Swap(work);
  return Status::Ok();
}

}  // namespace sund::fhir
