/*
 * log.h - leveled logging to stderr, one write(2) per line so lines from
 * worker threads never interleave. Nothing here ever logs packet contents:
 * callers log names, sizes and states, never SQL text or credentials.
 */
#ifndef ACCTGATE_LOG_H
#define ACCTGATE_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_NOTICE, LOG_WARNING, LOG_ERROR };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
const char *log_level_name(enum log_level level);
/* Parse "debug" .. "error"; returns false for anything else. */
int log_level_parse(const char *name, enum log_level *out);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Copy `len` bytes of text that came from the network (a user name before
 * authentication, a server's ERR message) into out, NUL-terminated, with
 * control characters, backslashes and bytes above 0x7e written as \xNN,
 * so such text can neither forge log lines nor hide in them. Truncates to
 * what fits; out must hold at least 1 byte.
 */
void log_escape(const char *in, size_t len, char *out, size_t outlen);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
