/*
 * tls.c - see tls.h. Both legs allow TLS 1.2 and 1.3 only.
 */
#include "tls.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

/* The queue's first error is the cause ("no start line", "wrong tag"), with
 * the decoders' own words as its data; the last is only where it surfaced
 * ("PEM lib" for every unreadable file). */
static void ossl_err_text(const char *what, const char *path, char *err, size_t errlen)
{
	const char *data = NULL;
	int flags = 0;
	unsigned long e = ERR_peek_error_all(NULL, NULL, NULL, &data, &flags);
	char reason[256] = "unknown error";
	if (e)
		ERR_error_string_n(e, reason, sizeof(reason));
	bool detail = e && data && *data && (flags & ERR_TXT_STRING);
	snprintf(err, errlen, "%s%s%s: %s%s%s%s", what, path ? " " : "", path ? path : "", reason, detail ? " (" : "",
		 detail ? data : "", detail ? ")" : "");
	ERR_clear_error();
}

static bool common_ctx_setup(SSL_CTX *ctx, char *err, size_t errlen)
{
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
		ossl_err_text("cannot set the minimum TLS version", NULL, err, errlen);
		return false;
	}
	/* Peers often close without close_notify; on a protocol with its own
	 * framing and COM_QUIT that is an end of stream, not an attack. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* The relay engine (proxy/conn.c) writes a record per 16 KiB from a
	 * buffer that may move between calls. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return true;
}

/* OpenSSL reports a missing file as "system lib": say which and why. */
static bool readable(const char *what, const char *path, char *err, size_t errlen)
{
	if (access(path, R_OK) == 0)
		return true;
	snprintf(err, errlen, "cannot read %s %s: %s", what, path, strerror(errno));
	return false;
}

static bool load_cert_and_key(SSL_CTX *ctx, const char *cert, const char *key, char *err, size_t errlen)
{
	if (!readable("certificate", cert, err, errlen) || !readable("private key", key, err, errlen))
		return false;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		ossl_err_text("cannot load certificate", cert, err, errlen);
		return false;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		ossl_err_text("cannot load private key", key, err, errlen);
		return false;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ossl_err_text("private key does not match certificate", cert, err, errlen);
		return false;
	}
	return true;
}

/*
 * Every certificate of every file in a directory, loaded now: OpenSSL's own
 * directory lookup wants c_rehash names and reads files as connections need
 * them; an unpacked bundle (say the RDS regional certificates) has neither.
 * Files that hold no certificate (a README) are passed over.
 */
static bool load_ca_dir(SSL_CTX *ctx, const char *dir, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	if (!d) {
		snprintf(err, errlen, "cannot read CA directory %s: %s", dir, strerror(errno));
		return false;
	}
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	int files = 0, skipped = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char path[PATH_MAX];
		struct stat st;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path) || stat(path, &st) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (X509_STORE_load_file(store, path) == 1)
			files++;
		else
			skipped++;
		ERR_clear_error();
	}
	closedir(d);
	if (files == 0) {
		snprintf(err, errlen, "no CA certificate in directory %s (%d file(s) without one)", dir, skipped);
		return false;
	}
	return true;
}

static bool load_ca(SSL_CTX *ctx, const char *ca, char *err, size_t errlen)
{
	if (!ca || !*ca) {
		if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
			ossl_err_text("cannot load the system CA store", NULL, err, errlen);
			return false;
		}
		return true;
	}
	struct stat st;
	if (stat(ca, &st) != 0) {
		snprintf(err, errlen, "cannot read CA %s: %s", ca, strerror(errno));
		return false;
	}
	if (S_ISDIR(st.st_mode))
		return load_ca_dir(ctx, ca, err, errlen);
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		ossl_err_text("cannot load CA", ca, err, errlen);
		return false;
	}
	return true;
}

bool tls_cipher_list_valid(const char *list, bool tls13, char *err, size_t errlen)
{
	if (!*list)
		return true;
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());
	bool ok = ctx && (tls13 ? SSL_CTX_set_ciphersuites(ctx, list) : SSL_CTX_set_cipher_list(ctx, list)) == 1;
	if (!ok) {
		const char *reason = ERR_reason_error_string(ERR_peek_error());
		snprintf(err, errlen, "%s", reason ? reason : "refused by OpenSSL");
	}
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return ok;
}

