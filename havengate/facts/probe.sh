# havengate node probe, protocol 2. A fixed script: havengate never edits it per node.
# Arguments: NONCE MODE STEP_TIMEOUT [CTID...] [-- ADDRESS PORT ...]
#   MODE: full | node | verify; STEP_TIMEOUT: seconds for each step that may hang (vzctl
#   exec2 into a container, scanning its files, a TCP connect); CTIDs were validated as
#   digits, ADDRESS PORT pairs (verify: TCP connects from the node) as IPs and ports.
# Every fact is printed in its own section between markers that carry NONCE, a random
# token chosen per run, so a login banner or a container cannot fake a section.
nonce=$1
mode=$2
step_timeout=$3
shift 3
ctids=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    ctids="$ctids $1"
    shift
done
[ "${1:-}" = "--" ] && shift
LC_ALL=C
export LC_ALL
PATH=$PATH:/usr/sbin:/sbin:/usr/bin:/bin
export PATH
# Our scratch directory cleans itself on exit and on the signals a dropped session or a
# killed havengate sends; one a kill -9 left behind is swept by the next probe after an hour.
find /tmp -maxdepth 1 -type d -name 'havengate-probe.*' -user "$(id -u)" -mmin +60 \
    -exec rm -rf {} + 2>/dev/null
tmp=$(mktemp -d /tmp/havengate-probe.XXXXXXXX 2>/dev/null) ||
    { echo "havengate probe: cannot create a temporary directory" >&2; exit 70; }
workers=""  # the batch of container probes running now: stopped with us (a step one had
            # started, bounded by the step timeout, ends on its own)
trap 'rm -rf "$tmp"' EXIT
trap 'kill $workers 2>/dev/null; rm -rf "$tmp"; trap - EXIT; exit 129' HUP
trap 'kill $workers 2>/dev/null; rm -rf "$tmp"; trap - EXIT; exit 130' INT
trap 'kill $workers 2>/dev/null; rm -rf "$tmp"; trap - EXIT; exit 141' PIPE
trap 'kill $workers 2>/dev/null; rm -rf "$tmp"; trap - EXIT; exit 143' TERM

# Bound a step: timeout(1) where coreutils has it (>= 7.0), else a watchdog (lenny).
if command -v timeout >/dev/null 2>&1; then
    limited() { timeout -s KILL "$step_timeout" "$@"; }
else
    limited() {
        "$@" &
        step=$!
        (sleep "$step_timeout"; kill -9 "$step" 2>/dev/null) &
        watchdog=$!
        wait "$step"
        rc=$?
        kill "$watchdog" 2>/dev/null
        return "$rc"
    }
fi

# Output goes through files, not straight to the session: a process a killed step leaves
# behind must not hold the SSH channel open.
section() {
    name=$1
    shift
    touch "$tmp"  # a long probe's directory stays fresh: the sweep takes only stale ones
    "$@" </dev/null >"$tmp/stdout" 2>"$tmp/stderr"
    emit "$name" $? "$tmp"
}

# emit NAME STATUS DIR: the section from DIR/stdout and DIR/stderr
emit() {
    printf '\n@@%s begin %s\n' "$nonce" "$1"
    cat "$3/stdout"
    printf '\n@@%s stderr %s\n' "$nonce" "$1"
    if [ -s "$3/stderr" ]; then  # a fork saved per quiet section (a node of 50 CTs)
        tail -c 4096 "$3/stderr"  # only for messages: the last line is the one shown
    fi
    printf '\n@@%s end %s %s\n' "$nonce" "$1" "$2"
}

# A container's sections go to its own directory's "out", printed in vzlist order once
# every container is done: containers are probed in batches of CT_JOBS at once (a node of
# 50 takes about the time of its slowest few, not of all of them one after another).
CT_JOBS=8
ct_section() {
    name=$1
    shift
    [ -d "$ctdir" ] || exit 0  # the probe ended (killed, timed out): nothing to add
    "$@" </dev/null >"$ctdir/stdout" 2>"$ctdir/stderr"
    emit "$name" $? "$ctdir" >>"$ctdir/out"
}

