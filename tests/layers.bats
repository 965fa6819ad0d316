#!/usr/bin/env bats
# layers.bats - libcommon's layers point one way (tools/check-layers): the
# tree as it is passes, and a wrong include or a library exit is caught.

load lib/common
bats_require_minimum_version 1.5.0

setup() { stp_setup; }
teardown() { stp_teardown; }

# has TEXT: the check's output holds TEXT (shows the output if not).
has() {
	[[ $output == *"$1"* ]] && return 0
	printf 'expected a line with: %s\nin:\n%s\n' "$1" "$output" >&2
	return 1
}

objdir() { echo "${STP_OBJDIR:-build/plain}"; }

# A copy of libcommon in $T/tree to break on purpose.
copy_tree() {
	mkdir -p "$T/tree"
	cp -r "$STP_TOP/libcommon" "$T/tree/"
}

@test "the tree's includes point down the layers, and no library object exits or prints to stdout" {
	run --separate-stderr "$STP_TOP/tools/check-layers" "$STP_TOP/$(objdir)"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ -z "$output" ]
}

@test "an include that points up a layer is named, with the file and line" {
	copy_tree
	printf '#include "server/server.h"\n' >>"$T/tree/libcommon/proto/url.c"
	printf '#include "client/client.h"\n' >>"$T/tree/libcommon/core/relay.h"
	printf '#include "mux/muxconn.h"\n' >>"$T/tree/libcommon/probe/probe.c"
	STP_LAYERS_ROOT="$T/tree" run --separate-stderr "$STP_TOP/tools/check-layers" -
	[ "$status" -eq 1 ]
	n=$(wc -l "$T/tree/libcommon/proto/url.c" | cut -d' ' -f1)
	has "libcommon/proto/url.c:$n: proto includes \"server/server.h\""
	has "libcommon/core/relay.h:"
	has "core includes \"client/client.h\""
	has "probe includes \"mux/muxconn.h\""
	[ "${#lines[@]}" -eq 3 ]
}

@test "an include that is not a path from libcommon's root, or reaches into bin/, is named" {
	copy_tree
	printf '#include "addr.h"\n' >>"$T/tree/libcommon/proto/url.c"
	printf '#include "../../bin/stp-serve.c"\n' >>"$T/tree/libcommon/server/session.c"
	STP_LAYERS_ROOT="$T/tree" run --separate-stderr "$STP_TOP/tools/check-layers" -
	[ "$status" -eq 1 ]
	has "includes \"addr.h\": write includes from libcommon's root"
	has "includes \"../../bin/stp-serve.c\""
}

@test "a client program that includes the server's headers is named" {
	copy_tree
	mkdir -p "$T/tree/bin"
	cp "$STP_TOP"/bin/stp-*.c "$T/tree/bin/"
	printf '#include "server/policy/mcastpol.h"\n' >>"$T/tree/bin/stp-mcast.c"
	printf '#include "server/server.h"\n' >>"$T/tree/bin/stp-serve.c"
	STP_LAYERS_ROOT="$T/tree" run --separate-stderr "$STP_TOP/tools/check-layers" -
	[ "$status" -eq 1 ]
	has "bin/stp-mcast.c:"
	has "a client program includes \"server/policy/mcastpol.h\""
	[ "${#lines[@]}" -eq 1 ]
}

@test "a file at libcommon's top, outside any layer, is refused" {
	copy_tree
	printf '/* stray */\n' >"$T/tree/libcommon/stray.c"
	STP_LAYERS_ROOT="$T/tree" run --separate-stderr "$STP_TOP/tools/check-layers" -
	[ "$status" -eq 1 ]
	has "libcommon/stray.c: a file at libcommon's top"
}

@test "a library object that aborts, exits or prints to stdout is named; cli/ may" {
	copy_tree
	local objs="$T/objs/libcommon"
	mkdir -p "$objs/core" "$objs/cli" "$objs/client"
	printf '#include <stdlib.h>\nvoid stp_bad(void);\nvoid stp_bad(void) { abort(); }\n' \
		>"$T/tree/libcommon/core/bad.c"
	printf '#include <stdio.h>\nvoid stp_say(void);\nvoid stp_say(void) { puts("hi"); }\n' \
		>"$T/tree/libcommon/client/say.c"
	printf '#include <stdlib.h>\nvoid stp_quit(void);\nvoid stp_quit(void) { exit(2); }\n' \
		>"$T/tree/libcommon/cli/quit.c"
	cc -c -o "$objs/core/bad.o" "$T/tree/libcommon/core/bad.c"
	cc -c -o "$objs/client/say.o" "$T/tree/libcommon/client/say.c"
	cc -c -o "$objs/cli/quit.o" "$T/tree/libcommon/cli/quit.c"
	STP_LAYERS_ROOT="$T/tree" run --separate-stderr "$STP_TOP/tools/check-layers" "$T/objs"
	[ "$status" -eq 1 ]
	has "libcommon/core/bad.c: calls abort"
	has "libcommon/client/say.c: calls puts"
	[[ $output != *quit* ]]
}

@test "the preload library's layer (wrap/) may include only proto/ and itself" {
	copy_tree
	printf '#include "client/client.h"\n' >>"$T/tree/libcommon/wrap/names.c"
	printf '#include "proto/placeholder.h"\n#include "wrap/wrap.h"\n' >>"$T/tree/libcommon/wrap/preload.c"
	printf '#include "wrap/wrap.h"\n' >>"$T/tree/libcommon/client/wrapagent.c"
	STP_LAYERS_ROOT="$T/tree" run --separate-stderr "$STP_TOP/tools/check-layers" -
	[ "$status" -eq 1 ]
	has "wrap includes \"client/client.h\": wrap may include only proto, wrap"
	has "client includes \"wrap/wrap.h\""
	[ "${#lines[@]}" -eq 2 ]
}
