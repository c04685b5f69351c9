#!/bin/bash
# yonder serve --stdio driven over ssh by the OpenSSH client with raw frames:
# the handshake (version, store, systems, load, free space) and query-valid.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root"; exit 0; fi
if ! ip netns list >/dev/null 2>&1; then echo "1..0 # SKIP ip netns unavailable"; exit 0; fi
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 not installed"; exit 0; }
CL=$TOP/tests/cluster.sh
D=$T/cluster
export YONDER_CLUSTER_QUIET=1
trap '"$CL" down "$D" >/dev/null 2>&1; _cleanup' EXIT
ok "cluster up 2" "$CL" up 2 "$D" || done_testing
eval "$("$CL" env "$D")"

p=$("$CL" exec 1 sh -c 'echo probe | yonder store add-text probe')
ok "an item valid on m1" test -n "$p"

# Frames: u32 len, u16 op, u16 flags, u32 id; payload u64 / u32-prefixed strings.
cat >"$T/frames.py" <<'PY'
import struct, sys
def s(b): return struct.pack('<I', len(b)) + b
def strv(v): return struct.pack('<I', len(v)) + b''.join(s(x.encode()) for x in v)
def frame(op, fid, payload, flags=0): return struct.pack('<IHHI', len(payload), op, flags, fid) + payload
out = sys.stdout.buffer
hello = struct.pack('<QQ', 0x000a7265646e6f79, 1) + s(b'raw test') + strv([])
out.write(frame(1, 0, hello))
out.write(frame(0x0301, 7, strv(sys.argv[1:])))
PY
cat >"$T/read.py" <<'PY'
import struct, sys
data = sys.stdin.buffer.read()
def rs(p, o):
    n, = struct.unpack_from('<I', p, o); return p[o+4:o+4+n].decode(), o + 4 + n
def rv(p, o):
    n, = struct.unpack_from('<I', p, o); o += 4; v = []
    for _ in range(n):
        x, o = rs(p, o); v.append(x)
    return v, o
o = 0
while o < len(data):
    n, op, fl, fid = struct.unpack_from('<IHHI', data, o); p = data[o+12:o+12+n]; o += 12 + n
    if op == 2:
        magic, ver = struct.unpack_from('<QQ', p, 0); q = 16
        name, q = rs(p, q); host, q = rs(p, q); store, q = rs(p, q)
        systems, q = rv(p, q); feats, q = rv(p, q)
        cores, load, free = struct.unpack_from('<QQQ', p, q)
        print('welcome magic=%x version=%d name=%s host=%s store=%s systems=%s cores>0=%s free>0=%s' %
              (magic, ver, name, host, store, ','.join(systems), cores > 0, free > 0))
    elif op == 4:
        v, _ = rv(p, 0); print('ok id=%d valid=%s' % (fid, ' '.join(v)))
    else:
        print('op=%x id=%d' % (op, fid))
PY
missing=/yonder/store/00000000000000000000000000000000-missing
out=$(python3 "$T/frames.py" "$p" "$missing" | "$CL" ssh m1 yonder serve --stdio | python3 "$T/read.py")
like "welcome: magic and version" "$out" "welcome magic=a7265646e6f79 version=1 name=yonder 0.1.0 host=m1"
like "welcome: store, systems, cores, free space" "$out" "store=/yonder/store systems=x86_64-linux cores>0=True free>0=True"
is "query-valid answers with the valid one only" "$(echo "$out" | grep '^ok')" "ok id=7 valid=$p"
out=$(printf 'GET / HTTP/1.1\r\n\r\n' | "$CL" ssh m1 yonder serve --stdio 2>/dev/null | python3 "$T/read.py" 2>&1)
like "garbage is refused with a connection error" "$out" "op=3 id=0"
ok "no temporary roots left behind" test -z "$(ls "$M1_STATE/temproots" 2>/dev/null)"
done_testing