# CPUs online on the node; getconf first: nproc obeys this session's affinity.
count_cpus() {
    getconf _NPROCESSORS_ONLN 2>/dev/null || nproc
}

# VE_PRIVATE as vzctl reads it: the first VE_PRIVATE= line (leading blanks allowed) of
# CTID.conf, else of vz.conf; a quoted value ends at the last quote; the first $VEID or
# ${VEID} is replaced; trailing / dropped. The file is never sourced.
private_of() {  # one sed per file, no pipeline: a node of 50 containers runs this 50 times
    for file in "/etc/vz/conf/$1.conf" /etc/vz/vz.conf; do
        value=$(sed -n -e '/^[[:space:]]*VE_PRIVATE=/{' -e 's/^[[:space:]]*VE_PRIVATE=//' \
            -e '/^"/s/^"\(.*\)".*$/\1/' -e "s/\\\$VEID\\|\\\${VEID}/$1/" -e 's:/*$::' \
            -e 's/^/=/' -e p -e q -e '}' "$file" 2>/dev/null)
        if [ -n "$value" ]; then
            printf '%s\n' "${value#=}"
            return 0
        fi
    done
    return 1
}

# Evidence of Java in a container's private area (its root filesystem on simfs), as paths
# relative to it. Symlinks are reported, never followed: an absolute link points into the
# node's own filesystem. Only regular files are read (no FIFOs, no devices).
scan=$(cat <<'SCAN'
cd "$1" 2>/dev/null || { echo "no private area at $1" >&2; exit 2; }
if [ -e root.hdd ]; then echo "$1 is a ploop image: its files cannot be read here" >&2; exit 3; fi
if [ ! -d etc ] || { [ ! -d usr ] && [ ! -d bin ]; }; then
    echo "$1 does not look like a root filesystem (no etc/, usr/ or bin/)" >&2; exit 3
fi
for path in usr/bin/java usr/lib/jvm usr/java opt/java; do
    if [ -e "$path" ] || [ -L "$path" ]; then echo "path $path"; fi
done
# No depth or count limit: a JVM or an init script past any limit would read as "no Java".
# The step timeout bounds the time; hitting it makes the files unknown, never "none".
find -P usr opt srv \( -name java -o -name jsvc \) \( -type f -o -type l \) \
    2>/dev/null | sed 's/^/path /'
# Init scripts naming java or jsvc: one grep for all of them (a container has tens).
# CentOS keeps them in etc/rc.d (its etc/init.d and etc/rc.local are links: not followed).
find -P etc/init.d etc/rc.d/init.d etc/init etc/rc.local etc/rc.d/rc.local \
    etc/systemd/system etc/supervisor -type f \
    -exec grep -lsE '(^|[^A-Za-z0-9_])(java|jsvc)([^A-Za-z0-9_]|$)' {} + 2>/dev/null |
    sed 's/^/init /'
exit 0
SCAN
)

scan_private() {
    private=$(private_of "$1") || { echo "VE_PRIVATE of CT $1 not found" >&2; return 2; }
    case $private in
        /?*) ;;
        *) echo "VE_PRIVATE of CT $1 is '$private', not an absolute path" >&2; return 2 ;;
    esac
    echo "private $private"
    limited sh -c "$scan" havengate-scan "$private"
}

