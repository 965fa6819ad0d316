#!/usr/bin/env bats
# docs.bats - each program's --help against its man page and its bash, zsh
# and fish completions, in both directions (after git's t0450): an option in
# --help that a document lacks fails, and so does an option a document names
# that --help lacks. The programs are those with a bin/stp-NAME.c, so a new
# program is checked as soon as it exists.
#
# What the parsers below rely on:
#   --help  "usage: PROG SYNOPSIS", a blank line, a description, a blank
#           line, "options:", then one line per option, up to a blank line:
#           "  -x, --name ARG  help" or "      --name ARG  help".
#   man     man/PROG.1 in mdoc. Each option has an ".It Fl x , Fl \-name Ar
#           ARG" line in OPTIONS (same short letter, same argument words) and
#           appears in SYNOPSIS. Every "Fl \-name" anywhere must be an option
#           of PROG: write other programs' options as plain "\-\-name".
#   bash    completions/stp.bash: function _stp_NAME (dashes as underscores),
#           registered with "complete -F _stp_NAME stp-NAME", completes every
#           option after "-"; its "local argopts='...'" lists exactly the
#           options that take an argument.
#   zsh     completions/_PROG: "#compdef PROG", then an _arguments line and
#           one spec per line ("(EXCL)"{-x+,--name=}"[help]:message:action").
#   fish    completions/PROG.fish: "complete -c PROG -s x -l name [-r|-x]"
#           lines, one per option.

bats_require_minimum_version 1.5.0

setup() {
	STP_TOP=${STP_TOP:-$(cd "$BATS_TEST_DIRNAME/.." && pwd)}
	PATH="$STP_TOP/bin:$PATH"
	export STP_TOP PATH
	unset STP_PROXY ALL_PROXY all_proxy NO_PROXY no_proxy STP_PASSWORD
	errors=
	if [ -z "$(programs)" ]; then
		echo "no programs: nothing matches $STP_TOP/bin/stp-*.c"
		return 1
	fi
}

