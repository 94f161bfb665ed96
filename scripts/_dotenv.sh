# Sourced by scripts/run: notice a .env that replaces the embedded defaults.
# shellcheck shell=bash

# The names a .env file assigns that the settings will take from it: the lines django-environ reads
# (NAME=value or export NAME=value, from the first column) whose NAME the process environment does not already
# set (the environment wins over the file). One name a line, each once, in file order; never a value.
dotenv_overrides() {
    local file="${1:-.env}" line name
    local -A seen=()
    [ -f "$file" ] || return 0
    while IFS= read -r line || [ -n "$line" ]; do
        [[ "$line" =~ ^(export\ )?([A-Za-z_0-9]+)= ]] || continue
        name="${BASH_REMATCH[2]}"
        [ -z "${seen[$name]+x}" ] || continue
        seen[$name]=1
        printenv "$name" >/dev/null || printf '%s\n' "$name"
    done <"$file"
}

# One line on stderr naming (never showing) the variables a .env overrides, so that a stray .env (a copy of
# .env.example, another project's) pointing at another database or broker does not go unnoticed.
warn_dotenv_overrides() {
    local file="${1:-.env}" names=() name joined=""
    while IFS= read -r name; do names+=("$name"); done < <(dotenv_overrides "$file")
    [ "${#names[@]}" -gt 0 ] || return 0
    for name in "${names[@]}"; do joined="${joined:+$joined, }$name"; done
    echo "==> warning: $file sets ${joined}: these replace scripts/run's embedded defaults (SQLite, tasks" \
        "in-process, development keys). Move $file away to run on the defaults." >&2
}
