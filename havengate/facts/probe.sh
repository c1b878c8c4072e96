# havengate node probe, protocol 1. A fixed script: havengate never edits it per node.
# Arguments: NONCE MODE [CTID...]   (MODE: full | node; CTIDs were validated as digits)
# Every fact is printed in its own section between markers that carry NONCE, a random
# token chosen per run, so a login banner or a container cannot fake a section.
nonce=$1
mode=$2
shift 2
LC_ALL=C
export LC_ALL
PATH=$PATH:/usr/sbin:/sbin:/usr/bin:/bin
export PATH
limit=""
if command -v timeout >/dev/null 2>&1; then limit="timeout 30"; fi
tmp=$(mktemp -d 2>/dev/null) || { echo "havengate probe: cannot create a temporary directory" >&2; exit 70; }
trap 'rm -rf "$tmp"' EXIT

section() {
    name=$1
    shift
    printf '\n@@%s begin %s\n' "$nonce" "$name"
    "$@" </dev/null 2>"$tmp/stderr"
    rc=$?
    printf '\n@@%s stderr %s\n' "$nonce" "$name"
    head -c 4096 "$tmp/stderr"
    printf '\n@@%s end %s %s\n' "$nonce" "$name" "$rc"
}

count_cpus() {
    nproc 2>/dev/null || getconf _NPROCESSORS_ONLN
}

# Evidence of Java in a stopped container's private area, as paths relative to it.
scan_private() (
    cd "$1" 2>/dev/null || { echo "no private area at $1" >&2; exit 2; }
    for path in usr/bin/java usr/lib/jvm usr/java opt/java; do
        [ -e "$path" ] && echo "path $path"
    done
    ls -d usr/lib/jvm/*/bin/java usr/lib/jvm/*/jre/bin/java opt/*/bin/java 2>/dev/null | sed 's/^/path /'
    grep -lE '(^|[^A-Za-z0-9_])(java|jsvc)([^A-Za-z0-9_]|$)' \
        etc/init.d/* etc/rc.local etc/systemd/system/*.service 2>/dev/null | sed 's/^/init /'
    exit 0
)

# Run inside a container by `vzctl exec2` (bash -c). Fields of argv are joined with \037.
inner=$(cat <<'INNER'
echo "@@ct cpus"; nproc 2>/dev/null || getconf _NPROCESSORS_ONLN
echo "@@ct cpuinfo"; grep -c '^processor' /proc/cpuinfo
for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    exe=$(readlink "$d/exe" 2>/dev/null)
    argv=$(tr '\000\n' '\037\036' < "$d/cmdline" 2>/dev/null)
    case "${argv%%$'\037'*} $exe" in *java*|*jsvc*) ;; *) continue ;; esac
    echo "@@ct proc $pid"
    printf 'exe %s\nargv %s\n' "$exe" "$argv"
    tr '\000' '\n' < "$d/environ" 2>/dev/null | grep -E '^(JAVA_TOOL_OPTIONS|JDK_JAVA_OPTIONS|_JAVA_OPTIONS)=' | sed 's/^/env /'
    ls -l "$d/fd" 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\].*/socket \1/p'
done
echo "@@ct tcp"; cat /proc/net/tcp
echo "@@ct tcp6"; cat /proc/net/tcp6 2>/dev/null
echo "@@ct done"
INNER
)

section kernel uname -r
section cpus count_cpus
section vzctl vzctl --version
vzlist -a -H -o ctid,status,hostname,private >"$tmp/vzlist" 2>"$tmp/vzlist.err"
rc=$?
printf '\n@@%s begin vzlist\n' "$nonce"
cat "$tmp/vzlist"
printf '\n@@%s stderr vzlist\n' "$nonce"
head -c 4096 "$tmp/vzlist.err"
printf '\n@@%s end vzlist %s\n' "$nonce" "$rc"

wanted=" $* "
while read -r ctid status hostname private; do
    case $ctid in '' | *[!0-9]*) continue ;; esac
    if [ $# -gt 0 ]; then
        case $wanted in *" $ctid "*) ;; *) continue ;; esac
    fi
    section "conf.$ctid" head -c 262144 "/etc/vz/conf/$ctid.conf"
    [ "$mode" = full ] || continue
    if [ "$status" = running ]; then
        section "inside.$ctid" $limit vzctl exec2 "$ctid" "$inner"
    else
        section "files.$ctid" scan_private "$private"
    fi
done <"$tmp/vzlist"
printf '\n@@%s complete\n' "$nonce"
