/*
 * test_util.h - helpers shared by the codec's unit tests (header-only, all
 * static, so every test program stays a single translation unit plus the
 * codec).
 */
#ifndef ACCTGATE_TEST_UTIL_H
#define ACCTGATE_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"

/* Decode a hex string (whitespace ignored) into out; returns the length. */
static inline size_t hex_decode(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;
	int hi = -1;
	for (const char *c = hex; *c; c++) {
		int v;
		if (*c >= '0' && *c <= '9')
			v = *c - '0';
		else if (*c >= 'a' && *c <= 'f')
			v = *c - 'a' + 10;
		else if (*c >= 'A' && *c <= 'F')
			v = *c - 'A' + 10;
		else
			continue;
		if (hi < 0) {
			hi = v;
			continue;
		}
		assert_true(n < cap);
		out[n++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	assert_int_equal(hi, -1);
	return n;
}

/* Copy p into a heap buffer of exactly len bytes, so AddressSanitizer sees
 * any read past the end of a packet. */
static inline uint8_t *exact_copy(const uint8_t *p, size_t len)
{
	uint8_t *c = malloc(len ? len : 1);
	assert_non_null(c);
	if (len)
		memcpy(c, p, len);
	return c;
}

/* A malformed verdict must always say what was wrong and point inside the
 * packet (or at its end). */
static inline void assert_error_sane(const struct proto_error *err, size_t len)
{
	assert_non_null(err->what);
	assert_true(err->what[0] != '\0');
	assert_true(err->offset <= len);
}

#endif
