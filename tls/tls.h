/*
 * tls.h - TLS contexts for both legs, and the server identity check.
 *
 * A context (SSL_CTX) is built once per configuration generation and shared
 * by every connection of every worker: the CA store, certificates and keys
 * are read from disk only when the configuration is loaded or reloaded,
 * never per connection (re-reading a large CA bundle per connect is what made
 * other proxies' TLS connects several times slower).
 */
#ifndef ACCTGATE_TLS_H
#define ACCTGATE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

/* What to check of the database server's certificate. */
enum tls_verify {
	TLS_VERIFY_NONE,     /* encrypt only (tls = required / preferred) */
	TLS_VERIFY_CA,       /* chain to a trusted CA */
	TLS_VERIFY_IDENTITY, /* chain, and subjectAltName matches the expected name */
};

struct tls_listener_params {
	const char *cert_file;      /* PEM chain */
	const char *key_file;
	const char *client_ca;      /* "" = no client certificates asked */
	const char *ciphers;        /* TLS 1.2 cipher list; "" = OpenSSL's default */
	const char *ciphersuites;   /* TLS 1.3 suites; "" = OpenSSL's default */
};

struct tls_upstream_params {
	enum tls_verify verify;
	const char *ca;             /* file or directory; "" = the system's store */
	const char *cert_file;      /* client certificate toward the server; "" = none */
	const char *key_file;
};

/* Whether OpenSSL takes `list` as a TLS 1.2 cipher list (tls13 false) or
 * as TLS 1.3 suites (tls13 true), so a bad [proxy] tls_ciphers or
 * tls_ciphersuites is refused where the file is parsed. "" (OpenSSL's
 * defaults) is valid. On refusal err holds OpenSSL's reason. */
bool tls_cipher_list_valid(const char *list, bool tls13, char *err, size_t errlen);

/* Build the context for the client leg. NULL with err filled on failure
 * (unreadable file, key not matching the certificate, bad cipher list). */
SSL_CTX *tls_listener_ctx_new(const struct tls_listener_params *p, char *err, size_t errlen);

/* Build the context for the server leg. */
SSL_CTX *tls_upstream_ctx_new(const struct tls_upstream_params *p, char *err, size_t errlen);

/*
 * A new client-side SSL for one upstream connection: sends `server_name` as
 * SNI when it is a DNS name, and with TLS_VERIFY_IDENTITY checks it against
 * the certificate's subjectAltName (as an IP address when it is one), so the
 * check holds even when the address connected to is a literal IP.
 */
SSL *tls_upstream_ssl_new(SSL_CTX *ctx, enum tls_verify verify, const char *server_name, char *err, size_t errlen);

/* Compare the SHA-256 of the peer's SubjectPublicKeyInfo with `pin`. */
bool tls_check_pin(SSL *ssl, const uint8_t pin[32], char *err, size_t errlen);

/*
 * Explain why a handshake failed, for the log and for the ERR packet the
 * client gets: the certificate verification result in plain words when there
 * is one ("certificate is not signed by a trusted CA", "certificate name does
 * not match 'db.example'", "certificate has expired"), else the first
 * OpenSSL error. `ossl_err` is an error code from the connection's error
 * queue (0 if none). Drains nothing; the caller owns the queue.
 */
void tls_describe_failure(SSL *ssl, unsigned long ossl_err, const char *expected_name, char *buf, size_t len);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384" for the logs. */
void tls_describe_session(SSL *ssl, char *buf, size_t len);

#endif