# Run inside a container by `vzctl exec2` (bash -c). What a container prints is untrusted:
# names and argv travel as hex, and each part header is a fixed word.
inner=$(cat <<'INNER'
hex() { od -An -tx1 -v | tr -d ' \n'; }
sockets() { ls -l "$1/fd" 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p' | tr '\n' ' '; }
sock_part() {  # PID SOCKETS: a program that is not Java, named by its stat line
    stat=""; read -r stat 2>/dev/null <"/proc/$1/stat"
    echo "@@ct sock $1"; printf '%s' "$stat" | hex; echo; echo "$2"
}
echo "@@ct cpus"; nproc 2>/dev/null || getconf _NPROCESSORS_ONLN
if [ -r /proc/self/stat ]; then echo "@@ct procfs"; fi
LC_ALL=C
export LC_ALL
nl='
'
# A container runs tens of programs: one grep (command lines) and one find (executables;
# -lname matches a link's whole target) name every process that may be Java, and one
# find lists every socket, instead of a few commands per process. Each must prove it read
# its whole list: grep reads "-" last, find /proc/self/... last. One that did not (an
# argument list too long on an old kernel, no process left to fork, busybox's find) has
# every process looked at in turn. find never follows a link here (-P).
found=$( { printf 'java\n' | grep -l -a -E 'java|jsvc' /proc/[0-9]*/cmdline -
    find /proc/[0-9]*/exe /proc/self/exe \( -lname '*java*' -o -lname '*jsvc*' \
        -o -path /proc/self/exe \) -print
    } 2>/dev/null)
all=""
case "$nl$found$nl" in *"$nl(standard input)$nl"*) ;; *) all=1 ;; esac
case "$nl$found" in *"$nl/proc/self/exe") ;; *) all=1 ;; esac
maybe=" $(printf '%s\n' "$found" | sed -n 's|^/proc/\([0-9]*\)/.*$|\1|p' | tr '\n' ' ') "
javas=" $$ "  # this script's own shell (its command line names java) is never the JVM
for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    case $javas in *" $pid "*) continue ;; esac
    if [ -z "$all" ]; then
        case $maybe in *" $pid "*) ;; *) continue ;; esac
    fi
    exe=$(readlink "$d/exe" 2>/dev/null)
    head=$(tr '\000\n' '  ' <"$d/cmdline" 2>/dev/null)
    case "$head $exe" in *java*|*jsvc*) ;; *) continue ;; esac
    javas="$javas$pid "
    echo "@@ct proc $pid"
    printf '%s' "$exe" | hex; echo
    hex <"$d/cmdline"; echo
    hex <"$d/environ" 2>/dev/null; echo
    sockets "$d"; echo
    [ -n "${diag:-}" ] || continue
    # verify: how long it has lived, and what each thread is doing (bash builtins only)
    echo "@@ct threads $pid"
    read -r up _ </proc/uptime; echo "$up $(getconf CLK_TCK 2>/dev/null || echo 100)"
    read -r stat <"$d/stat"; echo "$stat"
    for t in "$d"/task/[0-9]*; do
        wchan=0; vcs=0; tstat=""
        read -r wchan <"$t/wchan" 2>/dev/null
        while read -r key value; do
            [ "$key" = "voluntary_ctxt_switches:" ] && vcs=$value
        done <"$t/status" 2>/dev/null
        read -r tstat <"$t/stat" 2>/dev/null
        echo "${t##*/} ${wchan:-0} ${vcs:-0} $tstat"
    done
done
# Every other program with a socket, so every listening port has an owner's name.
socks=""
[ -n "$all" ] || socks=$(find /proc/[0-9]*/fd /proc/self/fd \( -path /proc/self/fd \
    -printf 'end\n' \) -o -lname 'socket:\[*' -printf '%h %l\n' 2>/dev/null)
case "$nl$socks$nl" in
    *"${nl}end$nl"*)  # "PID INODE" per socket, a process's together: one part each
        { printf '%s\n' "$socks" |
            sed -n 's|^/proc/\([0-9]*\)/fd socket:\[\([0-9]*\)\]$|\1 \2|p'; echo; } |
        { last=""; list=""
            while read -r pid inode; do
                if [ "$pid" != "$last" ]; then
                    case $javas in *" $last "*) ;; *) [ -z "$last" ] || sock_part "$last" "$list" ;; esac
                    last=$pid; list=""
                fi
                list="$list$inode "
            done; } ;;
    *)
        for d in /proc/[0-9]*; do
            pid=${d#/proc/}
            case $javas in *" $pid "*) continue ;; esac
            socks=$(sockets "$d")
            [ -z "$socks" ] || sock_part "$pid" "$socks"
        done ;;
