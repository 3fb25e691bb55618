#include "auth/password.h"

#include <argon2.h>

#include <string>

#include "core/crypto.h"

namespace sund::auth {

Result<std::string> HashPassword(std::string_view password) {
  return HashPassword(password, PasswordParams{});
}

Result<std::string> HashPassword(std::string_view password, const PasswordParams& params) {
  if (password.size() > ARGON2_MAX_PWD_LENGTH) return InvalidArgument("password is too long");
  const std::string salt = crypto::RandomBytes(params.salt_bytes);
  const std::size_t len = argon2_encodedlen(params.t_cost, params.m_cost_kib, params.parallelism,
                                            params.salt_bytes, params.hash_bytes, Argon2_id);
  std::string encoded(len, '\0');
  int rc = argon2id_hash_encoded(params.t_cost, params.m_cost_kib, params.parallelism,
                                 password.data(), password.size(), salt.data(), salt.size(),
                                 params.hash_bytes, encoded.data(), encoded.size());
  if (rc != ARGON2_OK) {
    std::string why = argon2_error_message(rc);
    if (rc == ARGON2_MEMORY_ALLOCATION_ERROR || rc == ARGON2_THREAD_FAIL) {
      return Internal("argon2id failed: " + why);
    }
    return InvalidArgument("argon2id refused the parameters: " + why);
  }
  if (std::size_t end = encoded.find('\0'); end != std::string::npos) encoded.resize(end);
  return encoded;
}

bool VerifyPassword(std::string_view password, std::string_view encoded) {
  if (encoded.substr(0, 10) != "$argon2id$") return false;
  if (encoded.find('\0') != std::string_view::npos) return false;
  if (password.size() > ARGON2_MAX_PWD_LENGTH) return false;
  const std::string encoded_z(encoded);  // argon2id_verify wants a NUL-terminated string
  return argon2id_verify(encoded_z.c_str(), password.data(), password.size()) == ARGON2_OK;
}

}  // namespace sund::auth
