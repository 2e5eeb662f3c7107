"""Telling the link that the VIPs moved: gratuitous ARP and unsolicited NA.

Three modules, the pyroute2 way: :mod:`.frames` builds the packets as pure data (tested byte
for byte), :mod:`.netlink` asks the kernel which addresses this host holds (rtnetlink, no
``ip`` fork), :mod:`.bursts` sends bounded bursts only for addresses still held.
``python -m lbcheck.notify.announce`` runs it stand-alone (the lab uses that).
"""
