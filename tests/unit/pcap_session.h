/*
 * pcap_session.h - a tiny, bounded pcap reader for the test vectors: reads
 * a capture file, decodes link layer (Ethernet, Linux cooked v1/v2, BSD
 * loopback, raw IP), IPv4/IPv6 and TCP, and reassembles both directions of
 * every TCP connection that starts (SYN) inside the capture.
 */
#ifndef ACCTGATE_PCAP_SESSION_H
#define ACCTGATE_PCAP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One direction of a connection, in order. `gap` is set when a segment
 * arrived beyond the next expected sequence number (lost or reordered):
 * bytes after a gap are not appended. */
struct pcap_stream {
	uint8_t *data;
	size_t len, cap;
	uint32_t next_seq;
	bool seen_syn;
	bool gap;
};

struct pcap_conn {
	int family; /* 4 or 6 */
	uint8_t client_addr[16], server_addr[16];
	uint16_t client_port, server_port;
	struct pcap_stream to_server, to_client;
};

struct pcap_capture {
	uint32_t linktype;
	size_t frames;        /* records read */
	size_t tcp_segments;  /* TCP segments decoded */
	size_t untracked;     /* segments of connections opened before the capture */
	struct pcap_conn *conns;
	size_t nconns;
	char error[160];
};

/* Read and reassemble `path`. Returns false with cap->error set on a read
 * or format error; cap is then still safe to pass to pcap_free. */
bool pcap_load(const char *path, struct pcap_capture *cap);
void pcap_free(struct pcap_capture *cap);

#endif