SSL_CTX *tls_listener_ctx_new(const struct tls_listener_params *p, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		ossl_err_text("cannot create TLS context", NULL, err, errlen);
		return NULL;
	}
	if (!common_ctx_setup(ctx, err, errlen) || !load_cert_and_key(ctx, p->cert_file, p->key_file, err, errlen))
		goto fail;
	if (p->ciphers && *p->ciphers && SSL_CTX_set_cipher_list(ctx, p->ciphers) != 1) {
		ossl_err_text("invalid tls_ciphers", p->ciphers, err, errlen);
		goto fail;
	}
	if (p->ciphersuites && *p->ciphersuites && SSL_CTX_set_ciphersuites(ctx, p->ciphersuites) != 1) {
		ossl_err_text("invalid tls_ciphersuites", p->ciphersuites, err, errlen);
		goto fail;
	}
	if (p->client_ca && *p->client_ca) {
		if (!load_ca(ctx, p->client_ca, err, errlen))
			goto fail;
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	/* Sessions are short-lived per connection; no resumption cache across
	 * reloads keeps a rotated key from being used through old tickets. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *tls_upstream_ctx_new(const struct tls_upstream_params *p, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		ossl_err_text("cannot create TLS context", NULL, err, errlen);
		return NULL;
	}
	if (!common_ctx_setup(ctx, err, errlen))
		goto fail;
	if (p->verify != TLS_VERIFY_NONE) {
		if (!load_ca(ctx, p->ca, err, errlen))
			goto fail;
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	if (p->cert_file && *p->cert_file && !load_cert_and_key(ctx, p->cert_file, p->key_file, err, errlen))
		goto fail;
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static bool is_ip_literal(const char *name)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

SSL *tls_upstream_ssl_new(SSL_CTX *ctx, enum tls_verify verify, const char *server_name, char *err, size_t errlen)
{
	SSL *ssl = SSL_new(ctx);
	if (!ssl) {
		ossl_err_text("cannot create TLS connection", NULL, err, errlen);
		return NULL;
	}
	bool ip = is_ip_literal(server_name);
	/* RFC 6066: SNI carries host names only, never address literals. */
	if (!ip && SSL_set_tlsext_host_name(ssl, server_name) != 1) {
		ossl_err_text("cannot set SNI", server_name, err, errlen);
		goto fail;
	}
	if (verify == TLS_VERIFY_IDENTITY) {
		int rc = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), server_name)
			    : SSL_set1_host(ssl, server_name);
		if (rc != 1) {
			ossl_err_text("cannot set the expected server name", server_name, err, errlen);
			goto fail;
		}
		/* A wildcard may stand for one whole label only. */
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	}
	return ssl;
fail:
	SSL_free(ssl);
	return NULL;
}

bool tls_check_pin(SSL *ssl, const uint8_t pin[32], char *err, size_t errlen)
{
	X509 *cert = SSL_get1_peer_certificate(ssl);
	if (!cert) {
		snprintf(err, errlen, "server sent no certificate to check tls_pin_sha256 against");
		return false;
	}
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(X509_get0_pubkey(cert), &der);
	X509_free(cert);
	if (len <= 0) {
		snprintf(err, errlen, "cannot encode the server's public key");
		return false;
	}
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	int ok = EVP_Digest(der, (size_t)len, digest, &dlen, EVP_sha256(), NULL);
	OPENSSL_free(der);
	if (!ok || dlen != 32) {
		snprintf(err, errlen, "cannot hash the server's public key");
		return false;
	}
	if (CRYPTO_memcmp(digest, pin, 32) != 0) {
		char hex[65];
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", digest[i]);
		snprintf(err, errlen, "server public key does not match tls_pin_sha256 (server's key is sha256 %s)", hex);
		return false;
	}
	return true;
}

void tls_describe_failure(SSL *ssl, unsigned long ossl_err, const char *expected_name, char *buf, size_t len)
{
	long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	switch (vr) {
	case X509_V_OK:
		break;
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		snprintf(buf, len, "server certificate name mismatch: it is not valid for '%s'", expected_name);
		return;
	case X509_V_ERR_CERT_HAS_EXPIRED:
		snprintf(buf, len, "server certificate has expired");
		return;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		snprintf(buf, len, "server certificate is not yet valid");
		return;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_UNTRUSTED:
		snprintf(buf, len, "server certificate is not signed by a trusted CA (%s)",
			 X509_verify_cert_error_string(vr));
		return;
	default:
		snprintf(buf, len, "server certificate rejected: %s", X509_verify_cert_error_string(vr));
		return;
	}
	if (ossl_err) {
		char reason[256];
		ERR_error_string_n(ossl_err, reason, sizeof(reason));
		snprintf(buf, len, "TLS handshake failed: %s", reason);
	} else {
		snprintf(buf, len, "TLS handshake failed: the connection was closed during the handshake");
	}
}

void tls_describe_session(SSL *ssl, char *buf, size_t len)
{
	snprintf(buf, len, "%s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
}
