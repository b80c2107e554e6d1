/*
 * pcap_session.c - see pcap_session.h. Every header is length-checked
 * before it is read; a record or packet that does not fit is an error (for
 * the file) or skipped (for a frame that is not IPv4/IPv6 TCP).
 *
 *   file:   global header (24) then records: ts_sec, ts_usec, incl_len,
 *           orig_len (4 each, in the file's byte order), incl_len bytes
 *   frame:  link header -> IPv4 (IHL) / IPv6 (40, no extension headers)
 *           -> TCP (data offset) -> payload
 */
#include "pcap_session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCAP_MAX_FILE (256u << 20)
#define PCAP_MAX_RECORD (1u << 20)

enum {
	LINK_NULL = 0,
	LINK_EN10MB = 1,
	LINK_RAW_OLD1 = 12,
	LINK_RAW_OLD2 = 14,
	LINK_RAW = 101,
	LINK_LOOP = 108,
	LINK_LINUX_SLL = 113,
	LINK_LINUX_SLL2 = 276,
};

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t file_u32(const uint8_t *p, bool swapped)
{
	uint32_t le = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	return swapped ? be32(p) : le;
}

static bool stream_append(struct pcap_stream *s, const uint8_t *p, size_t n)
{
	if (s->cap - s->len < n) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap - s->len < n)
			cap *= 2;
		uint8_t *d = realloc(s->data, cap);
		if (!d)
			return false;
		s->data = d;
		s->cap = cap;
	}
	memcpy(s->data + s->len, p, n);
	s->len += n;
	return true;
}

/* Place a segment: trim what was already received (retransmissions), stop
 * at a gap. */
static bool stream_segment(struct pcap_stream *s, uint32_t seq, const uint8_t *p, size_t n)
{
	if (!s->seen_syn || s->gap || n == 0)
		return true;
	int32_t rel = (int32_t)(seq - s->next_seq);
	if (rel > 0) {
		s->gap = true;
		return true;
	}
	size_t old = (size_t)-(int64_t)rel;
	if (old >= n)
		return true;
	p += old;
	n -= old;
	s->next_seq += (uint32_t)n;
	return stream_append(s, p, n);
}

struct tcp_view {
	int family;
	const uint8_t *src, *dst;
	uint16_t sport, dport;
	uint32_t seq;
	uint8_t flags;
	const uint8_t *payload;
	size_t len;
};

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_ACK 0x10

/* IP datagram -> TCP view. False for anything that is not unfragmented
 * TCP over IPv4/IPv6 with consistent lengths. */
static bool decode_ip(const uint8_t *p, size_t n, struct tcp_view *v)
{
	if (n < 1)
		return false;
	const uint8_t *l4;
	size_t l4len;
	if (p[0] >> 4 == 4) {
		if (n < 20)
			return false;
		size_t ihl = (size_t)(p[0] & 0x0F) * 4;
		size_t total = be16(p + 2);
		if (ihl < 20 || total < ihl || total > n || p[9] != 6)
			return false;
		if (be16(p + 6) & 0x3FFF) /* fragment offset or more-fragments */
			return false;
		v->family = 4;
		v->src = p + 12;
		v->dst = p + 16;
		l4 = p + ihl;
		l4len = total - ihl;
	} else if (p[0] >> 4 == 6) {
		if (n < 40 || p[6] != 6)
			return false;
		size_t plen = be16(p + 4);
		if (plen > n - 40)
			return false;
		v->family = 6;
		v->src = p + 8;
		v->dst = p + 24;
		l4 = p + 40;
		l4len = plen;
	} else {
		return false;
	}
	if (l4len < 20)
		return false;
	size_t doff = (size_t)(l4[12] >> 4) * 4;
	if (doff < 20 || doff > l4len)
		return false;
	v->sport = be16(l4);
	v->dport = be16(l4 + 2);
	v->seq = be32(l4 + 4);
	v->flags = l4[13];
	v->payload = l4 + doff;
	v->len = l4len - doff;
	return true;
}

/* Link layer -> IP datagram. */
static bool decode_link(uint32_t linktype, const uint8_t *p, size_t n, struct tcp_view *v)
{
	size_t off;
	uint16_t proto;
	switch (linktype) {
	case LINK_EN10MB:
		if (n < 14)
			return false;
		off = 14;
		proto = be16(p + 12);
		while (proto == 0x8100 || proto == 0x88A8) { /* VLAN tags */
			if (n < off + 4)
				return false;
			proto = be16(p + off + 2);
			off += 4;
		}
		if (proto != 0x0800 && proto != 0x86DD)
			return false;
		break;
	case LINK_LINUX_SLL:
		if (n < 16)
			return false;
		off = 16;
		proto = be16(p + 14);
		if (proto != 0x0800 && proto != 0x86DD)
			return false;
		break;
	case LINK_LINUX_SLL2:
		if (n < 20)
			return false;
		off = 20;
		proto = be16(p);
		if (proto != 0x0800 && proto != 0x86DD)
			return false;
		break;
	case LINK_NULL:
	case LINK_LOOP:
		/* The address family's byte order depends on the writer; the IP
		 * version nibble says the same thing portably. */
		if (n < 4)
			return false;
		off = 4;
		break;
	case LINK_RAW:
	case LINK_RAW_OLD1:
	case LINK_RAW_OLD2:
		off = 0;
		break;
	default:
		return false;
	}
	return decode_ip(p + off, n - off, v);
}

