#!/bin/bash
# yonder offload test on the cluster: all green, then a wrong host key, an
# unknown one, our key not in the machine's ACL, its key not in ours, and
# yonder missing from the machine's PATH — each refused with a clear message.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root"; exit 0; fi
if ! ip netns list >/dev/null 2>&1; then echo "1..0 # SKIP ip netns unavailable"; exit 0; fi
CL=$TOP/tests/cluster.sh
D=$T/cluster
export YONDER_CLUSTER_QUIET=1
trap '"$CL" down "$D" >/dev/null 2>&1; _cleanup' EXIT
ok "cluster up 2" "$CL" up 2 "$D" || done_testing
eval "$("$CL" env "$D")"
M() { "$CL" exec master "$YONDER" "$@"; } # the binary itself: DIR/bin may be moved away
fp() { ssh-keygen -lf "$1" | cut -d' ' -f2 | sed 's/[+.]/\\&/g'; } # as a regexp
FP1=$(fp "$D/m1/host_key.pub") FP2=$(fp "$D/m2/host_key.pub")

cat >"$MASTER_CONFIG/machines.scm" <<S
(list (build-machine (name "m1") (user "root") (host-key "$M1_HOST_KEY"))
      (build-machine (name "m2") (user "root")))   ; known_hosts
S
ok "offload test: all green" M offload test
out=$(cat "$T/.out")
is "five checks per machine, all ok" "$(grep -c ': ok: ' <<<"$out")" 10
like "m1: host key named" "$out" "^m1: ok: connected to root@m1, host key ssh-ed25519 $FP1 matches"
like "m2: checked against known_hosts" "$out" "^m2: ok: connected to root@m2, host key ssh-ed25519 $FP2 matches"
like "version and store" "$out" "^m1: ok: yonder 0.1.0 \(protocol 1\) on m1, store /yonder/store"
like "upload" "$out" "^m2: ok: .*-yonder-offload-test uploaded, signed by master, valid there"
like "download" "$out" "^m2: ok: .*built there and imported here"
ok "REGEXP selects machines" M offload test /etc/yonder/machines.scm '^m2$'
is "only m2" "$(cut -d: -f1 "$T/.out" | sort -u)" "m2"

cat >"$MASTER_CONFIG/wrong.scm" <<S
(list (build-machine (name "m1") (user "root") (host-key "$M2_HOST_KEY")))
S
fails "a wrong host key fails" M offload test /etc/yonder/wrong.scm
like "both keys named" "$(cat "$T/.out")" "m1: FAIL: root@m1: host key mismatch: it offered ssh-ed25519 $FP1, expected ssh-ed25519 $FP2"

KH=$D/master/home/.ssh/known_hosts
mv "$KH" "$T/kh"
fails "an unknown host key fails (never trusted on first use)" M offload test /etc/yonder/machines.scm m2
like "the key offered is named" "$(cat "$T/.out")" "m2: FAIL: root@m2: unknown host key: it offered ssh-ed25519 $FP2"
mv "$T/kh" "$KH"

cp "$M1_CONFIG/acl" "$T/acl1"
grep -v '^master:' "$T/acl1" >"$M1_CONFIG/acl"
fails "our key not in m1's ACL fails" M offload test /etc/yonder/machines.scm m1
like "the upload is refused, naming the key" "$(cat "$T/.out")" "m1: FAIL: uploading a signed item: the machine refused the upload: m1: .*signature by key 'master': no key of that name in the ACL"
cp "$T/acl1" "$M1_CONFIG/acl"

cp "$MASTER_CONFIG/acl" "$T/aclm"
grep -v '^m1:' "$T/aclm" >"$MASTER_CONFIG/acl"
fails "m1's key not in our ACL fails" M offload test /etc/yonder/machines.scm m1
like "the upload still works" "$(cat "$T/.out")" "m1: ok: .* uploaded, signed by master, valid there"
like "the download is refused here, naming the key" "$(cat "$T/.out")" "m1: FAIL: an item built there and imported here: .*the download was refused here: .*signature by key 'm1': no key of that name in the ACL"
cp "$T/aclm" "$MASTER_CONFIG/acl"

mv "$D/bin/yonder" "$D/bin/yonder.away"
fails "yonder missing from the PATH fails" M offload test /etc/yonder/machines.scm m1
like "and says so in those words" "$(cat "$T/.out")" "m1: FAIL: yonder is not on the PATH of root@m1"
mv "$D/bin/yonder.away" "$D/bin/yonder"

# A shell startup file on the machine that prints text: bash run by sshd
# reads ~/.bashrc even without a terminal.
echo 'echo "Welcome to m1!"' >"$D/m1/home/.bashrc"
fails "text printed by the machine's ~/.bashrc fails" M offload test /etc/yonder/machines.scm m1
like "and the message says what is wrong and where to look" "$(cat "$T/.out")" \
	"m1: FAIL: .*root@m1: what 'yonder serve --stdio' sent is not yonder's protocol \\(.*\\); does a shell startup file there \\(such as ~/.bashrc\\) print text even when there is no terminal\\?"
rm "$D/m1/home/.bashrc"
ok "all green again" M offload test
done_testing
