#include "auth/password.h"

#include <argon2.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace sund::auth {
namespace {

// Cheap parameters so that the tests run fast; the defaults are exercised once below.
PasswordParams Cheap() {
  PasswordParams p;
  p.t_cost = 1;
  p.m_cost_kib = 64;
  return p;
}

// Verifies: REQ-AUTH-095
TEST(PasswordTest, VerifiesTheRightPasswordOnly) {
  auto hash = HashPassword("correct horse battery staple", Cheap());
  ASSERT_TRUE(hash.ok()) << hash.status().ToString();
  EXPECT_TRUE(VerifyPassword("correct horse battery staple", *hash));
  EXPECT_FALSE(VerifyPassword("correct horse battery stapl", *hash));
  EXPECT_FALSE(VerifyPassword("Correct horse battery staple", *hash));
  EXPECT_FALSE(VerifyPassword("", *hash));
}

// Verifies: REQ-AUTH-095
TEST(PasswordTest, EmptyAndBinaryPasswordsWork) {
  auto empty = HashPassword("", Cheap());
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(VerifyPassword("", *empty));
  EXPECT_FALSE(VerifyPassword(std::string(1, '\0'), *empty));
  const std::string binary("a\0b", 3);
  auto hash = HashPassword(binary, Cheap());
  ASSERT_TRUE(hash.ok());
  EXPECT_TRUE(VerifyPassword(binary, *hash));
  EXPECT_FALSE(VerifyPassword("a", *hash));
}

// Verifies: REQ-AUTH-096
TEST(PasswordTest, MalformedEncodingsFail) {
  auto hash = HashPassword("pw", Cheap());
  ASSERT_TRUE(hash.ok());
  std::string truncated = hash->substr(0, hash->size() - 5);
  std::string argon2i = *hash;
  argon2i.replace(0, 10, "$argon2i$");
  for (const std::string& bad :
       {std::string(), std::string("pw"), std::string("$argon2id$"), truncated, argon2i,
        std::string("$argon2id$v=19$m=64,t=1,p=1$!!!$!!!"), *hash + std::string("\0x", 2)}) {
    EXPECT_FALSE(VerifyPassword("pw", bad)) << bad;
  }
}

// Verifies: REQ-AUTH-094, REQ-AUTH-095
TEST(PasswordTest, SaltMakesEachHashDifferent) {
  auto a = HashPassword("same", Cheap());
  auto b = HashPassword("same", Cheap());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_TRUE(VerifyPassword("same", *a));
  EXPECT_TRUE(VerifyPassword("same", *b));
}

// Verifies: REQ-AUTH-094, REQ-AUTH-095
TEST(PasswordTest, DefaultsAreOwaspArgon2id) {
  auto hash = HashPassword("password");
  ASSERT_TRUE(hash.ok()) << hash.status().ToString();
  const std::string prefix = "$argon2id$v=19$m=19456,t=2,p=1$";
  ASSERT_EQ(hash->rfind(prefix, 0), 0u) << *hash;
  // 16-byte salt and 32-byte hash, unpadded base64: 22 and 43 characters.
  std::string rest = hash->substr(prefix.size());
  std::size_t dollar = rest.find('$');
  ASSERT_NE(dollar, std::string::npos);
  EXPECT_EQ(dollar, 22u);
  EXPECT_EQ(rest.size() - dollar - 1, 43u);
  EXPECT_TRUE(VerifyPassword("password", *hash));
  EXPECT_FALSE(VerifyPassword("passwort", *hash));
}

// Verifies: REQ-AUTH-097
TEST(PasswordTest, RejectsParametersArgon2Refuses) {
  PasswordParams p = Cheap();
  p.t_cost = 0;
  EXPECT_EQ(HashPassword("pw", p).status().code(), StatusCode::kInvalidArgument);
  p = Cheap();
  p.salt_bytes = 4;
  EXPECT_EQ(HashPassword("pw", p).status().code(), StatusCode::kInvalidArgument);
}

// Verifies: REQ-AUTH-098
TEST(PasswordTest, Argon2idKnownAnswer) {
  // The reference implementation's test vector (argon2id, password "password", salt "somesalt",
  // t=2, m=65536 KiB, p=1, 32-byte hash).
  const char kExpected[] =
      "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
  char encoded[128];
  ASSERT_EQ(
      argon2id_hash_encoded(2, 65536, 1, "password", 8, "somesalt", 8, 32, encoded, sizeof encoded),
      ARGON2_OK);
  EXPECT_STREQ(encoded, kExpected);
  // And VerifyPassword accepts the reference encoding.
  EXPECT_TRUE(VerifyPassword("password", kExpected));
  EXPECT_FALSE(VerifyPassword("Password", kExpected));
}

}  // namespace
}  // namespace sund::auth
