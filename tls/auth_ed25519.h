/*
 * auth_ed25519.h - the server side of MariaDB's client_ed25519 login, with
 * OpenSSL 3 only: the public key a password gives, made once per
 * configuration, and the check of a client's signature.
 *
 * The plugin (plugin/auth_ed25519 in MariaDB's server tree):
 *
 *   server --> client   32 random bytes (the data of an AuthSwitchRequest
 *                       naming client_ed25519)
 *   client --> server   a 64-byte Ed25519 signature (R, S) of those bytes
 *
 * The key pair is not RFC 8032's: the password, of any length, is hashed
 * itself (az = SHA-512(password)) where RFC 8032 hashes a 32-byte seed, so
 * OpenSSL cannot make the key from it. az[0..32), clamped, is the secret
 * scalar a, and A = a·B is what MariaDB stores for the account (base64,
 * ED25519_PASSWORD()). The signature over it is a standard Ed25519 one,
 * which OpenSSL verifies.
 */
#ifndef ACCTGATE_AUTH_ED25519_H
#define ACCTGATE_AUTH_ED25519_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_ED25519_NONCE_LEN 32
#define AUTH_ED25519_SIG_LEN 64
#define AUTH_ED25519_PUBLIC_LEN 32

struct auth_ed25519;

/*
 * The two encodings the password's public key A can have: out[0] with the
 * sign bit of x clear, out[1] with it set; A is one of them (see the .c
 * for why both). False only when OpenSSL fails.
 */
bool auth_ed25519_public(const char *password, size_t len, uint8_t out[2][AUTH_ED25519_PUBLIC_LEN])
	__attribute__((warn_unused_result));

/* The verifier for this password. NULL with err filled when OpenSSL fails. */
struct auth_ed25519 *auth_ed25519_new(const char *password, size_t len, char *err, size_t errlen);
void auth_ed25519_free(struct auth_ed25519 *k);

/*
 * Whether sig[0..siglen) is the password's signature of the nonce: exactly
 * AUTH_ED25519_SIG_LEN bytes that verify. Leaves OpenSSL's error queue
 * empty (the thread's TLS connections share it).
 */
bool auth_ed25519_verify(const struct auth_ed25519 *k, const uint8_t nonce[AUTH_ED25519_NONCE_LEN],
			 const uint8_t *sig, size_t siglen);

#endif
