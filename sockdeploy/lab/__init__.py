"""The built-in labs: a loopback sshd, and the campus in network namespaces.

loopback (LoopbackLab) puts together sshd (the throwaway server), users and pam (the password
modes' account and PAM service), totp and hostsfile. campus (CampusLab) puts together namespaces,
firewall, vpngateway (ocserv), vpnclient (openconnect) and a LoopbackLab as the login host;
requirements says whether it can run here, addresses holds its fixed plan. The files sshd, PAM,
iptables and ocserv read are rendered from templates/.
"""
