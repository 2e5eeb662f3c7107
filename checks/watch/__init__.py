"""`lbcheck watch`: the check in-process every interval, feeding keepalived's track_file.

:mod:`.watcher` runs the loop; :mod:`.hysteresis` is its rise/fall filter, :mod:`.track_file`
the file keepalived reads, :mod:`.deathwatch` the pidfd wake-up when haproxy dies, and
:mod:`.metrics` the node_exporter textfile.
"""
