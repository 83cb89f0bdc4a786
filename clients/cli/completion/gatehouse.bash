# bash completion for gatehouse(1) and gatehouse-benchmark(1); installed as
# /usr/share/bash-completion/completions/gatehouse and .../gatehouse-benchmark (the same file),
# which bash-completion loads on first use of either. Without bash-completion, `source` this file.
#
# Completes subcommands at any depth (`gatehouse sa key <TAB>`) and options, the global ones
# anywhere (the CLI accepts them after the subcommand too), by reading the program's own --help at
# the level reached: CLI11's "Subcommands:" and "Options:" sections. There is no list here to keep
# in step with clients/cli or clients/benchmark; tests/package_test.cpp checks the result against
# the real --help. Values are the user's to type, except a file name after --socket or an option
# whose value is a PATH or FILE, a directory after one whose value is a DIR, and one of the
# choices an option lists ("--mode MODE:{pingpong,pipelined,concurrent}").

declare -gA _gatehouse_help_cache=()

# Runs `PROGRAM [SUBCOMMAND...] --help` once per command path and caches what it lists as
# "SUBCOMMANDS|OPTIONS-TAKING-A-VALUE|OTHER-OPTIONS|FILE-OPTIONS|DIRECTORY-OPTIONS|CHOICES", each
# list space-separated, CHOICES as "--option=a,b,c" words.
_gatehouse_help() {
  local key="$*"
  [[ -n ${_gatehouse_help_cache[$key]+set} ]] && return
  local section="" line names rest name subcommands="" valued="" flags="" files="" dirs="" choices=""
  while IFS= read -r line; do
    if [[ $line =~ ^([A-Za-z]+):$ ]]; then
      section=${BASH_REMATCH[1],,}
    elif [[ $section == subcommands && $line =~ ^\ \ ([a-z][a-z0-9-]*)(\ |$) ]]; then
      subcommands+=" ${BASH_REMATCH[1]}"
    elif [[ $section == options && $line =~ ^\ \ (-[^\ ]+)(.*)$ ]]; then
      # "  --timeout SECONDS..." takes a value; "  --json       Print..." and
      # "  --keep Needs: --scratch" do not.
      names=${BASH_REMATCH[1]//,/ } rest=${BASH_REMATCH[2]}
      if [[ $rest =~ ^\ [^\ ] && ! $rest =~ ^\ (Needs|Excludes): ]]; then
        valued+=" $names"
        if [[ $rest =~ ^\ (PATH|FILE)[\ :] ]]; then
          files+=" $names"
        elif [[ $rest =~ ^\ DIR[\ :] ]]; then
          dirs+=" $names"
        fi
        if [[ $rest =~ ^\ [^\ ]*:\{([^}]*)\} ]]; then
          for name in $names; do choices+=" $name=${BASH_REMATCH[1]}"; done
        fi
      else
        flags+=" $names"
      fi
    fi
  done < <("$@" --help 2>/dev/null)
  _gatehouse_help_cache[$key]="$subcommands|$valued|$flags|$files|$dirs|$choices"
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
  local subcommands valued flags files dirs choices word i
  local global_valued global_flags global_files global_dirs global_choices
  _gatehouse_help "${path[@]}"
  IFS='|' read -r subcommands global_valued global_flags global_files global_dirs global_choices \
    <<<"${_gatehouse_help_cache[${path[*]}]}"
  valued=$global_valued flags=$global_flags files=$global_files dirs=$global_dirs
  choices=$global_choices
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=${COMP_WORDS[i]}
    if [[ " $valued $global_valued " == *" $word "* ]]; then
      ((i += 1)) # skip its value
    elif [[ $word != -* && " $subcommands " == *" $word "* ]]; then
      path+=("$word")
      _gatehouse_help "${path[@]}"
      IFS='|' read -r subcommands valued flags files dirs choices \
        <<<"${_gatehouse_help_cache[${path[*]}]}"
    fi
  done

  COMPREPLY=()
  if [[ " $valued $global_valued " == *" $prev "* ]]; then
    local listed
    for word in $choices $global_choices; do
      [[ ${word%%=*} == "$prev" ]] || continue
      listed=${word#*=}
      mapfile -t COMPREPLY < <(compgen -W "${listed//,/ }" -- "$cur")
      return 0
    done
    if [[ " $dirs $global_dirs " == *" $prev "* ]]; then
      if declare -F _filedir >/dev/null; then
        _filedir -d
      else
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -d -- "$cur")
      fi
      return 0
    fi
    [[ $prev == --socket || " $files $global_files " == *" $prev "* ]] || return 0
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

complete -F _gatehouse gatehouse gatehouse-benchmark
