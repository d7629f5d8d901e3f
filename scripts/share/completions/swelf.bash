# bash completion for swelf (and for swelf installed as patchelf)
_swelf() {
    local cur prev words cword
    if declare -F _init_completion >/dev/null; then
        _init_completion || return
    else
        cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}
        words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD
    fi
    local patch_options="--print-interpreter --print-os-abi --print-soname --print-rpath --print-needed
        --print-execstack --set-interpreter --interpreter --set-soname --set-rpath --add-rpath --remove-rpath
        --shrink-rpath --allowed-rpath-prefixes --force-rpath --add-needed --remove-needed --replace-needed
        --no-default-lib --set-os-abi --set-execstack --clear-execstack --add-debug-tag --clear-symbol-version
        --rename-dynamic-symbols --page-size --output --jobs --no-durability --allow-read-only --no-clobber-old-sections --overlay --no-sort
        --build-resolution-cache --debug --help --version"
    # swelf's own (patchelf has neither)
    [[ ${words[0]##*/} != patchelf ]] && patch_options+=" --quiet --verbose"
    local command=${words[0]##*/}
    local sub=
    if [[ $command != patchelf && $cword -gt 1 ]]; then
        case ${words[1]} in show|verify|doctor|ldd|bundle|portability|autopatch|relocate) sub=${words[1]} ;; esac
    fi
    case $prev in
        --set-interpreter|--interpreter|--output|-o|--rename-dynamic-symbols|--root|--policy|--plugin|--libs|--paths|--runtime-dependencies|--append-rpaths)
            COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --set-os-abi)
            COMPREPLY=($(compgen -W "sysv hp-ux netbsd linux gnu hurd solaris aix irix freebsd tru64 openbsd openvms" -- "$cur")); return ;;
        --set-soname|--set-rpath|--add-rpath|--allowed-rpath-prefixes|--add-needed|--remove-needed|--replace-needed|--clear-symbol-version|--page-size|--jobs|-j|--env|--ignore-missing|--map)
            return ;;
        --overlay)
            COMPREPLY=($(compgen -W "end keep-offset" -- "$cur")); return ;;
        --floor)
            [[ $sub == portability ]] && COMPREPLY=($(compgen -W "glibc=2.17 glibc=2.28 glibc=2.31 glibc=2.34 glibcxx= cxxabi= gcc=" -- "$cur")); return ;;
    esac
    if [[ $cur == -* ]]; then
        case $sub in
            show|verify) COMPREPLY=($(compgen -W "--json --quiet --verbose --help" -- "$cur")) ;;
            doctor) COMPREPLY=($(compgen -W "--root --env --json --quiet --verbose --help" -- "$cur")) ;;
            ldd) COMPREPLY=($(compgen -W "--root --env --tree --json --quiet --verbose --help" -- "$cur")) ;;
            bundle) COMPREPLY=($(compgen -W "--output --policy --include-libstdcxx --root --env --interpreter --plugin --update --allow-broken --json --quiet --verbose --help" -- "$cur")) ;;
            portability) COMPREPLY=($(compgen -W "--floor --root --env --json --quiet --verbose --help" -- "$cur")) ;;
            autopatch) COMPREPLY=($(compgen -W "--dry-run --paths --libs --interpreter --ignore-missing --no-recurse --absolute --keep-existing --keep-libc --ignore-existing --extra-args --runtime-dependencies --append-rpaths --root --keep-going --allow-read-only --jobs --json --quiet --verbose --help" -- "$cur")) ;;
            relocate) COMPREPLY=($(compgen -W "--map --origin --dry-run --keep-going --allow-read-only --jobs --json --quiet --verbose --help" -- "$cur")) ;;
            *) COMPREPLY=($(compgen -W "$patch_options" -- "$cur")) ;;
        esac
        return
    fi
    if [[ $command != patchelf && $cword -eq 1 ]]; then
        COMPREPLY=($(compgen -W "show verify doctor ldd bundle portability autopatch relocate help" -- "$cur") $(compgen -f -- "$cur"))
        return
    fi
    COMPREPLY=($(compgen -f -- "$cur"))
}
complete -o filenames -F _swelf swelf patchelf
