/*
 * journal_test.h - TEST-ONLY: make the writer's next disk operation of one
 * kind fail, so the unit tests reach the error paths (full disk, I/O
 * error, failed fsync) without root, a tiny filesystem or a broken disk.
 * The daemon and the tools never call it; when nothing is armed the
 * writer pays one atomic load per operation.
 */
#ifndef ACCTGATE_JOURNAL_TEST_H
#define ACCTGATE_JOURNAL_TEST_H

#include <stddef.h>
#include <stdint.h>

enum journal_test_point {
	JOURNAL_TEST_WRITE,  /* the pwrite of a record (as if EIO / ENOSPC) */
	JOURNAL_TEST_FSYNC,  /* an fdatasync of the current segment */
	JOURNAL_TEST_CREATE, /* posix_fallocate of a new segment (full disk) */
};
#define JOURNAL_TEST_POINTS 3

/* The next operation at point p fails with err (0 disarms). */
void journal_test_fail_next(enum journal_test_point p, int err);

/* The table-driven CRC-32C alone, to check the SSE4.2 path against it. */
uint32_t journal_crc32c_sw(uint32_t crc, const void *data, size_t len);

#endif
