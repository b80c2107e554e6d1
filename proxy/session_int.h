/*
 * session_int.h - the session layer's own contract between its files:
 *
 *   session.c  life cycle: start, the legs' callbacks, close, free, drain
 *   login.c    connection phase: greetings, client TLS, the held login,
 *              the authentication relay and caching_sha2's key relay
 *   relay.c    command phase: framing client commands, the hooks' verdicts,
 *              streaming responses, backpressure, LOCAL INFILE
 *   txn.c      what the server-side session is in: database, autocommit,
 *              the open transaction and its statements
 *   redo.c     after a deadlock or a lock wait timeout: the transaction
 *              run again, compared with what the client got, before the
 *              failed command goes again
 *
 * Nothing outside these five files includes this header.
 */
#ifndef ACCTGATE_SESSION_INT_H
#define ACCTGATE_SESSION_INT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>

#include "conn.h"
#include "gate.h"
#include "hooks.h"
#include "link.h"
#include "proto.h"
#include "session.h"
#include "worker.h"

/* Output above this stops reading the other side; reading resumes once the
 * output drained. Bounds memory per session to about this plus one read,
 * whatever the result size. */
#define BACKPRESSURE_HIGH (4u << 20)
/* Connection-phase packets are small; a larger one is an attack or a bug. */
#define HANDSHAKE_MAX_PAYLOAD (64u << 10)
/* How much of a response packet the tracker needs to decide (OK/ERR/EOF). */
#define TRACKER_PEEK (64u << 10)
/* The server leg's input buffer: a tracker peek and a few TLS records. */
#define SERVER_IN_LIMIT (256u << 10)

/* Error codes the proxy itself sends (the MySQL numbers clients know). */
#define ER_CON_COUNT_ERROR 1040
#define ER_UNKNOWN_COM_ERROR 1047
#define ER_SERVER_SHUTDOWN 1053
#define ER_NET_PACKET_TOO_LARGE 1153
#define ER_NET_PACKETS_OUT_OF_ORDER 1156
#define ER_NOT_ALLOWED_COMMAND 1148
#define ER_SECURE_TRANSPORT_REQUIRED 3159
#define ER_UNKNOWN_ERROR 1105 /* see link.c: never a client-range (2xxx) code */
#define ER_ACCESS_DENIED_ERROR 1045
#define ER_HANDSHAKE_ERROR 1043

enum session_state {
	S_CONNECTING,    /* the server leg connects and reads the greeting (link.c) */
	S_CLIENT_HELLO,  /* greeting sent; waiting for SSLRequest or HandshakeResponse */
	S_CLIENT_TLS,    /* TLS accept with the client in progress */
	S_UPSTREAM_TLS,  /* client's response held; TLS handshake with the server */
	S_AUTH,          /* relaying the authentication exchange */
	S_IDLE,          /* command phase: waiting for the client's next command */
	S_COMMAND_HELD,  /* a hook holds the command at the front of the client's input */
	S_COMMAND,       /* a command was forwarded; its response is streaming back */
	S_RESULT_HELD,   /* a hook holds the response's final packet (held_final) */
	S_RESPONSE_PAUSED, /* a hook paused the response at a result end before its last: that
	                      packet (paused_wire bytes at the server input's front) and all after it
	                      wait, the server is not read */
	S_REPLAY,        /* the command got a deadlock or lock wait timeout: redo.c runs the
	                    transaction again on the server leg; the client waits */
	S_CLOSING,       /* flushing the last bytes, then freed */
};

const char *session_state_name(enum session_state st);

/* What the session knows of the server-side session, for the features
 * that record, throttle and snapshot. Kept by txn.c from every result end. */
struct session_context {
	char user[128];
	char database[256];
	uint16_t status_flags;    /* from the last OK/EOF */
	bool autocommit;
	bool in_transaction;
	/* The command in flight (code 0xff = none). */
	uint8_t command;
	uint64_t command_len;
	struct timespec command_started;
	char pending_database[256]; /* COM_INIT_DB's schema, applied on its OK */
	char pending_user[128];     /* COM_CHANGE_USER's, applied on its OK */
	char pending_user_db[256];
	uint64_t fixed_time_usec;   /* the last session_fix_time; 0: the server's clock */
	bool txn_open;              /* txn.c: a transaction (or autocommit statement) runs */
	struct txn txn;
	uint64_t next_txn_id;
};

/*
 * caching_sha2_password's full authentication with a plaintext client over a
 * TLS server leg, where acctgate stands in for the server's RSA key (see
 * auth_key.h): what the client's next auth packet is expected to be.
 */