esac
echo "@@ct tcp"; cat /proc/net/tcp || echo "@@ct tcp-unreadable"
if [ -e /proc/net/tcp6 ]; then
    echo "@@ct tcp6"; cat /proc/net/tcp6 || echo "@@ct tcp-unreadable"
else
    echo "@@ct tcp6-absent"
fi
echo "@@ct done"
INNER
)

section kernel uname -r
section nodename uname -n
section cpus count_cpus
section vzctl vzctl --version
section vzlist vzlist -a -H -o veid,status,hostname
cp "$tmp/stdout" "$tmp/vzlist"
# vzctl reads vz.conf before CTID.conf: a CPUS or CPUMASK the container's file lacks
# comes from here (exit 66: the node has no vz.conf).
global_conf() {
    [ -e /etc/vz/vz.conf ] || [ -L /etc/vz/vz.conf ] || return 66
    cat /etc/vz/vz.conf
}
section vzconf global_conf

probe_container() {
    ctid=$1
    status=$2
    ct_section "conf.$ctid" cat "/etc/vz/conf/$ctid.conf"  # all of it: vzctl reads all of it
    case $mode in
        full) ct_section "files.$ctid" scan_private "$ctid" ;;
        verify) ;;
        *) return 0 ;;
    esac
    if [ "$status" = running ]; then
        [ "$mode" = verify ] && diag=1 || diag=""
        ct_section "inside.$ctid" limited vzctl exec2 "$ctid" "diag=$diag
$inner"
    fi
}

# Batches of CT_JOBS containers: each batch waited for whole, so no worker that dies can
# hold up the rest (POSIX sh has no `wait -n`).
wanted="$ctids "
probed=""
batch=0
while read -r ctid status hostname; do
    case $ctid in '' | *[!0-9]*) continue ;; esac
    if [ -n "$ctids" ]; then
        case $wanted in *" $ctid "*) ;; *) continue ;; esac
    fi
    case " $probed " in *" $ctid "*) continue ;; esac
    probed="$probed $ctid"
    # a long probe's directory stays fresh (the sweep takes only stale ones): once a batch
    [ "$batch" -gt 0 ] || touch -c "$tmp"
    mkdir "$tmp/ct.$ctid" 2>/dev/null || continue  # its sections will say it failed
    (ctdir="$tmp/ct.$ctid"; probe_container "$ctid" "$status") </dev/null &
    workers="$workers $!"
    batch=$((batch + 1))
    if [ "$batch" -ge "$CT_JOBS" ]; then
        wait
        workers=""
        batch=0
    fi
done <"$tmp/vzlist"
wait
workers=""
# In vzlist order. A container whose probe left nothing (no space in /tmp, a worker
# killed) says so in its own conf section: unknown, never silently left out.
for ctid in $probed; do
    if [ -s "$tmp/ct.$ctid/out" ]; then
        cat "$tmp/ct.$ctid/out"
    else
        printf '\n@@%s begin conf.%s\n\n@@%s stderr conf.%s\n' "$nonce" "$ctid" "$nonce" "$ctid"
        echo "the probe of CT $ctid left no output (is /tmp full? was it killed?)"
        printf '\n@@%s end conf.%s 70\n' "$nonce" "$ctid"
    fi
done

# verify: can the node reach each container's address and port (what clients will do)?
connect() {
    limited bash -c 'exec 3<>"/dev/tcp/$1/$2"' havengate-connect "$1" "$2"
}
while [ $# -ge 2 ]; do
    section "connect.$1.$2" connect "$1" "$2"
    shift 2
done
printf '\n@@%s complete\n' "$nonce"
