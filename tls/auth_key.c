/*
 * auth_key.c - see auth_key.h. OpenSSL 3 EVP interfaces only.
 */
#include "auth_key.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

struct auth_key {
	EVP_PKEY *pkey;
	uint8_t *pem;
	size_t pem_len;
};

void auth_key_free(struct auth_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	free(k->pem);
	free(k);
}

struct auth_key *auth_key_new(char *err, size_t errlen)
{
	struct auth_key *k = calloc(1, sizeof(*k));
	BIO *bio = NULL;
	const char *why;
	if (!k) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	k->pkey = EVP_RSA_gen(2048);
	bio = BIO_new(BIO_s_mem());
	if (!k->pkey || !bio || !PEM_write_bio_PUBKEY(bio, k->pkey))
		goto fail;
	char *data;
	long n = BIO_get_mem_data(bio, &data);
	k->pem = malloc((size_t)n);
	if (n <= 0 || !k->pem)
		goto fail;
	memcpy(k->pem, data, (size_t)n);
	k->pem_len = (size_t)n;
	BIO_free(bio);
	return k;
fail:
	why = ERR_peek_last_error() ? ERR_reason_error_string(ERR_peek_last_error()) : NULL;
	snprintf(err, errlen, "cannot make the RSA key for caching_sha2_password: %s", why ? why : "out of memory");
	ERR_clear_error();
	BIO_free(bio);
	auth_key_free(k);
	return NULL;
}

const uint8_t *auth_key_public_pem(const struct auth_key *k, size_t *len)
{
	*len = k->pem_len;
	return k->pem;
}

size_t auth_key_size(const struct auth_key *k) { return (size_t)EVP_PKEY_get_size(k->pkey); }

bool auth_key_decrypt(const struct auth_key *k, const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k->pkey, NULL);
	size_t cap = auth_key_size(k);
	bool ok = ctx && EVP_PKEY_decrypt_init(ctx) > 0 &&
		  EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) > 0 &&
		  EVP_PKEY_decrypt(ctx, out, &cap, in, inlen) > 0;
	EVP_PKEY_CTX_free(ctx);
	/* A failed decryption leaves its reason on the thread's queue, which
	 * every session on this worker shares. */
	ERR_clear_error();
	if (ok)
		*outlen = cap;
	return ok;
}
