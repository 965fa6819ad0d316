# stp.bash - bash completion for every stp-* program.
#
# One function per program, _stp_NAME for stp-NAME, registered below with
# `complete -F`. The Makefile installs this file once under each program's
# name, so bash-completion's on-demand loading finds it for any of them.
#
# tests/docs.bats checks each function against `stp-NAME --help`: `opts`
# lists every option, `argopts` exactly those that take an argument, and any
# other option the function names must exist too. Keep them in step with the
# program's option table.

# Sets cur and prev for the word being completed; `--opt=value` and
# `--opt value` look alike afterwards.
_stp_words()
{
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
	# With '=' in COMP_WORDBREAKS, "--users=f" arrives as "--users" "=" "f".
	if [[ $cur == = ]]; then
		prev=${COMP_WORDS[COMP_CWORD - 1]}
		cur=
	elif [[ $prev == = ]] && ((COMP_CWORD > 1)); then
		prev=${COMP_WORDS[COMP_CWORD - 2]}
	elif [[ $cur == --*=* ]]; then
		prev=${cur%%=*}
		cur=${cur#*=}
	fi
}

# Completes file names.
_stp_files()
{
	compopt -o filenames 2>/dev/null
	COMPREPLY=($(compgen -f -- "$cur"))
}

# The arguments of the client options every client program shares: file
# names after --cacert, --cert, --key and --password-file, the URL schemes
# the parser accepts after -x. Returns 0 if it completed.
_stp_client_arg()
{
	case "$prev" in
	--cacert|--cert|--key|--password-file)
		_stp_files
		return 0 ;;
	-x|--proxy)
		compopt -o nospace 2>/dev/null
		COMPREPLY=($(compgen -W 'socks4:// socks4a:// socks5:// socks5h://
			socks5s:// socks5hs:// http:// https://' -- "$cur"))
		return 0 ;;
	esac
	return 1
}

# Completes the options in $1 when the word starts with '-', and nothing
# after an option of $2 (an argument nobody can guess). Returns 0 if done.
_stp_opts()
{
	if [[ " "$2" " == *[[:space:]]"$prev"[[:space:]]* && -n $prev ]]; then
		COMPREPLY=()
		return 0
	fi
	[[ $cur == -* ]] || return 1
	COMPREPLY=($(compgen -W "$1" -- "$cur"))
	return 0
}

# Counts the operands before the word being completed (skipping options and
# their arguments); $1 lists the options that take an argument.
_stp_noperands()
{
	local n=0 j w skip=
	for ((j = 1; j < COMP_CWORD; j++)); do
		w=${COMP_WORDS[j]}
		if [[ $w == = ]]; then
			skip=1    # "--opt" "=" "value": the value follows
		elif [[ -n $skip ]]; then
			skip=
		elif [[ $w == -* ]]; then
			[[ " "$1" " == *[[:space:]]"$w"[[:space:]]* ]] && skip=1
		else
			n=$((n + 1))
		fi
	done
	echo "$n"
}

_stp_serve()
{
	local cur prev
	local opts='-c --config -l --listen --tls-listen --transparent --transparent-udp --cert --key --client-ca --users --hash-password --resolver
		--gssapi-keytab --gssapi-service --gssapi-protection
		--auth-url --auth-cache --auth-negative-cache --auth-timeout --rules
		--handshake-timeout --connect-timeout --bind-timeout --bind-ports --keepalive
		--idle-timeout --max-sessions --max-sessions-per-client --login-failures --bandwidth --user-bandwidth
		--open --user --workers --client-config --mcast-iface --mcast-max-ttl --mcast-allow
		--log-format --drain-timeout --stats --stats-users --stats-per-user --inetd --upstream --upstream-cacert --upstream-mux
		--upstream-local --upstream-chain --upstream-strategy --udp-any-sender --no-http --proxy-protocol --attach-at --advertise --udp-ports --egress --egress-interface
		-v --verbose -q --quiet -h --help -V --version'
	local argopts='-c --config -l --listen --tls-listen --transparent --transparent-udp --cert --key --client-ca --users --resolver --handshake-timeout
		--connect-timeout --bind-timeout --bind-ports --keepalive --idle-timeout --max-sessions --log-format --drain-timeout
		--client-config --auth-url --auth-cache --auth-negative-cache --auth-timeout --rules
		--gssapi-keytab --gssapi-service --gssapi-protection
		--max-sessions-per-client --login-failures --bandwidth --user-bandwidth --user --workers
		--mcast-iface --mcast-max-ttl --mcast-allow --stats --stats-users --upstream --upstream-cacert
		--upstream-local --upstream-chain --upstream-strategy --proxy-protocol --attach-at --advertise --udp-ports --egress --egress-interface'
	_stp_words
	case "$prev" in
	-c|--config|--users|--client-config|--cert|--key|--client-ca|--upstream-cacert|--stats-users|--gssapi-keytab)
		_stp_files
		return ;;
	--gssapi-protection)
		COMPREPLY=($(compgen -W 'none integrity confidentiality' -- "$cur"))
		return ;;
	--user)
		COMPREPLY=($(compgen -u -- "$cur"))
		return ;;
	--log-format)
		COMPREPLY=($(compgen -W 'text json' -- "$cur"))
		return ;;
	--workers)
		COMPREPLY=($(compgen -W 'auto' -- "$cur"))
		return ;;
	--upstream-local)
		COMPREPLY=($(compgen -W 'udp bind dns udp,bind,dns' -- "$cur"))
		return ;;
	--upstream-strategy)
		COMPREPLY=($(compgen -W 'failover round-robin hash-user' -- "$cur"))
		return ;;
	--mcast-iface)
		COMPREPLY=($(compgen -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur"))
		return ;;
	esac
	_stp_opts "$opts" "$argopts"
}
complete -F _stp_serve stp-serve

_stp_bind()
{
	local cur prev
	local opts='--gssapi --gssapi-service --gssapi-protection -p --port -k --keep -F --forward -e --exec --addr-file -x --proxy
		-U --proxy-user --password-file --config -4 --ipv4 -6 --ipv6 -w --timeout --keepalive
		--cacert --cert --key --insecure --json -v --verbose -q --quiet -h --help -V --version'
	local argopts='--gssapi-service --gssapi-protection -p --port --cacert --cert --key -F --forward -e --exec --addr-file -x --proxy -U --proxy-user
		--password-file --config -w --timeout --keepalive'
	_stp_words
	_stp_client_arg && return
	case "$prev" in
	--addr-file|--password-file|--config)
		_stp_files
		return ;;
	-e|--exec)
		COMPREPLY=($(compgen -c -- "$cur"))
		return ;;
	esac
	_stp_opts "$opts" "$argopts" && return
	# Operands: the expected PEER, then its PORT.
	if [[ $(_stp_noperands "$argopts") == 0 ]]; then
		COMPREPLY=($(compgen -A hostname -- "$cur"))
	fi
}
complete -F _stp_bind stp-bind

