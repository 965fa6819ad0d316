# fish completion for stp-serve(1). tests/docs.bats checks every
# `complete -c stp-serve` line against `stp-serve --help`.

complete -c stp-serve -f
complete -c stp-serve -s l -l listen -x -d 'listen here, ADDR:PORT (repeatable; default 127.0.0.1:1080)'
complete -c stp-serve -l users -r -F -d 'require username/password; FILE holds user:HASH lines'
complete -c stp-serve -l hash-password -d 'read a password on stdin, print its hash for a users file, and exit'
complete -c stp-serve -l resolver -x -d 'DNS server for target names, ADDR[:PORT] (repeatable)'
complete -c stp-serve -l handshake-timeout -x -d 'close sessions that have not finished the handshake (default 10)'
complete -c stp-serve -l connect-timeout -x -d 'limit for reaching a target (default 30)'
complete -c stp-serve -l bind-timeout -x -d 'BIND: limit for the peer to connect (default 120)'
complete -c stp-serve -l idle-timeout -x -d 'close sessions idle this long (default 0: never)'
complete -c stp-serve -l max-sessions -x -d 'most sessions at once (default 16384)'
complete -c stp-serve -l open -d 'allow a non-loopback listener without authentication'
complete -c stp-serve -l log-format -x -a 'text json' -d 'session log lines as text or json'
complete -c stp-serve -l drain-timeout -x -d 'on SIGTERM, wait this long for sessions to end (default 10)'
complete -c stp-serve -s v -l verbose -d 'more diagnostics on stderr (repeatable)'
complete -c stp-serve -s q -l quiet -d 'only errors on stderr'
complete -c stp-serve -s h -l help -d 'show this help and exit'
complete -c stp-serve -s V -l version -d 'show the version and exit'
