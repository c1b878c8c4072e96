# havengate node probe, protocol 1. A fixed script: havengate never edits it per node.
# Arguments: NONCE MODE STEP_TIMEOUT [CTID...]
#   MODE: full | node; STEP_TIMEOUT: seconds for each command that may hang (vzctl exec2);
#   CTIDs were validated as digits.
# Every fact is printed in its own section between markers that carry NONCE, a random
# token chosen per run, so a login banner or a container cannot fake a section.
nonce=$1
mode=$2
step_timeout=$3
shift 3
LC_ALL=C
export LC_ALL
PATH=$PATH:/usr/sbin:/sbin:/usr/bin:/bin
export PATH
limit=""
if command -v timeout >/dev/null 2>&1; then limit="timeout -s KILL $step_timeout"; fi
tmp=$(mktemp -d 2>/dev/null) || { echo "havengate probe: cannot create a temporary directory" >&2; exit 70; }
trap 'rm -rf "$tmp"' EXIT

# Output goes through files, not straight to the session: a process a killed step leaves
# behind must not hold the SSH channel open.
section() {
    name=$1
    shift
    "$@" </dev/null >"$tmp/stdout" 2>"$tmp/stderr"
    emit "$name" $?
}

emit() {
    printf '\n@@%s begin %s\n' "$nonce" "$1"
    cat "$tmp/stdout"
    printf '\n@@%s stderr %s\n' "$nonce" "$1"
    head -c 4096 "$tmp/stderr"
    printf '\n@@%s end %s %s\n' "$nonce" "$1" "$2"
}

count_cpus() {
    nproc 2>/dev/null || getconf _NPROCESSORS_ONLN
}

# VE_PRIVATE as vzctl reads it: the first VE_PRIVATE= line of CTID.conf (else of vz.conf),
# a quoted value ending at the last quote, the first $VEID or ${VEID} replaced, trailing /
# dropped. (vzlist has no private field before vzctl 4.1; the file is never sourced.)
private_of() {
    line=$(grep -m1 '^VE_PRIVATE=' "/etc/vz/conf/$1.conf" 2>/dev/null) ||
        line=$(grep -m1 '^VE_PRIVATE=' /etc/vz/vz.conf 2>/dev/null) || return 1
    printf '%s\n' "${line#VE_PRIVATE=}" |
        sed -e '/^"/s/^"\(.*\)".*$/\1/' -e "s/\\\$VEID\\|\\\${VEID}/$1/" -e 's:/*$::'
}

# Evidence of Java in a stopped container's private area, as paths relative to it.
scan_private() (
    private=$(private_of "$1") || { echo "VE_PRIVATE of CT $1 not found" >&2; exit 2; }
    echo "private $private"
    cd "$private" 2>/dev/null || { echo "no private area at $private" >&2; exit 2; }
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
section vzlist vzlist -a -H -o veid,status,hostname
cp "$tmp/stdout" "$tmp/vzlist"

wanted=" $* "
while read -r ctid status hostname; do
    case $ctid in '' | *[!0-9]*) continue ;; esac
    if [ $# -gt 0 ]; then
        case $wanted in *" $ctid "*) ;; *) continue ;; esac
    fi
    section "conf.$ctid" head -c 262144 "/etc/vz/conf/$ctid.conf"
    [ "$mode" = full ] || continue
    if [ "$status" = running ]; then
        section "inside.$ctid" $limit vzctl exec2 "$ctid" "$inner"
    else
        section "files.$ctid" scan_private "$ctid"
    fi
done <"$tmp/vzlist"
printf '\n@@%s complete\n' "$nonce"
