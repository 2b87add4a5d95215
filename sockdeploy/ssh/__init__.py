"""The SSH connection and everything carried over it.

session      SshSession: open (host key check, login), run scripts, close; the one callers use
resolver     what OpenSSH's config says for a host (`ssh -G`; paramiko's parser without an ssh client)
route        the way to a host: its jump hosts (ProxyJump), each checked and logged in, then the host
connection   the Fabric connection built from the resolved options, what connect errors mean
hostkeys     known_hosts lookups and storing, fingerprints, the policy for unknown keys
auth         the login: ssh-agent keys, identity files, passphrases, keyboard-interactive/password relay
keepalive    one thread per connection that notices a dead link in seconds
helper       RemoteHelper: one python3 program on the host that runs each script sent to it
helperpool   the remote helpers of one connection
channel      a script on a channel of its own (no remote helper)
command      the one-line command that carries a script whatever the login shell
forwarding   direct-tcpip opens (ssh -L), remote listeners (ssh -R), direct delivery into sockets
watchdog     the heartbeat channel that keeps the run's remote watchdog content
hostgroup    one script on several hosts at once
keyinstall   first-time setup: trust the host key, install a public key
terminal     questions for the person at the terminal
"""
