/*
 * fuzz_journal_undo.c - journal_undo_parse_line over arbitrary bytes, one
 * line at a time (the input split at newlines, as journal_undo_load reads
 * the UNDO file).
 *
 * Invariant: a line that parses is the canonical text of what it parsed
 * to, so writing it back (journal_undo_append's format) and parsing that
 * gives the same undo.
 */
#include "fuzz_util.h"

#include <stdio.h>
#include <string.h>

#include "journal_undo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);
		struct journal_undo u, again;
		if (journal_undo_parse_line(p, len, &u)) {
			char text[256];
			int n = snprintf(text, sizeof(text), "undo until_seq %llu until_time %llu cut_seq %llu cut_time %llu",
					 (unsigned long long)u.until_seq, (unsigned long long)u.until_time_usec,
					 (unsigned long long)u.cut_seq, (unsigned long long)u.cut_time_usec);
			if (n <= 0 || (size_t)n >= sizeof(text) || !journal_undo_parse_line(text, (size_t)n, &again) ||
			    memcmp(&u, &again, sizeof(u)) != 0)
				__builtin_trap();
		}
		p += len + (nl != NULL);
	}
	return 0;
}
