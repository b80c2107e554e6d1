/*
 * proto_internal.h - helpers shared by the codec's own files; not part of
 * the interface in proto.h (the proxy, tests and fuzzers never need them).
 */
#ifndef ACCTGATE_PROTO_INTERNAL_H
#define ACCTGATE_PROTO_INTERNAL_H

#include "proto.h"

/* Mark the reader failed at its current position with a parser-level
 * reason (a value check rather than a short read). The first failure wins:
 * later calls keep the original error, which is the one that explains. */
void proto_reader_fail(struct proto_reader *r, const char *what, uint64_t expected, uint64_t actual);

/* Fail with `what` unless every byte was consumed: a parser that accepted
 * trailing bytes could not write the packet back identically. */
void proto_reader_expect_end(struct proto_reader *r, const char *what);

#endif
