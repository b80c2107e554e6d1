/*
 * auth_key.h - the RSA key pair acctgate lends to caching_sha2_password
 * logins whose two legs disagree about TLS.
 *
 * In a full authentication each side looks only at its own connection: a
 * client on plaintext asks for the server's public key (0x02) and sends
 * the password RSA-encrypted; a MySQL server on TLS never offers its key
 * and reads whatever arrives as the password in clear. With the client
 * plain and the server leg TLS, acctgate answers the key request with this
 * key's public half, decrypts the client's answer, and sends the password
 * in clear inside the server leg's TLS: the password is then in acctgate's
 * memory for a moment, as on the TLS-TLS path, and never on a wire in
 * clear. One key per process, made at start; it protects only that hop.
 */
#ifndef ACCTGATE_AUTH_KEY_H
#define ACCTGATE_AUTH_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct auth_key;

/* A fresh 2048-bit RSA key. NULL with err filled when OpenSSL fails. */
struct auth_key *auth_key_new(char *err, size_t errlen);
void auth_key_free(struct auth_key *k);

/* The public key as PEM (SubjectPublicKeyInfo), as caching_sha2_password
 * sends it after the 0x01 of an AuthMoreData. */
const uint8_t *auth_key_public_pem(const struct auth_key *k, size_t *len);

/* The size of a ciphertext, and the most a plaintext can hold. */
size_t auth_key_size(const struct auth_key *k);

/*
 * RSA-OAEP (SHA-1, the padding caching_sha2_password uses) decryption of
 * in[0..inlen) into out (capacity auth_key_size bytes). False when it does
 * not decrypt: a ciphertext made with another key, or garbage.
 */
bool auth_key_decrypt(const struct auth_key *k, const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen);

#endif