_stp_connect()
{
	local cur prev
	local opts='--gssapi --gssapi-service --gssapi-protection -x --proxy -U --proxy-user --password-file --config -4 --ipv4
		-6 --ipv6 -w --timeout --keepalive -z --check -L --listen --mux --mux-fallback --mux-master
		--wrap --cacert --cert --key --insecure --json
		-v --verbose -q --quiet -h --help -V --version'
	local argopts='--gssapi-service --gssapi-protection --cacert --cert --key -x --proxy -U --proxy-user --password-file --config
		-w --timeout --keepalive -L --listen --mux --mux-master --wrap'
	_stp_words
	# after --wrap CMD: complete as for the command (bash's own helper)
	local w
	for ((w = 1; w < COMP_CWORD; w++)); do
		if [[ ${COMP_WORDS[w]} == --wrap ]]; then
			if declare -F _command_offset >/dev/null; then
				_command_offset $((w + 1))
			else
				COMPREPLY=($(compgen -c -- "$cur"))
			fi
			return
		fi
	done
	_stp_client_arg && return
	case "$prev" in
	--password-file|--config|--mux|--mux-master)
		_stp_files
		return ;;
	esac
	_stp_opts "$opts" "$argopts" && return
	# Operands: HOST, then PORT.
	if [[ $(_stp_noperands "$argopts") == 0 ]]; then
		COMPREPLY=($(compgen -A hostname -- "$cur"))
	fi
}
complete -F _stp_connect stp-connect

