# The lab's node tools, sourced by every wrapper in <node>/bin, which sets: node (the node's
# directory), tool, kernel, real_release (this machine's own uname -r), cpus, vzctl_text,
# path_tail, token, token_variable (fakevz.LAB_TOKEN_ENV), python, fakevz_code (core.py's
# FAKEVZ_CODE: fakevz.py imported, its compiled form cached) and lab (this folder).
#
# The calls a probe makes on every node are answered here, in sh: a real node's uname and
# vzctl are C, and a Python start per call (about 0.1 s of CPU) made the lab's nodes, not
# havengate, the slow side of a scan of many nodes on this machine's few CPUs. Each answer
# is fakevz.py's own, logged the same way; anything not covered exactly (other arguments, a
# stopped container, a byte the log line would need Python to escape) goes to fakevz.py.

log_call() {  # one JSON line, as fakevz.log_invocation writes it (the line is ready-made)
    printf '%s\n' "$1" >>"$node/commands.log"
}

# vzctl exec2 CTID COMMAND into a running container: fakevz's _exec, without Python. Returns
# (to fall back on fakevz.py) whenever a check fails; on success it never returns.
exec2_fast() {
    ctid=$1
    command=$2
    case $ctid in '' | *[!0-9]*) return ;; esac
    case $command in '' | -) return ;; esac  # "-" is bash -s: fakevz.py
    [ -f "/etc/vz/conf/$ctid.conf" ] || return
    # Running, as FakeNode.is_running: PID 1 is alive and started when the state says.
    read -r pid start 2>/dev/null <"$node/ct/$ctid/pid1" || return
    read -r stat 2>/dev/null <"/proc/$pid/stat" || return
    set -- ${stat##*) }  # fields 3 on: the state, ..., the start time (field 22)
    [ "$1" != Z ] && [ "${20:-}" = "$start" ] || return  # a zombie PID 1 is not running
    tab=$(printf '\t')
    case $command in *[!\ -~"$tab"'
']*) return ;; esac  # printable ASCII, tabs and newlines: the escapes json.dumps uses
    escaped=$(printf '%s' "$command" |
        sed -z -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g' -e 's/\n/\\n/g') || return
    log_call "[\"vzctl\", \"exec2\", \"$ctid\", \"$escaped\"]"
    cd / || return
    exec env -i PATH="$node/ct/$ctid/bin:$path_tail" HOME=/ TERM=linux \
        "$token_variable=$token" nsenter -t "$pid" -n -p -m -u -- bash -c "$command"
}

case "$tool $#" in
    "uname 1")
        case $1 in
            -r)
                log_call '["uname", "-r"]'
                printf '%s\n' "$kernel"
                exit 0
                ;;
            -n)
                name=$(/usr/bin/uname -n) || exit
                if [ "$name" != "$real_release" ]; then  # fakevz would put the kernel there
                    log_call '["uname", "-n"]'
                    printf '%s\n' "$name"
                    exit 0
                fi
                ;;
        esac
        ;;
    "nproc 0")
        log_call '["nproc"]'
        printf '%s\n' "$cpus"
        exit 0
        ;;
    "vzctl 1")
        if [ "$1" = --version ]; then
            log_call '["vzctl", "--version"]'
            printf 'vzctl version %s\n' "$vzctl_text"
            exit 0
        fi
        ;;
    "vzctl 3")
        [ "$1" = exec2 ] && exec2_fast "$2" "$3"
        ;;
esac
exec "$python" -I -S -c "$fakevz_code" "$lab" "$node" "$tool" "$@"
