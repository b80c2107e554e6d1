/*
 * fuzz_util.h - what the fuzz targets share: a crash-on-violation check
 * (libFuzzer reports the abort with the input) and the write-back oracles.
 */
#ifndef ACCTGATE_FUZZ_UTIL_H
#define ACCTGATE_FUZZ_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                      \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                              \
		}                                                                             \
	} while (0)

/* A malformed verdict names the field and points inside the input. */
static inline void fuzz_check_error(const struct proto_error *err, size_t len)
{
	FUZZ_CHECK(err->what != NULL && err->what[0] != '\0');
	FUZZ_CHECK(err->offset <= len);
}

static inline uint32_t fuzz_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Room for anything a parser of an input of len bytes can make a writer
 * produce: lenenc lengths may grow from 1 to 9 bytes. */
static inline size_t fuzz_out_cap(size_t len)
{
	return 64 + len * 9;
}

#endif
