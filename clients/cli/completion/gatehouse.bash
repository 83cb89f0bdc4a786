# bash completion for gatehouse(1); installed as /usr/share/bash-completion/completions/gatehouse,
# which bash-completion loads on first use. Without bash-completion, `source` this file.
#
# Completes subcommands at any depth (`gatehouse sa key <TAB>`) and options, the global ones
# anywhere (the CLI accepts them after the subcommand too), by reading the CLI's own --help at the
# level reached: CLI11's "Subcommands:" and "Options:" sections. There is no list here to keep in
# step with clients/cli; tests/package_test.cpp checks the result against the real --help. Values
# are the user's to type, except a file name after --socket.

declare -gA _gatehouse_help_cache=()

# Runs `gatehouse [SUBCOMMAND...] --help` once per command path and caches what it lists as
# "SUBCOMMANDS|OPTIONS-TAKING-A-VALUE|OTHER-OPTIONS", each list space-separated.
_gatehouse_help() {
  local key="$*"
  [[ -n ${_gatehouse_help_cache[$key]+set} ]] && return
  local section="" line names rest subcommands="" valued="" flags=""
  while IFS= read -r line; do
    if [[ $line =~ ^([A-Za-z]+):$ ]]; then
      section=${BASH_REMATCH[1],,}
    elif [[ $section == subcommands && $line =~ ^\ \ ([a-z][a-z0-9-]*)(\ |$) ]]; then
      subcommands+=" ${BASH_REMATCH[1]}"
    elif [[ $section == options && $line =~ ^\ \ (-[^\ ]+)(.*)$ ]]; then
      # "  --timeout SECONDS..." takes a value; "  --json       Print..." does not.
      names=${BASH_REMATCH[1]//,/ } rest=${BASH_REMATCH[2]}
      if [[ $rest =~ ^\ [^\ ] ]]; then
        valued+=" $names"
      else
        flags+=" $names"
      fi
    fi
  done < <("$@" --help 2>/dev/null)
  _gatehouse_help_cache[$key]="$subcommands|$valued|$flags"
}

_gatehouse() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=""
  ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
  # bash splits "--socket=PATH" into "--socket" "=" "PATH".
  if [[ $cur == "=" ]]; then
    cur=""
  elif [[ $prev == "=" ]] && ((COMP_CWORD > 1)); then
    prev=${COMP_WORDS[COMP_CWORD - 2]}
  fi

  local -a path=("${COMP_WORDS[0]/#\~/$HOME}")
  local subcommands valued flags global_valued global_flags word i
  _gatehouse_help "${path[@]}"
  IFS='|' read -r subcommands global_valued global_flags <<<"${_gatehouse_help_cache[${path[*]}]}"
  valued=$global_valued flags=$global_flags
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=${COMP_WORDS[i]}
    if [[ " $valued $global_valued " == *" $word "* ]]; then
      ((i += 1)) # skip its value
    elif [[ $word != -* && " $subcommands " == *" $word "* ]]; then
      path+=("$word")
      _gatehouse_help "${path[@]}"
      IFS='|' read -r subcommands valued flags <<<"${_gatehouse_help_cache[${path[*]}]}"
    fi
  done

  COMPREPLY=()
  if [[ " $valued $global_valued " == *" $prev "* ]]; then
    [[ $prev == --socket ]] || return 0
    if declare -F _filedir >/dev/null; then
      _filedir
    else
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    fi
    return 0
  fi
  if [[ $cur == -* ]]; then
    local -A seen=()
    for word in $valued $flags $global_valued $global_flags; do
      [[ $word == --* && $word == "$cur"* && -z ${seen[$word]+set} ]] || continue
      seen[$word]=1
      COMPREPLY+=("$word")
    done
    return 0
  fi
  mapfile -t COMPREPLY < <(compgen -W "$subcommands" -- "$cur")
}

complete -F _gatehouse gatehouse
