"""`lbnotify`: what keepalived runs on a VRRP state change."""
