"""`lbcheck status`: the 3 am view of this node of the pair — where the VIPs are, and why.

    gather.py    asks keepalived (lbcheck.keepalived_state) and reads what lbcheck and
                 lbnotify recorded; the only part that touches the system
    view.py      the records a status is made of (per instance, tracker, VIP)
    explain.py   pure: the tracker arithmetic, the verdict and the one line that explains it
    render.py    text (-v for details) and the --json document (docs/status.md)
    metrics.py   the Prometheus textfile (--textfile)
"""
