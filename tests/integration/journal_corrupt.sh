#!/usr/bin/env bash
# journal_corrupt.sh LABDIR CLIENT_BIN - forged corruption, offline: copies
# of the journal journal_replay.sh left (LABDIR/jreplay/journal; FAIL if it
# is missing) with a flipped CRC byte / a zeroed record length in the
# middle: `acctgate journal verify` exits 1 naming segment, offset and seq
# (the messages of snapshot/journal.c); the last record cut in half (a torn
# tail): exit 0 and the torn tail reported.
set -uo pipefail
. "$(dirname "$0")/common.sh"
[[ $MODE == direct ]] && { echo "SKIP: the journal is acctgate's"; exit 77; }
src=$lab/jreplay/journal work=$lab/jcorrupt
[[ -d $src ]] || { echo "FAIL: no journal at $src (run integration.journal_replay first)"; exit 1; }
seg=$(cd "$src" && ls ./*.agj | head -n 1)
seg=${seg#./}
# forge KIND: a copy in $work/KIND, the record touched printed as "OFFSET SEQ"
forge() {
	rm -rf "${work:?}/$1"
	mkdir -p "$work"
	cp -r "$src" "$work/$1"
	python3 - "$work/$1/$seg" "$1" <<'PY'
import struct, sys
path, kind = sys.argv[1], sys.argv[2]
b = bytearray(open(path, 'rb').read())
recs, off = [], 48
while off + 40 <= len(b) and b[off:off+4] == b'AGJR':
    length = struct.unpack_from('<I', b, off + 8)[0]
    recs.append((off, struct.unpack_from('<Q', b, off + 16)[0], length))
    off += (40 + length + 7) & ~7
o, seq, length = recs[len(recs) // 2] if kind != 'torn' else recs[-1]
if kind == 'crc':
    b[o + 12] ^= 0x5a
elif kind == 'zerolen':
    b[o:o + 16] = bytes(16)
elif kind == 'torn':
    end = o + ((40 + length + 7) & ~7)
    cut = o + (40 + length) // 2
    b[cut:end] = bytes(end - cut)
open(path, 'wb').write(b)
print(o, seq)
PY
}
for kind in crc zerolen; do
	read -r off seq < <(forge "$kind")
	out=$("$ACCTGATE_BIN" journal verify "$work/$kind" 2>&1)
	st=$?
	case $kind in
	crc) want="$seg: offset $off, seq $seq: CRC mismatch: stored 0x" ;;
	zerolen) want="$seg: offset $off, seq $seq: zero-length record, but non-zero bytes follow" ;;
	esac
	line=$(grep -F 'acctgate: journal' <<<"$out")
	check "verify of a journal with a $kind record in the middle exits 1 naming segment, offset, seq" \
		"$([[ $st == 1 && $line == *"$want"* ]] && echo 1 || echo 0)" "exit $st: ${line:-$(tail -n 1 <<<"$out")} (want '$want')"
done
read -r off seq < <(forge torn)
out=$("$ACCTGATE_BIN" journal verify "$work/torn" 2>&1)
st=$?
line=$(grep 'torn tail' <<<"$out")
check "a torn last record: exit 0, the torn tail reported" \
	"$([[ $st == 0 && $line == *"at offset $off of"* ]] && echo 1 || echo 0)" "exit $st: ${line:-no torn-tail line} (record at $off, seq $seq)"
echo "$failures check(s) failed"
((failures == 0))
