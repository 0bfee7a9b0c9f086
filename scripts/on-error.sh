# shellcheck shell=bash
# Sourced first by every script under scripts/ and by .ci/run: `set -Eeuo
# pipefail`, and an ERR trap that says where a failing command ends the
# script (its file and line, the command, its exit status, and the
# functions it was called from), so that no check stops with a bare exit
# status. It is silent where `set -e` is off (a script that collects a
# status itself under `set +e`, or inside a command substitution) and in an
# interactive shell, which it leaves as it is.
[[ $- != *i* ]] || return 0
set -Eeuo pipefail

restartable_on_error() {
    local status=$1 line=$2 command=$3 i from="" text
    [[ $- == *e* ]] || return 0
    # A function that failed by its `return N` is named by the line that
    # called it.
    if [[ $command == return* ]] && [ -r "${BASH_SOURCE[1]}" ]; then
        text=$(sed -n "${line}s/^[[:space:]]*//p" "${BASH_SOURCE[1]}")
        command=${text:-$command}
    fi
    for ((i = 1; i < ${#FUNCNAME[@]} - 1; i++)); do
        from+=", in ${FUNCNAME[i]} called from ${BASH_SOURCE[i + 1]}:${BASH_LINENO[i]}"
    done
    printf 'error: %s:%s: `%s` exited with %s%s\n' \
        "${BASH_SOURCE[1]}" "$line" "$command" "$status" "$from" >&2
}
trap 'restartable_on_error "$?" "$LINENO" "$BASH_COMMAND"' ERR