# Prints the programs, one per line: stp-NAME for each bin/stp-NAME.c.
programs() {
	local c
	for c in "$STP_TOP"/bin/stp-*.c; do
		[ -e "$c" ] || continue
		c=${c##*/}
		echo "${c%.c}"
	done
}

# Records one problem; check_errors fails the test listing all of them.
bad() {
	errors+="$*"$'\n'
}

check_errors() {
	if [ -n "$errors" ]; then
		printf '%s' "$errors"
		return 1
	fi
}

# Returns 0 if $1 is built and is what PATH finds; else records why.
built() {
	if [ ! -x "$STP_TOP/bin/$1" ]; then
		bad "$1: $STP_TOP/bin/$1 is not built (run make)"
		return 1
	fi
	if [ "$(command -v "$1")" != "$STP_TOP/bin/$1" ]; then
		bad "$1: PATH finds $(command -v "$1") instead of $STP_TOP/bin/$1"
		return 1
	fi
}

# Prints the options of PROG's --help as records "--long -s ARG" ("-" for
# no short letter or no argument). A line of the options block that is not
# in the expected shape comes out as "! LINE".
help_options() {
	local line on= re='^  (-([A-Za-z0-9]), |    )--([a-z0-9][a-z0-9-]*)( ([^ ]+))?  +[^ ]'
	while IFS= read -r line; do
		if [ -z "$on" ]; then
			[ "$line" = "options:" ] && on=1
			continue
		fi
		[ -z "$line" ] && break
		if [[ $line =~ $re ]]; then
			echo "--${BASH_REMATCH[3]} ${BASH_REMATCH[2]:+-}${BASH_REMATCH[2]:--} ${BASH_REMATCH[5]:--}"
		else
			echo "! $line"
		fi
	done < <("$1" --help 2>/dev/null)
}

# Reads help records on stdin; prints every long name and short letter.
all_names() {
	awk '$1 != "!" { print $1; if ($2 != "-") print $2 }'
}

# Reads help records on stdin; prints the names that take an argument.
arg_names() {
	awk '$1 != "!" && $3 != "-" { print $1; if ($2 != "-") print $2 }'
}

# Prints the words of list $1 that are not in list $2 (whitespace-separated).
minus() {
	comm -23 <(printf '%s\n' $1 | sort -u) <(printf '%s\n' $2 | sort -u)
}

# The words of an argument ("[ADDR:]PORT" -> "ADDR PORT"), "-" for none.
arg_words() {
	local w
	w=$(printf '%s\n' "$1" | tr -c 'A-Za-z0-9_\n' ' ' | tr -s ' \n' '\n' |
		grep -E '^[A-Z][A-Z0-9_]*$' | paste -sd' ')
	echo "${w:--}"
}

# Compares option records of document LABEL ("--long -s ARG", one per line,
# "-" for none; ARG "1" when it takes an argument, "0" when not, or its
# words) with the help records HELP, both ways. With ARGWORDS set, ARG is
# compared as words (the man page), else as 1/0.
compare_records() {
	local label=$1 help=$2 doc=$3 argwords=$4 long short arg dlong dshort darg want
	while read -r long short arg; do
		[ "$long" = "!" ] && continue
		dlong= dshort= darg=
		read -r dlong dshort darg < <(awk -v l="$long" '$1 == l' <<<"$doc" | head -1) || true
		if [ -z "$dlong" ]; then
			bad "$label lacks $long"
			continue
		fi
		[ "$dshort" = "$short" ] ||
			bad "$label gives $long the short option '$dshort', --help '$short'"
		if [ -n "$argwords" ]; then
			want=$(arg_words "$arg")
			[ "$darg" = "$want" ] ||
				bad "$label gives $long the argument '$darg', --help '$want'"
		else
			want=1
			[ "$arg" = "-" ] && want=0
			[ "$darg" = "$want" ] || {
				[ "$want" = 1 ] && bad "$label: $long takes no argument there, but --help gives it $arg"
				[ "$want" = 0 ] && bad "$label: $long takes an argument there, but not in --help"
			}
		fi
	done <<<"$help"
	while read -r dlong dshort darg; do
		[ -z "$dlong" ] && continue
		if [ "$dlong" != "-" ]; then
			awk -v l="$dlong" '$1 == l { f = 1 } END { exit !f }' <<<"$help" ||
				bad "$label has $dlong, which --help lacks"
		elif [ "$dshort" != "-" ]; then
			awk -v s="$dshort" '$2 == s { f = 1 } END { exit !f }' <<<"$help" ||
				bad "$label has $dshort without a long name; --help lacks it or gives it one"
		fi
	done <<<"$doc"
}

# Records each option in the list MENTIONED that --help (records HELP) lacks.
check_mentions() {
	local label=$1 help=$2 mentioned=$3 o
	for o in $(minus "$mentioned" "$(all_names <<<"$help")"); do
		bad "$label names $o, which --help lacks"
	done
}

# Prints the lines of section $2 of mdoc page $1.
man_section() {
	awk -v s="$2" '/^\.Sh / { t = substr($0, 5); gsub(/"/, "", t); on = (t == s); next } on' "$1"
}

# Prints the option records of a man page's OPTIONS section:
# "--long -s ARGWORDS" per ".It Fl" line.
man_records() {
	local line long short args
	man_section "$1" OPTIONS | grep -E '^\.It Fl ' | while IFS= read -r line; do
		long=$(grep -oE 'Fl \\?-[a-z0-9][a-z0-9-]*' <<<"$line" | head -1 | sed -E 's/^Fl \\?-/--/')
		short=$(grep -oE 'Fl [A-Za-z0-9]( |$)' <<<"$line" | head -1 | awk '{ print "-" $2 }')
		args=$(sed -E 's/Fl [^ ]+//g' <<<"$line" | tr ' ' '\n' | grep -E '^[A-Z][A-Z0-9_]*$' | paste -sd' ')
		echo "${long:--} ${short:--} ${args:--}"
	done
}

# Prints the option records of a zsh _arguments file: "--long -s 0|1" per
# spec line, then "mention OPT" for each option its exclusion lists name.
zsh_records() {
	local line excl main rest long short arg o re_main='^(-[^:[ ]*)(.*)$'
	awk '/^[[:space:]]*_arguments/ { on = 1; next } on && !/^[[:space:]]*#/' "$1" |
	while IFS= read -r line; do
		line=${line//\'/}
		line=${line%\\}
		line=$(sed -E 's/^[[:space:]]+//; s/[[:space:]]+$//' <<<"$line")
		[ -z "$line" ] && continue
		excl=
		if [[ $line =~ ^\*?\(([^\)]*)\)(.*)$ ]]; then
			excl=${BASH_REMATCH[1]}
			line=${BASH_REMATCH[2]}
		fi
		line=${line#\*}
		if [[ $line =~ ^\{([^\}]*)\}(.*)$ ]]; then
			main=${BASH_REMATCH[1]}
			rest=${BASH_REMATCH[2]}
		elif [[ $line =~ $re_main ]]; then
			main=${BASH_REMATCH[1]}
			rest=${BASH_REMATCH[2]}
		else
			main=
			rest=$line
		fi
		for o in $(grep -oE -- '--?[A-Za-z0-9][A-Za-z0-9-]*' <<<"$excl"); do
			echo "mention $o"
		done
		[ -z "$main" ] && continue
		rest=$(sed -E 's/^\[([^]\\]|\\.)*\]//' <<<"$rest")
		arg=0
		[[ $rest == *:* || $main == *[=+] || $main == *[=+],* ]] && arg=1
		long=- short=-
		for o in $(grep -oE -- '--?[A-Za-z0-9][A-Za-z0-9-]*' <<<"$main"); do
			case $o in
			--*) long=$o ;;
			-?) short=$o ;;
			*) echo "mention $o" ;;
			esac
		done
		echo "$long $short $arg"
	done
}

