/*
 * auth_ed25519.c - see auth_ed25519.h. OpenSSL 3 EVP and BIGNUM only.
 *
 * A = a·B is a multiplication on the Edwards curve by a scalar of our
 * choosing, which OpenSSL 3 does not offer (its Ed25519 keys derive the
 * scalar from a seed themselves). Its X25519 does offer one, on the
 * Montgomery curve that is birationally equivalent: X25519(a, 9) is the u
 * of a·B, and y = (u - 1) / (u + 1) mod p (p = 2^255 - 19) is A's y.
 * OpenSSL's X25519 clamps a exactly as MariaDB does (bits 0-2 and 255
 * cleared, bit 254 set), so the scalars agree. This keeps the secret a in
 * OpenSSL's constant-time ladder: the BIGNUM arithmetic after it handles u
 * and y, which are public (A is a public key). Our own Edwards
 * multiplication with BIGNUM would give x too, but would run variable-time
 * code over the secret.
 *
 * The price: u does not carry the sign of x, so A is either (x, y) or
 * (-x, y) = -A, and a signature is checked under both encodings. That
 * costs nothing in strength: -A = (-a mod L)·B, so signing under -A needs
 * a as well, that is the password.
 */
#include "auth_ed25519.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

struct auth_ed25519 {
	EVP_PKEY *pub[2]; /* the encodings of auth_ed25519_public, in its order */
};

/* y = (u - 1) / (u + 1) mod p, written as 32 bytes little-endian (the
 * sign bit, bit 255, clear: y < p < 2^255). */
static bool edwards_y(const uint8_t u_le[32], uint8_t y_le[32])
{
	BN_CTX *ctx = BN_CTX_new();
	if (!ctx)
		return false;
	BN_CTX_start(ctx);
	BIGNUM *p = BN_CTX_get(ctx), *u = BN_CTX_get(ctx), *num = BN_CTX_get(ctx), *den = BN_CTX_get(ctx);
	bool ok = den && BN_set_bit(p, 255) && BN_sub_word(p, 19) && BN_lebin2bn(u_le, 32, u) &&
		  BN_nnmod(u, u, p, ctx) && BN_copy(num, u) && BN_sub_word(num, 1) && BN_nnmod(num, num, p, ctx) &&
		  BN_copy(den, u) && BN_add_word(den, 1) && BN_nnmod(den, den, p, ctx) &&
		  /* u = -1 (no inverse) is no multiple of B: it fails here */
		  BN_mod_inverse(den, den, p, ctx) && BN_mod_mul(num, num, den, p, ctx) &&
		  BN_bn2lebinpad(num, y_le, 32) == 32;
	BN_CTX_end(ctx);
	BN_CTX_free(ctx);
	return ok;
}

bool auth_ed25519_public(const char *password, size_t len, uint8_t out[2][AUTH_ED25519_PUBLIC_LEN])
{
	uint8_t az[64], u[32];
	unsigned int azlen = 0;
	size_t ulen = sizeof(u);
	EVP_PKEY *x = NULL;
	bool ok = EVP_Digest(password, len, az, &azlen, EVP_sha512(), NULL) == 1 && azlen == sizeof(az);
	if (ok) {
		/* MariaDB's clamping; X25519 would apply the same itself. */
		az[0] &= 248;
		az[31] &= 63;
		az[31] |= 64;
		x = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, az, 32);
	}
	ok = ok && x && EVP_PKEY_get_raw_public_key(x, u, &ulen) == 1 && ulen == sizeof(u) && edwards_y(u, out[0]);
	/* Frees the copy of the scalar it holds with its own cleanse. */
	EVP_PKEY_free(x);
	OPENSSL_cleanse(az, sizeof(az));
	if (ok) {
		memcpy(out[1], out[0], AUTH_ED25519_PUBLIC_LEN);
		out[1][AUTH_ED25519_PUBLIC_LEN - 1] |= 0x80;
	}
	ERR_clear_error();
	return ok;
}

void auth_ed25519_free(struct auth_ed25519 *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pub[0]);
	EVP_PKEY_free(k->pub[1]);
	free(k);
}

struct auth_ed25519 *auth_ed25519_new(const char *password, size_t len, char *err, size_t errlen)
{
	uint8_t pub[2][AUTH_ED25519_PUBLIC_LEN];
	struct auth_ed25519 *k = calloc(1, sizeof(*k));
	if (!k || !auth_ed25519_public(password, len, pub)) {
		snprintf(err, errlen, "cannot derive the client_ed25519 public key: %s",
			 k ? "OpenSSL failed" : "out of memory");
		free(k);
		return NULL;
	}
	for (int i = 0; i < 2; i++)
		k->pub[i] = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub[i], AUTH_ED25519_PUBLIC_LEN);
	if (!k->pub[0] || !k->pub[1]) {
		snprintf(err, errlen, "cannot make the client_ed25519 public key: out of memory");
		ERR_clear_error();
		auth_ed25519_free(k);
		return NULL;
	}
	return k;
}

static bool verify_under(EVP_PKEY *pub, const uint8_t *msg, size_t mlen, const uint8_t *sig, size_t siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	/* Ed25519 takes no digest: NULL, and the message in one call. */
	bool ok = ctx && EVP_DigestVerifyInit_ex(ctx, NULL, NULL, NULL, NULL, pub, NULL) == 1 &&
		  EVP_DigestVerify(ctx, sig, siglen, msg, mlen) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

bool auth_ed25519_verify(const struct auth_ed25519 *k, const uint8_t nonce[AUTH_ED25519_NONCE_LEN],
			 const uint8_t *sig, size_t siglen)
{
	if (siglen != AUTH_ED25519_SIG_LEN)
		return false;
	/* Both always run: the time taken does not say which encoding is A. */
	bool first = verify_under(k->pub[0], nonce, AUTH_ED25519_NONCE_LEN, sig, siglen);
	bool second = verify_under(k->pub[1], nonce, AUTH_ED25519_NONCE_LEN, sig, siglen);
	/* A signature that fails leaves its reason on the thread's queue. */
	ERR_clear_error();
	return first | second;
}
