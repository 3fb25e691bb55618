#include "core/json_preserve.h"

#include <rapidjson/memorystream.h>

namespace sund::json {
namespace {

// Forwards SAX events to the document, turning raw numbers into marked strings.
class MarkingHandler {
 public:
  explicit MarkingHandler(rapidjson::Document& doc) : doc_(doc) {}
  bool Null() { return doc_.Null(); }
  bool Bool(bool b) { return doc_.Bool(b); }
  bool Int(int i) { return doc_.Int(i); }
  bool Uint(unsigned u) { return doc_.Uint(u); }
  bool Int64(std::int64_t i) { return doc_.Int64(i); }
  bool Uint64(std::uint64_t u) { return doc_.Uint64(u); }
  bool Double(double d) { return doc_.Double(d); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
    buf_.assign(1, kNumberMark);
    buf_.append(s, n);
    return doc_.String(buf_.data(), static_cast<rapidjson::SizeType>(buf_.size()), true);
  }
  bool String(const char* s, rapidjson::SizeType n, bool copy) {
    if (n > 0 && s[0] == kNumberMark) {
      bad_string_ = true;
      return false;
    }
    return doc_.String(s, n, copy);
  }
  bool StartObject() { return Deeper() && doc_.StartObject(); }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) { return doc_.Key(s, n, copy); }
  bool EndObject(rapidjson::SizeType n) {
    --depth_;
    return doc_.EndObject(n);
  }
  bool StartArray() { return Deeper() && doc_.StartArray(); }
  bool EndArray(rapidjson::SizeType n) {
    --depth_;
    return doc_.EndArray(n);
  }
  bool bad_string() const { return bad_string_; }
  bool too_deep() const { return too_deep_; }

 private:
  bool Deeper() {
    if (++depth_ > kMaxJsonDepth) {
      too_deep_ = true;
      return false;
    }
    return true;
  }

  rapidjson::Document& doc_;
  std::string buf_;
  int depth_ = 0;
  bool bad_string_ = false;
  bool too_deep_ = false;
};

template <typename W>
void Write(const rapidjson::Value& v, W& w) {
  switch (v.GetType()) {
    case rapidjson::kNullType:
      w.Null();
      break;
    case rapidjson::kFalseType:
      w.Bool(false);
      break;
    case rapidjson::kTrueType:
      w.Bool(true);
      break;
    case rapidjson::kNumberType:
      v.Accept(w);
      break;
    case rapidjson::kStringType:
      if (std::string_view num; IsPreservedNumber(v, &num)) {
        w.RawValue(num.data(), num.size(), rapidjson::kNumberType);
      } else {
        w.String(v.GetString(), v.GetStringLength());
      }
      break;
    case rapidjson::kArrayType:
      w.StartArray();
      for (const auto& x : v.GetArray()) Write(x, w);
      w.EndArray();
      break;
    case rapidjson::kObjectType:
      w.StartObject();
      for (const auto& m : v.GetObject()) {
        w.Key(m.name.GetString(), m.name.GetStringLength());
        Write(m.value, w);
      }
      w.EndObject();
      break;
  }
}

}  // namespace

Status ParsePreservingNumbers(std::string_view text, rapidjson::Document& doc) {
  rapidjson::Reader reader;
  rapidjson::MemoryStream ms(text.data(), text.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> is(ms);
  bool bad_string = false;
  bool too_deep = false;
  auto generator = [&](rapidjson::Document& d) {
    MarkingHandler h(d);
    // Iterative parsing: no recursion, so deep nesting cannot exhaust the stack.
    constexpr unsigned kFlags = rapidjson::kParseNumbersAsStringsFlag |
                                rapidjson::kParseValidateEncodingFlag |
                                rapidjson::kParseIterativeFlag;
    bool ok = !reader.Parse<kFlags>(is, h).IsError();
    bad_string = h.bad_string();
    too_deep = h.too_deep();
    return ok;
  };
  doc.SetNull();
  doc.Populate(generator);
  if (bad_string) return InvalidArgument("a JSON string starts with a control character");
  if (too_deep) {
    return InvalidArgument("JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  if (reader.HasParseError()) {
    return InvalidArgument("malformed JSON at offset " + std::to_string(reader.GetErrorOffset()) +
                           ": " + rapidjson::GetParseError_En(reader.GetParseErrorCode()));
  }
  return Status::Ok();
}

std::string SerializePreservingNumbers(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  Write(v, w);
  return {sb.GetString(), sb.GetSize()};
}

}  // namespace sund::json