# Prints the option records of a fish file for PROG: "--long -s 0|1" per
# "complete -c PROG" line with -s or -l; "other LINE" for a complete line of
# another command.
fish_records() {
	local prog=$1 file=$2 line w next cmd long short arg
	grep -E '^[[:space:]]*complete[[:space:]]' "$file" | while IFS= read -r line; do
		line=$(sed -E "s/'[^']*'//g; s/\"[^\"]*\"//g" <<<"$line")
		cmd= long=- short=- arg=0 next=
		for w in $line; do
			case $next in
			cmd) cmd=$w ;;
			short) short=-$w ;;
			long) long=--$w ;;
			esac
			[ -n "$next" ] && { next=; continue; }
			case $w in
			-c|--command) next=cmd ;;
			-s|--short-option) next=short ;;
			-l|--long-option) next=long ;;
			-r|-x|--require-parameter|--exclusive) arg=1 ;;
			esac
		done
		if [ "$cmd" != "$prog" ]; then
			echo "other $line"
			continue
		fi
		[ "$long$short" = "--" ] && continue
		echo "$long $short $arg"
	done
}

# The bash completion function of PROG.
bash_fn() {
	local fn=_stp_${1#stp-}
	echo "${fn//-/_}"
}

@test "--help exits 0 and prints usage and options to stdout in the documented shape" {
	local prog help line o
	for prog in $(programs); do
		built "$prog" || continue
		run -0 --separate-stderr "$prog" --help
		[ -z "$stderr" ] || bad "$prog --help: wrote to stderr: $stderr"
		[[ ${lines[0]} == "usage: $prog "* ]] ||
			bad "$prog --help: first line is '${lines[0]}', not 'usage: $prog SYNOPSIS'"
		[ "${output#*$'\n'}" != "$output" ] && [[ ${output#*$'\n'} == $'\n'* ]] ||
			bad "$prog --help: the usage line is not followed by a blank line"
		grep -qx 'options:' <<<"$output" || bad "$prog --help: no 'options:' line"
		help=$(help_options "$prog")
		[ -n "$help" ] || bad "$prog --help: no options after 'options:'"
		while read -r line; do
			bad "$prog --help: option line not in the shape '  -x, --name ARG  help': '$line'"
		done < <(sed -n 's/^! //p' <<<"$help")
		for o in $(all_names <<<"$help" | sort | uniq -d); do
			bad "$prog --help: $o is listed twice"
		done
	done
	check_errors
}

@test "--version exits 0 and prints to stdout" {
	local prog
	for prog in $(programs); do
		built "$prog" || continue
		run -0 --separate-stderr "$prog" --version
		[ -n "$output" ] || bad "$prog --version: printed nothing on stdout"
		[ -z "$stderr" ] || bad "$prog --version: wrote to stderr: $stderr"
	done
	check_errors
}

@test "a bad option or a missing argument exits 2 with one line that points to --help" {
	local prog help letter o try
	for prog in $(programs); do
		built "$prog" || continue
		help=$(help_options "$prog")
		try="try '$prog --help'"
		run -2 --separate-stderr "$prog" --no-such-option
		[ -z "$output" ] || bad "$prog --no-such-option: wrote to stdout: $output"
		[ "${#stderr_lines[@]}" = 1 ] && [[ $stderr == "$prog: "*"$try" ]] ||
			bad "$prog --no-such-option: stderr is not one line '$prog: ... $try': $stderr"
		# An unused short letter: getopt's own message must not show through.
		for letter in j k J K y Y; do
			grep -q -- " -$letter " <<<"$help" || break
		done
		run -2 --separate-stderr "$prog" "-$letter"
		[ "${#stderr_lines[@]}" = 1 ] && [[ $stderr == "$prog: "*"$try" ]] ||
			bad "$prog -$letter: stderr is not one line '$prog: ... $try': $stderr"
		for o in $(awk '$1 != "!" && $3 != "-" { print $1 }' <<<"$help"); do
			run -2 --separate-stderr "$prog" "$o"
			[ "${#stderr_lines[@]}" = 1 ] && [[ $stderr == "$prog: "*"$try" ]] ||
				bad "$prog $o (no argument): stderr is not one line '$prog: ... $try': $stderr"
		done
	done
	check_errors
}

@test "each man page has the required sections and names its program" {
	local prog page sec
	for prog in $(programs); do
		page=$STP_TOP/man/$prog.1
		if [ ! -f "$page" ]; then
			bad "$prog: no man page man/$prog.1"
			continue
		fi
		for sec in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" ENVIRONMENT EXAMPLES "SEE ALSO"; do
			grep -Eq "^\\.Sh \"?$sec\"?\$" "$page" || bad "man/$prog.1: no section $sec"
		done
		grep -qx "\\.Dt $(tr 'a-z' 'A-Z' <<<"$prog") 1" "$page" ||
			bad "man/$prog.1: .Dt is not '$(tr 'a-z' 'A-Z' <<<"$prog") 1'"
		man_section "$page" NAME | grep -qx "\\.Nm $prog" || bad "man/$prog.1: NAME lacks '.Nm $prog'"
		man_section "$page" "EXIT STATUS" | grep -qx '\.It 0' || bad "man/$prog.1: EXIT STATUS lacks 0"
		man_section "$page" "EXIT STATUS" | grep -qx '\.It 2' || bad "man/$prog.1: EXIT STATUS lacks 2 (usage)"
	done
	check_errors
}

@test "each man page lints clean with mandoc" {
	command -v mandoc >/dev/null || skip "mandoc is not installed"
	local prog out
	for prog in $(programs); do
		[ -f "$STP_TOP/man/$prog.1" ] || { bad "$prog: no man page man/$prog.1"; continue; }
		# -Wwarning: STYLE notes about manuals not installed here do not count.
		out=$(mandoc -Tlint -Wwarning "$STP_TOP/man/$prog.1" 2>&1) || bad "$out"
	done
	check_errors
}

@test "man pages and --help list the same options, arguments and short letters" {
	local prog help page o syn
	for prog in $(programs); do
		built "$prog" || continue
		page=$STP_TOP/man/$prog.1
		[ -f "$page" ] || { bad "$prog: no man page man/$prog.1"; continue; }
		help=$(help_options "$prog")
		compare_records "man/$prog.1 OPTIONS" "$help" "$(man_records "$page")" words
		# Any "Fl \-name" anywhere in the page but its comments.
		check_mentions "man/$prog.1" "$help" \
			"$(sed '/^\.\\"/d' "$page" | grep -oE 'Fl \\?-[a-z0-9][a-z0-9-]*' | sed -E 's/^Fl \\?-/--/')"
		# SYNOPSIS: every option, by its short letter if it has one.
		syn=$(man_section "$page" SYNOPSIS)
		local synopts
		synopts=$(grep -oE 'Fl [A-Za-z0-9]+( |$)' <<<"$syn" | awk '{ print $2 }' | fold -w1 | sed 's/^/-/')
		synopts+=$'\n'$(grep -oE 'Fl \\?-[a-z0-9][a-z0-9-]*' <<<"$syn" | sed -E 's/^Fl \\?-/--/')
		check_mentions "man/$prog.1 SYNOPSIS" "$help" "$synopts"
		for o in $(awk '$1 != "!" { print ($2 != "-") ? $2 : $1 }' <<<"$help"); do
			grep -qx -- "$o" <<<"$synopts" || bad "man/$prog.1 SYNOPSIS lacks $o"
		done
	done
	check_errors
}

@test "the bash completion offers exactly the options of --help" {
	local file=$STP_TOP/completions/stp.bash prog help fn offered body argopts o
	[ -f "$file" ] || { echo "no $file"; return 1; }
	for prog in $(programs); do
		built "$prog" || continue
		help=$(help_options "$prog")
		fn=$(bash_fn "$prog")
		offered=$(bash --norc --noprofile -c '
			source "$1" >/dev/null 2>&1 || { echo "!source"; exit; }
			[ "$(complete -p "$2" 2>/dev/null)" = "complete -F $3 $2" ] || { echo "!complete"; exit; }
			COMP_WORDS=("$2" -); COMP_CWORD=1; COMPREPLY=()
			"$3" 2>/dev/null
			printf "%s\n" "${COMPREPLY[@]}"' _ "$file" "$prog" "$fn")
		case $offered in
		'!source') bad "completions/stp.bash: sourcing it fails"; continue ;;
		'!complete') bad "completions/stp.bash: no 'complete -F $fn $prog'"; continue ;;
		esac
		for o in $(minus "$(all_names <<<"$help")" "$offered"); do
			bad "completions/stp.bash: $fn does not offer $o"
		done
		for o in $(minus "$offered" "$(all_names <<<"$help")"); do
			bad "completions/stp.bash: $fn offers $o, which --help lacks"
		done
		# Statically: argopts, and every --name the function mentions.
		body=$(awk -v f="$fn" '$0 ~ "^" f "\\(\\)" { on = 1 } on { print } on && /^}/ { exit }' "$file" |
			sed -E 's/(^|[[:space:]])#.*$//')
		argopts=$(sed -n "/local argopts='/,/'/p" <<<"$body" | sed -E "s/.*argopts='//; s/'.*//")
		for o in $(minus "$(arg_names <<<"$help")" "$argopts"); do
			bad "completions/stp.bash: $fn's argopts lacks $o, which takes an argument"
		done
		for o in $(minus "$argopts" "$(arg_names <<<"$help")"); do
			bad "completions/stp.bash: $fn's argopts has $o, which takes no argument in --help"
		done
		check_mentions "completions/stp.bash ($fn)" "$help" \
			"$(grep -oE -- '(^|[^A-Za-z0-9-])--[a-z0-9][a-z0-9-]*' <<<"$body" | sed -E 's/^[^-]//')"
		check_mentions "completions/stp.bash ($fn)" "$help" \
			"$(grep -E '^[[:space:]]*-[-A-Za-z0-9|]*\)' <<<"$body" | sed -E 's/\).*//' | tr '|' '\n')"
	done
	check_errors
}

@test "the zsh completions have exactly the options of --help" {
	local prog help file recs
	for prog in $(programs); do
		built "$prog" || continue
		file=$STP_TOP/completions/_$prog
		[ -f "$file" ] || { bad "$prog: no completions/_$prog"; continue; }
		[ "$(head -1 "$file")" = "#compdef $prog" ] || bad "completions/_$prog: first line is not '#compdef $prog'"
		help=$(help_options "$prog")
		recs=$(zsh_records "$file")
		compare_records "completions/_$prog" "$help" "$(grep -v '^mention ' <<<"$recs")"
		check_mentions "completions/_$prog" "$help" "$(sed -n 's/^mention //p' <<<"$recs")"
	done
	check_errors
}

@test "the fish completions have exactly the options of --help" {
	local prog help file recs
	for prog in $(programs); do
		built "$prog" || continue
		file=$STP_TOP/completions/$prog.fish
		[ -f "$file" ] || { bad "$prog: no completions/$prog.fish"; continue; }
		help=$(help_options "$prog")
		recs=$(fish_records "$prog" "$file")
		while IFS= read -r line; do
			bad "completions/$prog.fish: a complete line for another command: $line"
		done < <(sed -n 's/^other //p' <<<"$recs")
		compare_records "completions/$prog.fish" "$help" "$(grep -v '^other ' <<<"$recs")"
	done
	check_errors
}

@test "no man page or completion for a program that does not exist" {
	local f name progs
	progs=$(programs)
	for f in "$STP_TOP"/man/stp-*.1 "$STP_TOP"/completions/_stp-* "$STP_TOP"/completions/stp-*.fish; do
		[ -e "$f" ] || continue
		name=${f##*/}
		name=${name#_}
		name=${name%.1}
		name=${name%.fish}
		grep -qx -- "$name" <<<"$progs" || bad "${f#"$STP_TOP"/}: there is no bin/$name.c"
	done
	for name in $(sed -nE 's/^complete -F [^ ]+ //p' "$STP_TOP/completions/stp.bash"); do
		grep -qx -- "$name" <<<"$progs" || bad "completions/stp.bash completes $name: there is no bin/$name.c"
	done
	check_errors
}

@test "bash accepts the bash completion" {
	run -0 bash -n "$STP_TOP/completions/stp.bash"
}

@test "zsh accepts the zsh completions" {
	command -v zsh >/dev/null || skip "zsh is not installed"
	local prog
	for prog in $(programs); do
		[ -f "$STP_TOP/completions/_$prog" ] || { bad "$prog: no completions/_$prog"; continue; }
		run zsh -n "$STP_TOP/completions/_$prog"
		[ "$status" = 0 ] || bad "zsh -n completions/_$prog: $output"
	done
	check_errors
}

@test "fish accepts the fish completions" {
	command -v fish >/dev/null || skip "fish is not installed"
	local prog
	for prog in $(programs); do
		[ -f "$STP_TOP/completions/$prog.fish" ] || { bad "$prog: no completions/$prog.fish"; continue; }
		run fish -n "$STP_TOP/completions/$prog.fish"
		[ "$status" = 0 ] || bad "fish -n completions/$prog.fish: $output"
	done
	check_errors
}

@test "stp-protocol(7) is there, lints clean, renders without warnings; make install, README and stp-serve(1) point at it" {
	local page=$STP_TOP/man/stp-protocol.7 out
	[ -f "$page" ] || { echo "no man/stp-protocol.7"; return 1; }
	grep -qx '\.Dt STP-PROTOCOL 7' "$page" || bad "man/stp-protocol.7: .Dt is not 'STP-PROTOCOL 7'"
	if command -v mandoc >/dev/null; then
		out=$(mandoc -Tlint -Wwarning "$page" 2>&1) || bad "$out"
	fi
	if command -v groff >/dev/null; then
		out=$(groff -man -ww -z "$page" 2>&1)
		[ -z "$out" ] || bad "groff -man -ww: $out"
	fi
	# every command, option kind, STP reply and MUX frame type is described
	local w
	for w in CONNECT BIND "UDP ASSOCIATE" RESOLVE RESOLVE_PTR FEATURES BIND_MULTI ATTACH \
		UDP_BIND MCAST DNS MUX UDP_TCP CONFIG TICKET TCP_DELIVERY SOURCE TTL DIRECTION \
		BACKLOG EXPIRY ATTACH_AT SERVER "X'C0'" "X'C1'" "X'C2'" "X'C3'" "X'C4'" "X'C5'" \
		OPEN REPLY DATA WINDOW FIN RST PING PONG; do
		grep -qF -- "$w" "$page" || bad "man/stp-protocol.7 does not describe $w"
	done
	grep -qE 'install .*man/stp-protocol\.7 .*man7' "$STP_TOP/Makefile" || bad "make install does not install man/stp-protocol.7"
	grep -q 'stp-protocol' "$STP_TOP/README.md" || bad "README.md does not point at stp-protocol(7)"
	grep -q '^\.Xr stp-protocol 7' "$STP_TOP/man/stp-serve.1" || bad "stp-serve(1) does not point at stp-protocol(7)"
	grep -nE 'SPEC §|section 4' "$STP_TOP/README.md" "$STP_TOP"/man/*.[17] && bad "a document points at a SPEC section outside the repository"
	check_errors
}

@test "reply codes above X'08' are written X'NN' in pages and messages, never in decimal" {
	local hits
	hits=$(grep -nE 'reply (code )?(1[0-9]{2}|2[0-9]{2})' "$STP_TOP"/man/*.[17] "$STP_TOP/README.md" || true)
	[ -z "$hits" ] || bad "decimal STP replies in the documents: $hits"
	# a message that prints a reply code with %u/%d prints it in decimal:
	# SOCKS4's codes (90-93) only, which SOCKS4 itself writes so
	hits=$(grep -nE '"[^"]*reply %(h?h?[ud]|i)' -r "$STP_TOP/libcommon" "$STP_TOP/bin" --include='*.c' | grep -v SOCKS4 || true)
	[ -z "$hits" ] || bad "messages with a decimal reply code: $hits"
	check_errors
}

@test "bash completion: files after --cacert, --cert, --key; schemes after -x; checks after --require" {
	local file=$STP_TOP/completions/stp.bash prog fn
	mkdir -p "$BATS_TEST_TMPDIR/c"
	touch "$BATS_TEST_TMPDIR/c/ca.pem"
	complete_words() {
		(cd "$BATS_TEST_TMPDIR/c" && bash --norc --noprofile -c '
			source "$1" >/dev/null 2>&1 || exit 1
			fn=$2; shift 2
			COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=()
			"$fn" 2>/dev/null
			printf "%s\n" "${COMPREPLY[@]}"' _ "$file" "$@")
	}
	for prog in $(programs); do
		[ "$prog" = stp-serve ] && continue
		fn=$(bash_fn "$prog")
		for o in --cacert --cert --key; do
			grep -qx ca.pem <<<"$(complete_words "$fn" "$prog" "$o" c)" ||
				bad "completions/stp.bash: $prog $o does not complete file names"
		done
		grep -qx 'socks5hs://' <<<"$(complete_words "$fn" "$prog" -x socks5h)" ||
			bad "completions/stp.bash: $prog -x does not complete URL schemes"
	done
	[ "$(complete_words _stp_probe stp-probe --require bind,u)" = "bind,udp" ] ||
		bad "completions/stp.bash: stp-probe --require bind,u does not complete to bind,udp"
	[ "$(complete_words _stp_probe stp-probe --require 'bind-m')" = "bind-multi" ] ||
		bad "completions/stp.bash: stp-probe --require bind-m does not complete to bind-multi"
	check_errors
}

@test "stp-serve(1)'s session log lists every cmd value the server logs" {
	local label entry
	entry=$(awk '/^\.It Cm cmd$/ { on = 1; next } on && /^\.It / { exit } on' "$STP_TOP/man/stp-serve.1")
	for label in $(grep -oE '^[[:space:]]*\{ STP_CMD_[A-Z_]+, "[a-z-]+"' "$STP_TOP/libcommon/proto/cmd.c" |
		sed -E 's/.*"([a-z-]+)"/\1/') unknown; do
		grep -qE "(^|[ ,])$label( ,|,| |\$)" <<<"$entry" || bad "stp-serve(1) session log: cmd lacks $label"
	done
	grep -q 'only' <<<"$(man_section "$STP_TOP/man/stp-serve.1" OPTIONS | grep -A4 'unless')" ||
		bad "stp-serve(1): -l does not say that only --tls-listen means no plain listener"
	check_errors
}

@test "-w is described in the same words on every client's page" {
	local prog want got
	want=$(awk '/^\.It Fl w , /{ on = 1 } on && n < 5 { print; n++ }' "$STP_TOP/man/stp-connect.1")
	[ "$(wc -l <<<"$want")" = 5 ] || { echo "stp-connect(1) has no -w item"; return 1; }
	for prog in $(programs); do
		[ "$prog" = stp-serve ] && continue
		got=$(awk '/^\.It Fl w , /{ on = 1 } on && n < 5 { print; n++ }' "$STP_TOP/man/$prog.1")
		[ "$got" = "$want" ] || bad "man/$prog.1: -w does not start as stp-connect(1)'s: $got"
		grep -qF "[limit for reaching the proxy, the handshake and the target]" "$STP_TOP/completions/_$prog" ||
			bad "completions/_$prog: -w is not 'limit for reaching the proxy, the handshake and the target'"
		grep -qF -- "-d 'limit for reaching the proxy, the handshake and the target (default 30)'" \
			"$STP_TOP/completions/$prog.fish" ||
			bad "completions/$prog.fish: -w is not 'limit for reaching the proxy, the handshake and the target'"
	done
	check_errors
}

# Prints the .It entries of list depth $2 (1: the section's own list) of the
# EXIT STATUS section of page $1, one per line.
exit_items() {
	man_section "$1" "EXIT STATUS" | awk -v want="$2" '
		/^\.Bl/ { d++; next } /^\.El/ { d--; next }
		/^\.It / && d == want { print substr($0, 5) }'
}

@test "every EXIT STATUS section has the same shape" {
	local prog page first want
	for prog in $(programs); do
		page=$STP_TOP/man/$prog.1
		first=$(man_section "$page" "EXIT STATUS" | head -1)
		[ "$first" = ".Bl -tag -width Ds" ] ||
			bad "man/$prog.1: EXIT STATUS does not open with '.Bl -tag -width Ds' but '$first'"
		want="0 1 2 3 4 5 6 7 10 + Ar REP"
		[ "$prog" = stp-serve ] && want="0 1 2"
		[ "$(exit_items "$page" 1 | paste -sd' ')" = "$want" ] ||
			bad "man/$prog.1: EXIT STATUS lists '$(exit_items "$page" 1 | paste -sd' ')', not '$want'"
		[ "$prog" = stp-serve ] && continue
		[ "$(exit_items "$page" 2 | paste -sd' ')" = "11 12 13 14 15 16 18" ] ||
			bad "man/$prog.1: EXIT STATUS 10 + REP lists '$(exit_items "$page" 2 | paste -sd' ')', not 11-16, 18"
		man_section "$page" "EXIT STATUS" | paste -sd' ' |
			grep -qF "The STP replies X'C2', X'C3' and X'C4' exit with 12, the other STP replies with 11." ||
			bad "man/$prog.1: EXIT STATUS does not say how STP replies exit"
	done
	check_errors
}

@test "each --help intro names the environment variables its man page's ENVIRONMENT lists" {
	local prog vocab='STP_CONFIG STP_PROXY all_proxy ALL_PROXY NO_PROXY no_proxy STP_PASSWORD NO_COLOR'
	local intro page env v
	for prog in $(programs); do
		built "$prog" || continue
		# the intro: from the line after "usage:" to "options:"
		intro=$("$prog" --help | awk 'NR > 1 && /^options:$/ { exit } NR > 1')
		page=$(man_section "$STP_TOP/man/$prog.1" ENVIRONMENT | grep -E '^\.It Ev ')
		for v in $vocab; do
			env=no
			grep -qE "(^|[ ,])$v( |,|\$)" <<<"$page" && env=yes
			if grep -qE "(^|[^A-Za-z_])$v([^A-Za-z_]|\$)" <<<"$intro"; then
				[ "$env" = yes ] || bad "$prog --help names $v, which man/$prog.1 ENVIRONMENT lacks"
			else
				[ "$env" = no ] || bad "man/$prog.1 ENVIRONMENT lists $v, which the --help intro does not name"
			fi
		done
	done
	check_errors
}

@test "every man page renders at 80 columns with no longer line and no groff warning" {
	command -v man >/dev/null && command -v groff >/dev/null && command -v col >/dev/null ||
		{ echo "man, groff and col are needed (tools/install-deps test installs them)"; return 1; }
	local page out
	for page in "$STP_TOP"/man/*.[17]; do
		out=$(groff -man -ww -z "$page" 2>&1)
		[ -z "$out" ] || bad "${page##*/}: groff -man -ww: $out"
		out=$(LC_ALL=C MANWIDTH=80 man -l "$page" 2>&1 | col -bx | awk 'length > 80')
		[ -z "$out" ] || bad "${page##*/}: rendered lines over 80 columns:"$'\n'"$out"
	done
	check_errors
}
