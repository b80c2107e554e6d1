/*
 * journal_undo.h - what in-place restores undid, kept beside the journal.
 *
 * An in-place RESTORE takes the live database back to a point (the
 * snapshot rolled forward up to a sequence or a time) while the journal
 * keeps every commit made after that point, up to the restore's cut. From
 * the restore on, those commits are not history any more: a later replay
 * that runs across the cut must skip them, and one that stops before the
 * cut must not (it looks at the old branch, as it was then).
 *
 * The file <journal dir>/UNDO holds one line per in-place restore:
 *
 *   undo until_seq <n> until_time <usec> cut_seq <n> cut_time <usec>
 *
 * until_* is the range the restore was rolled forward with (0 = no
 * limit), cut_* the journal's CUT record written while client commands
 * were held. It is rewritten whole (temporary file, fsync, rename), so a
 * crash leaves the old list or the new one.
 */
#ifndef ACCTGATE_JOURNAL_UNDO_H
#define ACCTGATE_JOURNAL_UNDO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOURNAL_UNDO_FILE "UNDO"

struct journal_undo {
	uint64_t until_seq, until_time_usec; /* where the restore's roll forward stopped */
	uint64_t cut_seq, cut_time_usec;     /* the restore's cut */
};

/* One line of the file (len bytes, without its newline): false when it is
 * not exactly the format above with a cut_seq. Pure: fuzz_journal_undo. */
bool journal_undo_parse_line(const char *line, size_t len, struct journal_undo *u);

/* The undo list of a journal directory (none when the file is absent).
 * False with why filled when it cannot be read or a line is malformed. */
bool journal_undo_load(const char *dir, struct journal_undo **undo, size_t *n, char *why, size_t why_len);

/* Append u to the directory's list, durably. False with why filled. */
bool journal_undo_append(const char *dir, const struct journal_undo *u, char *why, size_t why_len);

#endif
