"""Telling the link that the VIPs moved: gratuitous ARP and unsolicited NA.

The frames are built, purely, in :mod:`lbcheck.link.frames`, and the addresses this host holds
come from :mod:`lbcheck.link.netlink` (rtnetlink, no ``ip`` fork); :mod:`.bursts` sends
bounded bursts only for addresses still held. ``python -m lbcheck.notify.announce`` runs it
stand-alone (the lab uses that).
"""
