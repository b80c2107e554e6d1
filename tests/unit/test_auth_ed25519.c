/*
 * test_auth_ed25519.c - the client_ed25519 check (tls/auth_ed25519.h)
 * against MariaDB's own code:
 *   - the public key: ED25519_PASSWORD(pw) on MariaDB 10.11.19 (the
 *     auth_ed25519 server plugin's UDF; what mysql.global_priv stores for
 *     IDENTIFIED VIA ed25519) is one of the two encodings derived here,
 *     and the other differs from it only in the sign bit;
 *   - signatures: libmariadb 10.11.19's client_ed25519.so, driven by the
 *     stock client (mariadb --default-auth=client_ed25519) against a
 *     scripted server that sent the nonce 00 01 02 ... 1f, signed it with
 *     "secret" and with a 96-byte password; each verifies, as a standard
 *     Ed25519 signature under MariaDB's A too;
 *   - refusals: another password, a flipped bit in R or in S, another
 *     nonce, one byte short or long, nothing; none leaves an OpenSSL error
 *     behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "auth_ed25519.h"

#define LONG_PASSWORD                                                                                           \
	"long-passphrase-long-passphrase-long-passphrase-long-passphrase-long-passphrase-long-passphrase-"

/* ED25519_PASSWORD(password), as MariaDB prints it (base64 without the
 * final '='). */
static const struct {
	const char *password;
	const char *a_base64;
} mariadb_keys[] = {
	{"secret", "ZIgUREUg5PVgQ6LskhXmO+eZLS0nC8be6HPjYWR4YJY"},     /* sign bit set */
	{"Adm1n-pass", "PN3tgOpcde3dGwW0V7Bdsaz/RF41mgv9lPn4TqCMUTk"}, /* sign bit clear */
	{"edpw", "LIEvGDGjHTmKyz3peLRjPqahOct5n6/BQCNm1bOvot4"},
	{LONG_PASSWORD, "0lq7Dssnh8cyh9OmRB4K1lWI85te+XoyDrhKgAqZiCc"},
};

/* client_ed25519.so's signatures of the nonce 00 01 ... 1f. */
static const uint8_t sig_secret[AUTH_ED25519_SIG_LEN] = {
	0x54, 0x6c, 0x3e, 0x93, 0x11, 0xd1, 0x9e, 0xe3, 0x89, 0xd1, 0xae, 0x5d, 0x94, 0x58, 0x21, 0xbf,
	0xe4, 0x59, 0x42, 0x39, 0x10, 0x13, 0x6f, 0x16, 0xb3, 0xbd, 0x2a, 0xe8, 0x9f, 0xd7, 0xd6, 0x3b,
	0x44, 0x9e, 0x68, 0x9f, 0x4b, 0xe8, 0x12, 0x89, 0x1a, 0x85, 0xb8, 0xf9, 0x99, 0x07, 0x64, 0x46,
	0xd9, 0x2a, 0xdb, 0x83, 0xd0, 0x70, 0x72, 0x15, 0xaa, 0xa6, 0x0b, 0x5a, 0x23, 0x22, 0x09, 0x07,
};
static const uint8_t sig_long[AUTH_ED25519_SIG_LEN] = {
	0x31, 0xcd, 0x3f, 0xa8, 0xc9, 0x8f, 0xac, 0xb7, 0x94, 0x3f, 0xda, 0xcc, 0x35, 0x0c, 0x4c, 0x15,
	0x93, 0x8b, 0xe6, 0x68, 0x1e, 0x6a, 0x46, 0xbc, 0x94, 0xc5, 0x6a, 0xd3, 0xd5, 0x27, 0x6d, 0xcf,
	0xc1, 0x4a, 0x71, 0x17, 0x82, 0x65, 0xab, 0x5c, 0xf0, 0x54, 0x1a, 0xd0, 0x51, 0xb4, 0x69, 0xe2,
	0x12, 0x5a, 0x31, 0x46, 0x51, 0xeb, 0x5e, 0x32, 0x90, 0x74, 0xc4, 0x26, 0x7e, 0xef, 0xb1, 0x0c,
};

static void nonce_0_to_31(uint8_t nonce[AUTH_ED25519_NONCE_LEN])
{
	for (int i = 0; i < AUTH_ED25519_NONCE_LEN; i++)
		nonce[i] = (uint8_t)i;
}

