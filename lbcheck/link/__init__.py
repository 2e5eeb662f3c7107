"""The link layer both halves share: Ethernet frames, rtnetlink, and who holds a VIP.

:mod:`.frames` builds and parses the packets as pure data (tested byte for byte),
:mod:`.netlink` asks the kernel which links and addresses this host has (rtnetlink, no ``ip``
fork), :mod:`.holders` asks the segment who answers for a VIP. The notify half announces
with them (``notify/announce``), the check half asks with them (``lbcheck vips``).
"""