static bool same_addr(const uint8_t *a, const uint8_t *b, int family)
{
	return memcmp(a, b, family == 4 ? 4 : 16) == 0;
}

/* The newest connection with this 4-tuple; *to_server tells the direction. */
static struct pcap_conn *find_conn(struct pcap_capture *cap, const struct tcp_view *v, bool *to_server)
{
	for (size_t i = cap->nconns; i-- > 0;) {
		struct pcap_conn *c = &cap->conns[i];
		if (c->family != v->family)
			continue;
		if (c->client_port == v->sport && c->server_port == v->dport && same_addr(c->client_addr, v->src, c->family) &&
		    same_addr(c->server_addr, v->dst, c->family)) {
			*to_server = true;
			return c;
		}
		if (c->client_port == v->dport && c->server_port == v->sport && same_addr(c->client_addr, v->dst, c->family) &&
		    same_addr(c->server_addr, v->src, c->family)) {
			*to_server = false;
			return c;
		}
	}
	return NULL;
}

static bool on_segment(struct pcap_capture *cap, const struct tcp_view *v)
{
	cap->tcp_segments++;
	bool to_server = false;
	struct pcap_conn *c = NULL;
	if ((v->flags & (TCP_SYN | TCP_ACK)) == TCP_SYN) {
		struct pcap_conn *grown = realloc(cap->conns, (cap->nconns + 1) * sizeof(*grown));
		if (!grown)
			return false;
		cap->conns = grown;
		c = &cap->conns[cap->nconns++];
		memset(c, 0, sizeof(*c));
		c->family = v->family;
		memcpy(c->client_addr, v->src, v->family == 4 ? 4 : 16);
		memcpy(c->server_addr, v->dst, v->family == 4 ? 4 : 16);
		c->client_port = v->sport;
		c->server_port = v->dport;
		to_server = true;
	} else {
		c = find_conn(cap, v, &to_server);
		if (!c) {
			cap->untracked++;
			return true;
		}
	}
	struct pcap_stream *s = to_server ? &c->to_server : &c->to_client;
	if (v->flags & TCP_SYN) {
		s->seen_syn = true;
		s->next_seq = v->seq + 1;
		return true;
	}
	return stream_segment(s, v->seq, v->payload, v->len);
}

__attribute__((format(printf, 2, 3))) static bool load_fail(struct pcap_capture *cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cap->error, sizeof(cap->error), fmt, ap);
	va_end(ap);
	return false;
}

bool pcap_load(const char *path, struct pcap_capture *cap)
{
	memset(cap, 0, sizeof(*cap));
	FILE *f = fopen(path, "rb");
	if (!f)
		return load_fail(cap, "cannot open %s", path);
	uint8_t *buf = malloc(PCAP_MAX_FILE);
	if (!buf) {
		fclose(f);
		return load_fail(cap, "out of memory reading %s", path);
	}
	size_t n = fread(buf, 1, PCAP_MAX_FILE, f);
	bool too_big = n == PCAP_MAX_FILE && fgetc(f) != EOF;
	fclose(f);
	bool ok = false;
	if (too_big) {
		load_fail(cap, "%s is larger than %u bytes", path, PCAP_MAX_FILE);
		goto out;
	}
	if (n < 24) {
		load_fail(cap, "%s: no pcap header (%zu bytes)", path, n);
		goto out;
	}
	uint32_t magic = file_u32(buf, false);
	bool swapped;
	if (magic == 0xa1b2c3d4 || magic == 0xa1b23c4d)
		swapped = false;
	else if (magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1)
		swapped = true;
	else {
		load_fail(cap, "%s: not a pcap file (magic %08x)", path, magic);
		goto out;
	}
	cap->linktype = file_u32(buf + 20, swapped) & 0x0FFFFFFF;
	size_t off = 24;
	while (off < n) {
		if (n - off < 16) {
			load_fail(cap, "%s: truncated record header at byte %zu", path, off);
			goto out;
		}
		size_t incl = file_u32(buf + off + 8, swapped);
		if (incl > PCAP_MAX_RECORD || incl > n - off - 16) {
			load_fail(cap, "%s: bad record length at byte %zu", path, off);
			goto out;
		}
		const uint8_t *frame = buf + off + 16;
		off += 16 + incl;
		cap->frames++;
		struct tcp_view v;
		if (decode_link(cap->linktype, frame, incl, &v) && !on_segment(cap, &v)) {
			load_fail(cap, "%s: out of memory at frame %zu", path, cap->frames);
			goto out;
		}
	}
	ok = true;
out:
	free(buf);
	return ok;
}

void pcap_free(struct pcap_capture *cap)
{
	for (size_t i = 0; i < cap->nconns; i++) {
		free(cap->conns[i].to_server.data);
		free(cap->conns[i].to_client.data);
	}
	free(cap->conns);
	memset(cap, 0, sizeof(*cap));
}
