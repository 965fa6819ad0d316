# fish completion for stp-bind(1). tests/docs.bats checks every
# `complete -c stp-bind` line against `stp-bind --help`.

# Operands: [PEER [PORT]].
complete -c stp-bind -f -a '(__fish_print_hostnames)'
complete -c stp-bind -s k -l keep -d 'keep listening: accept any number of connections (BIND_MULTI)'
complete -c stp-bind -s F -l forward -x -d 'relay each accepted connection to this local HOST:PORT'
complete -c stp-bind -s e -l exec -x -a '(__fish_complete_command)' -d 'run CMD with /bin/sh -c per connection'
complete -c stp-bind -l addr-file -r -F -d 'write ADDR PORT of the bound address to FILE'
complete -c stp-bind -s x -l proxy -x -d 'the proxy URL (repeat to chain; the first is contacted first)'
complete -c stp-bind -s U -l proxy-user -x -a '(__fish_complete_users)' -d 'USER[:PASS] for the last hop without credentials in its URL'
complete -c stp-bind -l password-file -r -F -d 'read the proxy password from the first line of FILE'
complete -c stp-bind -s 4 -l ipv4 -d 'resolve names the client resolves to IPv4 only'
complete -c stp-bind -s 6 -l ipv6 -d 'resolve names the client resolves to IPv6 only'
complete -c stp-bind -s w -l timeout -x -d 'limit for reaching the proxy and the handshake (default 30)'
complete -c stp-bind -l json -d 'events on stderr as JSON lines'
complete -c stp-bind -s v -l verbose -d 'more diagnostics on stderr (repeatable)'
complete -c stp-bind -s q -l quiet -d 'only errors on stderr'
complete -c stp-bind -s h -l help -d 'show this help and exit'
complete -c stp-bind -s V -l version -d 'show the version and exit'