enum key_relay {
	KEY_RELAY_OFF,
	KEY_RELAY_REQUEST,    /* the client asks for the key (0x02), or answers at once */
	KEY_RELAY_CIPHERTEXT, /* the client sends the password under acctgate's key */
};

struct session {
	uint64_t id;
	struct worker *worker;
	struct settings *settings;
	struct session *prev, *next; /* worker's list */
	enum session_state state;
	char peer[INET6_ADDRSTRLEN + 8];

	struct conn *client;
	struct conn *server;
	bool client_tls, upstream_tls;
	bool drain_requested;

	struct link link;             /* the server leg until the handshake is done */
	char log_prefix[32];          /* "session N" */
	struct event *timer;          /* login_timeout, then the close's flush deadline */
	struct event *free_ev;

	/* Connection phase. */
	uint32_t server_caps;
	uint32_t advertised_caps;     /* what the client was offered */
	uint8_t *held_response;       /* client's HandshakeResponse41, until the server leg is ready */
	size_t held_response_len;
	uint8_t client_seq;           /* next sequence id expected from the client */
	int seq_shift;                /* server seq = client seq + seq_shift during authentication */
	uint8_t scramble[PROTO_SCRAMBLE_LEN]; /* the nonce of the authentication in progress */
	enum key_relay key_relay;

	/* Command phase. */
	uint32_t caps;                /* negotiated: what the client sent */
	struct proto_frame_scan cmd_scan; /* framing of the client's next command */
	bool cmd_scanning;
	struct proto_tracker tracker;
	bool server_in_chunk;         /* the server's previous chunk was 0xFFFFFF long */
	uint64_t pass_remaining;      /* bytes of the current server packet still to pass on unread */
	uint64_t response_bytes;      /* of the command's response passed to the client so far */
	uint64_t drop_remaining;      /* bytes of an injected statement's packet still to drop */
	bool infile_refused;          /* a LOCAL INFILE request was refused; its ERR is pending */
	uint8_t infile_client_seq;    /* the sequence id that ERR carries */
	int hook_pos;                 /* the hook that holds (S_COMMAND_HELD / S_RESULT_HELD) */
	size_t held_wire;             /* S_COMMAND_HELD: the command's bytes at the client input's front */
	uint64_t held_payload;
	uint8_t held_next_seq;
	uint8_t *held_final;          /* S_RESULT_HELD: the final packet, header included */
	bool pause_requested;         /* session_pause_response from a hook's on_result_end */
	size_t paused_wire;           /* S_RESPONSE_PAUSED: the paused packet's bytes */
	size_t held_final_len;

	/* Statements of acctgate's own (session_inject): queued until the
	 * command they precede goes, then their responses are consumed first. */
	struct injected {
		uint8_t *wire;            /* a COM_QUERY packet, header included */
		size_t len;
		const struct session_inject_ops *ops;
		void *arg;
	} inject[SESSION_INJECT_MAX];
	int ninject;                  /* queued or awaiting a response */
	bool inject_sent;             /* inject[0..ninject) are on their way */
	bool inject_in_hold;          /* sent while the final packet is held (S_RESULT_HELD after) */
	uint64_t inject_ncols;        /* columns of the result being consumed */
	uint8_t after_inject;         /* the client command whose response follows, 0xff: none */
	bool answer_after_inject;     /* session_release_error: the client's ERR waits for them */
	struct hook_answer answer;
	uint8_t answer_seq;

	/* redo.c: the response's CRC-32C so far (what the client got), and a
	 * replay in progress (S_REPLAY). */
	uint32_t response_crc;
	struct redo {
		int step;                 /* enum redo_step (redo.c) */
		int attempt;              /* replays of the failed command so far */
		bool whole;               /* the transaction runs again, not only the failed command */
		bool undone;              /* the replay's ROLLBACK ran */
		uint8_t *err;             /* the ERR the client gets if it gives up, header included */
		size_t err_len;
		struct proto_result_end err_end;
		size_t next;              /* the statement whose response is awaited */
		int awaiting;             /* responses of acctgate's own statements still to come */
		uint32_t crc;             /* of the replayed response being read */
		uint64_t skip;            /* bytes of a packet still to read past (and digest) */
		bool in_chunk;            /* the previous chunk was 0xFFFFFF long */
		bool in_trans;            /* the server's answer to SELECT @@in_transaction */
		struct event *timer;      /* the backoff before an attempt */
	} redo;

