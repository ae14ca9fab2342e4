"""vncd: a VNC server on Trio, built on the sans-I/O ``protocol`` package."""