static void decode_a(const char *b64, uint8_t out[AUTH_ED25519_PUBLIC_LEN])
{
	char padded[45];
	uint8_t raw[33];
	assert_int_equal(strlen(b64), 43);
	snprintf(padded, sizeof(padded), "%s=", b64);
	/* EVP_DecodeBlock counts the padding as a zero byte. */
	assert_int_equal(EVP_DecodeBlock(raw, (const unsigned char *)padded, 44), 33);
	memcpy(out, raw, AUTH_ED25519_PUBLIC_LEN);
}

static struct auth_ed25519 *verifier(const char *password)
{
	char err[256];
	struct auth_ed25519 *k = auth_ed25519_new(password, strlen(password), err, sizeof(err));
	assert_non_null(k);
	return k;
}

static void test_public_key_is_mariadbs(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(mariadb_keys) / sizeof(mariadb_keys[0]); i++) {
		uint8_t want[AUTH_ED25519_PUBLIC_LEN], got[2][AUTH_ED25519_PUBLIC_LEN];
		decode_a(mariadb_keys[i].a_base64, want);
		assert_true(auth_ed25519_public(mariadb_keys[i].password, strlen(mariadb_keys[i].password), got));
		int sign = want[31] >> 7;
		assert_memory_equal(got[sign], want, sizeof(want));
		/* The other encoding: the same y, the sign bit flipped. */
		want[31] ^= 0x80;
		assert_memory_equal(got[!sign], want, sizeof(want));
	}
	assert_int_equal(ERR_peek_error(), 0);
}

static void test_mariadb_client_signatures_verify(void **state)
{
	(void)state;
	uint8_t nonce[AUTH_ED25519_NONCE_LEN];
	nonce_0_to_31(nonce);
	struct auth_ed25519 *k = verifier("secret");
	assert_true(auth_ed25519_verify(k, nonce, sig_secret, sizeof(sig_secret)));
	auth_ed25519_free(k);
	k = verifier(LONG_PASSWORD);
	assert_true(auth_ed25519_verify(k, nonce, sig_long, sizeof(sig_long)));
	auth_ed25519_free(k);

	/* A standard Ed25519 signature under the key MariaDB stores. */
	uint8_t a[AUTH_ED25519_PUBLIC_LEN];
	decode_a(mariadb_keys[0].a_base64, a);
	EVP_PKEY *pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, a, sizeof(a));
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	assert_non_null(pub);
	assert_non_null(ctx);
	assert_int_equal(EVP_DigestVerifyInit_ex(ctx, NULL, NULL, NULL, NULL, pub, NULL), 1);
	assert_int_equal(EVP_DigestVerify(ctx, sig_secret, sizeof(sig_secret), nonce, sizeof(nonce)), 1);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pub);
	assert_int_equal(ERR_peek_error(), 0);
}

static void test_refusals(void **state)
{
	(void)state;
	uint8_t nonce[AUTH_ED25519_NONCE_LEN], sig[AUTH_ED25519_SIG_LEN + 1];
	nonce_0_to_31(nonce);
	struct auth_ed25519 *k = verifier("secret"), *other = verifier("Secret");

	assert_false(auth_ed25519_verify(other, nonce, sig_secret, sizeof(sig_secret)));
	memcpy(sig, sig_secret, sizeof(sig_secret));
	sig[3] ^= 0x10; /* in R */
	assert_false(auth_ed25519_verify(k, nonce, sig, AUTH_ED25519_SIG_LEN));
	memcpy(sig, sig_secret, sizeof(sig_secret));
	sig[40] ^= 0x01; /* in S */
	assert_false(auth_ed25519_verify(k, nonce, sig, AUTH_ED25519_SIG_LEN));
	memcpy(sig, sig_secret, sizeof(sig_secret));
	nonce[31] ^= 0x01;
	assert_false(auth_ed25519_verify(k, nonce, sig, AUTH_ED25519_SIG_LEN));
	nonce[31] ^= 0x01;
	/* The right bytes with one missing or one more are not the answer. */
	sig[AUTH_ED25519_SIG_LEN] = 0;
	assert_false(auth_ed25519_verify(k, nonce, sig, AUTH_ED25519_SIG_LEN - 1));
	assert_false(auth_ed25519_verify(k, nonce, sig, AUTH_ED25519_SIG_LEN + 1));
	assert_false(auth_ed25519_verify(k, nonce, sig, 0));
	/* And the untouched one still passes. */
	assert_true(auth_ed25519_verify(k, nonce, sig, AUTH_ED25519_SIG_LEN));
	assert_int_equal(ERR_peek_error(), 0);
	auth_ed25519_free(k);
	auth_ed25519_free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_public_key_is_mariadbs),
		cmocka_unit_test(test_mariadb_client_signatures_verify),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