	void *hook_data[HOOKS_MAX];   /* session_hook_data */
	struct session_context ctx;
};

static inline const struct config *session_cfg(const struct session *s) { return &s->settings->cfg; }
static inline struct gate *session_gate(const struct session *s) { return s->worker->gate; }

/* session.c */
void session_set_state(struct session *s, enum session_state st);
/* Stop relaying; free once what is queued toward each peer is written.
 * Safe from any callback; why == NULL logs nothing. */
void session_close(struct session *s, const char *why);
/* Send the client an ERR and close. */
void session_fail_client(struct session *s, uint8_t seq, uint16_t code, const char *sql_state, const char *msg);
/* Write out both legs' queued bytes: the end of every callback. */
void session_flush(struct session *s);
/* The server leg is through its handshake: the session drives it now. */
void session_take_server_leg(struct session *s);
/* Login complete: the command phase starts (login_timeout ends). */
void session_logged_in(struct session *s);

/* login.c */
extern const struct link_callbacks login_link_callbacks;
void login_client_hello(struct session *s);     /* S_CLIENT_HELLO: client input */
void login_client_tls_done(struct session *s);  /* S_CLIENT_TLS: the handshake ended */
void login_relay_from_client(struct session *s); /* S_AUTH, COM_CHANGE_USER: client input */
/* A server packet during authentication (payload p, len bytes visible):
 * remembers an AuthSwitch's nonce; returns the refusal's message when the
 * request must not reach the client, else NULL. */
const char *login_on_server_auth_packet(struct session *s, const uint8_t *p, size_t len);
/* Refuse the login: the server gets an empty password, the client ERR 1045. */
void login_refuse(struct session *s, uint8_t server_seq, uint8_t client_seq, const char *why);
/* The server's OK or ERR ended an authentication exchange. */
void login_auth_done(struct session *s);
/* The client left before its login reached the server: end the server's
 * handshake with an empty login (see login.c for why). */
void login_end_server_handshake(struct session *s);

/* relay.c */
void relay_client_input(struct session *s);      /* S_IDLE / S_COMMAND: client input */
void relay_server_input(struct session *s);      /* S_AUTH / S_COMMAND: server input */
void relay_release(struct session *s);           /* session_release */
void relay_release_error(struct session *s, const struct hook_answer *answer); /* session_release_error */
void relay_free_injected(struct session *s);     /* statements queued when the session ends */
void relay_enter_idle(struct session *s);
/* The client's command goes again (redo.c): `wire` (owned, freed here)
 * after what session_inject queued; its response then streams to the
 * client as if it were the first. */
void relay_send_again(struct session *s, uint8_t *wire, size_t len, uint8_t code);
/* A final packet acctgate kept (redo.c gave up: the original ERR, `wire`
 * owned) reaches the client the way one from the server would, through
 * the result end's and the hooks' handling. */
void relay_deliver_final(struct session *s, uint8_t *wire, size_t len, const struct proto_result_end *end);

/* redo.c */
/* The response's first packet is its final ERR, `wire` bytes at the
 * server input's front (sequence id as the client sees it): true when it
 * is a deadlock or lock wait timeout the transaction can be run again for
 * (the session is then in S_REPLAY and owns the packet), false when it
 * goes to the client as it is. */
bool redo_take_error(struct session *s, size_t wire);
void redo_server_input(struct session *s); /* S_REPLAY: server input */
/* Bytes of the response on their way to the client: its digest, to
 * compare a replay's with. */
void redo_digest(struct session *s, const uint8_t *p, size_t n);
void redo_on_command(struct session *s);   /* a new client command: its attempts count from 0 */
void redo_free(struct session *s);
/* "SET timestamp=<usec as seconds.micro>", or "SET timestamp=DEFAULT" for
 * 0: what session_fix_time injects and a replay pins its clock with. */
int clock_sql(char *out, size_t cap, uint64_t usec);

/* txn.c */
/* A command is about to be forwarded (after the hooks let it go). */
void txn_on_command(struct session *s, const struct hook_command *cmd);
/* Each result end of the response; the hooks' on_result_end go from here. */
void txn_on_result_end(struct session *s, const struct proto_result_end *end, const uint8_t *ok, size_t len);
/* An injected statement's response ended (session_inject). */
void txn_on_injected_end(struct session *s, const struct proto_result_end *end);
/* The response to the command in flight is complete. */
void txn_on_command_done(struct session *s);
/* The session ends. */
void txn_on_close(struct session *s);

#endif
