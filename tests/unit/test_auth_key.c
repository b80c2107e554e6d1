/*
 * test_auth_key.c - the RSA key acctgate lends to caching_sha2_password
 * logins (tls/auth_key.h): its public half reads back as a PEM public key,
 * what a client encrypts with it (RSA-OAEP, as libmariadb's plugin does)
 * decrypts, and every other input is refused rather than decrypted wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "auth_key.h"

/* Encrypt the way a caching_sha2_password client does, with the PEM it got. */
static size_t client_encrypt(const uint8_t *pem, size_t pem_len, const uint8_t *msg, size_t len, uint8_t *out,
			     size_t cap)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)pem_len);
	EVP_PKEY *pub = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(pub);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pub, NULL);
	size_t n = cap;
	assert_true(EVP_PKEY_encrypt_init(ctx) > 0);
	assert_true(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) > 0);
	assert_true(EVP_PKEY_encrypt(ctx, out, &n, msg, len) > 0);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pub);
	return n;
}

static void test_round_trip_and_refusals(void **state)
{
	char err[256];
	struct auth_key *k = auth_key_new(err, sizeof(err)), *other = auth_key_new(err, sizeof(err));
	assert_non_null(k);
	assert_non_null(other);
	assert_int_equal(auth_key_size(k), 256);

	size_t pem_len;
	const uint8_t *pem = auth_key_public_pem(k, &pem_len);
	assert_true(pem_len > 26 && memcmp(pem, "-----BEGIN PUBLIC KEY-----", 26) == 0);

	const uint8_t masked[] = "\x13\x37masked password\0";
	uint8_t ct[512], pt[256];
	size_t ct_len = client_encrypt(pem, pem_len, masked, sizeof(masked), ct, sizeof(ct)), pt_len = 0;
	assert_int_equal(ct_len, 256);
	assert_true(auth_key_decrypt(k, ct, ct_len, pt, &pt_len));
	assert_int_equal(pt_len, sizeof(masked));
	assert_memory_equal(pt, masked, sizeof(masked));

	/* A flipped byte, a short ciphertext, and one made for another key. */
	ct[100] ^= 0x01;
	assert_false(auth_key_decrypt(k, ct, ct_len, pt, &pt_len));
	ct[100] ^= 0x01;
	assert_false(auth_key_decrypt(k, ct, ct_len - 1, pt, &pt_len));
	size_t other_pem_len;
	const uint8_t *other_pem = auth_key_public_pem(other, &other_pem_len);
	ct_len = client_encrypt(other_pem, other_pem_len, masked, sizeof(masked), ct, sizeof(ct));
	assert_false(auth_key_decrypt(k, ct, ct_len, pt, &pt_len));
	assert_true(auth_key_decrypt(other, ct, ct_len, pt, &pt_len));

	auth_key_free(k);
	auth_key_free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_and_refusals),
	};
	return cmocka_run_group_tests_name("auth_key", tests, NULL, NULL);
}
