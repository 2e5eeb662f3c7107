"""lbcheck: health checks and notify hooks for keepalived + HAProxy pairs."""