_stp_resolve()
{
	local cur prev
	local opts='--gssapi --gssapi-service --gssapi-protection -r --reverse -t --type --listen -x --proxy -U --proxy-user
		--password-file --config -4 --ipv4 -6 --ipv6 -w --timeout --keepalive
		--cacert --cert --key --insecure --json
		-v --verbose -q --quiet -h --help -V --version'
	local argopts='--gssapi-service --gssapi-protection -t --type --listen -x --proxy -U --proxy-user
		--password-file --config -w --timeout --keepalive --cacert --cert --key'
	_stp_words
	_stp_client_arg && return
	case "$prev" in
	-t|--type)
		COMPREPLY=($(compgen -W 'A AAAA CNAME MX NS PTR SOA SRV TXT CAA ANY' -- "$cur"))
		return ;;
	--password-file|--config|--cacert|--cert|--key)
		_stp_files
		return ;;
	esac
	_stp_opts "$opts" "$argopts" && return
	# Operands: names (or addresses with -r).
	COMPREPLY=($(compgen -A hostname -- "$cur"))
}
complete -F _stp_resolve stp-resolve

_stp_udp()
{
	local cur prev
	local opts='--gssapi --gssapi-service --gssapi-protection -L --local -l --listen --tcp --format --wait -x --proxy
		-U --proxy-user --password-file --config -4 --ipv4 -6 --ipv6 -w --timeout --keepalive
		--cacert --cert --key --insecure
		--json -v --verbose -q --quiet -h --help -V --version'
	local argopts='--gssapi-service --gssapi-protection -L --local --format --wait -x --proxy -U --proxy-user
		--password-file --config -w --timeout --keepalive --cacert --cert --key'
	_stp_words
	_stp_client_arg && return
	case "$prev" in
	--format)
		COMPREPLY=($(compgen -W 'line raw hex json' -- "$cur"))
		return ;;
	--password-file|--config|--cacert|--cert|--key)
		_stp_files
		return ;;
	esac
	_stp_opts "$opts" "$argopts" && return
	# Operands: HOST, then PORT.
	if [[ $(_stp_noperands "$argopts") == 0 ]]; then
		COMPREPLY=($(compgen -A hostname -- "$cur"))
	fi
}
complete -F _stp_udp stp-udp

_stp_mcast()
{
	local cur prev
	local opts='--gssapi --gssapi-service --gssapi-protection -s --send --both --ttl --source --tcp --format --wait -x --proxy
		-U --proxy-user --password-file --config -4 --ipv4 -6 --ipv6 -w --timeout --keepalive
		--cacert --cert --key --insecure
		--json -v --verbose -q --quiet -h --help -V --version'
	local argopts='--gssapi-service --gssapi-protection --ttl --source --format --wait -x --proxy -U --proxy-user
		--password-file --config -w --timeout --keepalive --cacert --cert --key'
	_stp_words
	_stp_client_arg && return
	case "$prev" in
	--format)
		COMPREPLY=($(compgen -W 'line raw hex json' -- "$cur"))
		return ;;
	--password-file|--config|--cacert|--cert|--key)
		_stp_files
		return ;;
	esac
	_stp_opts "$opts" "$argopts" && return
	# Operands: GROUP, then PORT: numeric, nothing to offer.
}
complete -F _stp_mcast stp-mcast

_stp_probe()
{
	local cur prev
	local opts='--gssapi --gssapi-service --gssapi-protection --target --udp-target --name --url --bandwidth --require
		-n --tries --color -x --proxy -U --proxy-user --password-file --config
		-4 --ipv4 -6 --ipv6 -w --timeout --cacert --cert --key --insecure
		--json -v --verbose -q --quiet -h --help -V --version'
	local argopts='--gssapi-service --gssapi-protection --target --udp-target --name --url --bandwidth --require
		-n --tries --color -x --proxy -U --proxy-user --password-file --config
		-w --timeout --cacert --cert --key'
	_stp_words
	_stp_client_arg && return
	case "$prev" in
	--color)
		COMPREPLY=($(compgen -W 'auto always never' -- "$cur"))
		return ;;
	--require)
		# a comma-separated list: complete its last item, keep the others
		local done=
		[[ $cur == *,* ]] && done=${cur%,*},
		compopt -o nospace 2>/dev/null
		COMPREPLY=($(compgen -P "$done" -W 'reach detect tls methods auth connect
			dns ipv6 bind bind-multi udp resolve resolve-ptr features latency
			http bandwidth' -- "${cur##*,}"))
		return ;;
	--name)
		COMPREPLY=($(compgen -A hostname -- "$cur"))
		return ;;
	--password-file|--cacert|--cert|--key|--config)
		_stp_files
		return ;;
	esac
	# Operand: the proxy URL, nothing to guess.
	_stp_opts "$opts" "$argopts"
}
complete -F _stp_probe stp-probe
