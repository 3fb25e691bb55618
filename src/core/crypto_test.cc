#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include "core/crypto.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <set>
#include <string>
#include <utility>

namespace sund::crypto {
namespace {

std::string Hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

rapidjson::Document ParseJson(std::string_view text) {
  rapidjson::Document d;
  d.Parse(text.data(), text.size());
  EXPECT_FALSE(d.HasParseError()) << text;
  return d;
}

// RFC 7515 Appendix A.3: the ES256 example's public key, payload and signature.
constexpr char kRfc7515A3Jwk[] = R"({"kty":"EC","crv":"P-256",)"
                                 R"("x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
                                 R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})";
constexpr char kRfc7515Payload[] =
    "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}";
constexpr char kRfc7515A3Signature[] =
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

std::string Rfc7515A3SigningInput() {
  return Base64UrlEncode(R"({"alg":"ES256"})") + "." + Base64UrlEncode(kRfc7515Payload);
}

// Verifies: REQ-CORE-027
TEST(CryptoTest, Base64MatchesRfc4648Vectors) {
  const std::pair<const char*, const char*> kVectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : kVectors) {
    EXPECT_EQ(Base64Encode(plain), encoded);
    auto decoded = Base64Decode(encoded);
    ASSERT_TRUE(decoded.ok()) << encoded;
    EXPECT_EQ(*decoded, plain);
  }
  EXPECT_EQ(Base64Encode("\xfb\xff"), "+/8=");
  EXPECT_EQ(*Base64Decode("+/8="), "\xfb\xff");
  // HTTP Basic credentials, RFC 7617 section 2.
  EXPECT_EQ(*Base64Decode("QWxhZGRpbjpvcGVuIHNlc2FtZQ=="), "Aladdin:open sesame");
}

