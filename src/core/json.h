// The one way Sund includes RapidJSON (ARCHITECTURE.md: one JSON library for the project).
//
// RAPIDJSON_ASSERT is defined away so that a wrong-type access on outside JSON cannot abort the
// process; in exchange every caller checks a value's type before reading it (IsString() before
// GetString(), HasMember() before operator[] ...). Include this header, never <rapidjson/...>.
#pragma once

#ifndef RAPIDJSON_ASSERT
#define RAPIDJSON_ASSERT(x) ((void)0)
#endif
#define RAPIDJSON_HAS_STDSTRING 1
#if defined(__SSE4_2__)
#define RAPIDJSON_SSE42 1
#endif

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>
#include <string_view>

namespace sund::json {

// Reads a member as a string_view; empty when missing or not a string.
inline std::string_view GetString(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject()) return {};
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsString()) return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}

inline std::string_view View(const rapidjson::Value& v) {
  if (!v.IsString()) return {};
  return {v.GetString(), v.GetStringLength()};
}

// Member lookup that never asserts; nullptr when `obj` is not an object or has no such member.
inline const rapidjson::Value* Find(const rapidjson::Value& obj, std::string_view name) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(rapidjson::Value(rapidjson::StringRef(name.data(), name.size())));
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

// Compact serialisation.
inline std::string Serialize(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return {sb.GetString(), sb.GetSize()};
}

}  // namespace sund::json
