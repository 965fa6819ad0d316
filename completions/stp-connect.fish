# fish completion for stp-connect(1). tests/docs.bats checks every
# `complete -c stp-connect` line against `stp-connect --help`.

# Operands: HOST PORT.
complete -c stp-connect -f -a '(__fish_print_hostnames)'
complete -c stp-connect -s x -l proxy -x -d 'the proxy URL (repeat to chain; the first is contacted first)'
complete -c stp-connect -s U -l proxy-user -x -a '(__fish_complete_users)' -d 'USER[:PASS] for the last hop without credentials in its URL'
complete -c stp-connect -l config -r -F -d 'client configuration: proxies and routes (FILE, http(s) or proxy URL)'
complete -c stp-connect -l password-file -r -F -d 'read the proxy password from the first line of FILE'
complete -c stp-connect -s 4 -l ipv4 -d 'resolve names the client resolves to IPv4 only'
complete -c stp-connect -s 6 -l ipv6 -d 'resolve names the client resolves to IPv6 only'
complete -c stp-connect -s w -l timeout -x -d 'limit for reaching the proxy, the handshake and the target (default 30)'
complete -c stp-connect -s z -l check -d 'only check that the target can be reached, then exit'
complete -c stp-connect -s L -l listen -x -d 'listen on [ADDR:]PORT and forward each connection to HOST PORT'
complete -c stp-connect -l cacert -r -F -d 'TLS to the proxy: trust the CA certificates in FILE'
complete -c stp-connect -l cert -r -F -d 'TLS to the proxy: present this client certificate'
complete -c stp-connect -l key -r -F -d 'TLS to the proxy: the client certificate key'
complete -c stp-connect -l insecure -d 'TLS to the proxy: do not verify its certificate'
complete -c stp-connect -l json -d 'events on stderr as JSON lines'
complete -c stp-connect -s v -l verbose -d 'more diagnostics on stderr (repeatable)'
complete -c stp-connect -s q -l quiet -d 'only errors on stderr'
complete -c stp-connect -s h -l help -d 'show this help and exit'
complete -c stp-connect -s V -l version -d 'show the version and exit'