// Verifies: REQ-CORE-028
TEST(CryptoTest, Base64RejectsMalformedText) {
  for (const char* bad : {"Zg", "Zg=", "Z===", "Zm9v!", "Zg==Zg==", "Zh==", "-_8=", "Zm9\n"}) {
    EXPECT_EQ(Base64Decode(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

// Verifies: REQ-CORE-027
TEST(CryptoTest, Base64UrlMatchesRfc4648VectorsWithoutPadding) {
  const std::pair<const char*, const char*> kVectors[] = {
      {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
      {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : kVectors) {
    EXPECT_EQ(Base64UrlEncode(plain), encoded);
    auto decoded = Base64UrlDecode(encoded);
    ASSERT_TRUE(decoded.ok()) << encoded;
    EXPECT_EQ(*decoded, plain);
  }
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_EQ(*Base64UrlDecode("-_8"), "\xfb\xff");
  // Padding is accepted when present and correct.
  EXPECT_EQ(*Base64UrlDecode("Zg=="), "f");
  EXPECT_EQ(*Base64UrlDecode("Zm8="), "fo");
}

// Verifies: REQ-CORE-028
TEST(CryptoTest, Base64UrlRejectsMalformedText) {
  for (const char* bad : {"+/8", "Z", "Zm9vY", "Zg=", "Zm=8", "Zh", "Zm9", "Zm 9v", "Zm9v."}) {
    EXPECT_EQ(Base64UrlDecode(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

// Verifies: REQ-CORE-029
TEST(CryptoTest, Sha256OfAbc) {
  // FIPS 180-2 Appendix B.1.
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Hex(Sha256("abc")), Sha256Hex("abc"));
  EXPECT_EQ(Sha256("abc").size(), 32u);
}

// Verifies: REQ-CORE-030
TEST(CryptoTest, HmacSha256MatchesRfc4231TestCase2) {
  EXPECT_EQ(Hex(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Empty key and message (as computed by Python's hmac module).
  EXPECT_EQ(Hex(HmacSha256("", "")),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

// The precomputed-key form: RFC 4231 test cases 2 and 6 (a key longer than a block is hashed
// first), the empty key, and agreement with HmacSha256 for keys of every length around a block.
// Verifies: REQ-CORE-030
TEST(CryptoTest, HmacSha256KeyMatchesRfc4231AndTheOneShotForm) {
  EXPECT_EQ(Hex(HmacSha256Key("Jefe").Mac("what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(Hex(HmacSha256Key(std::string(131, '\xaa'))
                    .Mac("Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  EXPECT_EQ(Hex(HmacSha256Key("").Mac("")),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
  for (std::size_t n : {1u, 31u, 63u, 64u, 65u, 200u}) {
    std::string key = RandomBytes(n);
    HmacSha256Key k(key);
    HmacSha256Key moved(std::move(k));
    for (std::string data : {std::string(), std::string("Patient/p1"), RandomBytes(500)}) {
      EXPECT_EQ(moved.Mac(data), HmacSha256(key, data)) << "key of " << n << " bytes";
    }
  }
}

// Verifies: REQ-CORE-031
TEST(CryptoTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secret2"));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
}

// Verifies: REQ-CORE-032
TEST(CryptoTest, RandomTokensAreUrlSafeAndDistinct) {
  EXPECT_EQ(RandomBytes(0), "");
  EXPECT_EQ(RandomBytes(17).size(), 17u);
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string t = RandomToken();
    EXPECT_EQ(t.size(), 43u);
    EXPECT_EQ(
        t.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        std::string::npos);
    seen.insert(t);
  }
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_EQ(RandomToken(16).size(), 22u);
}

// Verifies: REQ-CORE-033
TEST(CryptoTest, JwkThumbprintMatchesRfc7638Example) {
  // RFC 7638 section 3.1; the extra members "alg" and "kid" do not take part.
  auto jwk = ParseJson(
      R"({"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"})");
  auto thumbprint = JwkThumbprint(jwk);
  ASSERT_TRUE(thumbprint.ok()) << thumbprint.status().ToString();
  EXPECT_EQ(*thumbprint, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  // The same key is also usable for verification.
  EXPECT_TRUE(VerifyKey::FromJwk(jwk).ok());
}

// Verifies: REQ-CORE-033
TEST(CryptoTest, JwkThumbprintRejectsIncompleteKeys) {
  EXPECT_FALSE(JwkThumbprint(ParseJson(R"({"kty":"EC","crv":"P-256","x":"AA"})")).ok());
  EXPECT_FALSE(JwkThumbprint(ParseJson(R"({"kty":"oct","k":"AA"})")).ok());
  EXPECT_FALSE(JwkThumbprint(ParseJson(R"(["kty"])")).ok());
  EXPECT_FALSE(JwkThumbprint(ParseJson(R"({"kty":"RSA","n":"AA","e":1})")).ok());
}

// Verifies: REQ-CORE-034
TEST(CryptoTest, VerifiesRfc7515AppendixA3Example) {
  std::string input = Rfc7515A3SigningInput();
  // The RFC's encoded header and payload, as a check on the signing input computed above.
  EXPECT_EQ(input,
            "eyJhbGciOiJFUzI1NiJ9."
            "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290"
            "Ijp0cnVlfQ");
  auto key = VerifyKey::FromJwk(ParseJson(kRfc7515A3Jwk));
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  auto signature = Base64UrlDecode(kRfc7515A3Signature);
  ASSERT_TRUE(signature.ok());
  ASSERT_EQ(signature->size(), 64u);
  EXPECT_TRUE(key->Verify("ES256", input, *signature).ok());

  std::string tampered_sig = *signature;
  tampered_sig[10] ^= 1;
  EXPECT_EQ(key->Verify("ES256", input, tampered_sig).code(), StatusCode::kUnauthenticated);
  std::string tampered_input = input;
  tampered_input.back() = 'R';
  EXPECT_EQ(key->Verify("ES256", tampered_input, *signature).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(key->Verify("ES384", input, *signature).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(key->Verify("RS256", input, *signature).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(key->Verify("none", input, "").code(), StatusCode::kUnauthenticated);
}

// Verifies: REQ-CORE-035
TEST(CryptoTest, RejectsPointNotOnCurve) {
  auto jwk = ParseJson(kRfc7515A3Jwk);
  jwk["y"].SetString("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a4");  // last bits changed
  EXPECT_EQ(VerifyKey::FromJwk(jwk).status().code(), StatusCode::kInvalidArgument);
}

// Verifies: REQ-CORE-035
TEST(CryptoTest, FromJwkRejectsUnsupportedOrMalformedKeys) {
  for (
      const char* bad : {
          R"({"kty":"oct","k":"c2VjcmV0"})",
          R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})",
          R"({"crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})",
          R"({"kty":"EC","crv":"P-521","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})",
          R"({"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"})",
          R"({"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRV","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})",
          R"({"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","alg":"ES384"})",
          R"({"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","use":"enc"})",
          R"({"kty":"RSA","n":"AQAB","e":"AQAB"})",
          R"("EC")",
      }) {
    EXPECT_EQ(VerifyKey::FromJwk(ParseJson(bad)).status().code(), StatusCode::kInvalidArgument)
        << bad;
  }
}

class SigningKeyTest : public testing::TestWithParam<const char*> {};

// Verifies: REQ-CORE-036, REQ-CORE-037
TEST_P(SigningKeyTest, SignsAndVerifiesRoundTrip) {
  const std::string alg = GetParam();
  const std::size_t sig_size = alg == "ES256" ? 64 : 96;
  auto key = SigningKey::Generate(alg);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->alg(), alg);
  auto sig = key->Sign("hello");
  ASSERT_TRUE(sig.ok()) << sig.status().ToString();
  EXPECT_EQ(sig->size(), sig_size);

  auto verify = VerifyKey::FromSigningKey(*key);
  ASSERT_TRUE(verify.ok());
  EXPECT_TRUE(verify->Verify(alg, "hello", *sig).ok());
  EXPECT_EQ(verify->Verify(alg, "hellO", *sig).code(), StatusCode::kUnauthenticated);
  std::string bad = *sig;
  bad[sig_size - 1] ^= 0x80;
  EXPECT_EQ(verify->Verify(alg, "hello", bad).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(verify->Verify(alg, "hello", sig->substr(1)).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(verify->Verify(alg, "hello", *sig + '\0').code(), StatusCode::kUnauthenticated);

  // The published JWK verifies too, and its kid is its RFC 7638 thumbprint.
  auto jwk = ParseJson(key->PublicJwk());
  EXPECT_EQ(json::GetString(jwk, "kty"), "EC");
  EXPECT_EQ(json::GetString(jwk, "crv"), alg == "ES256" ? "P-256" : "P-384");
  EXPECT_EQ(json::GetString(jwk, "alg"), alg);
  EXPECT_EQ(json::GetString(jwk, "use"), "sig");
  EXPECT_EQ(json::GetString(jwk, "kid"), key->kid());
  EXPECT_FALSE(jwk.HasMember("d"));
  EXPECT_EQ(*JwkThumbprint(jwk), key->kid());
  auto from_jwk = VerifyKey::FromJwk(jwk);
  ASSERT_TRUE(from_jwk.ok()) << from_jwk.status().ToString();
  EXPECT_TRUE(from_jwk->Verify(alg, "hello", *sig).ok());

  // A different key does not verify the signature.
  auto other = SigningKey::Generate(alg);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->kid(), key->kid());
  EXPECT_EQ(VerifyKey::FromSigningKey(*other)->Verify(alg, "hello", *sig).code(),
            StatusCode::kUnauthenticated);
}

// Verifies: REQ-CORE-038
TEST_P(SigningKeyTest, PemRoundTripKeepsTheKey) {
  auto key = SigningKey::Generate(GetParam());
  ASSERT_TRUE(key.ok());
  std::string pem = key->ToPem();
  EXPECT_EQ(pem.rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u);
  auto again = SigningKey::FromPem(pem);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->kid(), key->kid());
  EXPECT_EQ(again->alg(), key->alg());
  auto sig = again->Sign("data");
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE(VerifyKey::FromSigningKey(*key)->Verify(GetParam(), "data", *sig).ok());
}

INSTANTIATE_TEST_SUITE_P(Algorithms, SigningKeyTest, testing::Values("ES256", "ES384"));

// Verifies: REQ-CORE-041
TEST(CryptoTest, Es256SignatureDoesNotVerifyAsEs384) {
  auto p256 = SigningKey::Generate("ES256");
  auto p384 = SigningKey::Generate("ES384");
  ASSERT_TRUE(p256.ok() && p384.ok());
  auto sig = p256->Sign("data");
  ASSERT_TRUE(sig.ok());
  auto v256 = VerifyKey::FromSigningKey(*p256);
  auto v384 = VerifyKey::FromSigningKey(*p384);
  EXPECT_EQ(v256->Verify("ES384", "data", *sig).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(v384->Verify("ES384", "data", *sig).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(v384->Verify("ES256", "data", *sig).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(v256->Verify("RS256", "data", *sig).code(), StatusCode::kUnauthenticated);
}

// Verifies: REQ-CORE-039
TEST(CryptoTest, SigningKeyRejectsBadInput) {
  EXPECT_EQ(SigningKey::Generate("RS256").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SigningKey::Generate("none").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SigningKey::FromPem("not a key").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SigningKey::FromPem("").status().code(), StatusCode::kInvalidArgument);
}

// An RSA key pair made with OpenSSL directly, to check VerifyKey against signatures it did not
// make itself.
class RsaTest : public testing::Test {
 protected:
  void SetUp() override {
    key_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(2048));
    ASSERT_NE(key_, nullptr);
  }
  void TearDown() override { EVP_PKEY_free(key_); }

  std::string Sign(const EVP_MD* md, std::string_view data) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    std::size_t len = 0;
    EXPECT_EQ(EVP_DigestSignInit(ctx, nullptr, md, nullptr, key_), 1);
    const auto* in = reinterpret_cast<const unsigned char*>(data.data());
    EXPECT_EQ(EVP_DigestSign(ctx, nullptr, &len, in, data.size()), 1);
    std::string sig(len, '\0');
    EXPECT_EQ(
        EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len, in, data.size()),
        1);
    EVP_MD_CTX_free(ctx);
    sig.resize(len);
    return sig;
  }

  std::string Param(const char* name) {
    BIGNUM* bn = nullptr;
    EXPECT_EQ(EVP_PKEY_get_bn_param(key_, name, &bn), 1);
    std::string out(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
    BN_free(bn);
    return Base64UrlEncode(out);
  }

  std::string Jwk() {
    return R"({"kty":"RSA","n":")" + Param(OSSL_PKEY_PARAM_RSA_N) + R"(","e":")" +
           Param(OSSL_PKEY_PARAM_RSA_E) + R"("})";
  }

  EVP_PKEY* key_ = nullptr;
};

// Verifies: REQ-CORE-040
TEST_F(RsaTest, VerifiesRs256AndRs384SignaturesMadeByOpenssl) {
  auto jwk = ParseJson(Jwk());
  EXPECT_EQ(json::GetString(jwk, "e"), "AQAB");
  auto key = VerifyKey::FromJwk(jwk);
  ASSERT_TRUE(key.ok()) << key.status().ToString();

  std::string sig256 = Sign(EVP_sha256(), "payload");
  std::string sig384 = Sign(EVP_sha384(), "payload");
  EXPECT_EQ(sig256.size(), 256u);
  EXPECT_TRUE(key->Verify("RS256", "payload", sig256).ok());
  EXPECT_TRUE(key->Verify("RS384", "payload", sig384).ok());
  EXPECT_EQ(key->Verify("RS384", "payload", sig256).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(key->Verify("RS256", "Payload", sig256).code(), StatusCode::kUnauthenticated);
  std::string bad = sig256;
  bad[100] ^= 4;
  EXPECT_EQ(key->Verify("RS256", "payload", bad).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(key->Verify("RS256", "payload", sig256.substr(1)).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(key->Verify("ES256", "payload", sig256.substr(0, 64)).code(),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(key->Verify("PS256", "payload", sig256).code(), StatusCode::kUnauthenticated);
}

// Verifies: REQ-CORE-040
TEST_F(RsaTest, JwkAlgRestrictsTheAlgorithm) {
  auto jwk = ParseJson(Jwk());
  jwk.AddMember("alg", "RS384", jwk.GetAllocator());
  auto key = VerifyKey::FromJwk(jwk);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_TRUE(key->Verify("RS384", "payload", Sign(EVP_sha384(), "payload")).ok());
  EXPECT_EQ(key->Verify("RS256", "payload", Sign(EVP_sha256(), "payload")).code(),
            StatusCode::kUnauthenticated);
}

// Verifies: REQ-CORE-039
TEST_F(RsaTest, SigningKeyRefusesRsaPem) {
  BIO* bio = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PrivateKey(bio, key_, nullptr, nullptr, 0, nullptr, nullptr), 1);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  EXPECT_EQ(SigningKey::FromPem(pem).status().code(), StatusCode::kInvalidArgument);
}

// Verifies: REQ-CORE-035
TEST(CryptoTest, RejectsSmallRsaModulus) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(1024));
  ASSERT_NE(key, nullptr);
  BIGNUM* n = nullptr;
  ASSERT_EQ(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n), 1);
  std::string n_bytes(static_cast<std::size_t>(BN_num_bytes(n)), '\0');
  BN_bn2bin(n, reinterpret_cast<unsigned char*>(n_bytes.data()));
  BN_free(n);
  EVP_PKEY_free(key);
  auto jwk = ParseJson(R"({"kty":"RSA","e":"AQAB","n":")" + Base64UrlEncode(n_bytes) + R"("})");
  EXPECT_EQ(VerifyKey::FromJwk(jwk).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sund::crypto
